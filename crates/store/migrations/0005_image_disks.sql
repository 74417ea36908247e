-- Images made from an instance hold every disk of it (DescribeImages DiskDeviceMappings): the
-- system disk flattened into the image file, each disk's snapshot taken at the same point in time.
CREATE TABLE IF NOT EXISTS image_disks (
    image_id TEXT NOT NULL,
    device TEXT NOT NULL,
    disk_type TEXT NOT NULL,
    size_gib INTEGER NOT NULL,
    snapshot_id TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (image_id, device)
);
CREATE INDEX IF NOT EXISTS image_disks_snapshot ON image_disks(snapshot_id);

-- DeleteImage with Force while disks or snapshots still read the image file: the image is gone
-- for users at once, its file stays until the last of them is released.
ALTER TABLE images ADD COLUMN deleted INTEGER NOT NULL DEFAULT 0;
ALTER TABLE images ADD COLUMN source_instance_id TEXT NOT NULL DEFAULT '';
