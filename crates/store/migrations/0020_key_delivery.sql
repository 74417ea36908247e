-- A key pair attached to or detached from an instance that already booted reaches its guest at the next boot through
-- the guest agent (cloud-init installs only the first boot's key). `delivered_public_key` is the key the guest has
-- (to remove when it is replaced), `keys_pending` says the attached pair changed since.
ALTER TABLE instance_settings ADD COLUMN keys_pending INTEGER NOT NULL DEFAULT 0;
ALTER TABLE instance_settings ADD COLUMN delivered_public_key TEXT;
