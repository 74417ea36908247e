//! The instance metadata service at `http://100.100.100.200`, as on ECS: what an instance learns about itself
//! from inside (its id, hostname, keys, addresses, user data), read by cloud-init's AliYun datasource and by
//! anything else in the guest.
//!
//! One listener per VPC, inside the VPC's network namespace (`ecslab_net::metadata_listener`), started and
//! stopped with the VPC's data path. The filter table admits each NIC's requests from its own tap and address
//! only, so the source address of a connection names the instance: `Metadata::view` finds the interface with
//! that address in that VPC, and an instance can read nothing but its own data. `answer` is the pure protocol
//! (versions, listings, tokens, status codes); `tree` lays out the items; `tokens` is security-hardening mode;
//! `http` is the HTTP/1.1 shell around it.

pub mod http;
pub mod tokens;
pub mod tree;

use std::net::Ipv4Addr;
use std::time::SystemTime;

use ecslab_store::{MetadataEndpoint, MetadataTokens, Store};
use ipnet::Ipv4Net;

use crate::network::datapath::gateway_of;
use crate::Result;
pub use tokens::TokenKey;
pub use tree::GuestView;

/// The versions the service answers under (`/latest/...` and the dated one cloud-init asks for).
pub const VERSIONS: [&str; 2] = ["2016-01-01", "latest"];

/// The header a token request carries its TTL in.
pub const TTL_HEADER: &str = "x-aliyun-ecs-metadata-token-ttl-seconds";
/// The header a read carries its token in.
pub const TOKEN_HEADER: &str = "x-aliyun-ecs-metadata-token";

/// The HTTP methods the service tells apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Get,
    Head,
    Put,
    Other,
}

/// One request, as far as the service reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub method: Method,
    pub path: String,
    pub token: Option<String>,
    pub ttl: Option<String>,
    /// `X-Forwarded-For` present: a token request relayed by a proxy in the guest is refused (SSRF guard).
    pub forwarded: bool,
}

/// One reply: a status and a plain-text body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    pub status: u16,
    pub body: Vec<u8>,
}

impl Reply {
    fn ok(body: Vec<u8>) -> Reply {
        Reply { status: 200, body }
    }

    fn error(status: u16, text: &str) -> Reply {
        Reply { status, body: text.as_bytes().to_vec() }
    }
}

/// The service's answer to `request` from the instance `view` describes (`None`: no instance has the source
/// address, which the filter makes impossible for guests; answered 403).
pub fn answer(view: Option<&GuestView>, key: &TokenKey, request: &Request, now: SystemTime) -> Reply {
    let Some(view) = view else { return Reply::error(403, "Forbidden: no instance has this source address") };
    if view.endpoint_disabled {
        return Reply::error(
            403,
            "Forbidden: the metadata endpoint of this instance is disabled (HttpEndpoint=disabled)",
        );
    }
    let path = request.path.split(['?', '#']).next().unwrap_or_default();
    let (version, rest) = match path.trim_start_matches('/').split_once('/') {
        Some((version, rest)) => (version, rest),
        None => (path.trim_start_matches('/'), ""),
    };
    if version.is_empty() {
        return match request.method {
            Method::Get | Method::Head => Reply::ok(VERSIONS.join("\n").into_bytes()),
            _ => Reply::error(405, "Method Not Allowed"),
        };
    }
    if !VERSIONS.contains(&version) {
        return Reply::error(404, "Not Found");
    }
    if rest == "api/token" {
        return match request.method {
            Method::Put if request.forwarded => {
                Reply::error(403, "Forbidden: token requests may not be forwarded")
            }
            Method::Put => match tokens::parse_ttl(request.ttl.as_deref()) {
                Ok(ttl) => Reply::ok(key.issue(&view.instance_id, ttl, now).into_bytes()),
                Err(tokens::TtlError::Missing) => {
                    Reply::error(400, "Bad Request: X-aliyun-ecs-metadata-token-ttl-seconds is required")
                }
                Err(tokens::TtlError::Invalid) => Reply::error(
                    400,
                    "Bad Request: X-aliyun-ecs-metadata-token-ttl-seconds must be an integer from 1 to 21600",
                ),
            },
            _ => Reply::error(405, "Method Not Allowed"),
        };
    }
    if !matches!(request.method, Method::Get | Method::Head) {
        return Reply::error(405, "Method Not Allowed");
    }
    match &request.token {
        Some(token) if !key.accepts(token, &view.instance_id, now) => {
            return Reply::error(401, "Unauthorized: the metadata token is invalid or expired")
        }
        None if view.tokens_required => {
            return Reply::error(
                401,
                "Unauthorized: this instance requires a metadata token (HttpTokens=required)",
            )
        }
        _ => {}
    }
    match tree::version_tree(view).get(rest) {
        Some(node) => Reply::ok(node.body()),
        None => Reply::error(404, "Not Found"),
    }
}

/// The service: reads an instance's records for each request.
#[derive(Debug)]
pub struct Metadata {
    store: Store,
    region_id: String,
    key: TokenKey,
}

impl Metadata {
    pub(crate) async fn new(store: Store, region_id: String) -> Result<Metadata> {
        let secret = store
            .server_secret("metadata-token-key", || {
                use rand::RngCore;
                let mut bytes = [0u8; 32];
                rand::thread_rng().fill_bytes(&mut bytes);
                hex::encode(bytes)
            })
            .await?;
        Ok(Metadata { store, region_id, key: TokenKey::new(secret) })
    }

    /// What the instance whose interface in `vpc_id` has `source` sees; `None` when no interface has it.
    pub async fn view(&self, vpc_id: &str, source: Ipv4Addr) -> Result<Option<GuestView>> {
        let source = source.to_string();
        let interfaces = self.store.interfaces_in_vpc(vpc_id).await?;
        let Some(nic) = interfaces.into_iter().find(|n| n.private_ip == source) else { return Ok(None) };
        let Some(instance) = self.store.instance_by_id(&nic.instance_id).await? else { return Ok(None) };
        let vpc = self.store.vpc(&nic.account_id, &nic.vpc_id).await?;
        let vswitch = self.store.vswitch(&nic.account_id, &nic.vswitch_id).await?;
        let settings = self.store.guest_settings(&instance.instance_id).await?;
        let Some(settings) = settings else { return Ok(None) };
        let (public_key, user_data, password_hash) =
            (settings.public_key, settings.user_data, settings.password_hash);
        let block: Option<Ipv4Net> = vswitch.as_ref().and_then(|v| v.cidr_block.parse().ok());
        // Stored as given and checked to decode when it was set.
        let user_data = user_data
            .and_then(|text| crate::guest_settings::UserData::parse(&text).ok())
            .map(|u| u.decoded());
        Ok(Some(GuestView {
            instance_id: instance.instance_id.clone(),
            instance_name: instance.name.clone(),
            instance_type: instance.instance_type.clone(),
            host_name: instance.host_name.clone(),
            image_id: instance.image_id.clone(),
            region_id: self.region_id.clone(),
            zone_id: instance.zone_id.clone(),
            owner_account_id: instance.account_id.clone(),
            network_interface_id: nic.network_interface_id.clone(),
            mac: nic.mac.clone(),
            private_ipv4: nic.private_ip.clone(),
            netmask: block.map(|b| b.netmask().to_string()).unwrap_or_default(),
            gateway: block.map(|b| gateway_of(&b).to_string()).unwrap_or_default(),
            public_ipv4: Some(nic.public_ip.clone()).filter(|ip| !ip.is_empty()),
            vpc_id: nic.vpc_id.clone(),
            vpc_cidr_block: vpc.map(|v| v.cidr_block).unwrap_or_default(),
            vswitch_id: nic.vswitch_id.clone(),
            vswitch_cidr_block: vswitch.map(|v| v.cidr_block).unwrap_or_default(),
            public_keys: public_key.into_iter().collect(),
            user_data,
            password_hash,
            endpoint_disabled: settings.http_endpoint == MetadataEndpoint::Disabled,
            tokens_required: settings.http_tokens == MetadataTokens::Required,
        }))
    }

    /// Answers one request from `source` in `vpc_id`; a failure to read the records is a 500, logged.
    pub async fn handle(&self, vpc_id: &str, source: Ipv4Addr, request: &Request) -> Reply {
        match self.view(vpc_id, source).await {
            Ok(view) => answer(view.as_ref(), &self.key, request, SystemTime::now()),
            Err(e) => {
                tracing::error!(vpc_id, %source, error = %e.detail(), "reading metadata failed");
                Reply::error(500, "Internal Server Error")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn get(path: &str) -> Request {
        Request { method: Method::Get, path: path.into(), token: None, ttl: None, forwarded: false }
    }

    fn put_token(ttl: Option<&str>) -> Request {
        Request { method: Method::Put, ttl: ttl.map(str::to_string), ..get("/latest/api/token") }
    }

    fn text(reply: &Reply) -> String {
        String::from_utf8(reply.body.clone()).unwrap()
    }

    #[test]
    fn normal_mode_reads_items_under_both_versions() {
        let (view, key, now) = (tree::tests::view(), TokenKey::new("k"), SystemTime::now());
        for path in ["/latest/meta-data/instance-id", "/2016-01-01/meta-data/instance-id"] {
            let reply = answer(Some(&view), &key, &get(path), now);
            assert_eq!((reply.status, text(&reply)), (200, "i-1".to_string()), "{path}");
        }
        assert_eq!(text(&answer(Some(&view), &key, &get("/"), now)), "2016-01-01\nlatest");
        assert_eq!(answer(Some(&view), &key, &get("/2009-04-04/meta-data/"), now).status, 404);
        assert_eq!(answer(Some(&view), &key, &get("/latest/meta-data/nope"), now).status, 404);
        assert_eq!(
            text(&answer(Some(&view), &key, &get("/latest/user-data?x=1"), now)),
            "#!/bin/sh\necho hi\n"
        );
        assert_eq!(answer(None, &key, &get("/latest/meta-data/instance-id"), now).status, 403);
        let post = Request { method: Method::Other, ..get("/latest/meta-data/") };
        assert_eq!(answer(Some(&view), &key, &post, now).status, 405);
    }

    #[test]
    fn hardened_mode_tokens_as_on_ecs() {
        let (view, key, now) = (tree::tests::view(), TokenKey::new("k"), SystemTime::now());
        let issued = answer(Some(&view), &key, &put_token(Some("60")), now);
        assert_eq!(issued.status, 200);
        let token = text(&issued);
        let with =
            |token: &str| Request { token: Some(token.to_string()), ..get("/latest/meta-data/hostname") };
        let read = answer(Some(&view), &key, &with(&token), now);
        assert_eq!((read.status, text(&read)), (200, "web-1".to_string()));
        assert_eq!(answer(Some(&view), &key, &with(&token), now + Duration::from_secs(61)).status, 401);
        assert_eq!(answer(Some(&view), &key, &with("forged"), now).status, 401);
        let other = GuestView { instance_id: "i-2".into(), ..tree::tests::view() };
        assert_eq!(answer(Some(&other), &key, &with(&token), now).status, 401, "another instance's token");
        assert_eq!(answer(Some(&view), &key, &put_token(None), now).status, 400);
        assert_eq!(answer(Some(&view), &key, &put_token(Some("21601")), now).status, 400);
        let forwarded = Request { forwarded: true, ..put_token(Some("60")) };
        assert_eq!(answer(Some(&view), &key, &forwarded, now).status, 403);
        assert_eq!(answer(Some(&view), &key, &get("/latest/api/token"), now).status, 405);
        let required = GuestView { tokens_required: true, ..tree::tests::view() };
        assert_eq!(answer(Some(&required), &key, &get("/latest/meta-data/hostname"), now).status, 401);
        assert_eq!(answer(Some(&required), &key, &with(&token), now).status, 200);
        let disabled = GuestView { endpoint_disabled: true, ..tree::tests::view() };
        assert_eq!(answer(Some(&disabled), &key, &with(&token), now).status, 403);
        assert_eq!(answer(Some(&disabled), &key, &put_token(Some("60")), now).status, 403);
    }
}
