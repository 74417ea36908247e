//! A VM's disk I/O as its virtual disks see it: QEMU's `query-blockstats`, summed over the
//! devices (the guest's requests, whatever the host's page cache then does with them). Both
//! drivers ask QEMU the same question (qemu over its QMP socket, libvirt through
//! `virDomainQemuMonitorCommand`), so the parsing lives here once.

use serde_json::Value;

/// Totals over every virtual disk since the VM's process started: counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct BlockTotals {
    pub read_bytes: u64,
    pub write_bytes: u64,
    pub read_ops: u64,
    pub write_ops: u64,
}

/// Sum the `stats` of each device in a `query-blockstats` reply (its `return` array). The
/// devices' backing nodes (`parent`, `backing`) are not added: they are the same requests seen
/// lower down.
pub fn from_query_blockstats(devices: &Value) -> Option<BlockTotals> {
    let mut totals = BlockTotals::default();
    for device in devices.as_array()? {
        let stats = device.get("stats")?;
        let field = |name: &str| stats.get(name).and_then(Value::as_u64).unwrap_or(0);
        totals.read_bytes += field("rd_bytes");
        totals.write_bytes += field("wr_bytes");
        totals.read_ops += field("rd_operations");
        totals.write_ops += field("wr_operations");
    }
    Some(totals)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn devices_are_summed_without_their_backing_nodes() {
        let reply = json!([
            {"device": "", "qdev": "disk0", "stats": {"rd_bytes": 4096, "wr_bytes": 512, "rd_operations": 2, "wr_operations": 1},
             "parent": {"stats": {"rd_bytes": 999999, "wr_bytes": 999999, "rd_operations": 99, "wr_operations": 99}}},
            {"device": "", "qdev": "disk1", "stats": {"rd_bytes": 1024, "wr_bytes": 0, "rd_operations": 1, "wr_operations": 0}}
        ]);
        assert_eq!(
            from_query_blockstats(&reply),
            Some(BlockTotals { read_bytes: 5120, write_bytes: 512, read_ops: 3, write_ops: 1 })
        );
        assert_eq!(from_query_blockstats(&json!({"error": "x"})), None);
        assert_eq!(from_query_blockstats(&json!([])), Some(BlockTotals::default()));
    }
}
