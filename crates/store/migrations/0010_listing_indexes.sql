-- Listing in SQL (issue 15, class 3): each Describe* page is a range scan in list order.
CREATE INDEX IF NOT EXISTS instances_account_order ON instances(account_id, created_at, instance_id);
CREATE INDEX IF NOT EXISTS disks_account_order ON disks(account_id, created_at, disk_id);
CREATE INDEX IF NOT EXISTS disks_instance_device ON disks(instance_id, device_index);
