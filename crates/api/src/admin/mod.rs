//! ecslab's own admin product, not an Alibaba one: RPC under the private version
//! [`VERSION`] (`ecslab-admin`), through the same pipeline as every product (signature, nonce,
//! RegionId, envelope). Its one action, `CreateAccount` (`AccountName`), makes a tenant with its
//! root key; `ecslab admin accounts create NAME` calls it. Every key but the server admin's is
//! refused with `Forbidden.AdminOnly` (403); the rules live in `ecslab_core::accounts`.

use crate::authorization::Call;
use crate::envelope::ApiError;
use crate::params::Params;
use crate::product::{Product, RpcProduct};
use ecslab_core::{accounts, Cloud, Result};
use serde::Serialize;
use std::sync::Arc;

/// The private version the admin product answers to.
pub const VERSION: &str = "ecslab-admin";

/// One parsed admin request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AdminRequest {
    CreateAccount { name: String },
}

/// CreateAccount's reply: the new account and its root key (shown once).
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct AccountReply {
    pub account_id: String,
    pub account_name: String,
    pub access_key_id: String,
    pub access_key_secret: String,
}

/// The admin product in the server's table.
pub struct Admin;

impl Product for Admin {
    const VERSION: &'static str = VERSION;
    const RAM_CODE: &'static str = "ecslab";
    type Request = AdminRequest;
    type Response = AccountReply;

    /// CreateAccount needs to know that the admin account's root key calls, not only the account.
    async fn execute(
        cloud: &Arc<Cloud>,
        call: &Call,
        request: AdminRequest,
    ) -> std::result::Result<AccountReply, ApiError> {
        let principal = &call.principal;
        match request {
            AdminRequest::CreateAccount { name } => {
                let new = accounts::create(cloud.store(), principal, &name).await?;
                Ok(AccountReply {
                    account_id: new.account_id,
                    account_name: new.account_name,
                    access_key_id: new.access_key_id,
                    access_key_secret: new.access_key_secret,
                })
            }
        }
    }
}

impl RpcProduct for Admin {
    fn parse(action: &str, params: &Params) -> Option<Result<AdminRequest>> {
        match action {
            "CreateAccount" => {
                Some(params.str("AccountName").map(|name| AdminRequest::CreateAccount { name }))
            }
            _ => None,
        }
    }
}
