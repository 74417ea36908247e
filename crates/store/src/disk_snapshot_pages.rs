//! DescribeDisks and DescribeSnapshots paged in SQL, as DescribeInstances is (see `listing`):
//! every filter is a WHERE clause, a page costs two queries (the total and the page) in one read
//! transaction whatever the number of rows, and a snapshot's `Usage` is computed in the same
//! query as the page, not read separately for the whole account.

use crate::listing::{read_page, wildcard_to_glob, Clause, ListedTable};
use crate::snapshots::SNAPSHOT_COLUMNS;
use crate::{
    db, DiskRecord, DiskStatus, DiskType, ListedPage, PageWindow, Result, SnapshotRecord, SnapshotStatus,
    Store,
};
use sqlx::Row;

/// DescribeDisks' filter, in store terms (every field narrows; `None` means any).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DiskQuery {
    pub disk_ids: Option<Vec<String>>,
    pub instance_id: Option<String>,
    pub disk_type: Option<DiskType>,
    pub status: Option<DiskStatus>,
    /// `*` matches any run of characters; every other character matches itself.
    pub name_pattern: Option<String>,
    /// The snapshot the disk was created from.
    pub source_snapshot_id: Option<String>,
    pub portable: Option<bool>,
    /// (key, value): a disk must have a tag with this key (and this value, when given).
    pub tags: Vec<(String, Option<String>)>,
}

/// What a snapshot was made into, the two halves of its `Usage`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SnapshotUse {
    /// An image that is not deleted was created from it (as its system or a data disk).
    pub by_images: bool,
    /// A disk was created from it.
    pub by_disks: bool,
}

/// DescribeSnapshots' filter, in store terms (every field narrows; `None` means any).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SnapshotQuery {
    /// Snapshots of the disks attached to this instance (whoever's they are).
    pub instance_id: Option<String>,
    pub source_disk_id: Option<String>,
    pub snapshot_ids: Option<Vec<String>>,
    /// `*` matches any run of characters; every other character matches itself.
    pub name_pattern: Option<String>,
    pub status: Option<SnapshotStatus>,
    pub source_disk_type: Option<DiskType>,
    pub usage: Option<SnapshotUse>,
    /// RFC 3339 bounds on `created_at`, both inclusive.
    pub created_after: Option<String>,
    pub created_before: Option<String>,
    /// (key, value): a snapshot must have a tag with this key (and this value, when given).
    pub tags: Vec<(String, Option<String>)>,
    /// Nothing matches (SnapshotType=auto: ecslab takes no automatic snapshots).
    pub matches_nothing: bool,
}

/// A listed snapshot and what it was made into.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsedSnapshot {
    pub snapshot: SnapshotRecord,
    pub used: SnapshotUse,
}

/// Whether an image that is not deleted was made from `snapshots.snapshot_id`.
const USED_BY_IMAGES: &str = "(EXISTS (SELECT 1 FROM images i
        WHERE i.source_snapshot_id = snapshots.snapshot_id AND i.deleted = 0)
    OR EXISTS (SELECT 1 FROM image_disks d JOIN images i ON i.image_id = d.image_id
        WHERE d.snapshot_id = snapshots.snapshot_id AND i.deleted = 0))";

/// Whether a disk was made from `snapshots.snapshot_id`.
const USED_BY_DISKS: &str =
    "EXISTS (SELECT 1 FROM disks d WHERE d.source_snapshot_id = snapshots.snapshot_id)";

fn disk_clause(account_id: &str, q: &DiskQuery) -> Clause {
    let mut clause = Clause::new(account_id);
    if let Some(ids) = &q.disk_ids {
        clause.and_in("disk_id", ids);
    }
    for (column, value) in [("instance_id", &q.instance_id), ("source_snapshot_id", &q.source_snapshot_id)] {
        if let Some(value) = value {
            clause.and(&format!("{column} = ?"), [value.clone()]);
        }
    }
    if let Some(disk_type) = q.disk_type {
        clause.and("disk_type = ?", [disk_type.as_str().to_string()]);
    }
    if let Some(status) = q.status {
        clause.and("status = ?", [status.as_str().to_string()]);
    }
    if let Some(pattern) = &q.name_pattern {
        clause.and("name GLOB ?", [wildcard_to_glob(pattern)]);
    }
    match q.portable {
        Some(true) => clause.and("portable != 0", []),
        Some(false) => clause.and("portable = 0", []),
        None => {}
    }
    for (key, value) in &q.tags {
        clause.and_tag("disks", key, value.as_deref());
    }
    clause
}

fn snapshot_clause(account_id: &str, q: &SnapshotQuery) -> Clause {
    let mut clause = Clause::new(account_id);
    clause.and("deleted = 0", []);
    if q.matches_nothing {
        clause.and("0", []);
    }
    if let Some(instance_id) = &q.instance_id {
        clause.and(
            "source_disk_id IN (SELECT disk_id FROM disks WHERE instance_id = ?)",
            [instance_id.clone()],
        );
    }
    if let Some(disk_id) = &q.source_disk_id {
        clause.and("source_disk_id = ?", [disk_id.clone()]);
    }
    if let Some(ids) = &q.snapshot_ids {
        clause.and_in("snapshot_id", ids);
    }
    if let Some(pattern) = &q.name_pattern {
        clause.and("name GLOB ?", [wildcard_to_glob(pattern)]);
    }
    if let Some(status) = q.status {
        clause.and("status = ?", [status.as_str().to_string()]);
    }
    if let Some(disk_type) = q.source_disk_type {
        clause.and("source_disk_type = ?", [disk_type.as_str().to_string()]);
    }
    if let Some(usage) = q.usage {
        let yes_no = |used: bool| if used { "" } else { "NOT " };
        clause.and(
            &format!(
                "{}{USED_BY_IMAGES} AND {}{USED_BY_DISKS}",
                yes_no(usage.by_images),
                yes_no(usage.by_disks)
            ),
            [],
        );
    }
    if let Some(after) = &q.created_after {
        clause.and("created_at >= ?", [after.clone()]);
    }
    if let Some(before) = &q.created_before {
        clause.and("created_at <= ?", [before.clone()]);
    }
    for (key, value) in &q.tags {
        clause.and_tag("snapshots", key, value.as_deref());
    }
    clause
}

impl Store {
    /// One page of an account's disks in list order (`created_at`, `disk_id`) and the filter's
    /// total.
    pub async fn disks_page(
        &self,
        account_id: &str,
        query: &DiskQuery,
        window: &PageWindow,
    ) -> Result<ListedPage<DiskRecord>> {
        let mut tx = self.reader().begin().await.map_err(db("begin a read"))?;
        let table = ListedTable {
            table: "disks",
            columns: "*".into(),
            id_column: "disk_id",
            counting: "counting disks",
            listing: "listing disks",
        };
        let (total, rows, more) =
            read_page(&mut tx, &table, || disk_clause(account_id, query), window).await?;
        tx.commit().await.map_err(db("ending a read"))?;
        let items = rows.iter().map(DiskRecord::from_row).collect::<Result<Vec<_>>>()?;
        Ok(ListedPage { items, total, more })
    }

    /// One page of an account's snapshots (deleted ones hidden) in list order (`created_at`,
    /// `snapshot_id`), each with what it was made into, and the filter's total.
    pub async fn snapshots_page(
        &self,
        account_id: &str,
        query: &SnapshotQuery,
        window: &PageWindow,
    ) -> Result<ListedPage<UsedSnapshot>> {
        let mut tx = self.reader().begin().await.map_err(db("begin a read"))?;
        let table = ListedTable {
            table: "snapshots",
            columns: format!(
                "{SNAPSHOT_COLUMNS}, {USED_BY_IMAGES} AS used_by_images, {USED_BY_DISKS} AS used_by_disks"
            ),
            id_column: "snapshot_id",
            counting: "counting snapshots",
            listing: "listing snapshots",
        };
        let (total, rows, more) =
            read_page(&mut tx, &table, || snapshot_clause(account_id, query), window).await?;
        tx.commit().await.map_err(db("ending a read"))?;
        let items = rows
            .iter()
            .map(|row| {
                Ok(UsedSnapshot {
                    snapshot: SnapshotRecord::from_row(row)?,
                    used: SnapshotUse {
                        by_images: row.get::<i64, _>("used_by_images") != 0,
                        by_disks: row.get::<i64, _>("used_by_disks") != 0,
                    },
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(ListedPage { items, total, more })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        DiskStatus, ImageRecord, ImageStatus, OperationKind, OperationRecord, OperationStep,
        SnapshotAdmission, Tag,
    };

    fn disk(n: usize) -> DiskRecord {
        DiskRecord {
            disk_id: format!("d-{n:03}"),
            account_id: if n % 5 == 4 { "other".into() } else { "acc".into() },
            instance_id: if n.is_multiple_of(2) { Some(format!("i-{}", n % 4)) } else { None },
            disk_type: if n.is_multiple_of(3) { DiskType::System } else { DiskType::Data },
            device_index: n as i64,
            name: if n.is_multiple_of(2) { format!("web-{n}") } else { format!("db?{n}") },
            description: String::new(),
            category: "cloud_essd".into(),
            size_gib: 20,
            path: String::new(),
            status: if n.is_multiple_of(2) { DiskStatus::InUse } else { DiskStatus::Available },
            image_id: String::new(),
            delete_with_instance: true,
            zone_id: "z".into(),
            // Several disks per second, as RunInstances makes them.
            created_at: format!("2026-01-01T00:00:{:02}Z", n / 3),
            attached_at: String::new(),
            base_path: String::new(),
            parent_snapshot_id: String::new(),
            source_snapshot_id: if n.is_multiple_of(7) { "s-000".into() } else { String::new() },
            ever_attached: false,
            ever_used: false,
            portable: n % 2 == 1,
            tags: if n.is_multiple_of(4) {
                vec![Tag { key: "team".into(), value: format!("t{}", n % 8) }]
            } else {
                vec![]
            },
        }
    }

    fn snapshot(n: usize) -> SnapshotRecord {
        SnapshotRecord {
            snapshot_id: format!("s-{n:03}"),
            account_id: if n % 5 == 4 { "other".into() } else { "acc".into() },
            // One disk per snapshot: a disk takes one snapshot in progress at a time.
            source_disk_id: format!("d-{n:03}"),
            source_disk_type: if n.is_multiple_of(3) { DiskType::System } else { DiskType::Data },
            source_disk_size: 20,
            name: format!("snap-{n}"),
            description: String::new(),
            status: if n.is_multiple_of(2) {
                SnapshotStatus::Accomplished
            } else {
                SnapshotStatus::Progressing
            },
            progress: 0,
            path: String::new(),
            parent_snapshot_id: String::new(),
            image_path: String::new(),
            retention_days: 0,
            tags: if n.is_multiple_of(4) {
                vec![Tag { key: "team".into(), value: "a".into() }]
            } else {
                vec![]
            },
            deleted: n == 10,
            failure_reason: String::new(),
            created_at: format!("2026-01-01T00:00:{:02}Z", n / 3),
            updated_at: String::new(),
        }
    }

    /// 40 disks, 40 snapshots (s-N of d-N); s-000 made into disks (d-000, d-007, ...), s-001
    /// and s-002 into images (s-002's image deleted), s-003 into both.
    async fn store() -> Store {
        let store = Store::open_in_memory().await.unwrap();
        for n in 0..40 {
            let mut d = disk(n);
            if n == 1 {
                d.source_snapshot_id = "s-003".into();
            }
            store.insert_disk(&d).await.unwrap();
            let s = snapshot(n);
            let operation = OperationRecord {
                operation_id: format!("op-{n}"),
                kind: OperationKind::CreateSnapshot,
                disk_id: s.source_disk_id.clone(),
                step: OperationStep::Freeze,
                payload: "{}".into(),
                created_at: s.created_at.clone(),
            };
            let admission = store.insert_snapshot(&s, &operation, 1000).await.unwrap();
            assert_eq!(admission, SnapshotAdmission::Inserted);
        }
        for (image, snapshot, deleted) in
            [("m-1", "s-001", false), ("m-2", "s-002", true), ("m-3", "s-003", false)]
        {
            store
                .insert_image(&ImageRecord {
                    image_id: image.into(),
                    account_id: "acc".into(),
                    name: image.into(),
                    description: String::new(),
                    status: ImageStatus::Available,
                    progress: 100,
                    size_gib: 20,
                    virtual_size_bytes: 0,
                    path: String::new(),
                    format: "qcow2".into(),
                    platform: String::new(),
                    architecture: String::new(),
                    os_type: String::new(),
                    import_bucket: String::new(),
                    import_object: String::new(),
                    failure_reason: String::new(),
                    created_at: String::new(),
                    source_snapshot_id: snapshot.into(),
                    source_instance_id: String::new(),
                    deleted,
                    tags: Vec::new(),
                })
                .await
                .unwrap();
        }
        store
    }

    async fn disk_ids(store: &Store, q: DiskQuery, window: PageWindow) -> (Vec<String>, u64, bool) {
        let page = store.disks_page("acc", &q, &window).await.unwrap();
        (page.items.iter().map(|d| d.disk_id.clone()).collect(), page.total, page.more)
    }

    async fn snapshot_ids(store: &Store, q: SnapshotQuery) -> Vec<String> {
        let page =
            store.snapshots_page("acc", &q, &PageWindow::Offset { offset: 0, limit: 100 }).await.unwrap();
        page.items.iter().map(|s| s.snapshot.snapshot_id.clone()).collect()
    }

    const ALL: PageWindow = PageWindow::Offset { offset: 0, limit: 100 };

    #[tokio::test]
    async fn disk_pages_walk_every_row_once_in_list_order() {
        let store = store().await;
        let mut key = None;
        let mut seen = Vec::new();
        loop {
            let page = store
                .disks_page("acc", &DiskQuery::default(), &PageWindow::After { key: key.clone(), limit: 7 })
                .await
                .unwrap();
            assert_eq!(page.total, 32);
            seen.extend(page.items.iter().map(|d| d.disk_id.clone()));
            if !page.more {
                break;
            }
            let last = page.items.last().unwrap();
            key = Some((last.created_at.clone(), last.disk_id.clone()));
        }
        let expected: Vec<String> = (0..40).filter(|n| n % 5 != 4).map(|n| format!("d-{n:03}")).collect();
        assert_eq!(seen, expected);
        let (ids, total, more) =
            disk_ids(&store, DiskQuery::default(), PageWindow::Offset { offset: 30, limit: 10 }).await;
        assert_eq!((ids, total, more), (vec!["d-037".to_string(), "d-038".to_string()], 32, false));
    }

    #[tokio::test]
    async fn every_disk_filter_runs_in_sql() {
        let store = store().await;
        let ids = |q: DiskQuery| {
            let store = store.clone();
            async move { disk_ids(&store, q, ALL).await.0 }
        };
        let named = ids(DiskQuery { name_pattern: Some("db?1*".into()), ..Default::default() }).await;
        assert_eq!(named, ["d-001", "d-011", "d-013", "d-015", "d-017"], "? is literal, * is any run");
        let status = ids(DiskQuery { status: Some(DiskStatus::InUse), ..Default::default() }).await;
        assert_eq!(status.len(), 16);
        let portable = ids(DiskQuery { portable: Some(true), ..Default::default() }).await;
        assert_eq!(portable.len(), 16);
        assert_eq!(ids(DiskQuery { portable: Some(false), ..Default::default() }).await, status);
        let attached = ids(DiskQuery { instance_id: Some("i-2".into()), ..Default::default() }).await;
        assert_eq!(attached, ["d-002", "d-006", "d-010", "d-018", "d-022", "d-026", "d-030", "d-038"]);
        let system = ids(DiskQuery {
            disk_type: Some(DiskType::System),
            disk_ids: Some(vec!["d-000".into(), "d-001".into(), "d-003".into(), "d-009".into()]),
            ..Default::default()
        })
        .await;
        assert_eq!(system, ["d-000", "d-003"], "d-009 is another account's");
        let from_snapshot =
            ids(DiskQuery { source_snapshot_id: Some("s-000".into()), ..Default::default() }).await;
        assert_eq!(
            from_snapshot,
            ["d-000", "d-007", "d-021", "d-028", "d-035"],
            "d-014 is another account's"
        );
        let tagged =
            ids(DiskQuery { tags: vec![("team".into(), Some("t0".into()))], ..Default::default() }).await;
        assert_eq!(tagged, ["d-000", "d-008", "d-016", "d-032"]);
        assert_eq!(ids(DiskQuery { tags: vec![("team".into(), None)], ..Default::default() }).await.len(), 8);
        assert!(ids(DiskQuery { disk_ids: Some(vec![]), ..Default::default() }).await.is_empty());
    }

    #[tokio::test]
    async fn snapshot_usage_is_read_with_the_page() {
        let store = store().await;
        let page = store.snapshots_page("acc", &SnapshotQuery::default(), &ALL).await.unwrap();
        assert_eq!(page.total, 31, "8 are another account's, s-010 is deleted");
        let used: Vec<(&str, bool, bool)> = page
            .items
            .iter()
            .take(4)
            .map(|s| (s.snapshot.snapshot_id.as_str(), s.used.by_images, s.used.by_disks))
            .collect();
        assert_eq!(
            used,
            [("s-000", false, true), ("s-001", true, false), ("s-002", false, false), ("s-003", true, true)],
            "s-002's image is deleted"
        );
        let usage = |by_images, by_disks| SnapshotQuery {
            usage: Some(SnapshotUse { by_images, by_disks }),
            snapshot_ids: Some((0..4).map(|n| format!("s-{n:03}")).collect()),
            ..Default::default()
        };
        assert_eq!(snapshot_ids(&store, usage(true, true)).await, ["s-003"]);
        assert_eq!(snapshot_ids(&store, usage(true, false)).await, ["s-001"]);
        assert_eq!(snapshot_ids(&store, usage(false, true)).await, ["s-000"]);
        assert_eq!(snapshot_ids(&store, usage(false, false)).await, ["s-002"]);
    }

    #[tokio::test]
    async fn every_snapshot_filter_runs_in_sql() {
        let store = store().await;
        let ids = |q: SnapshotQuery| {
            let store = store.clone();
            async move { snapshot_ids(&store, q).await }
        };
        let of_disk = ids(SnapshotQuery { source_disk_id: Some("d-002".into()), ..Default::default() }).await;
        assert_eq!(of_disk, ["s-002"]);
        // i-2 has d-002, d-006, d-010, ... attached, whoever's they are.
        let of_instance = ids(SnapshotQuery { instance_id: Some("i-2".into()), ..Default::default() }).await;
        assert_eq!(
            of_instance,
            ["s-002", "s-006", "s-018", "s-022", "s-026", "s-030", "s-038"],
            "s-010 is deleted"
        );
        let named = ids(SnapshotQuery { name_pattern: Some("snap-3*".into()), ..Default::default() }).await;
        assert_eq!(named, ["s-003", "s-030", "s-031", "s-032", "s-033", "s-035", "s-036", "s-037", "s-038"]);
        let done =
            ids(SnapshotQuery { status: Some(SnapshotStatus::Accomplished), ..Default::default() }).await;
        assert_eq!(done.len(), 15, "s-010 is deleted, 4 are another account's");
        let system =
            ids(SnapshotQuery { source_disk_type: Some(DiskType::System), ..Default::default() }).await;
        assert_eq!(system.len(), 11);
        let window = ids(SnapshotQuery {
            created_after: Some("2026-01-01T00:00:02Z".into()),
            created_before: Some("2026-01-01T00:00:03Z".into()),
            ..Default::default()
        })
        .await;
        assert_eq!(window, ["s-006", "s-007", "s-008", "s-011"], "s-009 is another account's, s-010 deleted");
        let tagged =
            ids(SnapshotQuery { tags: vec![("team".into(), Some("a".into()))], ..Default::default() }).await;
        assert_eq!(tagged.len(), 8);
        assert!(ids(SnapshotQuery { matches_nothing: true, ..Default::default() }).await.is_empty());
        assert!(ids(SnapshotQuery { snapshot_ids: Some(vec![]), ..Default::default() }).await.is_empty());
    }
}
