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

#[cfg(test)]
mod tests {
    use crate::params::Params;

    #[test]
    fn rebuild_names_each_desktop_and_the_image() {
        let params = Params::from_pairs(
            [("DesktopId.1", "i-1"), ("DesktopId.2", "i-2"), ("ImageId", "m-1")]
                .map(|(k, v)| (k.to_string(), v.to_string())),
        );
        let request = super::super::parse("RebuildDesktops", &params).unwrap().unwrap();
        let got: Vec<String> = super::resources(&request).iter().map(|r| r.relative()).collect();
        assert_eq!(got, ["desktop/i-1", "desktop/i-2", "image/m-1"]);
    }
}
