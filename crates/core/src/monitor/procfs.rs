//! What a VM costs the host, read from its QEMU process's `/proc/<pid>`: the kernel already
//! counts it, so sampling N instances is N small file reads and needs nothing inside the guest.
//!
//! - `stat`: utime + stime (fields 14 and 15), in clock ticks of `USER_HZ`, which Linux fixes at
//!   100 for everything it exports to user space on the architectures ecslab runs on;
//! - `status`: `VmRSS` (kB), the resident memory of the whole QEMU process (guest RAM it has
//!   touched plus QEMU's own);
//! - `io`: `read_bytes` / `write_bytes`, the bytes the process made the storage layer fetch or
//!   send (its disks' I/O; readable by root or the process's owner only, so optional).

use std::path::Path;

/// Clock ticks per second of `/proc/<pid>/stat` (`USER_HZ`).
const USER_HZ: f64 = 100.0;

/// One reading of a process's counters.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ProcessUsage {
    /// CPU time (user + system) since the process started, in seconds: a counter.
    pub cpu_seconds: f64,
    /// Resident set size, in bytes: a gauge.
    pub rss_bytes: u64,
    /// Storage I/O since the process started, when `/proc/<pid>/io` is readable.
    pub disk: Option<DiskBytes>,
}

/// Bytes the process read from and wrote to storage: counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DiskBytes {
    pub read_bytes: u64,
    pub write_bytes: u64,
}

/// Read the counters of `pid` under `proc_root` (`/proc`); `None` when the process is gone.
pub fn read_usage(proc_root: &Path, pid: u32) -> Option<ProcessUsage> {
    let dir = proc_root.join(pid.to_string());
    let cpu_seconds = parse_cpu_seconds(&std::fs::read_to_string(dir.join("stat")).ok()?)?;
    let rss_bytes = parse_rss_bytes(&std::fs::read_to_string(dir.join("status")).ok()?)?;
    let disk = std::fs::read_to_string(dir.join("io")).ok().and_then(|text| parse_disk_bytes(&text));
    Some(ProcessUsage { cpu_seconds, rss_bytes, disk })
}

/// utime + stime of a `stat` line, in seconds. The command name (field 2) is in parentheses and
/// may itself hold spaces or parentheses, so fields are counted after its last `)`.
pub fn parse_cpu_seconds(stat: &str) -> Option<f64> {
    let after_name = &stat[stat.rfind(')')? + 1..];
    // After the name: field 3 (state) is index 0, so utime (14) is 11 and stime (15) is 12.
    let mut fields = after_name.split_whitespace().skip(11);
    let utime: u64 = fields.next()?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some((utime + stime) as f64 / USER_HZ)
}

/// `VmRSS` of a `status` file, in bytes.
pub fn parse_rss_bytes(status: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kib: u64 = line["VmRSS:".len()..].split_whitespace().next()?.parse().ok()?;
    Some(kib * 1024)
}

/// `read_bytes` and `write_bytes` of an `io` file.
pub fn parse_disk_bytes(io: &str) -> Option<DiskBytes> {
    let field = |name: &str| {
        io.lines().find_map(|l| l.strip_prefix(name)?.strip_prefix(':')?.trim().parse::<u64>().ok())
    };
    Some(DiskBytes { read_bytes: field("read_bytes")?, write_bytes: field("write_bytes")? })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_seconds_count_fields_after_the_last_parenthesis() {
        let stat = "4242 (qemu (x) y) S 1 4242 4242 0 -1 4194560 100 0 0 0 250 130 0 0 20 0 3 0 99 1 2";
        assert_eq!(parse_cpu_seconds(stat), Some(3.8));
        assert_eq!(parse_cpu_seconds("4242 (qemu) S 1"), None);
    }

    #[test]
    fn rss_is_vmrss_in_bytes() {
        let status = "Name:\tqemu\nVmPeak:\t 9000 kB\nVmRSS:\t  20480 kB\nThreads:\t4\n";
        assert_eq!(parse_rss_bytes(status), Some(20480 * 1024));
        assert_eq!(parse_rss_bytes("Name:\tkthread\n"), None);
    }

    #[test]
    fn disk_bytes_are_the_storage_layer_counters() {
        let io = "rchar: 10\nwchar: 20\nsyscr: 1\nsyscw: 2\nread_bytes: 4096\nwrite_bytes: 8192\ncancelled_write_bytes: 0\n";
        assert_eq!(parse_disk_bytes(io), Some(DiskBytes { read_bytes: 4096, write_bytes: 8192 }));
    }

    #[test]
    fn this_process_can_be_read() {
        let usage = read_usage(Path::new("/proc"), std::process::id()).unwrap();
        assert!(usage.rss_bytes > 0);
        assert!(usage.cpu_seconds >= 0.0);
        assert_eq!(read_usage(Path::new("/proc"), u32::MAX), None);
    }
}
