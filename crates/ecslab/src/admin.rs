//! `ecslab admin`: operator commands. `lock`/`unlock` act on the data directory's store
//! directly, so they work whether or not the server runs (the server reads locks from the store
//! on each request). `accounts create` goes through the running server's API (the private
//! `ecslab-admin` product), signed with the admin key, like `ecslab images import`.

use clap::{Args, Subcommand};
use ecslab::client::{Client, Connection};
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
    /// Manage accounts (tenants) through the running server, with the admin key.
    #[command(subcommand)]
    Accounts(AccountsCommand),
}

#[derive(Subcommand, Debug)]
pub enum AccountsCommand {
    /// Create an account and print its root key on stdout as JSON:
    /// {"AccountId": ..., "AccessKeyId": ..., "AccessKeySecret": ...}. The secret is shown once.
    /// Each account sees only its own resources. Needs the server admin's key (the one in
    /// admin-credentials.json); any other key is refused with Forbidden.AdminOnly.
    Create {
        /// The account's name: 1 to 50 lowercase letters, digits and hyphens (-), no hyphen first
        /// or last, no two in a row (RAM's account alias rules); unique on the server.
        name: String,
        #[command(flatten)]
        connection: Connection,
    },
}

pub async fn run(command: AdminCommand) -> Result<(), String> {
    let (target, lock) = match command {
        AdminCommand::Accounts(AccountsCommand::Create { name, connection }) => {
            return create_account(connection, &name).await;
        }
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

/// Call `CreateAccount` of the `ecslab-admin` product and print the root key.
async fn create_account(connection: Connection, name: &str) -> Result<(), String> {
    let reply = Client::new(connection)
        .call("ecslab-admin", "CreateAccount", &[("AccountName", name.into())])
        .await?;
    if !(200..300).contains(&reply.status) {
        return Err(format!(
            "CreateAccount failed: {} {}: {}",
            reply.status,
            reply.code(),
            reply.body["Message"].as_str().unwrap_or("")
        ));
    }
    let field =
        |k: &str| reply.body[k].as_str().map(str::to_string).ok_or(format!("CreateAccount returned no {k}"));
    let key = serde_json::json!({
        "AccountId": field("AccountId")?,
        "AccessKeyId": field("AccessKeyId")?,
        "AccessKeySecret": field("AccessKeySecret")?,
    });
    println!("{key}");
    Ok(())
}
