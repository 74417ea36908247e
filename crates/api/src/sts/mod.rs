//! STS 2015-04-01 (`alibabacloud_sts20150401`): AssumeRole and GetCallerIdentity, RPC on the same endpoint as the
//! other products. The rules (who may assume which role, the token) live in `ecslab_core::sts`; the pipeline's
//! authorization step checks `sts:AssumeRole` on `acs:ram::{account}:role/{name}` first, and lets everyone ask
//! GetCallerIdentity. Denials answer `NoPermission`, as STS does.

use crate::authorization::Call;
use crate::envelope::ApiError;
use crate::params::Params;
use crate::product::{Product, ResourceName, RpcProduct};
use ecslab_core::sts::{self, AssumeRole};
use ecslab_core::{Cloud, Result};
use serde::Serialize;
use std::sync::Arc;

/// The API version STS serves.
pub const VERSION: &str = "2015-04-01";

/// One parsed STS request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StsRequest {
    AssumeRole(AssumeRole),
    GetCallerIdentity,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Credentials {
    pub access_key_id: String,
    pub access_key_secret: String,
    pub security_token: String,
    pub expiration: String,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct AssumedRoleUser {
    pub arn: String,
    pub assumed_role_id: String,
}

/// The reply bodies, without RequestId.
#[derive(Debug, Serialize)]
#[serde(untagged)]
pub enum StsReply {
    #[serde(rename_all = "PascalCase")]
    AssumeRole { credentials: Credentials, assumed_role_user: AssumedRoleUser },
    #[serde(rename_all = "PascalCase")]
    CallerIdentity {
        account_id: String,
        user_id: String,
        arn: String,
        identity_type: &'static str,
        principal_id: String,
        #[serde(skip_serializing_if = "Option::is_none")]
        role_id: Option<String>,
    },
}

/// The STS product in the server's table.
pub struct Sts;

impl Product for Sts {
    const VERSION: &'static str = VERSION;
    const RAM_CODE: &'static str = "sts";
    const DENIED_CODE: &'static str = "NoPermission";
    type Request = StsRequest;
    type Response = StsReply;

    fn resources(request: &StsRequest) -> Vec<ResourceName> {
        match request {
            StsRequest::AssumeRole(assume) => match sts::parse_role_arn(&assume.role_arn) {
                Ok((_, role)) => vec![ResourceName::global("ram", "role", role.to_ascii_lowercase())],
                Err(_) => Vec::new(),
            },
            StsRequest::GetCallerIdentity => Vec::new(),
        }
    }

    fn open_to_all(request: &StsRequest) -> bool {
        matches!(request, StsRequest::GetCallerIdentity)
    }

    async fn execute(
        cloud: &Arc<Cloud>,
        call: &Call,
        request: StsRequest,
    ) -> std::result::Result<StsReply, ApiError> {
        let principal = &call.principal;
        Ok(match request {
            StsRequest::AssumeRole(assume) => {
                let assumed = cloud.sts().assume_role(cloud.ram(), principal, assume).await?;
                StsReply::AssumeRole {
                    credentials: Credentials {
                        access_key_id: assumed.credentials.access_key_id,
                        access_key_secret: assumed.credentials.access_key_secret,
                        security_token: assumed.credentials.security_token,
                        expiration: assumed.expiration.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
                    },
                    assumed_role_user: AssumedRoleUser {
                        arn: assumed.arn,
                        assumed_role_id: assumed.assumed_role_id,
                    },
                }
            }
            StsRequest::GetCallerIdentity => {
                let who = cloud.sts().caller_identity(principal);
                StsReply::CallerIdentity {
                    account_id: who.account_id,
                    user_id: who.user_id,
                    arn: who.arn,
                    identity_type: who.identity_type,
                    principal_id: who.principal_id,
                    role_id: who.role_id,
                }
            }
        })
    }
}

impl RpcProduct for Sts {
    fn parse(action: &str, params: &Params) -> Option<Result<StsRequest>> {
        let parsed = match action {
            "AssumeRole" => parse_assume_role(params),
            "GetCallerIdentity" => Ok(StsRequest::GetCallerIdentity),
            _ => return None,
        };
        Some(parsed)
    }
}

fn parse_assume_role(params: &Params) -> Result<StsRequest> {
    params.refuse(&["SourceIdentity"])?;
    Ok(StsRequest::AssumeRole(AssumeRole {
        role_arn: params.str("RoleArn")?,
        session_name: params.str("RoleSessionName")?,
        duration_secs: params.opt_int("DurationSeconds", i64::MIN, i64::MAX)?,
        policy: params.opt_str("Policy").filter(|p| !p.is_empty()),
        external_id: params.opt_str("ExternalId").filter(|e| !e.is_empty()),
    }))
}
