//! A typed client of the QEMU guest agent (qemu-ga in the guest, on the virtio-serial port
//! `org.qemu.guest_agent.0`), over whichever driver runs the VM.
//!
//! Drivers only carry one command at a time ([`Hypervisor::agent_command`]: the qemu driver over
//! the VM's `qga.sock` after a `guest-sync`, libvirt through `virDomainQemuAgentCommand`, since
//! libvirt owns that channel). The commands and their replies are the `qapi` crate's types,
//! generated from QEMU's QGA schema, so no JSON is written by hand here. Every call has a limit:
//! a guest without an agent, or a hung one, never holds the caller longer than that.

use crate::{Hypervisor, VmError};
use qapi::qga;
use std::time::Duration;

pub use qapi::qga::{GuestAgentInfo, GuestExecStatus, GuestFsfreezeStatus};

/// How long a ping, a start of a process or a status query may take.
pub const QUICK: Duration = Duration::from_secs(5);

/// The guest agent of one VM.
pub struct GuestAgent<'a> {
    hypervisor: &'a dyn Hypervisor,
    vm_id: &'a str,
}

impl<'a> GuestAgent<'a> {
    pub fn new(hypervisor: &'a dyn Hypervisor, vm_id: &'a str) -> GuestAgent<'a> {
        GuestAgent { hypervisor, vm_id }
    }

    /// Run one typed QGA command.
    pub async fn run<C: qapi::Command>(&self, command: C, limit: Duration) -> Result<C::Ok, VmError> {
        let arguments = serde_json::to_value(&command).map_err(|e| self.failed(C::NAME, e))?;
        let value = self.hypervisor.agent_command(self.vm_id, C::NAME, arguments, limit).await?;
        serde_json::from_value(value).map_err(|e| self.failed(C::NAME, e))
    }

    fn failed(&self, command: &str, e: serde_json::Error) -> VmError {
        VmError::Agent { vm_id: self.vm_id.to_string(), command: command.to_string(), reason: e.to_string() }
    }

    /// Whether an agent answers (`guest-ping`).
    pub async fn ping(&self) -> Result<(), VmError> {
        self.run(qga::guest_ping {}, QUICK).await.map(drop)
    }

    /// The agent's version and commands (`guest-info`); answers only when an agent runs.
    pub async fn info(&self) -> Result<GuestAgentInfo, VmError> {
        self.run(qga::guest_info {}, QUICK).await
    }

    /// Start `path` with `args` (stdin `input`, stdout and stderr captured); returns its pid in
    /// the guest. The agent keeps an exited process's status until [`GuestAgent::exec_status`]
    /// reads it.
    pub async fn exec(&self, path: &str, args: &[String], input: Option<Vec<u8>>) -> Result<i64, VmError> {
        let command = qga::guest_exec {
            path: path.to_string(),
            arg: Some(args.to_vec()),
            env: None,
            input_data: input,
            capture_output: Some(qga::GuestExecCaptureOutput::flag(true)),
        };
        Ok(self.run(command, QUICK).await?.pid)
    }

    /// The state of a process [`GuestAgent::exec`] started; once it has exited, the agent
    /// forgets it after this answer.
    pub async fn exec_status(&self, pid: i64) -> Result<GuestExecStatus, VmError> {
        self.run(qga::guest_exec_status { pid }, QUICK).await
    }

    /// Freeze every guest filesystem; returns how many were frozen.
    pub async fn fsfreeze_freeze(&self, limit: Duration) -> Result<i64, VmError> {
        self.run(qga::guest_fsfreeze_freeze {}, limit).await
    }

    /// Thaw the guest's filesystems; returns how many were thawed.
    pub async fn fsfreeze_thaw(&self, limit: Duration) -> Result<i64, VmError> {
        self.run(qga::guest_fsfreeze_thaw {}, limit).await
    }

    pub async fn fsfreeze_status(&self) -> Result<GuestFsfreezeStatus, VmError> {
        self.run(qga::guest_fsfreeze_status {}, QUICK).await
    }

    /// Set a user's password from its crypt(3) hash (`crypted`), as `chpasswd -e` does.
    pub async fn set_user_password_hash(&self, username: &str, hash: &str) -> Result<(), VmError> {
        let command = qga::guest_set_user_password {
            username: username.to_string(),
            password: hash.as_bytes().to_vec(),
            crypted: true,
        };
        self.run(command, QUICK).await.map(drop)
    }

    /// Add OpenSSH public keys to a user's `~/.ssh/authorized_keys` (keys already there are kept once).
    pub async fn ssh_add_authorized_keys(&self, username: &str, keys: Vec<String>) -> Result<(), VmError> {
        let command =
            qga::guest_ssh_add_authorized_keys { username: username.to_string(), keys, reset: None };
        self.run(command, QUICK).await.map(drop)
    }

    /// Remove OpenSSH public keys from a user's `~/.ssh/authorized_keys` (absent ones are no error).
    pub async fn ssh_remove_authorized_keys(&self, username: &str, keys: Vec<String>) -> Result<(), VmError> {
        let command = qga::guest_ssh_remove_authorized_keys { username: username.to_string(), keys };
        self.run(command, QUICK).await.map(drop)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use qapi::Command;
    use serde_json::json;

    #[test]
    fn commands_are_written_as_qemu_ga_reads_them() {
        let exec = qga::guest_exec {
            path: "/bin/sh".into(),
            arg: Some(vec!["-c".into(), "id".into()]),
            env: None,
            input_data: Some(b"hi".to_vec()),
            capture_output: Some(qga::GuestExecCaptureOutput::flag(true)),
        };
        assert_eq!(qga::guest_exec::NAME, "guest-exec");
        assert_eq!(
            serde_json::to_value(&exec).unwrap(),
            json!({"path": "/bin/sh", "arg": ["-c", "id"], "input-data": "aGk=", "capture-output": true})
        );
        let status: GuestExecStatus = serde_json::from_value(
            json!({"exited": true, "exitcode": 3, "out-data": "aGkK", "out-truncated": false}),
        )
        .unwrap();
        assert_eq!(
            (status.exited, status.exitcode, status.out_data.as_deref()),
            (true, Some(3), Some(&b"hi\n"[..]))
        );
    }
}
