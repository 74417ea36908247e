//! Key pair replies as typed structs, in ECS's shapes (`KeyPairs.KeyPair[]`,
//! `Results.Result[]`; AttachKeyPair's counts and Success as strings, as the SDK's model reads them).

use serde::Serialize;

use crate::ecs::render::Tags;

/// The reply of each key pair action.
#[derive(Debug, Serialize)]
#[serde(untagged)]
pub enum KeyPairReply {
    #[serde(rename_all = "PascalCase")]
    Create {
        key_pair_id: String,
        key_pair_name: String,
        key_pair_finger_print: String,
        private_key_body: String,
    },
    #[serde(rename_all = "PascalCase")]
    Import {
        key_pair_name: String,
        key_pair_finger_print: String,
    },
    Describe(KeyPairPage),
    /// AttachKeyPair, DetachKeyPair.
    #[serde(rename_all = "PascalCase")]
    Binding {
        key_pair_name: String,
        total_count: String,
        fail_count: String,
        results: BindingResults,
    },
    /// DeleteKeyPairs: RequestId only.
    Empty {},
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct KeyPairPage {
    pub total_count: usize,
    pub page_number: u32,
    pub page_size: u32,
    pub next_token: String,
    pub key_pairs: KeyPairList,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct KeyPairList {
    pub key_pair: Vec<KeyPairItem>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct KeyPairItem {
    pub key_pair_name: String,
    pub key_pair_finger_print: String,
    /// Only with IncludePublicKey=true.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub public_key: Option<String>,
    pub creation_time: String,
    pub resource_group_id: String,
    pub tags: Tags,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct BindingResults {
    pub result: Vec<BindingResult>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct BindingResult {
    pub instance_id: String,
    pub code: String,
    pub message: String,
    pub success: &'static str,
}
