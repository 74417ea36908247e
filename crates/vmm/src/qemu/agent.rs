//! qemu-guest-agent, for application-consistent live snapshots: when the guest runs an agent on
//! its virtio-serial channel, its filesystems are frozen (`guest-fsfreeze-freeze`) for the
//! instant of the point in time and thawed right after (`guest-fsfreeze-thaw`, also when the
//! snapshot failed). Whether an agent listens is read from QMP (`query-chardev`: the guest side of
//! the channel is open), so guests without one pay nothing.

use super::argv::AGENT_CHARDEV;
use super::{LiveVm, QemuDriver};
use crate::VmError;
use serde_json::{json, Value};
use std::path::Path;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::UnixStream;
use tokio::sync::OwnedMutexGuard;

/// How long the agent may take to answer a sync.
const SYNC_TIMEOUT: Duration = Duration::from_secs(2);
/// How long a freeze may take (it flushes the guest's dirty data).
const FREEZE_TIMEOUT: Duration = Duration::from_secs(20);

/// A connection to a guest agent that answered a sync.
pub struct Agent {
    reader: BufReader<tokio::net::unix::OwnedReadHalf>,
    writer: tokio::net::unix::OwnedWriteHalf,
    /// The VM's agent lock, held for as long as the connection is (see `LiveVm::agent_lock`).
    _turn: Option<OwnedMutexGuard<()>>,
}

impl Agent {
    /// Connect and synchronise (`guest-sync` with a fresh id discards stale replies).
    pub async fn connect(socket: &Path) -> Result<Agent, String> {
        let stream = UnixStream::connect(socket)
            .await
            .map_err(|e| format!("connecting to {}: {e}", socket.display()))?;
        let (read, writer) = stream.into_split();
        let mut agent = Agent { reader: BufReader::new(read), writer, _turn: None };
        let id = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_micros() as u64)
            .unwrap_or(7);
        let id = id % 1_000_000_007;
        agent.send("guest-sync", Some(json!({ "id": id }))).await?;
        // Replies left over from an earlier session come first: skip until our id comes back.
        let synced = async {
            loop {
                if agent.read_reply("guest-sync").await?.as_u64() == Some(id) {
                    return Ok::<(), String>(());
                }
            }
        };
        tokio::time::timeout(SYNC_TIMEOUT, synced)
            .await
            .map_err(|_| "guest-sync: no answer".to_string())??;
        Ok(agent)
    }

    /// Run one agent command and return its `return` value.
    pub async fn execute(
        &mut self,
        command: &str,
        arguments: Option<Value>,
        limit: Duration,
    ) -> Result<Value, String> {
        self.send(command, arguments).await?;
        tokio::time::timeout(limit, self.read_reply(command))
            .await
            .map_err(|_| format!("{command}: no answer in {limit:?}"))?
    }

    async fn send(&mut self, command: &str, arguments: Option<Value>) -> Result<(), String> {
        let mut request = json!({ "execute": command });
        if let Some(arguments) = arguments {
            request["arguments"] = arguments;
        }
        let line = format!("{request}\n");
        self.writer.write_all(line.as_bytes()).await.map_err(|e| format!("writing {command}: {e}"))
    }

    /// The next reply: its `return` value, or its error.
    async fn read_reply(&mut self, command: &str) -> Result<Value, String> {
        loop {
            let mut reply = String::new();
            if self.reader.read_line(&mut reply).await.map_err(|e| e.to_string())? == 0 {
                return Err("the agent closed its channel".to_string());
            }
            let Ok(value) = serde_json::from_str::<Value>(reply.trim()) else { continue };
            if let Some(ret) = value.get("return") {
                return Ok(ret.clone());
            }
            if let Some(error) = value.get("error") {
                return Err(format!("{command}: {}", error["desc"].as_str().unwrap_or("failed")));
            }
        }
    }
}

impl QemuDriver {
    /// Whether the guest side of the agent channel is open (an agent runs).
    pub(super) async fn agent_listening(&self, live: &LiveVm) -> bool {
        let Ok(chardevs) = self.command(live, "query-chardev", None).await else { return false };
        chardevs
            .as_array()
            .into_iter()
            .flatten()
            .any(|c| c["label"] == AGENT_CHARDEV && c["frontend-open"] == true)
    }

    /// Our turn on the VM's agent socket and a synced connection; `None` when no agent listens
    /// or none answers within the limit (a command in flight holds the socket for at most its
    /// own limit).
    async fn agent_turn(&self, live: &LiveVm, wait: Duration) -> Result<Option<Agent>, String> {
        if !self.agent_listening(live).await {
            return Ok(None);
        }
        let turn = tokio::time::timeout(wait, live.agent_lock.clone().lock_owned())
            .await
            .map_err(|_| format!("the agent stayed busy for {wait:?}"))?;
        let mut agent = Agent::connect(&live.shared.paths.agent).await?;
        agent._turn = Some(turn);
        Ok(Some(agent))
    }

    /// One agent command in a running VM (see [`crate::Hypervisor::agent_command`]).
    pub(super) async fn agent_command_live(
        &self,
        vm_id: &str,
        command: &str,
        arguments: Value,
        limit: Duration,
    ) -> Result<Value, VmError> {
        let live = self.running(vm_id)?;
        let no_agent = || VmError::NoAgent { vm_id: vm_id.to_string() };
        let mut agent = match self.agent_turn(&live, limit.max(SYNC_TIMEOUT)).await {
            Ok(Some(agent)) => agent,
            Ok(None) => return Err(no_agent()),
            Err(e) => {
                tracing::debug!(vm_id, error = %e, "the guest agent did not answer");
                return Err(no_agent());
            }
        };
        let arguments = Some(arguments).filter(|a| a.as_object().is_none_or(|o| !o.is_empty()));
        // The outer limit decides, so a slow answer is a timeout and not a refusal.
        let answer =
            tokio::time::timeout(limit, agent.execute(command, arguments, limit + SYNC_TIMEOUT)).await;
        let answer = answer.map_err(|_| VmError::Timeout {
            vm_id: vm_id.to_string(),
            what: format!("answer the guest agent command {command}"),
            seconds: limit.as_secs(),
        })?;
        answer.map_err(|reason| VmError::Agent {
            vm_id: vm_id.to_string(),
            command: command.to_string(),
            reason,
        })
    }

    /// Freeze the guest's filesystems if it runs an agent; `None` when there is nothing to thaw.
    pub(super) async fn freeze_guest(&self, live: &LiveVm) -> Option<Agent> {
        let vm_id = &live.shared.vm_id;
        let mut agent = match self.agent_turn(live, FREEZE_TIMEOUT).await {
            Ok(Some(agent)) => agent,
            Ok(None) => return None,
            Err(e) => {
                tracing::warn!(vm_id, error = %e, "the guest agent did not answer; taking the snapshot without freezing");
                return None;
            }
        };
        match agent.execute("guest-fsfreeze-freeze", None, FREEZE_TIMEOUT).await {
            Ok(frozen) => {
                tracing::info!(vm_id, filesystems = %frozen, "guest filesystems frozen for the snapshot");
                Some(agent)
            }
            Err(e) => {
                tracing::warn!(vm_id, error = %e, "freezing the guest's filesystems failed; snapshot without freezing");
                let _ = agent.execute("guest-fsfreeze-thaw", None, FREEZE_TIMEOUT).await;
                None
            }
        }
    }

    pub(super) async fn thaw_guest(&self, live: &LiveVm, agent: Option<Agent>) {
        if let Some(mut agent) = agent {
            if let Err(e) = agent.execute("guest-fsfreeze-thaw", None, FREEZE_TIMEOUT).await {
                tracing::error!(vm_id = %live.shared.vm_id, error = %e, "thawing the guest's filesystems failed");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::net::UnixListener;

    /// A stand-in agent: answers sync with its id, counts freezes and thaws.
    async fn fake_agent(listener: UnixListener) -> Vec<String> {
        let (stream, _) = listener.accept().await.unwrap();
        let (read, mut write) = stream.into_split();
        let mut lines = BufReader::new(read).lines();
        let mut seen = Vec::new();
        // A stale reply from an earlier session must be skipped by the client.
        write.write_all(b"{\"return\": 1}\n").await.unwrap();
        while let Ok(Some(line)) = lines.next_line().await {
            let request: Value = serde_json::from_str(&line).unwrap();
            let command = request["execute"].as_str().unwrap().to_string();
            let reply = match command.as_str() {
                "guest-sync" => json!({ "return": request["arguments"]["id"] }),
                "guest-fsfreeze-freeze" | "guest-fsfreeze-thaw" => json!({ "return": 2 }),
                _ => json!({ "error": { "class": "CommandNotFound", "desc": "no such command" } }),
            };
            seen.push(command);
            write.write_all(format!("{reply}\n").as_bytes()).await.unwrap();
        }
        seen
    }

    #[tokio::test]
    async fn syncs_freezes_and_thaws() {
        let dir = tempfile::tempdir().unwrap();
        let socket = dir.path().join("qga.sock");
        let listener = UnixListener::bind(&socket).unwrap();
        let server = tokio::spawn(fake_agent(listener));
        let mut agent = Agent::connect(&socket).await.unwrap();
        assert_eq!(agent.execute("guest-fsfreeze-freeze", None, FREEZE_TIMEOUT).await.unwrap(), json!(2));
        assert_eq!(agent.execute("guest-fsfreeze-thaw", None, FREEZE_TIMEOUT).await.unwrap(), json!(2));
        assert!(agent
            .execute("guest-bogus", None, FREEZE_TIMEOUT)
            .await
            .unwrap_err()
            .contains("no such command"));
        drop(agent);
        assert_eq!(
            server.await.unwrap(),
            ["guest-sync", "guest-fsfreeze-freeze", "guest-fsfreeze-thaw", "guest-bogus"]
        );
    }

    #[tokio::test]
    async fn a_silent_agent_times_out() {
        let dir = tempfile::tempdir().unwrap();
        let socket = dir.path().join("qga.sock");
        let _listener = UnixListener::bind(&socket).unwrap();
        let started = std::time::Instant::now();
        // Nobody accepts and answers: connect succeeds (backlog), the sync times out.
        assert!(Agent::connect(&socket).await.is_err());
        assert!(started.elapsed() >= SYNC_TIMEOUT);
    }
}
