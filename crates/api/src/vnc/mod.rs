//! The interactive console (issue 14): ECS 2014-05-26 DescribeInstanceVncUrl, served beside the
//! `ecs` module under the same version, and the WebSocket behind the URL it returns.
//!
//! `DescribeInstanceVncUrl` gives the caller's Running instance a one-time URL,
//! `ws://HOST/vnc/TOKEN` (HOST: the Host the call came to), valid for one connection made within
//! ECS's 15 seconds (`ecslab serve --vnc-url-validity-secs`). The token is the credential; the
//! RFB session behind it asks for nothing more (security type None), as ECS's passwordless VNC.
//! `upgrade.rs` takes `GET /vnc/TOKEN` (the WebSocket handshake, before any signature check: the
//! token is the proof), `proxy.rs` carries RFB between WebSocket binary messages and the VM's
//! own VNC server on its unix socket. The rules (status, account, token table) live in
//! `ecslab_core::vnc` and `Instances::vnc_token`/`vnc_connect`.

mod parse;
mod proxy;
mod upgrade;

pub use parse::parse;
pub(crate) use upgrade::{upgrade, PATH_PREFIX};

use crate::authorization::Call;
use crate::envelope::ApiError;
use crate::params::Params;
use crate::product::{Product, ResourceName, RpcProduct};
use ecslab_core::{Cloud, Result};
use serde::Serialize;
use std::sync::Arc;

/// One parsed console request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VncRequest {
    DescribeInstanceVncUrl { instance_id: String },
}

/// The reply: `{"VncUrl": "ws://HOST/vnc/TOKEN"}` (RequestId added by the envelope).
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct VncReply {
    vnc_url: String,
}

/// The console in the server's table of products (ECS's version).
pub struct VncConsole;

impl Product for VncConsole {
    const VERSION: &'static str = crate::ecs::VERSION;
    const RAM_CODE: &'static str = "ecs";
    type Request = VncRequest;
    type Response = VncReply;

    fn resources(request: &VncRequest) -> Vec<ResourceName> {
        match request {
            VncRequest::DescribeInstanceVncUrl { instance_id } => {
                vec![ResourceName::new("instance", instance_id.clone())]
            }
        }
    }

    async fn execute(
        cloud: &Arc<Cloud>,
        call: &Call,
        request: VncRequest,
    ) -> std::result::Result<VncReply, ApiError> {
        match request {
            VncRequest::DescribeInstanceVncUrl { instance_id } => {
                let token = cloud.instances().vnc_token(&call.principal.account_id, &instance_id).await?;
                Ok(VncReply { vnc_url: vnc_url(&call.host, &token) })
            }
        }
    }
}

impl RpcProduct for VncConsole {
    fn parse(action: &str, params: &Params) -> Option<Result<VncRequest>> {
        parse(action, params)
    }
}

/// A request path as it may be logged: a VncUrl's token cut to its first characters (the token
/// is a credential until it is used or expires).
pub(crate) fn loggable_path(path: &str) -> String {
    match path.strip_prefix(PATH_PREFIX) {
        Some(token) => format!("{PATH_PREFIX}{}...", ecslab_core::vnc::token_hint(token)),
        None => path.to_string(),
    }
}

/// The URL of a token, on the address the client reached the server at (ecslab serves plain
/// HTTP, so `ws`, never `wss`).
pub(crate) fn vnc_url(host: &str, token: &str) -> String {
    format!("ws://{host}{PATH_PREFIX}{token}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_url_names_the_host_and_the_token() {
        assert_eq!(vnc_url("127.0.0.1:8080", "ab12"), "ws://127.0.0.1:8080/vnc/ab12");
        assert_eq!(vnc_url("[::1]:9", "ab12"), "ws://[::1]:9/vnc/ab12");
    }

    #[test]
    fn tokens_are_cut_in_logged_paths() {
        assert_eq!(loggable_path("/vnc/0123456789abcdef"), "/vnc/012345...");
        assert_eq!(loggable_path("/"), "/");
    }

    #[test]
    fn the_instance_is_the_resource() {
        let request = VncRequest::DescribeInstanceVncUrl { instance_id: "i-1".into() };
        assert_eq!(VncConsole::resources(&request), vec![ResourceName::new("instance", "i-1")]);
    }
}
