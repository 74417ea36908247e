//! Paged listing done in SQL: a Describe* page costs a fixed number of queries (count, page,
//! the page's disks) whatever the number of rows, and reads only the rows of its page.
//!
//! The three queries run in one read transaction, so the total, the page and the disks are one
//! consistent snapshot even while writers commit.

use crate::{db, DiskRecord, InstanceRecord, InstanceStatus, Result, Store};
use sqlx::sqlite::{SqliteArguments, SqliteRow};
use sqlx::Arguments;

/// Which rows of the ordered list a page holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PageWindow {
    /// PageNumber/PageSize: skip `offset` rows.
    Offset { offset: u64, limit: u64 },
    /// NextToken/MaxResults: the rows after the sort key `(created_at, id)` (from the start when
    /// `None`).
    After { key: Option<(String, String)>, limit: u64 },
}

impl PageWindow {
    fn limit(&self) -> u64 {
        match self {
            PageWindow::Offset { limit, .. } | PageWindow::After { limit, .. } => *limit,
        }
    }
}

/// One page as the store read it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListedPage<T> {
    pub items: Vec<T>,
    /// Rows matching the filter, on every page.
    pub total: u64,
    /// Whether rows follow this page.
    pub more: bool,
}

/// DescribeInstances' filter, in store terms (every field narrows; `None` means any).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct InstanceQuery {
    pub instance_ids: Option<Vec<String>>,
    pub status: Option<InstanceStatus>,
    /// `*` matches any run of characters; every other character matches itself.
    pub name_pattern: Option<String>,
    pub image_id: Option<String>,
    pub instance_type: Option<String>,
    pub zone_id: Option<String>,
    /// (key, value): an instance must have a tag with this key (and this value, when given).
    pub tags: Vec<(String, Option<String>)>,
    /// Instances bound to this SSH key pair.
    pub key_pair_name: Option<String>,
}

/// A pattern where only `*` is special, as a GLOB pattern (`?` and `[` match themselves).
pub fn wildcard_to_glob(pattern: &str) -> String {
    let mut glob = String::with_capacity(pattern.len());
    for c in pattern.chars() {
        match c {
            '?' => glob.push_str("[?]"),
            '[' => glob.push_str("[[]"),
            other => glob.push(other),
        }
    }
    glob
}

/// The WHERE clause of a query and its arguments, built together so they cannot disagree.
pub(crate) struct Clause {
    sql: String,
    args: SqliteArguments<'static>,
}

impl Clause {
    pub(crate) fn new(account_id: &str) -> Clause {
        let mut clause = Clause { sql: "account_id = ?".into(), args: SqliteArguments::default() };
        clause.bind(account_id.to_string());
        clause
    }

    fn bind(&mut self, value: String) {
        // Adding a String to SQLite arguments cannot fail.
        let _ = self.args.add(value);
    }

    pub(crate) fn and(&mut self, sql: &str, values: impl IntoIterator<Item = String>) {
        self.sql.push_str(" AND ");
        self.sql.push_str(sql);
        for value in values {
            self.bind(value);
        }
    }
}

fn instance_clause(account_id: &str, q: &InstanceQuery) -> Clause {
    let mut clause = Clause::new(account_id);
    if let Some(ids) = &q.instance_ids {
        clause.and_in("instance_id", ids);
    }
    if let Some(status) = q.status {
        clause.and("status = ?", [status.as_str().to_string()]);
    }
    for (column, value) in
        [("image_id", &q.image_id), ("instance_type", &q.instance_type), ("zone_id", &q.zone_id)]
    {
        if let Some(value) = value {
            clause.and(&format!("{column} = ?"), [value.clone()]);
        }
    }
    if let Some(pattern) = &q.name_pattern {
        clause.and("name GLOB ?", [wildcard_to_glob(pattern)]);
    }
    if let Some(key_pair_name) = &q.key_pair_name {
        clause.and(
            "instance_id IN (SELECT instance_id FROM instance_settings WHERE key_pair_name = ?)",
            [key_pair_name.clone()],
        );
    }
    for (key, value) in &q.tags {
        clause.and_tag("instances", key, value.as_deref());
    }
    clause
}

/// A listed table as the shared paging code reads it.
pub(crate) struct ListedTable {
    /// The table, as the FROM clause and the filters name it.
    pub table: &'static str,
    /// The SELECT list of a page's rows.
    pub columns: String,
    /// The id column that, after `created_at`, orders the list (and keys NextToken).
    pub id_column: &'static str,
    /// What the count and the page are doing, for errors.
    pub counting: &'static str,
    pub listing: &'static str,
}

/// The filter's total and one page of rows in list order (`created_at`, id), read inside `tx`:
/// two queries whatever the number of rows. `clause` builds the filter (it is used twice, since
/// a query consumes its arguments).
pub(crate) async fn read_page(
    tx: &mut sqlx::SqliteConnection,
    table: &ListedTable,
    clause: impl Fn() -> Clause,
    window: &PageWindow,
) -> Result<(u64, Vec<SqliteRow>, bool)> {
    let count = clause();
    let total: i64 = sqlx::query_scalar_with(
        &format!("SELECT COUNT(*) FROM {} WHERE {}", table.table, count.sql),
        count.args,
    )
    .fetch_one(&mut *tx)
    .await
    .map_err(db(table.counting))?;

    let mut page = clause();
    // One row more than the page tells whether another page follows.
    let limit = window.limit().min(i64::MAX as u64 - 1) as i64;
    let tail = match window {
        PageWindow::Offset { offset, .. } => {
            page.bind_i64(limit + 1);
            page.bind_i64((*offset).min(i64::MAX as u64) as i64);
            "LIMIT ? OFFSET ?"
        }
        PageWindow::After { key, .. } => {
            if let Some((created_at, id)) = key {
                page.and(
                    &format!("(created_at, {}) > (?, ?)", table.id_column),
                    [created_at.clone(), id.clone()],
                );
            }
            page.bind_i64(limit + 1);
            "LIMIT ?"
        }
    };
    let mut rows = sqlx::query_with(
        &format!(
            "SELECT {} FROM {} WHERE {} ORDER BY created_at, {} {tail}",
            table.columns, table.table, page.sql, table.id_column
        ),
        page.args,
    )
    .fetch_all(&mut *tx)
    .await
    .map_err(db(table.listing))?;
    let more = rows.len() as i64 > limit;
    rows.truncate(limit as usize);
    Ok((u64::try_from(total).unwrap_or_default(), rows, more))
}

impl Store {
    /// One page of an account's instances in list order (`created_at`, `instance_id`), with the
    /// disks of the page's instances (in device order) and the filter's total.
    pub async fn instances_page(
        &self,
        account_id: &str,
        query: &InstanceQuery,
        window: &PageWindow,
    ) -> Result<(ListedPage<InstanceRecord>, Vec<DiskRecord>)> {
        let mut tx = self.reader().begin().await.map_err(db("begin a read"))?;
        let table = ListedTable {
            table: "instances",
            columns: "*".into(),
            id_column: "instance_id",
            counting: "counting instances",
            listing: "listing instances",
        };
        let (total, rows, more) =
            read_page(&mut tx, &table, || instance_clause(account_id, query), window).await?;
        let items = rows.iter().map(InstanceRecord::from_row).collect::<Result<Vec<_>>>()?;

        let disks = if items.is_empty() {
            Vec::new()
        } else {
            let mut args = SqliteArguments::default();
            for item in &items {
                let _ = args.add(item.instance_id.clone());
            }
            let sql = format!(
                "SELECT * FROM disks WHERE instance_id IN ({}) ORDER BY instance_id, device_index",
                vec!["?"; items.len()].join(", ")
            );
            let rows = sqlx::query_with(&sql, args)
                .fetch_all(&mut *tx)
                .await
                .map_err(db("listing disks of a page"))?;
            rows.iter().map(DiskRecord::from_row).collect::<Result<Vec<_>>>()?
        };
        tx.commit().await.map_err(db("ending a read"))?;
        Ok((ListedPage { items, total, more }, disks))
    }
}

impl Clause {
    fn bind_i64(&mut self, value: i64) {
        let _ = self.args.add(value);
    }

    /// `id_column IN (ids)`; an empty list matches nothing.
    pub(crate) fn and_in(&mut self, id_column: &str, ids: &[String]) {
        if ids.is_empty() {
            self.and("0", []);
        } else {
            self.and(&format!("{id_column} IN ({})", vec!["?"; ids.len()].join(", ")), ids.iter().cloned());
        }
    }

    /// The row's `tags` (a JSON list of {"key", "value"}) hold `key`, with `value` when given.
    pub(crate) fn and_tag(&mut self, table: &str, key: &str, value: Option<&str>) {
        match value {
            None => self.and(
                &format!("EXISTS (SELECT 1 FROM json_each({table}.tags) t WHERE json_extract(t.value, '$.key') = ?)"),
                [key.to_string()],
            ),
            Some(value) => self.and(
                &format!(
                    "EXISTS (SELECT 1 FROM json_each({table}.tags) t
                        WHERE json_extract(t.value, '$.key') = ? AND json_extract(t.value, '$.value') = ?)"
                ),
                [key.to_string(), value.to_string()],
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::{InstanceRecord, Tag};

    fn instance(n: usize) -> InstanceRecord {
        InstanceRecord {
            instance_id: format!("i-{n:03}"),
            account_id: if n % 5 == 4 { "other".into() } else { "acc".into() },
            name: if n.is_multiple_of(2) { format!("web-{n}") } else { format!("db?{n}") },
            description: String::new(),
            host_name: String::new(),
            instance_type: "ecs.lab.tiny".into(),
            image_id: "m-1".into(),
            status: if n.is_multiple_of(3) { InstanceStatus::Running } else { InstanceStatus::Stopped },
            generation: 1,
            ever_started: false,
            zone_id: "z".into(),
            tags: if n.is_multiple_of(4) {
                vec![Tag { key: "team".into(), value: format!("t{}", n % 8) }]
            } else {
                vec![]
            },
            operation_locks: Vec::new(),
            // Several instances per second, as CreateInstance in a loop makes them.
            created_at: format!("2026-01-01T00:00:{:02}Z", n / 3),
            started_at: String::new(),
        }
    }

    async fn store_with(n: usize) -> Store {
        let store = Store::open_in_memory().await.unwrap();
        for k in 0..n {
            store.insert_instance(&instance(k), &[], None, &Default::default()).await.unwrap().unwrap();
        }
        store
    }

    fn ids(page: &ListedPage<InstanceRecord>) -> Vec<String> {
        page.items.iter().map(|i| i.instance_id.clone()).collect()
    }

    #[tokio::test]
    async fn keyset_pages_walk_every_row_once_in_list_order() {
        let store = store_with(40).await;
        let everything = InstanceQuery::default();
        let mut key = None;
        let mut seen = Vec::new();
        loop {
            let (page, _) = store
                .instances_page("acc", &everything, &PageWindow::After { key: key.clone(), limit: 7 })
                .await
                .unwrap();
            assert_eq!(page.total, 32);
            seen.extend(ids(&page));
            if !page.more {
                break;
            }
            let last = page.items.last().unwrap();
            key = Some((last.created_at.clone(), last.instance_id.clone()));
        }
        let expected: Vec<String> = (0..40).filter(|n| n % 5 != 4).map(|n| format!("i-{n:03}")).collect();
        assert_eq!(seen, expected);
    }

    #[tokio::test]
    async fn offsets_and_filters_run_in_sql() {
        let store = store_with(40).await;
        let (page, _) = store
            .instances_page("acc", &InstanceQuery::default(), &PageWindow::Offset { offset: 30, limit: 10 })
            .await
            .unwrap();
        assert_eq!(
            (ids(&page), page.more),
            (vec!["i-037".to_string(), "i-038".to_string()], false),
            "i-039 is another account's"
        );
        let query = |q: InstanceQuery| {
            let store = store.clone();
            async move {
                let (page, _) = store
                    .instances_page("acc", &q, &PageWindow::Offset { offset: 0, limit: 100 })
                    .await
                    .unwrap();
                ids(&page)
            }
        };
        let glob = query(InstanceQuery { name_pattern: Some("db?1*".into()), ..Default::default() }).await;
        assert_eq!(glob, ["i-001", "i-011", "i-013", "i-015", "i-017"], "? is literal, * is any run");
        assert_eq!(
            query(InstanceQuery { name_pattern: Some("db*1".into()), ..Default::default() }).await,
            ["i-001", "i-011", "i-021", "i-031"]
        );
        let tagged =
            query(InstanceQuery { tags: vec![("team".into(), Some("t0".into()))], ..Default::default() })
                .await;
        assert_eq!(tagged, ["i-000", "i-008", "i-016", "i-032"]);
        let any_team = query(InstanceQuery { tags: vec![("team".into(), None)], ..Default::default() }).await;
        assert_eq!(any_team.len(), 8);
        let running = query(InstanceQuery {
            status: Some(InstanceStatus::Running),
            instance_ids: Some(vec!["i-003".into(), "i-004".into(), "i-006".into(), "i-009".into()]),
            ..Default::default()
        })
        .await;
        assert_eq!(running, ["i-003", "i-006"], "i-009 is another account's");
        assert!(query(InstanceQuery { instance_ids: Some(vec![]), ..Default::default() }).await.is_empty());
    }

    #[test]
    fn only_the_star_is_a_wildcard() {
        assert_eq!(wildcard_to_glob("web-*"), "web-*");
        assert_eq!(wildcard_to_glob("a?b[c]*"), "a[?]b[[]c]*");
    }
}
