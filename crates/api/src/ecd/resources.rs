//! The resources each ECD request acts on, for RAM (`acs:ecd:{region}:{account}:desktop/{id}`, `image/{id}`):
//! RebuildDesktops names every desktop and the image, DescribeImageModifiedRecords its desktop, DescribeDesktops
//! `desktop/*`.

use super::EcdRequest;
use crate::product::ResourceName;

/// The resources of one parsed ECD request.
pub fn resources(request: &EcdRequest) -> Vec<ResourceName> {
    match request {
        EcdRequest::DescribeDesktops(_) => vec![ResourceName::any("desktop")],
        EcdRequest::RebuildDesktops { desktop_ids, image_id } => {
            let mut names: Vec<_> = desktop_ids.iter().map(|id| ResourceName::new("desktop", id)).collect();
            names.push(ResourceName::new("image", image_id));
            names
        }
        EcdRequest::DescribeImageModifiedRecords { desktop_id, .. } => {
            vec![ResourceName::new("desktop", desktop_id)]
        }
    }
}
