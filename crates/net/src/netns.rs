//! Doing one thing inside a network namespace from a process that stays in the host's.
//!
//! Why a fresh thread: `setns(CLONE_NEWNET)` changes only the calling thread, so a dedicated short-lived thread
//! enters the namespace, does the work (create a socket, write `/proc/sys/net`) and restores its namespace before
//! it ends; no pooled thread (tokio's) is ever left in the wrong namespace, even if restoring failed. A socket
//! keeps the namespace it was created in, so it can be used from any thread afterwards.

use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};

use nix::sched::{setns, CloneFlags};

/// Runs `work` on a new thread that has entered the network namespace at `netns` (`/run/netns/NAME`).
pub fn in_netns<T, F>(netns: &Path, work: F) -> io::Result<T>
where
    T: Send + 'static,
    F: FnOnce() -> T + Send + 'static,
{
    let netns: PathBuf = netns.to_path_buf();
    std::thread::Builder::new()
        .name("ecslab-netns".into())
        .spawn(move || -> io::Result<T> {
            let own = File::open("/proc/thread-self/ns/net")?;
            let target = File::open(&netns)?;
            setns(&target, CloneFlags::CLONE_NEWNET).map_err(io::Error::from)?;
            let out = work();
            setns(&own, CloneFlags::CLONE_NEWNET).map_err(io::Error::from)?;
            Ok(out)
        })?
        .join()
        .map_err(|_| io::Error::other("the namespace thread panicked"))?
}

/// Writes sysctls (`net/ipv4/ip_forward`, relative to `/proc/sys`) as seen from inside the namespace: the
/// `/proc/sys/net` tree belongs to the namespace of the thread that opens it.
pub fn write_sysctls(netns: &Path, values: Vec<(String, String)>) -> io::Result<()> {
    in_netns(netns, move || {
        for (key, value) in values {
            std::fs::write(format!("/proc/sys/{key}"), &value)
                .map_err(|e| io::Error::new(e.kind(), format!("sysctl {key}={value}: {e}")))?;
        }
        Ok(())
    })?
}

/// Connects to `addr` with a socket created inside the namespace (blocking; for tests and probes).
pub fn tcp_connect_in(
    netns: &Path,
    addr: std::net::SocketAddr,
    timeout: std::time::Duration,
) -> io::Result<std::net::TcpStream> {
    in_netns(netns, move || std::net::TcpStream::connect_timeout(&addr, timeout))?
}
