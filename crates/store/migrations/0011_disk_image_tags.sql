-- Tags of disks (CreateDisk Tag.N; RunInstances/CreateInstance Tag.N go to the disks they create too) and of
-- images (ImportImage and CreateImage Tag.N): a JSON list of {"key", "value"}, as instances.tags and snapshots.tags.
ALTER TABLE disks ADD COLUMN tags TEXT NOT NULL DEFAULT '[]';
ALTER TABLE images ADD COLUMN tags TEXT NOT NULL DEFAULT '[]';
