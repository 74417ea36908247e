-- A password set by RunInstances, ModifyInstanceAttribute or ReplaceSystemDisk is pending until the guest agent has
-- set it in the guest (at the instance's next boot, as on ECS); cloud-init sets only the first one, once.
ALTER TABLE instance_settings ADD COLUMN password_pending INTEGER NOT NULL DEFAULT 0;
