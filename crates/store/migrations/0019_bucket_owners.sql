-- Buckets are server-wide folders (or S3 buckets), but their objects belong to one account: the first account other
-- than the server's admin that uses a bucket (ImportImage, ExportImage, SubmitSnapshotJob) owns it, and every other
-- tenant is told it does not exist. The admin, the server's operator, uses every bucket and claims none.
CREATE TABLE IF NOT EXISTS bucket_owners (
    bucket TEXT PRIMARY KEY,
    account_id TEXT NOT NULL,
    claimed_at TEXT NOT NULL
);
