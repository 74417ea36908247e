//! The instance-type catalogue: a few sizes sized for lab guests, and one type without a display
//! (for which GetInstanceScreenshot answers `NotSupported`, as ECS does for types without one).

/// One instance type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstanceType {
    pub id: &'static str,
    pub family: &'static str,
    pub vcpus: u32,
    pub memory_mib: u64,
    /// Whether instances of this type have a VGA display.
    pub display: bool,
}

pub const CATALOGUE: &[InstanceType] = &[
    InstanceType { id: "ecs.lab.tiny", family: "ecs.lab", vcpus: 1, memory_mib: 128, display: true },
    InstanceType { id: "ecs.lab.small", family: "ecs.lab", vcpus: 1, memory_mib: 512, display: true },
    InstanceType { id: "ecs.lab.medium", family: "ecs.lab", vcpus: 2, memory_mib: 1024, display: true },
    InstanceType { id: "ecs.lab.large", family: "ecs.lab", vcpus: 2, memory_mib: 2048, display: true },
    InstanceType {
        id: "ecs.lab-headless.tiny",
        family: "ecs.lab-headless",
        vcpus: 1,
        memory_mib: 128,
        display: false,
    },
];

pub fn find(id: &str) -> Option<&'static InstanceType> {
    CATALOGUE.iter().find(|t| t.id == id)
}

#[cfg(test)]
mod tests {
    #[test]
    fn catalogue_has_a_headless_type_and_unique_ids() {
        assert!(super::CATALOGUE.iter().any(|t| !t.display));
        let mut ids: Vec<_> = super::CATALOGUE.iter().map(|t| t.id).collect();
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), super::CATALOGUE.len());
        assert_eq!(super::find("ecs.lab.tiny").unwrap().memory_mib, 128);
    }
}
