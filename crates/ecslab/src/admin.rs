//! `ecslab admin`: operator commands that act on the data directory's store directly, so they
//! work whether or not the server runs (the server reads locks from the store on each request).

use clap::Subcommand;
use ecslab_store::{OperationLock, Store};
use std::path::PathBuf;

#[derive(Subcommand, Debug)]
pub enum AdminCommand {
    /// Put an operation lock on an instance (`security` makes mutating actions fail with
    /// InstanceLockedForSecurity).
    Lock {
        #[arg(long, env = "ECSLAB_DATA_DIR", default_value = "./var")]
        data_dir: PathBuf,
        #[arg(long)]
        instance_id: String,
        /// financial, security, recycling, ...
        #[arg(long, default_value = "security")]
        reason: String,
        #[arg(long, default_value = "")]
        message: String,
    },
    /// Remove an operation lock from an instance.
    Unlock {
        #[arg(long, env = "ECSLAB_DATA_DIR", default_value = "./var")]
        data_dir: PathBuf,
        #[arg(long)]
        instance_id: String,
        #[arg(long, default_value = "security")]
        reason: String,
    },
}

pub async fn run(command: AdminCommand) -> Result<(), String> {
    let (data_dir, instance_id, reason, lock) = match command {
        AdminCommand::Lock { data_dir, instance_id, reason, message } => {
            let lock = OperationLock { reason: reason.clone(), message };
            (data_dir, instance_id, reason, Some(lock))
        }
        AdminCommand::Unlock { data_dir, instance_id, reason } => (data_dir, instance_id, reason, None),
    };
    let store = Store::open(&data_dir.join("ecslab.db")).await.map_err(|e| e.to_string())?;
    let instance = store
        .instance_by_id(&instance_id)
        .await
        .map_err(|e| e.to_string())?
        .ok_or_else(|| format!("no instance {instance_id}"))?;
    let mut locks: Vec<OperationLock> =
        instance.operation_locks.into_iter().filter(|l| l.reason != reason).collect();
    locks.extend(lock);
    store.set_operation_locks(&instance_id, &locks).await.map_err(|e| e.to_string())?;
    eprintln!("{instance_id}: operation locks now {:?}", locks.iter().map(|l| &l.reason).collect::<Vec<_>>());
    Ok(())
}
