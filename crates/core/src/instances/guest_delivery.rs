//! What reaches the guest at its next boot through the guest agent, as on ECS ("restart the instance for it to take
//! effect"): a new root password and a changed key pair. cloud-init gives the guest only its first boot's password
//! and key (vendor-data's `chpasswd` and the metadata's public key, once per instance), so every later change is
//! pending until the agent has made it: after each boot, once the agent answers, `guest-set-user-password` with the
//! SHA-512 crypt hash (the password itself is never stored), and `guest-ssh-remove-authorized-keys` for root's old
//! key then `guest-ssh-add-authorized-keys` for the attached pair's. A guest without an agent keeps them pending,
//! logged, for the next boot.

use std::time::{Duration, Instant};

use ecslab_vmm::GuestAgent;

use super::Instances;
use crate::status::InstanceStatus;

/// How long after a boot the agent may take to answer (a Debian guest under TCG needs about a minute).
const AGENT_WAIT: Duration = Duration::from_secs(300);

impl Instances {
    /// Give the guest its pending password and key pair through its agent, if it has any pending.
    pub(super) async fn deliver_pending_settings(&self, instance_id: &str) {
        let password = self.store.pending_password(instance_id).await;
        let keys = self.store.pending_keys(instance_id).await;
        let (password, keys) = match (password, keys) {
            (Ok(None), Ok(None)) => return,
            (Ok(password), Ok(keys)) => (password, keys),
            (Err(e), _) | (_, Err(e)) => {
                tracing::warn!(instance_id, error = %e, "reading what the guest is due failed");
                return;
            }
        };
        let agent = GuestAgent::new(self.hypervisor.as_ref(), instance_id);
        if !self.agent_answers(&agent, instance_id).await {
            return;
        }
        if let Some(hash) = password {
            match agent.set_user_password_hash("root", &hash).await {
                Ok(()) => match self.store.password_applied(instance_id, &hash).await {
                    Ok(_) => {
                        tracing::info!(instance_id, "the root password is set in the guest (guest agent)")
                    }
                    Err(e) => tracing::warn!(instance_id, error = %e, "marking the password applied failed"),
                },
                Err(e) => {
                    tracing::warn!(instance_id, error = %e, "setting the password through the guest agent failed; it stays pending")
                }
            }
        }
        if let Some(keys) = keys {
            let replaced = keys.delivered.filter(|old| Some(old) != keys.wanted.as_ref());
            let mut done = match replaced {
                Some(old) => agent.ssh_remove_authorized_keys("root", vec![old]).await,
                None => Ok(()),
            };
            if let (Ok(()), Some(key)) = (&done, &keys.wanted) {
                done = agent.ssh_add_authorized_keys("root", vec![key.clone()]).await;
            }
            match done {
                Ok(()) => match self.store.keys_delivered(instance_id, keys.wanted.as_deref()).await {
                    Ok(_) => tracing::info!(
                        instance_id,
                        "root's authorized key follows the key pair (guest agent)"
                    ),
                    Err(e) => tracing::warn!(instance_id, error = %e, "marking the keys delivered failed"),
                },
                Err(e) => {
                    tracing::warn!(instance_id, error = %e, "changing root's authorized keys through the guest agent failed; the change stays pending")
                }
            }
        }
    }

    /// Whether the agent answers while the instance runs, within `AGENT_WAIT`.
    async fn agent_answers(&self, agent: &GuestAgent<'_>, instance_id: &str) -> bool {
        let deadline = Instant::now() + AGENT_WAIT;
        loop {
            let running = matches!(
                self.store.instance_by_id(instance_id).await.ok().flatten().map(|i| i.status),
                Some(InstanceStatus::Running)
            );
            if !running {
                return false;
            }
            match agent.ping().await {
                Ok(()) => return true,
                Err(_) if Instant::now() < deadline => tokio::time::sleep(Duration::from_secs(2)).await,
                Err(e) => {
                    tracing::warn!(instance_id, error = %e, "no guest agent answered: the new password or key stays pending until the next boot");
                    return false;
                }
            }
        }
    }
}
