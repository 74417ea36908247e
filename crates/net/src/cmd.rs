//! Running `ip`, `nft` and friends: one place that turns a failed command into a `NetError` with its stderr.
//!
//! Why shell out: the commands are the clearest statement of what the kernel is asked to do, they are what an
//! operator types to inspect the result, and `nft -f -` is the one atomic way to replace a table.

use std::io::Write as _;
use std::process::{Command, Stdio};

use crate::NetError;

fn describe(program: &str, args: &[&str]) -> String {
    std::iter::once(program).chain(args.iter().copied()).collect::<Vec<_>>().join(" ")
}

/// Runs `program args` (with `stdin` fed when given) and returns its stdout, or the failure with stderr.
pub(crate) fn run_with(program: &str, args: &[&str], stdin: Option<&str>) -> Result<String, NetError> {
    let command = describe(program, args);
    let io = |source| NetError::Io { context: format!("running `{command}`"), source };
    let mut child = Command::new(program)
        .args(args)
        .stdin(if stdin.is_some() { Stdio::piped() } else { Stdio::null() })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(io)?;
    if let (Some(text), Some(mut pipe)) = (stdin, child.stdin.take()) {
        pipe.write_all(text.as_bytes()).map_err(io)?;
    }
    let out = child.wait_with_output().map_err(io)?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(NetError::Command {
            command,
            status: out.status.to_string(),
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        })
    }
}

pub(crate) fn run(program: &str, args: &[&str]) -> Result<String, NetError> {
    run_with(program, args, None)
}

/// The interface names of a namespace (`None`: the host's), from `ip -j link show`.
pub(crate) fn links(netns: Option<&str>) -> Result<Vec<String>, NetError> {
    let out = match netns {
        Some(ns) => run("ip", &["-j", "-n", ns, "link", "show"])?,
        None => run("ip", &["-j", "link", "show"])?,
    };
    let json: serde_json::Value = serde_json::from_str(&out)
        .map_err(|e| NetError::Invalid(format!("unreadable `ip -j link show` output: {e}")))?;
    Ok(json
        .as_array()
        .map(|links| links.iter().filter_map(|l| l["ifname"].as_str().map(str::to_string)).collect())
        .unwrap_or_default())
}

/// Whether interface `name` exists in the host namespace.
pub(crate) fn host_has_link(name: &str) -> bool {
    host_link_state(name).is_some()
}

/// Interface `name` of the host namespace, if it exists: whether it has carrier (`LOWER_UP`). An up tap has
/// carrier exactly while a process (the VM) holds it open.
pub(crate) fn host_link_state(name: &str) -> Option<bool> {
    let out = run("ip", &["-j", "link", "show", "dev", name]).ok()?;
    let json: serde_json::Value = serde_json::from_str(&out).ok()?;
    let flags = json.get(0)?.get("flags")?.as_array()?;
    Some(flags.iter().any(|f| f == "LOWER_UP"))
}

/// Deletes interface `name` of a namespace (`None`: the host's); one already gone is fine (a veth end goes with
/// its peer's namespace, asynchronously).
pub(crate) fn del_link(netns: Option<&str>, name: &str) -> Result<(), NetError> {
    let result = match netns {
        Some(ns) => run("ip", &["-n", ns, "link", "del", "dev", name]),
        None => run("ip", &["link", "del", "dev", name]),
    };
    match result {
        Err(NetError::Command { stderr, .. }) if stderr.contains("Cannot find device") => Ok(()),
        other => other.map(drop),
    }
}
