//! How many bytes each NIC carried, for DescribeInstanceMonitorData's Intranet and Internet traffic.
//!
//! A NIC's tap lives in its VPC's namespace, out of the host namespace's sight (`/sys/class/net` there does
//! not list it). A thread that entered the namespace (`netns::in_netns`) reads `/proc/thread-self/net/dev`,
//! which lists every link of the namespace with its counters: one read per VPC and sample, whatever the number
//! of NICs. The tap is the host's end of the guest's NIC, so what it received the guest sent, and the other way
//! round. The counters start at zero with the tap, which `HostNetwork::prepare_tap` makes anew before each start
//! of the VM.

use std::collections::HashMap;
use std::ops::{Add, AddAssign};

use crate::{io_err, netns, HostNetwork, NetError};

/// Bytes a NIC carried since its tap was made, as its guest sees them (frames, Ethernet headers included).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct GuestBytes {
    pub received: u64,
    pub sent: u64,
}

impl GuestBytes {
    /// What was carried since `earlier`; a counter that went back (a new tap or proxy) counts from zero.
    pub fn since(self, earlier: GuestBytes) -> GuestBytes {
        GuestBytes {
            received: self.received.checked_sub(earlier.received).unwrap_or(self.received),
            sent: self.sent.checked_sub(earlier.sent).unwrap_or(self.sent),
        }
    }

    /// These bytes less `part` of them, never below zero.
    pub fn without(self, part: GuestBytes) -> GuestBytes {
        GuestBytes {
            received: self.received.saturating_sub(part.received),
            sent: self.sent.saturating_sub(part.sent),
        }
    }
}

impl Add for GuestBytes {
    type Output = GuestBytes;

    fn add(self, other: GuestBytes) -> GuestBytes {
        GuestBytes {
            received: self.received.saturating_add(other.received),
            sent: self.sent.saturating_add(other.sent),
        }
    }
}

impl AddAssign for GuestBytes {
    fn add_assign(&mut self, other: GuestBytes) {
        *self = *self + other;
    }
}

impl HostNetwork {
    /// The guest-side bytes of every tap in the VPC's namespace, by tap name.
    pub fn tap_bytes(&self, vpc_id: &str) -> Result<HashMap<String, GuestBytes>, NetError> {
        let netns = self.netns_path(vpc_id);
        let text = netns::in_netns(&netns, || std::fs::read_to_string("/proc/thread-self/net/dev"))
            .and_then(|read| read)
            .map_err(io_err(format!("reading the links' counters in {}", netns.display())))?;
        Ok(taps_in_net_dev(&text))
    }
}

/// `/proc/net/dev`'s links, each as the far end of the link sees it (a tap's guest): the link's receive bytes
/// (the first number after `name:`) are what the guest sent, its transmit bytes (the ninth) what it received.
/// Lines that are not `name: 16 numbers` (the two headings) are skipped.
pub fn taps_in_net_dev(text: &str) -> HashMap<String, GuestBytes> {
    text.lines()
        .filter_map(|line| {
            let (name, numbers) = line.split_once(':')?;
            let numbers: Vec<u64> =
                numbers.split_whitespace().map(str::parse).collect::<Result<_, _>>().ok()?;
            if numbers.len() < 16 {
                return None;
            }
            Some((name.trim().to_string(), GuestBytes { sent: numbers[0], received: numbers[8] }))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn net_dev_lines_give_each_link_from_its_far_end() {
        let text = "Inter-|   Receive                                                |  Transmit\n \
            face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed\n    \
            lo:     120       2    0    0    0     0          0         0      120       2    0    0    0     0       0          0\n\
            el0123456789abc: 5400      40    0    0    0     0          0         0    98765     70    0    0    0     0       0          0\n";
        let links = taps_in_net_dev(text);
        assert_eq!(links.len(), 2);
        assert_eq!(links["el0123456789abc"], GuestBytes { sent: 5400, received: 98765 });
        assert_eq!(links["lo"], GuestBytes { sent: 120, received: 120 });
        assert!(taps_in_net_dev("eth0: 1 2 3\n").is_empty());
    }

    #[test]
    fn differences_never_go_below_zero() {
        let now = GuestBytes { received: 100, sent: 50 };
        assert_eq!(now.since(GuestBytes { received: 40, sent: 50 }), GuestBytes { received: 60, sent: 0 });
        // A counter that went back started again from zero: all of it is new.
        assert_eq!(now.since(GuestBytes { received: 500, sent: 10 }), GuestBytes { received: 100, sent: 40 });
        assert_eq!(now.without(GuestBytes { received: 30, sent: 80 }), GuestBytes { received: 70, sent: 0 });
        assert_eq!(now + now, GuestBytes { received: 200, sent: 100 });
    }
}
