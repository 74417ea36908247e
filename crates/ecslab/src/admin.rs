//! `ecslab admin`: operator commands that act on the data directory's store directly, so they
//! work whether or not the server runs (the server reads locks from the store on each request).

use clap::{Args, Subcommand};
use ecslab_store::{OperationLock, Store};
use std::path::PathBuf;

/// Which instance, and which kind of lock.
#[derive(Args, Debug)]
pub struct LockTarget {
    #[arg(long, env = "ECSLAB_DATA_DIR", default_value = "./var")]
    data_dir: PathBuf,
    #[arg(long)]
    instance_id: String,
    /// financial, security, recycling, ...
    #[arg(long, default_value = "security")]
    reason: String,
}

#[derive(Subcommand, Debug)]
pub enum AdminCommand {
    /// Put an operation lock on an instance (`security` makes mutating actions fail with
    /// InstanceLockedForSecurity). DescribeInstances shows it in OperationLocks.
    Lock {
        #[command(flatten)]
        target: LockTarget,
        #[arg(long, default_value = "")]
        message: String,
    },
    /// Remove an operation lock from an instance.
    Unlock {
        #[command(flatten)]
        target: LockTarget,
    },
}

pub async fn run(command: AdminCommand) -> Result<(), String> {
    let (target, lock) = match command {
        AdminCommand::Lock { target, message } => {
            let lock = OperationLock { reason: target.reason.clone(), message };
            (target, Some(lock))
        }
        AdminCommand::Unlock { target } => (target, None),
    };
    let store = Store::open(&target.data_dir.join("ecslab.db")).await.map_err(|e| e.to_string())?;
    let instance = store
        .instance_by_id(&target.instance_id)
        .await
        .map_err(|e| e.to_string())?
        .ok_or_else(|| format!("no instance {}", target.instance_id))?;
    let mut locks: Vec<OperationLock> =
        instance.operation_locks.into_iter().filter(|l| l.reason != target.reason).collect();
    locks.extend(lock);
    store.set_operation_locks(&target.instance_id, &locks).await.map_err(|e| e.to_string())?;
    eprintln!(
        "{}: operation locks now {:?}",
        target.instance_id,
        locks.iter().map(|l| &l.reason).collect::<Vec<_>>()
    );
    Ok(())
}
