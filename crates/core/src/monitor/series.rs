//! DescribeInstanceMonitorData's arithmetic, pure: a query's rules (ECS's times, periods and
//! limits) and how an instance's samples aggregate into one point per Period.
//!
//! The rule of a point: the buckets are `[StartTime + k·Period, StartTime + (k+1)·Period)`; a
//! bucket's point is made of every pair of consecutive samples of one QEMU process whose later
//! sample falls in it. CPU is the CPU time those pairs gained over their wall time and the
//! instance's vCPUs (percent), BPSRead/BPSWrite and IOPSRead/IOPSWrite the virtual disks'
//! bytes and requests over the same time (per second; QEMU's `query-blockstats`, or, where
//! the driver cannot ask QEMU, the bytes of the process's `/proc/<pid>/io` and no IOPS), and
//! the memory the mean resident size of the process at the pairs' later samples. Network traffic
//! (instances with a NIC in a namespace) is what the pairs' NIC counters gained: Internet what
//! went through the public address (the proxy's TCP payload), Intranet the rest of the NIC's
//! frames, in kbits (1000 bits) each way, and the bandwidth the two ways together per second.
//! A bucket still running (the current minute) counts with the pairs it has so far, so a
//! point appears after two samples; a bucket without a pair (the instance was stopped, or
//! not yet sampled) has no point, as ECS leaves gaps where it has no data.

use super::procfs::ProcessUsage;
use crate::network::datapath::InstanceTraffic;
use crate::{Error, Result};
use chrono::{DateTime, Duration, NaiveDateTime, Timelike, Utc};
use ecslab_net::GuestBytes;
use ecslab_vmm::BlockTotals;

/// ECS keeps monitoring data for 30 days: an older StartTime is refused.
pub const RETENTION_DAYS: i64 = 30;
/// At most this many points per call: (EndTime - StartTime) / Period.
pub const MAX_POINTS: i64 = 400;

/// Period: the seconds each point covers (ECS: 60, 600 or 3600; 60 when absent).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Period {
    Minute,
    TenMinutes,
    Hour,
}

impl Period {
    pub fn parse(value: Option<&str>) -> Result<Period> {
        match value.map(str::trim) {
            None | Some("") | Some("60") => Ok(Period::Minute),
            Some("600") => Ok(Period::TenMinutes),
            Some("3600") => Ok(Period::Hour),
            Some(_) => Err(Error::rejected(
                "InvalidPeriod.ValueNotSupported",
                "The specified parameter \"Period\" is not valid. Valid values: 60, 600, 3600.",
            )),
        }
    }

    pub fn seconds(self) -> i64 {
        match self {
            Period::Minute => 60,
            Period::TenMinutes => 600,
            Period::Hour => 3600,
        }
    }
}

/// One checked DescribeInstanceMonitorData query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MonitorQuery {
    pub instance_id: String,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    pub period: Period,
}

impl MonitorQuery {
    /// Check the parameters as ECS does, at time `now`.
    pub fn parse(
        instance_id: String,
        start: &str,
        end: &str,
        period: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<MonitorQuery> {
        let start = parse_time(start).ok_or_else(|| {
            Error::rejected(
                "InvalidStartTime.Malformed",
                "The specified parameter \"StartTime\" is not valid.",
            )
        })?;
        let end = parse_time(end).ok_or_else(|| {
            Error::rejected("InvalidEndTime.Malformed", "The specified parameter \"EndTime\" is not valid.")
        })?;
        let period = Period::parse(period)?;
        if end < start {
            return Err(Error::rejected(
                "InvalidParameter.EndTime",
                "The specified parameter EndTime is earlier than StartTime.",
            ));
        }
        if start < now - Duration::days(RETENTION_DAYS) {
            return Err(Error::rejected(
                "InvalidStartTime.TooEarly",
                "The specified parameter \"StartTime\" is too early: monitoring data is kept for 30 days.",
            ));
        }
        if (end - start).num_seconds() / period.seconds() > MAX_POINTS {
            return Err(Error::rejected(
                "InvalidParameter.TooManyDataQueried",
                "Too many data queried: (EndTime - StartTime) / Period may be at most 400.",
            ));
        }
        Ok(MonitorQuery { instance_id, start, end, period })
    }
}

/// `YYYY-MM-DDThh:mm:ssZ` (or without seconds), UTC; seconds other than 00 move the time to
/// the next minute, as ECS documents.
pub fn parse_time(text: &str) -> Option<DateTime<Utc>> {
    let naive = NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%SZ")
        .or_else(|_| NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%MZ"))
        .ok()?;
    let time = naive.and_utc();
    if time.second() == 0 {
        return Some(time);
    }
    Some(time.with_second(0)? + Duration::minutes(1))
}

/// One reading of an instance's QEMU process.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sample {
    pub at: DateTime<Utc>,
    /// The process read: counters of another process (after a restart) start again from zero.
    pub pid: u32,
    pub usage: ProcessUsage,
    /// The virtual disks' totals, when the driver could ask QEMU.
    pub block: Option<BlockTotals>,
    /// The NICs' counters, when the instance has NICs in a namespace.
    pub network: Option<InstanceTraffic>,
}

impl Sample {
    /// Disk (read, write) bytes: the virtual disks' when known, else the process's.
    fn disk_bytes(&self) -> Option<(u64, u64)> {
        match (self.block, self.usage.disk) {
            (Some(block), _) => Some((block.read_bytes, block.write_bytes)),
            (None, Some(disk)) => Some((disk.read_bytes, disk.write_bytes)),
            (None, None) => None,
        }
    }
}

/// One aggregated point.
#[derive(Debug, Clone, PartialEq)]
pub struct Point {
    /// The start of the point's bucket.
    pub at: DateTime<Utc>,
    /// CPU use in percent of the instance's vCPUs (two decimals).
    pub cpu_percent: f64,
    /// Disk bytes per second, when some I/O counters could be read.
    pub read_bps: Option<u64>,
    pub write_bps: Option<u64>,
    /// Disk requests per second, when QEMU's were read.
    pub read_iops: Option<u64>,
    pub write_iops: Option<u64>,
    /// The QEMU process's mean resident memory (guest RAM it has touched plus its own), bytes.
    pub memory_bytes: u64,
    /// Traffic through the private network and through the public address, when counted.
    pub intranet: Option<TrafficPoint>,
    pub internet: Option<TrafficPoint>,
}

/// One kind of traffic in a point, as the instance sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TrafficPoint {
    /// Kbits received and sent over the point's pairs.
    pub rx_kbits: u64,
    pub tx_kbits: u64,
    /// Both ways together, kbit/s over the pairs' time.
    pub bandwidth_kbps: u64,
}

impl TrafficPoint {
    fn new(bytes: GuestBytes, seconds: f64) -> TrafficPoint {
        let kbits = |bytes: u64| (bytes as f64 * 8.0 / 1000.0).round() as u64;
        TrafficPoint {
            rx_kbits: kbits(bytes.received),
            tx_kbits: kbits(bytes.sent),
            bandwidth_kbps: (kbits(bytes.received.saturating_add(bytes.sent)) as f64 / seconds).round()
                as u64,
        }
    }
}

/// The points of `samples` (in time order) for `query`, by the rule in this module's doc.
pub fn aggregate(samples: &[Sample], query: &MonitorQuery, vcpus: u32) -> Vec<Point> {
    let period = Duration::seconds(query.period.seconds());
    let mut points = Vec::new();
    let mut bucket = query.start;
    while bucket < query.end {
        let next = bucket + period;
        let mut wall = 0.0;
        let mut cpu = 0.0;
        let mut disk: Option<(u64, u64)> = Some((0, 0));
        let mut ops: Option<(u64, u64)> = Some((0, 0));
        let (mut resident, mut pairs) = (0u128, 0u128);
        // (intranet, internet) bytes.
        let mut traffic: Option<(GuestBytes, GuestBytes)> = Some(Default::default());
        for pair in samples.windows(2) {
            let (a, b) = (&pair[0], &pair[1]);
            if a.pid != b.pid || b.at < bucket || b.at >= next || b.at <= a.at {
                continue;
            }
            wall += (b.at - a.at).num_milliseconds() as f64 / 1000.0;
            resident += u128::from(b.usage.rss_bytes);
            pairs += 1;
            traffic = match (traffic, a.network, b.network) {
                (Some((intranet, internet)), Some(na), Some(nb)) => {
                    let public = nb.public.since(na.public);
                    Some((intranet + nb.nic.since(na.nic).without(public), internet + public))
                }
                _ => None,
            };
            cpu += (b.usage.cpu_seconds - a.usage.cpu_seconds).max(0.0);
            disk = match (disk, a.disk_bytes(), b.disk_bytes()) {
                (Some((r, w)), Some((ra, wa)), Some((rb, wb))) => {
                    Some((r + rb.saturating_sub(ra), w + wb.saturating_sub(wa)))
                }
                _ => None,
            };
            ops = match (ops, a.block, b.block) {
                (Some((r, w)), Some(ba), Some(bb)) => Some((
                    r + bb.read_ops.saturating_sub(ba.read_ops),
                    w + bb.write_ops.saturating_sub(ba.write_ops),
                )),
                _ => None,
            };
        }
        if wall > 0.0 {
            let percent = cpu / (wall * f64::from(vcpus.max(1))) * 100.0;
            points.push(Point {
                at: bucket,
                cpu_percent: (percent.min(100.0) * 100.0).round() / 100.0,
                read_bps: disk.map(|(r, _)| per_second(r, wall)),
                write_bps: disk.map(|(_, w)| per_second(w, wall)),
                read_iops: ops.map(|(r, _)| per_second(r, wall)),
                write_iops: ops.map(|(_, w)| per_second(w, wall)),
                memory_bytes: u64::try_from(resident / pairs.max(1)).unwrap_or(u64::MAX),
                intranet: traffic.map(|(intranet, _)| TrafficPoint::new(intranet, wall)),
                internet: traffic.map(|(_, internet)| TrafficPoint::new(internet, wall)),
            });
        }
        bucket = next;
    }
    points
}

fn per_second(count: u64, seconds: f64) -> u64 {
    (count as f64 / seconds).round() as u64
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::monitor::procfs::DiskBytes;

    fn at(text: &str) -> DateTime<Utc> {
        parse_time(text).unwrap()
    }

    fn sample(time: &str, second: i64, pid: u32, cpu: f64, read: u64) -> Sample {
        let rss_bytes = u64::try_from(second).unwrap() * 1000;
        let block = (pid == 8).then_some(BlockTotals {
            read_bytes: read * 2,
            write_bytes: 0,
            read_ops: read / 100,
            write_ops: 0,
        });
        // Process 8 has a NIC: 1000 bytes each way per second, a quarter of them through the public address.
        let network = (pid == 8).then(|| {
            let total = u64::try_from(second).unwrap() * 1000;
            InstanceTraffic {
                nic: GuestBytes { received: total, sent: total },
                public: GuestBytes { received: total / 4, sent: total / 4 },
            }
        });
        Sample {
            block,
            network,
            at: at(time) + Duration::seconds(second),
            pid,
            usage: ProcessUsage {
                cpu_seconds: cpu,
                rss_bytes,
                disk: Some(DiskBytes { read_bytes: read, write_bytes: 0 }),
            },
        }
    }

    #[test]
    fn times_follow_ecs_rules() {
        assert_eq!(parse_time("2026-01-02T03:04:00Z"), Some(at("2026-01-02T03:04Z")));
        assert_eq!(parse_time("2026-01-02T03:04:05Z"), Some(at("2026-01-02T03:05:00Z")));
        assert_eq!(parse_time("2026-01-02 03:04:05"), None);
        assert_eq!(parse_time("2026-01-02T03:04:05+08:00"), None);
    }

    #[test]
    fn query_codes() {
        let now = at("2026-01-31T00:00:00Z");
        let q = |s: &str, e: &str, p| MonitorQuery::parse("i-1".into(), s, e, p, now).map_err(|e| e.code());
        assert_eq!(q("2026-01-30T00:00:00Z", "2026-01-30T06:40:00Z", None).unwrap().period, Period::Minute);
        assert_eq!(q("x", "2026-01-30T00:00:00Z", None), Err("InvalidStartTime.Malformed"));
        assert_eq!(q("2026-01-30T00:00:00Z", "y", None), Err("InvalidEndTime.Malformed"));
        assert_eq!(
            q("2026-01-30T00:00:00Z", "2026-01-30T00:01:00Z", Some("300")).unwrap_err(),
            "InvalidPeriod.ValueNotSupported"
        );
        assert_eq!(q("2026-01-30T00:01:00Z", "2026-01-30T00:00:00Z", None), Err("InvalidParameter.EndTime"));
        assert_eq!(q("2025-12-31T23:59:00Z", "2026-01-01T00:00:00Z", None), Err("InvalidStartTime.TooEarly"));
        assert_eq!(
            q("2026-01-30T00:00:00Z", "2026-01-30T06:41:00Z", None),
            Err("InvalidParameter.TooManyDataQueried")
        );
        assert!(q("2026-01-01T00:00:00Z", "2026-01-17T16:00:00Z", Some("3600")).is_ok());
    }

    #[test]
    fn points_average_pairs_of_one_process_per_bucket() {
        let t = "2026-01-30T00:00:00Z";
        let samples = [
            sample(t, 0, 7, 10.0, 0),
            sample(t, 30, 7, 13.0, 3000), // 3 s of CPU in 30 s: 10 %
            sample(t, 60, 7, 19.0, 6000), // next bucket: 6 s in 30 s
            sample(t, 90, 8, 0.5, 0),     // another process: no pair with the one before
            sample(t, 120, 8, 3.5, 3000), // 3 s in 30 s, in the third bucket
        ];
        let query = MonitorQuery::parse("i-1".into(), t, "2026-01-30T00:04:00Z", None, at(t)).unwrap();
        let points = aggregate(&samples, &query, 2);
        assert_eq!(points.len(), 3);
        assert_eq!((points[0].at, points[0].cpu_percent, points[0].read_bps), (at(t), 5.0, Some(100)));
        assert_eq!((points[0].read_iops, points[0].write_bps), (None, Some(0)));
        assert_eq!(points[1].cpu_percent, 10.0);
        // Memory: the mean of the pairs' later samples (one pair per bucket here).
        assert_eq!((points[0].memory_bytes, points[1].memory_bytes), (30_000, 60_000));
        assert_eq!((points[2].at, points[2].cpu_percent), (at("2026-01-30T00:02:00Z"), 5.0));
        // Process 8's driver gave QEMU's totals: its bytes and requests come from them.
        assert_eq!((points[2].read_bps, points[2].read_iops), (Some(200), Some(1)));
        // Process 7 has no NIC; 8 moved 30,000 bytes each way in 30 s, 7,500 of them publicly:
        // 180 and 60 kbits, 12 and 4 kbit/s both ways together.
        assert_eq!((points[0].intranet, points[0].internet), (None, None));
        let intranet = TrafficPoint { rx_kbits: 180, tx_kbits: 180, bandwidth_kbps: 12 };
        let internet = TrafficPoint { rx_kbits: 60, tx_kbits: 60, bandwidth_kbps: 4 };
        assert_eq!((points[2].intranet, points[2].internet), (Some(intranet), Some(internet)));
        assert_eq!(aggregate(&samples[..1], &query, 2), Vec::new());
    }
}
