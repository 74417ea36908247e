//! Looking up one resource of an account, or its `NotFound` error: written once, used by every
//! service that is handed an id by a request (an instance id reaches disks, snapshots, image
//! builds and image changes alike).

use crate::{Error, Resource, Result};
use ecslab_store::{DiskRecord, InstanceRecord, Store};

/// An instance of this account, or `InvalidInstanceId.NotFound`.
pub(crate) async fn instance(store: &Store, account_id: &str, instance_id: &str) -> Result<InstanceRecord> {
    store
        .instance(account_id, instance_id)
        .await?
        .ok_or_else(|| Error::NotFound { resource: Resource::Instance, id: instance_id.to_string() })
}

/// A disk of this account, or `InvalidDiskId.NotFound`.
pub(crate) async fn disk(store: &Store, account_id: &str, disk_id: &str) -> Result<DiskRecord> {
    store
        .disk(account_id, disk_id)
        .await?
        .ok_or_else(|| Error::NotFound { resource: Resource::Disk, id: disk_id.to_string() })
}
