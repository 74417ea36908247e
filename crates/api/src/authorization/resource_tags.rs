//! The tags of a resource a request acts on, for `ecs:tag/K` and `acs:ResourceTag/K` conditions.
//!
//! Why apart and only on demand: most callers' policies have no tag condition, and looking a resource up costs a
//! store read per resource, so the authorization step asks here only when some policy of the caller reads resource
//! tags. Only what the store keeps tags for has them (ECS instances, disks, snapshots and images); any other
//! resource, one that does not exist, or one of another account has none, so a tag condition on it does not hold
//! (and the action itself answers NotFound for a missing one).

use super::ResourceName;
use ecslab_core::store::Tag;
use ecslab_core::{Cloud, Error};

/// The tags of `resource` (of RAM service `service`) in `account`; empty when it has none or does not exist.
pub(super) async fn lookup(
    cloud: &Cloud,
    account: &str,
    service: &str,
    resource: &ResourceName,
) -> Result<Vec<Tag>, Error> {
    if service != "ecs" || resource.id == "*" {
        return Ok(Vec::new());
    }
    let store = cloud.store();
    let id = resource.id.as_str();
    let tags = match resource.kind {
        "instance" => store.instance(account, id).await.map_err(Error::from)?.map(|r| r.tags),
        "disk" => store.disk(account, id).await.map_err(Error::from)?.map(|r| r.tags),
        "snapshot" => store.snapshot(account, id).await.map_err(Error::from)?.map(|r| r.tags),
        "image" => store.image(account, id).await.map_err(Error::from)?.map(|r| r.tags),
        _ => None,
    };
    Ok(tags.unwrap_or_default())
}
