//! RFB bytes between a WebSocket (the browser's noVNC, or any client) and the VM's VNC server on
//! its unix socket, both ways, until either side closes. Each chunk the VM sends goes out as one
//! binary message; each binary message the client sends goes to the VM as is (RFB needs no
//! message boundaries). Limits against hostile clients: a message or frame over
//! [`MAX_MESSAGE_BYTES`] ends the session (close 1009) (a client's RFB messages are tiny), text messages
//! are refused (close 1003), a client silent for [`IDLE`] (ECS: 300 s without interaction) is
//! disconnected, and one that does not take what is sent within [`SEND_TIMEOUT`] too. When the
//! VM stops, its socket closes and the client gets a close frame (1001, going away); so it does
//! when the server shuts down.

use crate::front::Upgraded;
use futures_util::{SinkExt, StreamExt};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::UnixStream;
use tokio::time::timeout;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, Role, WebSocketConfig};
use tokio_tungstenite::tungstenite::{Error as WsError, Message};
use tokio_tungstenite::WebSocketStream;

/// The largest message (and frame) a client may send.
const MAX_MESSAGE_BYTES: usize = 1 << 20;
/// A client that sends nothing for this long is disconnected (ECS's VNC keepalive).
const IDLE: Duration = Duration::from_secs(300);
/// A message to the client must be taken within this time.
const SEND_TIMEOUT: Duration = Duration::from_secs(60);
/// Bytes read from the VM at once (one binary message at most this big).
const CHUNK: usize = 64 * 1024;

/// Why a session ended, for the log.
#[derive(Debug)]
enum End {
    ClientClosed,
    VmClosed,
    ServerStopping,
    Idle,
    SlowClient,
    TextMessage,
    TooBig(String),
    ClientError(String),
    VmError(String),
}

impl std::fmt::Display for End {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            End::ClientClosed => f.write_str("the client closed"),
            End::VmClosed => f.write_str("the VM's VNC server closed"),
            End::ServerStopping => f.write_str("the server is shutting down"),
            End::Idle => f.write_str("the client was idle too long"),
            End::SlowClient => f.write_str("the client did not take what was sent"),
            End::TextMessage => f.write_str("the client sent a text message"),
            End::TooBig(e) => write!(f, "the client sent too much at once: {e}"),
            End::ClientError(e) => write!(f, "WebSocket error: {e}"),
            End::VmError(e) => write!(f, "VNC socket error: {e}"),
        }
    }
}

/// Run one session; returns when it is over and both sockets are closed.
pub(super) async fn run(upgraded: Upgraded, mut vm: UnixStream) {
    let started = Instant::now();
    let config = WebSocketConfig::default()
        .max_message_size(Some(MAX_MESSAGE_BYTES))
        .max_frame_size(Some(MAX_MESSAGE_BYTES));
    let mut ws = WebSocketStream::from_partially_read(
        upgraded.stream,
        upgraded.read_ahead,
        Role::Server,
        Some(config),
    )
    .await;
    let (mut to_vm, mut to_client) = (0u64, 0u64);
    let mut chunk = vec![0u8; CHUNK];
    let mut stop = upgraded.stop.clone();
    let end = loop {
        tokio::select! {
            // The front's shutdown flips this once (or drops it): either way, the session ends.
            _ = stop.changed() => break End::ServerStopping,
            message = timeout(IDLE, ws.next()) => match message {
                Err(_) => break End::Idle,
                Ok(None) | Ok(Some(Ok(Message::Close(_)))) => break End::ClientClosed,
                Ok(Some(Err(e @ WsError::Capacity(_)))) => break End::TooBig(e.to_string()),
                Ok(Some(Err(e))) => break End::ClientError(e.to_string()),
                Ok(Some(Ok(Message::Binary(bytes)))) => {
                    if let Err(e) = vm.write_all(&bytes).await {
                        break End::VmError(e.to_string());
                    }
                    to_vm += bytes.len() as u64;
                }
                Ok(Some(Ok(Message::Text(_)))) => break End::TextMessage,
                // Pings are answered by tungstenite with the next write or flush.
                Ok(Some(Ok(_))) => {
                    if timeout(SEND_TIMEOUT, ws.flush()).await.is_err() {
                        break End::SlowClient;
                    }
                }
            },
            read = vm.read(&mut chunk) => match read {
                Ok(0) => break End::VmClosed,
                Ok(n) => {
                    match timeout(SEND_TIMEOUT, ws.send(Message::binary(chunk[..n].to_vec()))).await {
                        Ok(Ok(())) => to_client += n as u64,
                        Ok(Err(e)) => break End::ClientError(e.to_string()),
                        Err(_) => break End::SlowClient,
                    }
                }
                Err(e) => break End::VmError(e.to_string()),
            },
        }
    };
    let close = match &end {
        End::VmClosed | End::VmError(_) => Some((CloseCode::Away, "the instance's console closed")),
        End::ServerStopping => Some((CloseCode::Away, "the server is shutting down")),
        End::Idle => Some((CloseCode::Away, "no interaction for 300 seconds")),
        End::TextMessage => Some((CloseCode::Unsupported, "RFB takes binary messages only")),
        End::TooBig(_) => Some((CloseCode::Size, "a message over 1 MiB")),
        End::ClientError(_) => Some((CloseCode::Protocol, "WebSocket protocol error")),
        End::ClientClosed | End::SlowClient => None,
    };
    if let Some((code, reason)) = close {
        let frame = CloseFrame { code, reason: reason.into() };
        let _ = timeout(Duration::from_secs(5), ws.close(Some(frame))).await;
    } else if matches!(end, End::ClientClosed) {
        // Answer the client's close (tungstenite queues the reply) and flush it.
        let _ = timeout(Duration::from_secs(5), ws.close(None)).await;
    }
    let _ = vm.shutdown().await;
    tracing::info!(
        peer = %upgraded.peer,
        ended = %end,
        bytes_to_vm = to_vm,
        bytes_to_client = to_client,
        seconds = started.elapsed().as_secs_f64(),
        "VNC session ended"
    );
}
