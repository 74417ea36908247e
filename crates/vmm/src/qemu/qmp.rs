//! A small QMP client: line-delimited JSON over a unix socket, multiplexed.
//!
//! Hand-written rather than generated from the QAPI schema: the driver uses a dozen commands, and
//! generated schemas lag behind QEMU (7.1+'s `screendump` `format`, for one). One connection task owns
//! the socket. Callers send requests through a [`QmpClient`] handle; the task gives each command an
//! `id`, writes it, and routes the reply with that `id` back to its caller, so a slow command (a
//! screendump) never holds up another (a status query). Asynchronous events (`SHUTDOWN`, `RESET`,
//! `STOP`, ...) are read all the time and forwarded as [`Notice`]s. When QEMU closes the connection
//! the task fails every pending command and sends [`Notice::Disconnected`]; when every handle is
//! dropped it just closes the socket, leaving the VM running (a new server can connect).

use serde::Deserialize;
use serde_json::Value;
use std::collections::HashMap;
use std::io;
use std::path::Path;
use tokio::io::{
    AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader, Lines, ReadHalf, WriteHalf,
};
use tokio::net::UnixStream;
use tokio::sync::{mpsc, oneshot};

/// Errors of one QMP command or of the connection.
#[derive(Debug, thiserror::Error)]
pub enum QmpError {
    #[error("cannot connect to {path}")]
    Connect {
        path: String,
        #[source]
        source: io::Error,
    },
    #[error("QMP handshake failed: {0}")]
    Handshake(String),
    /// QEMU answered with an error object.
    #[error("{class}: {desc}")]
    Command { class: String, desc: String },
    /// The connection closed before the reply came.
    #[error("QMP connection closed")]
    Disconnected,
}

/// An asynchronous QMP event.
#[derive(Debug, Clone, PartialEq)]
pub struct QmpEvent {
    pub name: String,
    /// The event's `data` object (`Value::Null` when it has none).
    pub data: Value,
}

impl QmpEvent {
    /// `data.guest` of SHUTDOWN and RESET: whether the guest itself asked for it.
    pub fn guest_initiated(&self) -> bool {
        self.data.get("guest").and_then(Value::as_bool).unwrap_or(false)
    }

    /// `data.reason` of SHUTDOWN and RESET (`guest-shutdown`, `host-qmp-quit`, `host-signal`, ...).
    pub fn reason(&self) -> &str {
        self.data.get("reason").and_then(Value::as_str).unwrap_or("")
    }
}

/// What the connection task reports besides replies.
#[derive(Debug, Clone, PartialEq)]
pub enum Notice {
    Event(QmpEvent),
    /// QEMU closed the connection (it exited or crashed), or reading failed. Nothing follows.
    Disconnected {
        error: Option<String>,
    },
}

/// One line from QEMU, classified.
#[derive(Debug, Clone, PartialEq)]
pub enum Message {
    Greeting,
    Reply { id: Option<u64>, result: Result<Value, (String, String)> },
    Event(QmpEvent),
}

#[derive(Deserialize)]
struct RawMessage {
    #[serde(rename = "QMP")]
    greeting: Option<Value>,
    id: Option<Value>,
    #[serde(rename = "return")]
    ret: Option<Value>,
    error: Option<RawError>,
    event: Option<String>,
    #[serde(default)]
    data: Value,
}

#[derive(Deserialize)]
struct RawError {
    class: String,
    desc: String,
}

/// Classify one line of QMP output.
pub fn parse_message(line: &str) -> Result<Message, String> {
    let raw: RawMessage = serde_json::from_str(line).map_err(|e| format!("bad QMP message {line:?}: {e}"))?;
    if raw.greeting.is_some() {
        return Ok(Message::Greeting);
    }
    if let Some(name) = raw.event {
        return Ok(Message::Event(QmpEvent { name, data: raw.data }));
    }
    let id = raw.id.as_ref().and_then(Value::as_u64);
    match (raw.ret, raw.error) {
        (_, Some(err)) => Ok(Message::Reply { id, result: Err((err.class, err.desc)) }),
        (Some(ret), None) => Ok(Message::Reply { id, result: Ok(ret) }),
        (None, None) => Err(format!("QMP message is neither reply nor event: {line:?}")),
    }
}

fn encode_command(id: u64, command: &str, arguments: Option<&Value>) -> String {
    let mut msg = serde_json::json!({"execute": command, "id": id});
    if let Some(arguments) = arguments {
        msg["arguments"] = arguments.clone();
    }
    let mut line = msg.to_string();
    line.push('\n');
    line
}

struct Request {
    command: String,
    arguments: Option<Value>,
    reply: oneshot::Sender<Result<Value, QmpError>>,
}

/// A handle on one QMP connection; cheap to clone. The connection closes when the last clone drops.
#[derive(Clone, Debug)]
pub struct QmpClient {
    requests: mpsc::Sender<Request>,
}

impl QmpClient {
    /// Run `command` and wait for its reply.
    pub async fn execute(&self, command: &str, arguments: Option<Value>) -> Result<Value, QmpError> {
        let (reply, rx) = oneshot::channel();
        let request = Request { command: command.to_string(), arguments, reply };
        self.requests.send(request).await.map_err(|_| QmpError::Disconnected)?;
        rx.await.map_err(|_| QmpError::Disconnected)?
    }
}

/// Connect to a QMP socket, negotiate capabilities and start the connection task.
pub async fn connect(path: &Path) -> Result<(QmpClient, mpsc::UnboundedReceiver<Notice>), QmpError> {
    let stream = UnixStream::connect(path)
        .await
        .map_err(|source| QmpError::Connect { path: path.display().to_string(), source })?;
    start(stream).await
}

/// Negotiate capabilities on an open stream and start the connection task on it.
pub async fn start<S>(stream: S) -> Result<(QmpClient, mpsc::UnboundedReceiver<Notice>), QmpError>
where
    S: AsyncRead + AsyncWrite + Send + 'static,
{
    let (read, mut write) = tokio::io::split(stream);
    let mut lines = BufReader::new(read).lines();
    handshake(&mut lines, &mut write).await?;
    let (requests, requests_rx) = mpsc::channel(32);
    let (notices, notices_rx) = mpsc::unbounded_channel();
    tokio::spawn(run_connection(lines, write, requests_rx, notices));
    Ok((QmpClient { requests }, notices_rx))
}

async fn handshake<S: AsyncRead + AsyncWrite>(
    lines: &mut Lines<BufReader<ReadHalf<S>>>,
    write: &mut WriteHalf<S>,
) -> Result<(), QmpError> {
    let fail = |what: String| QmpError::Handshake(what);
    let first = next_line(lines).await.map_err(fail)?;
    if parse_message(&first).map_err(fail)? != Message::Greeting {
        return Err(fail(format!("expected the QMP greeting, got {first:?}")));
    }
    write
        .write_all(encode_command(0, "qmp_capabilities", None).as_bytes())
        .await
        .map_err(|e| fail(format!("sending qmp_capabilities: {e}")))?;
    loop {
        let line = next_line(lines).await.map_err(fail)?;
        match parse_message(&line).map_err(fail)? {
            Message::Reply { id: Some(0), result: Ok(_) } => return Ok(()),
            Message::Reply { id: Some(0), result: Err((class, desc)) } => {
                return Err(fail(format!("qmp_capabilities: {class}: {desc}")))
            }
            _ => continue,
        }
    }
}

async fn next_line<R: AsyncRead + Unpin>(lines: &mut Lines<BufReader<R>>) -> Result<String, String> {
    match lines.next_line().await {
        Ok(Some(line)) => Ok(line),
        Ok(None) => Err("connection closed".into()),
        Err(e) => Err(e.to_string()),
    }
}

type Pending = HashMap<u64, oneshot::Sender<Result<Value, QmpError>>>;

/// The connection task: reads QEMU's output (biased first, so events are never starved) and writes
/// commands as they come.
async fn run_connection<S: AsyncRead + AsyncWrite>(
    mut lines: Lines<BufReader<ReadHalf<S>>>,
    mut write: WriteHalf<S>,
    mut requests: mpsc::Receiver<Request>,
    notices: mpsc::UnboundedSender<Notice>,
) {
    let mut pending = Pending::new();
    let mut next_id = 1u64;
    let error = loop {
        tokio::select! {
            biased;
            line = lines.next_line() => match line {
                Ok(Some(line)) => dispatch(&line, &mut pending, &notices),
                Ok(None) => break None,
                // QEMU resets the connection when it exits with unread input.
                Err(e) if e.kind() == io::ErrorKind::ConnectionReset => break None,
                Err(e) => break Some(e.to_string()),
            },
            request = requests.recv() => match request {
                Some(request) => {
                    let line = encode_command(next_id, &request.command, request.arguments.as_ref());
                    match write.write_all(line.as_bytes()).await {
                        Ok(()) => {
                            pending.insert(next_id, request.reply);
                        }
                        // The read side sees the end of the connection next.
                        Err(_) => {
                            let _ = request.reply.send(Err(QmpError::Disconnected));
                        }
                    }
                    next_id += 1;
                }
                // Every handle is gone: close the socket and leave QEMU alone.
                None => return,
            },
        }
    };
    for (_, reply) in pending.drain() {
        let _ = reply.send(Err(QmpError::Disconnected));
    }
    let _ = notices.send(Notice::Disconnected { error });
}

fn dispatch(line: &str, pending: &mut Pending, notices: &mpsc::UnboundedSender<Notice>) {
    match parse_message(line) {
        Ok(Message::Event(event)) => {
            let _ = notices.send(Notice::Event(event));
        }
        Ok(Message::Reply { id: Some(id), result }) => match pending.remove(&id) {
            // The caller may have given up (timeout); nobody to tell then.
            Some(reply) => {
                let _ = reply.send(result.map_err(|(class, desc)| QmpError::Command { class, desc }));
            }
            None => tracing::warn!(id, "QMP reply for a command nobody sent"),
        },
        Ok(other) => tracing::warn!(?other, "unexpected QMP message"),
        Err(e) => tracing::warn!(error = %e, "unreadable QMP output"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use tokio::io::AsyncBufReadExt;

    #[test]
    fn classifies_greeting_replies_errors_and_events() {
        let greeting = r#"{"QMP": {"version": {"qemu": {"micro": 22, "minor": 2, "major": 7}}, "capabilities": ["oob"]}}"#;
        assert_eq!(parse_message(greeting).unwrap(), Message::Greeting);
        assert_eq!(
            parse_message(r#"{"return": {"status": "running"}, "id": 7}"#).unwrap(),
            Message::Reply { id: Some(7), result: Ok(json!({"status": "running"})) }
        );
        assert_eq!(
            parse_message(r#"{"id": 2, "error": {"class": "GenericError", "desc": "not suspended"}}"#)
                .unwrap(),
            Message::Reply { id: Some(2), result: Err(("GenericError".into(), "not suspended".into())) }
        );
        let event = r#"{"timestamp": {"seconds": 1, "microseconds": 2}, "event": "SHUTDOWN", "data": {"guest": true, "reason": "guest-shutdown"}}"#;
        let Message::Event(event) = parse_message(event).unwrap() else { panic!("not an event") };
        assert_eq!(event.name, "SHUTDOWN");
        assert!(event.guest_initiated());
        assert_eq!(event.reason(), "guest-shutdown");
        let Message::Event(stop) = parse_message(r#"{"event": "STOP", "timestamp": {}}"#).unwrap() else {
            panic!("not an event")
        };
        assert!(!stop.guest_initiated());
        assert!(parse_message(r#"{"foo": 1}"#).is_err());
        assert!(parse_message("not json").is_err());
    }

    /// A scripted QEMU on the other end of a socket pair.
    struct FakeQemu {
        lines: Lines<BufReader<ReadHalf<UnixStream>>>,
        write: WriteHalf<UnixStream>,
    }

    impl FakeQemu {
        async fn recv(&mut self) -> Value {
            serde_json::from_str(&self.lines.next_line().await.unwrap().unwrap()).unwrap()
        }
        async fn send(&mut self, msg: Value) {
            self.write.write_all(format!("{msg}\r\n").as_bytes()).await.unwrap();
        }
    }

    async fn connected() -> (QmpClient, mpsc::UnboundedReceiver<Notice>, FakeQemu) {
        let (ours, theirs) = UnixStream::pair().unwrap();
        let (read, write) = tokio::io::split(theirs);
        let mut qemu = FakeQemu { lines: BufReader::new(read).lines(), write };
        let server = async move {
            qemu.send(json!({"QMP": {"version": {}, "capabilities": []}})).await;
            let caps = qemu.recv().await;
            assert_eq!(caps["execute"], "qmp_capabilities");
            qemu.send(json!({"return": {}, "id": caps["id"]})).await;
            qemu
        };
        let (client, qemu) = tokio::join!(start(ours), server);
        let (client, notices) = client.unwrap();
        (client, notices, qemu)
    }

    #[tokio::test]
    async fn replies_are_matched_by_id_and_events_pass_through() {
        let (client, mut notices, mut qemu) = connected().await;
        let c1 = client.clone();
        let c2 = client.clone();
        let first =
            tokio::spawn(async move { c1.execute("screendump", Some(json!({"filename": "/x"}))).await });
        let a = qemu.recv().await;
        let second = tokio::spawn(async move { c2.execute("query-status", None).await });
        let b = qemu.recv().await;
        assert_eq!(a["execute"], "screendump");
        assert_eq!(a["arguments"]["filename"], "/x");
        assert_eq!(b["execute"], "query-status");
        assert!(b.get("arguments").is_none());
        assert_ne!(a["id"], b["id"]);
        // Answer out of order, with an event in between.
        qemu.send(json!({"return": {"status": "running"}, "id": b["id"]})).await;
        qemu.send(
            json!({"event": "RESET", "data": {"guest": true, "reason": "guest-reset"}, "timestamp": {}}),
        )
        .await;
        qemu.send(json!({"error": {"class": "GenericError", "desc": "no such file"}, "id": a["id"]})).await;
        assert_eq!(second.await.unwrap().unwrap(), json!({"status": "running"}));
        match first.await.unwrap() {
            Err(QmpError::Command { class, desc }) => {
                assert_eq!((class.as_str(), desc.as_str()), ("GenericError", "no such file"))
            }
            other => panic!("expected a command error, got {other:?}"),
        }
        match notices.recv().await.unwrap() {
            Notice::Event(e) => assert_eq!((e.name.as_str(), e.guest_initiated()), ("RESET", true)),
            other => panic!("expected an event, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn eof_fails_pending_commands_and_reports_disconnect() {
        let (client, mut notices, mut qemu) = connected().await;
        let pending = tokio::spawn(async move { client.execute("quit", None).await });
        let _ = qemu.recv().await;
        qemu.send(json!({"event": "SHUTDOWN", "data": {"guest": false, "reason": "host-qmp-quit"}})).await;
        drop(qemu);
        assert!(matches!(pending.await.unwrap(), Err(QmpError::Disconnected)));
        assert!(matches!(notices.recv().await, Some(Notice::Event(e)) if e.name == "SHUTDOWN"));
        assert_eq!(notices.recv().await, Some(Notice::Disconnected { error: None }));
        assert_eq!(notices.recv().await, None);
    }

    #[tokio::test]
    async fn dropping_every_handle_closes_quietly() {
        let (client, mut notices, mut qemu) = connected().await;
        drop(client);
        assert_eq!(notices.recv().await, None, "no Disconnected notice when we hang up ourselves");
        assert!(qemu.lines.next_line().await.unwrap().is_none(), "the socket is closed");
    }

    #[tokio::test]
    async fn handshake_rejects_a_non_qmp_peer() {
        let (ours, mut theirs) = UnixStream::pair().unwrap();
        theirs.write_all(b"{\"return\": {}}\n").await.unwrap();
        assert!(matches!(start(ours).await, Err(QmpError::Handshake(_))));
    }
}
