//! DescribeImages paged in SQL, as DescribeInstances is (see `listing`): every filter is a WHERE
//! clause, and a page costs three queries (the total, the page, the page's disk mappings) in one
//! read transaction whatever the number of images.

use crate::image_disks::image_disk;
use crate::listing::{read_page, wildcard_to_glob, Clause, ListedTable};
use crate::{db, ImageDiskRecord, ImageRecord, ImageStatus, ListedPage, PageWindow, Result, Store};
use sqlx::sqlite::SqliteArguments;
use sqlx::Arguments;

/// DescribeImages' filter, in store terms (every field narrows; `None` means any). Deleted
/// images never match.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImageQuery {
    pub image_ids: Option<Vec<String>>,
    /// `*` matches any run of characters; every other character matches itself.
    pub name_pattern: Option<String>,
    /// The statuses an image may have.
    pub statuses: Vec<ImageStatus>,
    /// Images holding this snapshot: in one of their disk mappings or, for an image without
    /// mappings, as the snapshot it was created from.
    pub snapshot_id: Option<String>,
    /// (key, value): an image must have a tag with this key (and this value, when given).
    pub tags: Vec<(String, Option<String>)>,
    /// Nothing matches (ImageOwnerAlias other than `self`: ecslab has only the account's own).
    pub matches_nothing: bool,
}

fn image_clause(account_id: &str, q: &ImageQuery) -> Clause {
    let mut clause = Clause::new(account_id);
    clause.and("deleted = 0", []);
    if q.matches_nothing {
        clause.and("0", []);
    }
    let statuses: Vec<String> = q.statuses.iter().map(|s| s.as_str().to_string()).collect();
    clause.and_in("status", &statuses);
    if let Some(ids) = &q.image_ids {
        clause.and_in("image_id", ids);
    }
    if let Some(pattern) = &q.name_pattern {
        clause.and("name GLOB ?", [wildcard_to_glob(pattern)]);
    }
    if let Some(snapshot_id) = &q.snapshot_id {
        clause.and(
            "CASE WHEN EXISTS (SELECT 1 FROM image_disks d WHERE d.image_id = images.image_id)
                THEN EXISTS (SELECT 1 FROM image_disks d WHERE d.image_id = images.image_id AND d.snapshot_id = ?)
                ELSE source_snapshot_id = ? END",
            [snapshot_id.clone(), snapshot_id.clone()],
        );
    }
    for (key, value) in &q.tags {
        clause.and_tag("images", key, value.as_deref());
    }
    clause
}

impl Store {
    /// One page of an account's images in list order (`created_at`, `image_id`), with the disk
    /// mappings of the page's images (by image, in device order) and the filter's total.
    pub async fn images_page(
        &self,
        account_id: &str,
        query: &ImageQuery,
        window: &PageWindow,
    ) -> Result<(ListedPage<ImageRecord>, Vec<ImageDiskRecord>)> {
        let mut tx = self.reader().begin().await.map_err(db("begin a read"))?;
        let table = ListedTable {
            table: "images",
            columns: "*".into(),
            id_column: "image_id",
            counting: "counting images",
            listing: "listing images",
        };
        let (total, rows, more) =
            read_page(&mut tx, &table, || image_clause(account_id, query), window).await?;
        let items = rows.iter().map(ImageRecord::from_row).collect::<Result<Vec<_>>>()?;
        let disks = if items.is_empty() {
            Vec::new()
        } else {
            let mut args = SqliteArguments::default();
            for item in &items {
                let _ = args.add(item.image_id.clone());
            }
            let sql = format!(
                "SELECT * FROM image_disks WHERE image_id IN ({}) ORDER BY image_id, device",
                vec!["?"; items.len()].join(", ")
            );
            let rows = sqlx::query_with(&sql, args)
                .fetch_all(&mut *tx)
                .await
                .map_err(db("listing image disks of a page"))?;
            rows.iter().map(image_disk).collect::<Result<Vec<_>>>()?
        };
        tx.commit().await.map_err(db("ending a read"))?;
        Ok((ListedPage { items, total, more }, disks))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{DiskType, Tag};

    fn image(n: usize) -> ImageRecord {
        ImageRecord {
            image_id: format!("m-{n:03}"),
            account_id: if n % 5 == 4 { "other".into() } else { "acc".into() },
            name: format!("img-{n}"),
            description: String::new(),
            status: if n.is_multiple_of(3) { ImageStatus::Creating } else { ImageStatus::Available },
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
            created_at: format!("2026-01-01T00:00:{:02}Z", n / 3),
            source_snapshot_id: format!("s-{:03}", n % 7),
            source_instance_id: String::new(),
            deleted: n == 10,
            tags: if n.is_multiple_of(4) {
                vec![Tag { key: "team".into(), value: "a".into() }]
            } else {
                vec![]
            },
        }
    }

    /// 40 images, m-N from snapshot s-(N mod 7); m-001 and m-002 hold disk mappings (m-001's
    /// with s-005 and s-006, m-002's with s-006 only).
    async fn store() -> Store {
        let store = Store::open_in_memory().await.unwrap();
        for n in 0..40 {
            let image = image(n);
            let mapping = |device: &str, snapshot: &str| ImageDiskRecord {
                image_id: image.image_id.clone(),
                device: device.into(),
                disk_type: if device.ends_with('a') { DiskType::System } else { DiskType::Data },
                size_gib: 20,
                snapshot_id: snapshot.into(),
            };
            let disks = match n {
                1 => vec![mapping("/dev/xvda", "s-005"), mapping("/dev/xvdb", "s-006")],
                2 => vec![mapping("/dev/xvda", ""), mapping("/dev/xvdb", "s-006")],
                _ => vec![],
            };
            store.insert_image_with_disks(&image, &disks).await.unwrap();
        }
        store
    }

    fn available() -> ImageQuery {
        ImageQuery { statuses: vec![ImageStatus::Available], ..Default::default() }
    }

    async fn ids(store: &Store, q: ImageQuery) -> Vec<String> {
        let (page, _) =
            store.images_page("acc", &q, &PageWindow::Offset { offset: 0, limit: 100 }).await.unwrap();
        page.items.iter().map(|i| i.image_id.clone()).collect()
    }

    #[tokio::test]
    async fn image_pages_walk_every_row_once_with_their_mappings() {
        let store = store().await;
        let mut key = None;
        let mut seen = Vec::new();
        let mut mappings = Vec::new();
        loop {
            let (page, disks) = store
                .images_page("acc", &available(), &PageWindow::After { key: key.clone(), limit: 3 })
                .await
                .unwrap();
            assert_eq!(page.total, 20, "40 less 8 of another account, 11 Creating, m-010 deleted");
            seen.extend(page.items.iter().map(|i| i.image_id.clone()));
            mappings.extend(disks.iter().map(|d| (d.image_id.clone(), d.device.clone())));
            if !page.more {
                break;
            }
            let last = page.items.last().unwrap();
            key = Some((last.created_at.clone(), last.image_id.clone()));
        }
        let expected: Vec<String> =
            (0..40).filter(|n| n % 5 != 4 && n % 3 != 0 && *n != 10).map(|n| format!("m-{n:03}")).collect();
        assert_eq!(seen, expected);
        let device = |m: &str, d: &str| (m.to_string(), d.to_string());
        assert_eq!(
            mappings,
            [
                device("m-001", "/dev/xvda"),
                device("m-001", "/dev/xvdb"),
                device("m-002", "/dev/xvda"),
                device("m-002", "/dev/xvdb")
            ]
        );
    }

    #[tokio::test]
    async fn every_image_filter_runs_in_sql() {
        let store = store().await;
        let of_snapshot = |id: &str| ImageQuery { snapshot_id: Some(id.into()), ..available() };
        // m-001 maps s-005; m-005 and m-026 have no mappings and were made from it.
        assert_eq!(ids(&store, of_snapshot("s-005")).await, ["m-001", "m-005", "m-026"]);
        assert_eq!(ids(&store, of_snapshot("s-006")).await, ["m-001", "m-002", "m-013", "m-020"]);
        // m-001 was made from s-001, but its mappings, which do not hold s-001, decide.
        assert_eq!(ids(&store, of_snapshot("s-001")).await, ["m-008", "m-022"]);
        let creating = ImageQuery { statuses: vec![ImageStatus::Creating], ..Default::default() };
        assert_eq!(ids(&store, creating).await.len(), 11, "14 Creating, less m-009, m-024, m-039");
        let named = ImageQuery { name_pattern: Some("img-2*".into()), ..available() };
        assert_eq!(ids(&store, named).await, ["m-002", "m-020", "m-022", "m-023", "m-025", "m-026", "m-028"]);
        let tagged = ImageQuery { tags: vec![("team".into(), None)], ..available() };
        assert_eq!(ids(&store, tagged).await, ["m-008", "m-016", "m-020", "m-028", "m-032"]);
        let chosen = ImageQuery {
            image_ids: Some(vec!["m-001".into(), "m-003".into(), "m-009".into()]),
            ..available()
        };
        assert_eq!(ids(&store, chosen).await, ["m-001"], "m-003 is Creating, m-009 another account's");
        assert!(ids(&store, ImageQuery { matches_nothing: true, ..available() }).await.is_empty());
        assert!(ids(&store, ImageQuery::default()).await.is_empty(), "no status, no image");
    }
}
