-- DescribeSnapshots and DescribeImages in SQL (issue 15, class 3): a page is a range scan in list order, and a
-- snapshot's Usage (made into images, made into disks) is an index probe per row of the page.
-- disks_account_order (0010) serves DescribeDisks; image_disks_snapshot (0005) the data disks of images.
CREATE INDEX IF NOT EXISTS snapshots_account_order ON snapshots(account_id, created_at, snapshot_id);
CREATE INDEX IF NOT EXISTS images_account_order ON images(account_id, created_at, image_id);
CREATE INDEX IF NOT EXISTS disks_source_snapshot ON disks(source_snapshot_id);
CREATE INDEX IF NOT EXISTS images_source_snapshot ON images(source_snapshot_id);
