//! The system policies a new account sees beside its custom ones, embedded as documents.
//!
//! Why embedded text and not Rust values: they are RAM's own documents, shown back by GetPolicy exactly as RAM
//! shows them, and parsing them with the same parser proves the parser accepts RAM's own writing. Provenance of
//! each text (Alibaba Cloud documentation; where the docs do not print the document, the smallest document that
//! matches RAM's description of the policy):
//! - AliyunECSFullAccess, AliyunECSReadOnlyAccess: printed in ECS's "System policies for ECS" page
//!   (doc-detail/273911). ReadOnly is `ecs:Describe*`, `ecs:List*` and two VPC reads (no `ecs:Get*`).
//! - AdministratorAccess: `*` on `*` (RAM: "Provides full access to Alibaba Cloud services and resources").
//! - AliyunRAMFullAccess (`ram:*`), AliyunRAMReadOnlyAccess (`ram:Get*`, `ram:List*`),
//!   AliyunSTSAssumeRoleAccess (`sts:AssumeRole`): as RAM's console shows them.
//! - AliyunVPCFullAccess (`vpc:*`), AliyunVPCReadOnlyAccess (`vpc:Describe*`, `vpc:List*`, `vpc:Get*`),
//!   AliyunMTSFullAccess (`mts:*`): reduced to the product's own actions; the real documents add actions of
//!   neighbouring products that ecslab does not serve.

use std::sync::OnceLock;

use crate::document::PolicyDocument;
use crate::eval::{AttachedPolicy, PolicySource};

/// One system policy: its name, RAM's description, and its document text.
#[derive(Debug, Clone, Copy)]
pub struct SystemPolicy {
    pub name: &'static str,
    pub description: &'static str,
    pub document: &'static str,
}

pub const SYSTEM_POLICIES: [SystemPolicy; 9] = [
    SystemPolicy {
        name: "AdministratorAccess",
        description: "Provides full access to Alibaba Cloud services and resources.",
        document: include_str!("system/AdministratorAccess.json"),
    },
    SystemPolicy {
        name: "AliyunECSFullAccess",
        description: "Provides full access to Elastic Compute Service(ECS) via Management Console.",
        document: include_str!("system/AliyunECSFullAccess.json"),
    },
    SystemPolicy {
        name: "AliyunECSReadOnlyAccess",
        description: "Provides read-only access to Elastic Compute Service(ECS) via Management Console.",
        document: include_str!("system/AliyunECSReadOnlyAccess.json"),
    },
    SystemPolicy {
        name: "AliyunVPCFullAccess",
        description: "Provides full access to Virtual Private Cloud(VPC) via Management Console.",
        document: include_str!("system/AliyunVPCFullAccess.json"),
    },
    SystemPolicy {
        name: "AliyunVPCReadOnlyAccess",
        description: "Provides read-only access to Virtual Private Cloud(VPC) via Management Console.",
        document: include_str!("system/AliyunVPCReadOnlyAccess.json"),
    },
    SystemPolicy {
        name: "AliyunRAMFullAccess",
        description: "Provides full access to Resource Access Management(RAM) via Management Console.",
        document: include_str!("system/AliyunRAMFullAccess.json"),
    },
    SystemPolicy {
        name: "AliyunRAMReadOnlyAccess",
        description: "Provides read-only access to Resource Access Management(RAM) via Management Console.",
        document: include_str!("system/AliyunRAMReadOnlyAccess.json"),
    },
    SystemPolicy {
        name: "AliyunSTSAssumeRoleAccess",
        description: "Provides access to call Security Token Service(STS) AssumeRole interface.",
        document: include_str!("system/AliyunSTSAssumeRoleAccess.json"),
    },
    SystemPolicy {
        name: "AliyunMTSFullAccess",
        description: "Provides full access to Media Transcoding Service(MTS) via Management Console.",
        document: include_str!("system/AliyunMTSFullAccess.json"),
    },
];

/// The system policies, parsed once.
pub fn system_policies() -> &'static [AttachedPolicy] {
    static PARSED: OnceLock<Vec<AttachedPolicy>> = OnceLock::new();
    PARSED.get_or_init(|| {
        SYSTEM_POLICIES
            .iter()
            .map(|p| AttachedPolicy {
                name: p.name.to_owned(),
                source: PolicySource::System,
                document: PolicyDocument::parse(p.document)
                    .unwrap_or_else(|e| panic!("embedded system policy {} does not parse: {e}", p.name)),
            })
            .collect()
    })
}

/// A system policy by name (exact, as RAM's PolicyName is).
pub fn system_policy(name: &str) -> Option<&'static AttachedPolicy> {
    system_policies().iter().find(|p| p.name == name)
}

#[cfg(test)]
mod tests {
    use super::{system_policies, system_policy, SYSTEM_POLICIES};

    #[test]
    fn every_system_policy_parses() {
        assert_eq!(system_policies().len(), SYSTEM_POLICIES.len());
        assert!(system_policy("AliyunECSReadOnlyAccess").is_some());
        assert!(system_policy("aliyunecsreadonlyaccess").is_none());
    }
}
