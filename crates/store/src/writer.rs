//! The store's one writer path, so no client ever sees "database is locked".
//!
//! SQLite lets one connection write at a time. A deferred transaction that reads and then
//! writes cannot upgrade its lock when another connection wrote meanwhile: SQLite answers
//! `SQLITE_BUSY` (5) or `SQLITE_BUSY_SNAPSHOT` (517) at once, without waiting for the busy
//! timeout, since waiting could not help. Hence three rules:
//!
//! - every write (transactions and single statements alike) goes through one connection, the
//!   `writer` pool of size one, whose queue is fair and costs no polling;
//! - every write transaction starts with `BEGIN IMMEDIATE`, so it holds the write lock before
//!   its first read: in WAL mode nothing after that `BEGIN` can be busy, and its reads see the
//!   latest data;
//! - the `BEGIN` itself can still meet another process (an `ecslab admin` command, a second
//!   server on the same file): SQLite's busy handler waits up to the busy timeout, and a busy
//!   answer after that is retried here with a bounded backoff, never surfaced.
//!
//! Reads use a separate pool of `query_only` connections: WAL readers run concurrently with
//! the writer and with each other, and a write sent to them by mistake fails loudly.

use sqlx::sqlite::{SqliteArguments, SqliteQueryResult, SqliteRow};
use sqlx::{Sqlite, SqlitePool, Transaction};
use std::time::Duration;

/// Retries of a busy `BEGIN IMMEDIATE` after SQLite's own busy timeout ran out.
const BUSY_RETRIES: u32 = 8;
/// The first backoff; it doubles at each retry (10 ms … 1.28 s, about 2.5 s in all).
const FIRST_BACKOFF: Duration = Duration::from_millis(10);

/// A single statement with its bound parameters, as `sqlx::query` builds it.
pub(crate) type Statement<'q> = sqlx::query::Query<'q, Sqlite, SqliteArguments<'q>>;

/// Whether an error is SQLite's "database is locked" family (`SQLITE_BUSY` and its extended
/// codes: 261 recovery, 517 snapshot, 773 timeout).
pub(crate) fn is_busy(error: &sqlx::Error) -> bool {
    error
        .as_database_error()
        .and_then(|e| e.code())
        .and_then(|code| code.parse::<i32>().ok())
        .is_some_and(|code| code & 0xff == 5)
}

/// The delay before retry number `attempt` (counting from zero).
pub(crate) fn backoff(attempt: u32) -> Duration {
    FIRST_BACKOFF.saturating_mul(1 << attempt.min(16))
}

/// Begin a write transaction on the writer connection with `BEGIN IMMEDIATE`, retrying a busy
/// answer with backoff.
pub(crate) async fn begin_immediate(
    writer: &SqlitePool,
) -> Result<Transaction<'static, Sqlite>, sqlx::Error> {
    let mut attempt = 0;
    loop {
        match writer.begin_with("BEGIN IMMEDIATE").await {
            Err(e) if is_busy(&e) && attempt < BUSY_RETRIES => {
                let delay = backoff(attempt);
                tracing::warn!(attempt, delay_ms = delay.as_millis() as u64, error = %e, "the store is busy; retrying");
                tokio::time::sleep(delay).await;
                attempt += 1;
            }
            other => return other,
        }
    }
}

/// Run one writing statement in its own immediate transaction.
pub(crate) async fn execute(
    writer: &SqlitePool,
    statement: Statement<'_>,
) -> Result<SqliteQueryResult, sqlx::Error> {
    let mut tx = begin_immediate(writer).await?;
    let done = statement.execute(&mut *tx).await?;
    tx.commit().await?;
    Ok(done)
}

/// Run one writing statement with `RETURNING` in its own immediate transaction.
pub(crate) async fn fetch_optional(
    writer: &SqlitePool,
    statement: Statement<'_>,
) -> Result<Option<SqliteRow>, sqlx::Error> {
    let mut tx = begin_immediate(writer).await?;
    let row = statement.fetch_optional(&mut *tx).await?;
    tx.commit().await?;
    Ok(row)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_stays_bounded() {
        assert_eq!(backoff(0), Duration::from_millis(10));
        assert_eq!(backoff(3), Duration::from_millis(80));
        let total: Duration = (0..BUSY_RETRIES).map(backoff).sum();
        assert!(total < Duration::from_secs(3), "{total:?}");
    }

    #[tokio::test]
    async fn readers_refuse_writes_so_every_write_takes_the_writer_path() {
        let dir = tempfile::tempdir().unwrap();
        let store = crate::Store::open(&dir.path().join("ecslab.db")).await.unwrap();
        let refused = sqlx::query("DELETE FROM nonces").execute(store.reader()).await.unwrap_err();
        assert!(refused.to_string().contains("readonly"), "{refused}");
        store.write(sqlx::query("DELETE FROM nonces")).await.unwrap();
    }
}
