//! ECS 2014-05-26 SSH key pairs, served beside the `ecs` module under the same version (the
//! product table tries each product of a version until one knows the action): CreateKeyPair,
//! ImportKeyPair, DescribeKeyPairs, DeleteKeyPairs, AttachKeyPair, DetachKeyPair. The rules
//! live in `ecslab_core::key_pairs`.

mod parse;
mod reply;
mod resources;

pub use parse::parse;
pub use reply::KeyPairReply;

use reply::{BindingResult, BindingResults, KeyPairItem, KeyPairList, KeyPairPage};

use crate::authorization::Call;
use crate::envelope::ApiError;
use crate::params::Params;
use crate::product::{Product, RpcProduct};
use ecslab_core::key_pairs::KeyPairFilter;
use ecslab_core::requests::Paging;
use ecslab_core::{Cloud, Result};
use std::sync::Arc;

/// One parsed key pair request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyPairRequest {
    Create { name: String },
    Import { name: String, public_key_body: String },
    Describe { filter: KeyPairFilter, paging: Paging },
    Delete { names: Vec<String> },
    Attach { name: String, instance_ids: Vec<String> },
    Detach { name: String, instance_ids: Vec<String> },
}

/// Key pairs in the server's table of products (ECS's version).
pub struct KeyPairs;

impl Product for KeyPairs {
    const VERSION: &'static str = crate::ecs::VERSION;
    const RAM_CODE: &'static str = "ecs";
    type Request = KeyPairRequest;
    type Response = KeyPairReply;

    fn resources(request: &KeyPairRequest) -> Vec<crate::product::ResourceName> {
        resources::resources(request)
    }

    async fn execute(
        cloud: &Arc<Cloud>,
        call: &Call,
        request: KeyPairRequest,
    ) -> std::result::Result<KeyPairReply, ApiError> {
        let account = call.account();
        Ok(execute(cloud, account, request).await?)
    }
}

impl RpcProduct for KeyPairs {
    fn parse(action: &str, params: &Params) -> Option<Result<KeyPairRequest>> {
        parse(action, params)
    }
}

fn creation_time(stored: &str) -> String {
    // ECS shows key pairs' creation to the minute: 2023-09-04T08:33Z.
    match stored.get(..16) {
        Some(minutes) if stored.len() >= 17 => format!("{minutes}Z"),
        _ => stored.to_string(),
    }
}

fn binding_reply(name: String, results: Vec<ecslab_core::key_pairs::BindingResult>) -> KeyPairReply {
    let fail_count = results.iter().filter(|r| r.failure.is_some()).count();
    let result = results
        .into_iter()
        .map(|r| {
            let (code, message, success) = match r.failure {
                None => ("200".to_string(), "successful".to_string(), "true"),
                Some((code, message)) => (code.to_string(), message, "false"),
            };
            BindingResult { instance_id: r.instance_id, code, message, success }
        })
        .collect::<Vec<_>>();
    KeyPairReply::Binding {
        key_pair_name: name,
        total_count: result.len().to_string(),
        fail_count: fail_count.to_string(),
        results: BindingResults { result },
    }
}

/// Run a parsed request for an account; returns the reply body without RequestId.
pub async fn execute(cloud: &Arc<Cloud>, account: &str, request: KeyPairRequest) -> Result<KeyPairReply> {
    let key_pairs = cloud.key_pairs();
    Ok(match request {
        KeyPairRequest::Create { name } => {
            let created = key_pairs.create(account, &name).await?;
            KeyPairReply::Create {
                key_pair_id: created.key_pair_id,
                key_pair_name: created.key_pair_name,
                key_pair_finger_print: created.finger_print,
                private_key_body: created.private_key_pem,
            }
        }
        KeyPairRequest::Import { name, public_key_body } => {
            let record = key_pairs.import(account, &name, &public_key_body).await?;
            KeyPairReply::Import {
                key_pair_name: record.key_pair_name,
                key_pair_finger_print: record.finger_print,
            }
        }
        KeyPairRequest::Describe { filter, paging } => {
            let page = key_pairs.describe(account, &filter, &paging).await?;
            let with_key = filter.include_public_key;
            let key_pair = page
                .items
                .into_iter()
                .map(|p| KeyPairItem {
                    key_pair_name: p.key_pair_name,
                    key_pair_finger_print: p.finger_print,
                    public_key: with_key.then_some(p.public_key),
                    creation_time: creation_time(&p.created_at),
                    resource_group_id: String::new(),
                    tags: Vec::new().into(),
                })
                .collect();
            KeyPairReply::Describe(KeyPairPage {
                total_count: page.total_count,
                page_number: page.page_number,
                page_size: page.page_size,
                next_token: page.next_token,
                key_pairs: KeyPairList { key_pair },
            })
        }
        KeyPairRequest::Delete { names } => {
            key_pairs.delete(account, &names).await?;
            KeyPairReply::Empty {}
        }
        KeyPairRequest::Attach { name, instance_ids } => {
            let results = key_pairs.attach(account, &name, &instance_ids).await?;
            binding_reply(name, results)
        }
        KeyPairRequest::Detach { name, instance_ids } => {
            let results = key_pairs.detach(account, &name, &instance_ids).await?;
            binding_reply(name, results)
        }
    })
}
