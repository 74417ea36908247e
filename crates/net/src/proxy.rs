//! The public address: a user-space TCP proxy from `PUBLIC_IP:PORT` (an address of 127.0.0.0/8 by default) to
//! `PRIVATE_IP:PORT` inside the VPC's namespace.
//!
//! Why user space: nothing may leave the machine and the namespace has no uplink, so the host reaches a guest only
//! through a socket made inside the namespace (`netns::in_netns`). Such a connection starts in the namespace, so it
//! passes the namespace's output hook, not the forward chain where security groups live: the proxy enforces them
//! itself, with the same evaluator (`filter::decide`) on the client's real address. It listens on exactly the
//! ports the NIC's ingress rules open to the host (`filter::open_ports` for 127.0.0.1), and `update` closes a
//! revoked port at once (its listener is dropped: the next connect is refused). Connections already open stay, as
//! established flows do under conntrack. It counts the bytes it carries each way as they pass ([`Counted`]): the
//! NIC's Internet traffic for DescribeInstanceMonitorData.

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::task::JoinHandle;

use crate::counters::GuestBytes;
use crate::filter::{self, Direction, Packet, Verdict, L4};
use crate::{netns, VpcNetwork};

/// How long a connection into the namespace may take before the client's connection is closed.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// The address the host's clients come from when they connect to 127.x.y.z (the rules must cover it).
pub const HOST_CLIENT: Ipv4Addr = Ipv4Addr::LOCALHOST;

struct Shared {
    public_ip: Ipv4Addr,
    netns: PathBuf,
    nic_id: String,
    vpc: RwLock<Arc<VpcNetwork>>,
    /// Payload bytes carried to the guest and from it, over every connection so far.
    to_guest: AtomicU64,
    from_guest: AtomicU64,
}

/// The proxy of one NIC's public address. Dropping it closes every listener.
pub struct PublicProxy {
    shared: Arc<Shared>,
    listeners: tokio::sync::Mutex<BTreeMap<u16, JoinHandle<()>>>,
}

impl std::fmt::Debug for PublicProxy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PublicProxy")
            .field("public_ip", &self.shared.public_ip)
            .field("nic_id", &self.shared.nic_id)
            .finish()
    }
}

impl PublicProxy {
    /// A proxy for NIC `nic_id` of `vpc`, whose namespace is at `netns` (`HostNetwork::netns_path`), listening on
    /// `public_ip` for the ports its rules open; call within a tokio runtime.
    pub async fn start(public_ip: Ipv4Addr, netns: PathBuf, nic_id: &str, vpc: Arc<VpcNetwork>) -> Self {
        let proxy = PublicProxy {
            shared: Arc::new(Shared {
                public_ip,
                netns,
                nic_id: nic_id.to_string(),
                vpc: RwLock::new(vpc.clone()),
                to_guest: AtomicU64::new(0),
                from_guest: AtomicU64::new(0),
            }),
            listeners: tokio::sync::Mutex::new(BTreeMap::new()),
        };
        proxy.update(vpc).await;
        proxy
    }

    /// Takes the VPC's new state (rules, members): new connections are decided by it at once, newly opened ports
    /// start listening, closed ports stop. Returns the ports now listened on (a port already taken on the public
    /// address by another process is logged and skipped).
    pub async fn update(&self, vpc: Arc<VpcNetwork>) -> Vec<u16> {
        let wanted = match vpc.nics.iter().find(|n| n.id == self.shared.nic_id) {
            Some(nic) => filter::open_ports(&vpc, nic, HOST_CLIENT),
            None => Default::default(),
        };
        *self.shared.vpc.write().expect("proxy state lock") = vpc;
        let mut listeners = self.listeners.lock().await;
        listeners.retain(|port, task| {
            let keep = wanted.contains(port);
            if !keep {
                task.abort();
            }
            keep
        });
        for port in wanted {
            if listeners.contains_key(&port) {
                continue;
            }
            match TcpListener::bind((self.shared.public_ip, port)).await {
                Ok(listener) => {
                    listeners.insert(port, tokio::spawn(accept_loop(self.shared.clone(), listener, port)));
                }
                Err(e) => {
                    tracing::warn!(public_ip = %self.shared.public_ip, port, error = %e, "public port not opened")
                }
            }
        }
        listeners.keys().copied().collect()
    }

    /// The ports listened on.
    pub async fn ports(&self) -> Vec<u16> {
        self.listeners.lock().await.keys().copied().collect()
    }

    pub fn public_ip(&self) -> Ipv4Addr {
        self.shared.public_ip
    }

    /// The TCP payload carried through the public address since this proxy started, as the guest sees it.
    pub fn guest_bytes(&self) -> GuestBytes {
        GuestBytes {
            received: self.shared.to_guest.load(Ordering::Relaxed),
            sent: self.shared.from_guest.load(Ordering::Relaxed),
        }
    }
}

impl Drop for PublicProxy {
    fn drop(&mut self) {
        for task in self.listeners.get_mut().values() {
            task.abort();
        }
    }
}

async fn accept_loop(shared: Arc<Shared>, listener: TcpListener, port: u16) {
    loop {
        match listener.accept().await {
            Ok((client, peer)) => {
                tokio::spawn(serve(shared.clone(), client, peer, port));
            }
            Err(e) => {
                tracing::warn!(port, error = %e, "public proxy accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

/// One client: decide, connect from inside the namespace, copy both ways.
async fn serve(shared: Arc<Shared>, mut client: TcpStream, peer: SocketAddr, port: u16) {
    let vpc = shared.vpc.read().expect("proxy state lock").clone();
    let Some(nic) = vpc.nics.iter().find(|n| n.id == shared.nic_id) else { return };
    let SocketAddr::V4(peer) = peer else { return };
    let packet = Packet { src: *peer.ip(), dst: nic.ip, l4: L4::Tcp { dport: port } };
    if filter::decide(&vpc, nic, Direction::Ingress, &packet) == Verdict::Drop {
        tracing::debug!(%peer, port, nic = %nic.id, "public connection denied by security groups");
        return;
    }
    let target = SocketAddr::from((nic.ip, port));
    let ns = shared.netns.clone();
    let socket = tokio::task::spawn_blocking(move || netns::in_netns(&ns, TcpSocket::new_v4)).await;
    let socket = match socket {
        Ok(Ok(Ok(socket))) => socket,
        other => {
            tracing::warn!(nic = %nic.id, result = ?other.map(|r| r.map(|s| s.map(|_| ()))), "no socket in the VPC namespace");
            return;
        }
    };
    let upstream = match tokio::time::timeout(CONNECT_TIMEOUT, socket.connect(target)).await {
        Ok(Ok(stream)) => stream,
        Ok(Err(e)) => {
            tracing::debug!(%target, error = %e, "public proxy connect failed");
            return;
        }
        Err(_) => {
            tracing::debug!(%target, "public proxy connect timed out");
            return;
        }
    };
    let mut upstream = Counted { stream: upstream, shared };
    let _ = tokio::io::copy_bidirectional(&mut client, &mut upstream).await;
}

/// The connection to the guest, counting what is read from it and written to it as it happens (so a long
/// download shows in every sample it spans, not at its end).
struct Counted {
    stream: TcpStream,
    shared: Arc<Shared>,
}

impl AsyncRead for Counted {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let polled = Pin::new(&mut this.stream).poll_read(cx, buf);
        let read = buf.filled().len().saturating_sub(before);
        this.shared.from_guest.fetch_add(read as u64, Ordering::Relaxed);
        polled
    }
}

impl AsyncWrite for Counted {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, data: &[u8]) -> Poll<std::io::Result<usize>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.stream).poll_write(cx, data);
        if let Poll::Ready(Ok(written)) = &polled {
            this.shared.to_guest.fetch_add(*written as u64, Ordering::Relaxed);
        }
        polled
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_shutdown(cx)
    }
}
