//! The fast tier's lab: a whole ecslab API in this process (the axum app over a real store in a
//! temporary directory and the fake driver), driven through `tower::ServiceExt::oneshot` with
//! requests signed by each of the three schemes. No socket, no QEMU: a request costs
//! milliseconds, so every error path of every action can be walked.

#![allow(dead_code)]

use axum::body::{to_bytes, Body};
use axum::Router;
use base64::Engine;
use ecslab_api::auth::encode::percent_encode;
use ecslab_api::auth::{acs3, roa_v1, rpc_v1};
use ecslab_api::{app, AppState, ServerOptions};
use ecslab_core::store::{AccessKey, Store};
use ecslab_core::{Cloud, CloudConfig};
use ecslab_vmm::accel::Accel;
use ecslab_vmm::fake::FakeHypervisor;
use http::{HeaderMap, HeaderValue, Request, StatusCode};
use serde_json::Value;
use std::sync::Arc;
use tower::ServiceExt;

pub const ECS: &str = "2014-05-26";
pub const MTS: &str = "2014-06-18";
pub const ECD: &str = "2020-09-30";
pub const PAI: &str = "2022-01-01";

/// The key the recorded SDK captures (tests/fixtures/captures) were signed with.
pub const CAPTURE_KEY_ID: &str = "LTAI5tHarnessTestKeyId0001";
pub const CAPTURE_SECRET: &str = "HarnessTestSecret/0123+456789abcdefXYZ";
/// The region the captures name.
pub const CAPTURE_REGION: &str = "cn-hangzhou";

/// A parameter value that leaves the parameter out of an RPC request (even a common one such as
/// `Version` or `SignatureNonce`).
pub const OMIT: &str = "\u{0}";

/// Which signature a request carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    RpcV1,
    Acs3,
    RoaV1,
}

/// One in-process server with one account.
pub struct Lab {
    pub cloud: Arc<Cloud>,
    pub router: Router,
    pub key_id: String,
    pub secret: String,
    pub region: String,
    _dir: tempfile::TempDir,
}

/// A reply: status, headers, the body as text and (when it is JSON) parsed.
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub text: String,
    pub json: Value,
}

impl Reply {
    /// The error code of an envelope ("" on success).
    pub fn code(&self) -> &str {
        self.json["Code"].as_str().unwrap_or("")
    }
}

impl Lab {
    /// A lab in region `local`, with freshness checks (timestamp window, nonces) on.
    pub async fn new() -> Lab {
        Lab::with("local", true).await
    }

    /// A lab with the captures' key, in their region, replaying old requests (no freshness checks).
    pub async fn for_captures() -> Lab {
        let mut lab = Lab::build(CAPTURE_REGION, false, CAPTURE_KEY_ID, CAPTURE_SECRET).await;
        lab.region = CAPTURE_REGION.to_string();
        lab
    }

    pub async fn with(region: &str, check_freshness: bool) -> Lab {
        Lab::build(region, check_freshness, "LTAIfasttier00000001", "fast-tier-secret-0123456789").await
    }

    async fn build(region: &str, check_freshness: bool, key_id: &str, secret: &str) -> Lab {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("ecslab.db")).await.unwrap();
        let key = AccessKey {
            access_key_id: key_id.to_string(),
            access_key_secret: secret.to_string(),
            account_id: "1000000000000001".into(),
            enabled: true,
            user_id: None,
            user_name: None,
        };
        store.create_account(&key.account_id, "admin", &key).await.unwrap();
        let mut config = CloudConfig::new(dir.path().to_path_buf(), region.to_string(), Accel::Tcg);
        config.network = ecslab_core::config::NetworkBackend::Off;
        let cloud = Cloud::start(store, Arc::new(FakeHypervisor::default()), config).await.unwrap();
        let router =
            app(AppState::new(cloud.clone(), ServerOptions { check_freshness, ..ServerOptions::default() }));
        Lab {
            cloud,
            router,
            key_id: key_id.to_string(),
            secret: secret.to_string(),
            region: region.to_string(),
            _dir: dir,
        }
    }

    /// Send one request through the app.
    pub async fn send(&self, request: Request<Body>) -> Reply {
        let response = self.router.clone().oneshot(request).await.unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = to_bytes(response.into_body(), usize::MAX).await.unwrap();
        let text = String::from_utf8(bytes.to_vec()).unwrap();
        let json = serde_json::from_str(&text).unwrap_or(Value::Null);
        Reply { status, headers, text, json }
    }

    /// An RPC call signed with RPC V1 (HMAC-SHA1, GET with every parameter in the query).
    /// RegionId is added unless `params` names it; `Format` may be overridden by `params`.
    pub async fn rpc(&self, version: &str, action: &str, params: &[(&str, &str)]) -> Reply {
        self.send(self.rpc_v1_request(version, action, params)).await
    }

    /// The same call, ACS3-signed (POST /, parameters in the query).
    pub async fn acs3(&self, version: &str, action: &str, params: &[(&str, &str)]) -> Reply {
        self.send(self.acs3_request("POST", "/", version, action, &self.with_region(params), Vec::new()))
            .await
    }

    /// A call by the given scheme (RPC products: RpcV1 or Acs3).
    pub async fn call(&self, scheme: Scheme, version: &str, action: &str, params: &[(&str, &str)]) -> Reply {
        match scheme {
            Scheme::RpcV1 => self.rpc(version, action, params).await,
            Scheme::Acs3 => self.acs3(version, action, params).await,
            Scheme::RoaV1 => panic!("RPC actions are not signed with ROA"),
        }
    }

    /// A REST call, ACS3- or ROA-signed, with an optional JSON body.
    pub async fn rest(
        &self,
        scheme: Scheme,
        method: &str,
        path: &str,
        action: &str,
        body: Option<Value>,
    ) -> Reply {
        let body = body.map(|b| b.to_string().into_bytes()).unwrap_or_default();
        let request = match scheme {
            Scheme::Acs3 => self.acs3_request(method, path, PAI, action, &[], body),
            Scheme::RoaV1 => self.roa_request(method, path, PAI, action, body),
            Scheme::RpcV1 => panic!("REST actions are not signed with RPC V1"),
        };
        self.send(request).await
    }

    fn with_region(&self, params: &[(&str, &str)]) -> Vec<(String, String)> {
        let mut pairs: Vec<(String, String)> = Vec::new();
        if !params.iter().any(|(k, _)| *k == "RegionId") {
            pairs.push(("RegionId".into(), self.region.clone()));
        }
        pairs.extend(params.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        pairs
    }

    pub fn rpc_v1_request(&self, version: &str, action: &str, params: &[(&str, &str)]) -> Request<Body> {
        let mut pairs = self.with_region(params);
        let mut common = vec![
            ("Action", action.to_string()),
            ("Version", version.to_string()),
            ("Format", "JSON".to_string()),
            ("AccessKeyId", self.key_id.clone()),
            ("SignatureMethod", "HMAC-SHA1".to_string()),
            ("SignatureVersion", "1.0".to_string()),
            ("SignatureNonce", uuid::Uuid::new_v4().to_string()),
            ("Timestamp", chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string()),
        ];
        common.retain(|(k, _)| !pairs.iter().any(|(p, _)| p == k));
        pairs.extend(common.into_iter().map(|(k, v)| (k.to_string(), v)));
        pairs.retain(|(_, v)| v != OMIT);
        let signature = rpc_v1::sign(&self.secret, &rpc_v1::string_to_sign("GET", &pairs));
        pairs.push(("Signature".into(), signature));
        Request::get(format!("/?{}", encode_query(&pairs)))
            .header("host", "fast-tier")
            .body(Body::empty())
            .unwrap()
    }

    pub fn acs3_request(
        &self,
        method: &str,
        path: &str,
        version: &str,
        action: &str,
        pairs: &[(String, String)],
        body: Vec<u8>,
    ) -> Request<Body> {
        let query = encode_query(pairs);
        let body_hash = acs3::sha256_hex(&body);
        let mut headers = HeaderMap::new();
        let mut set = |name: &'static str, value: String| {
            headers.insert(name, HeaderValue::from_str(&value).unwrap());
        };
        set("host", "fast-tier".into());
        set("x-acs-action", action.into());
        set("x-acs-version", version.into());
        set("x-acs-date", chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string());
        set("x-acs-signature-nonce", uuid::Uuid::new_v4().simple().to_string());
        set("x-acs-content-sha256", body_hash.clone());
        set("accept", "application/json".into());
        if !body.is_empty() {
            set("content-type", "application/json; charset=utf-8".into());
        }
        let mut signed: Vec<String> =
            headers.keys().map(|k| k.as_str().to_string()).filter(|k| k != "content-type").collect();
        signed.sort();
        let canonical = acs3::canonical_request(method, path, &query, &headers, &signed, &body_hash);
        let signature = acs3::sign(&self.secret, &acs3::string_to_sign(&canonical));
        let authorization = format!(
            "ACS3-HMAC-SHA256 Credential={},SignedHeaders={},Signature={signature}",
            self.key_id,
            signed.join(";")
        );
        let uri = if query.is_empty() { path.to_string() } else { format!("{path}?{query}") };
        let mut request = Request::builder().method(method).uri(uri).body(Body::from(body)).unwrap();
        *request.headers_mut() = headers;
        request.headers_mut().insert("authorization", HeaderValue::from_str(&authorization).unwrap());
        request
    }

    pub fn roa_request(
        &self,
        method: &str,
        path: &str,
        version: &str,
        action: &str,
        body: Vec<u8>,
    ) -> Request<Body> {
        let mut headers = HeaderMap::new();
        let mut set = |name: &'static str, value: String| {
            headers.insert(name, HeaderValue::from_str(&value).unwrap());
        };
        set("host", "fast-tier".into());
        set("accept", "application/json".into());
        set("date", httpdate::fmt_http_date(std::time::SystemTime::now()));
        set("x-acs-signature-nonce", uuid::Uuid::new_v4().simple().to_string());
        set("x-acs-signature-method", "HMAC-SHA1".into());
        set("x-acs-signature-version", "1.0".into());
        set("x-acs-version", version.into());
        set("x-acs-action", action.into());
        if !body.is_empty() {
            set("content-type", "application/json".into());
        }
        let signature = roa_v1::sign(&self.secret, &roa_v1::string_to_sign(method, path, "", &headers));
        let authorization = format!("acs {}:{signature}", self.key_id);
        let mut request = Request::builder().method(method).uri(path).body(Body::from(body)).unwrap();
        *request.headers_mut() = headers;
        request.headers_mut().insert("authorization", HeaderValue::from_str(&authorization).unwrap());
        request
    }
}

pub fn encode_query(pairs: &[(String, String)]) -> String {
    pairs
        .iter()
        .map(|(k, v)| format!("{}={}", percent_encode(k), percent_encode(v)))
        .collect::<Vec<_>>()
        .join("&")
}

/// Assert an error envelope: status and code, and the envelope's fields.
#[track_caller]
pub fn assert_error(reply: &Reply, status: u16, code: &str) {
    assert_eq!((reply.status.as_u16(), reply.code()), (status, code), "unexpected reply: {}", reply.text);
    for field in ["RequestId", "Message"] {
        assert!(reply.json[field].is_string(), "{field} missing in {}", reply.text);
    }
}

/// Assert a success envelope and return its body.
#[track_caller]
pub fn assert_ok(reply: &Reply) -> &Value {
    assert_eq!(reply.status.as_u16(), 200, "unexpected reply: {}", reply.text);
    assert!(reply.json["RequestId"].is_string(), "RequestId missing in {}", reply.text);
    &reply.json
}

/// One request recorded from an official SDK (tests/fixtures/captures; see signatures.rs).
pub struct Capture {
    pub name: String,
    pub method: String,
    pub path: String,
    pub query: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// Altered on purpose: its signature must not match.
    pub expect_bad: bool,
}

impl Capture {
    pub fn request(&self) -> Request<Body> {
        let uri =
            if self.query.is_empty() { self.path.clone() } else { format!("{}?{}", self.path, self.query) };
        let mut builder = Request::builder().method(self.method.as_str()).uri(uri);
        for (name, value) in &self.headers {
            builder = builder.header(name.as_str(), value.as_str());
        }
        builder.body(Body::from(self.body.clone())).unwrap()
    }
}

/// Every capture, sorted by file name.
pub fn captures() -> Vec<Capture> {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/captures");
    let mut files = Vec::new();
    let mut dirs = vec![root.clone()];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "json") {
                files.push(path);
            }
        }
    }
    files.sort();
    files
        .iter()
        .map(|file| {
            let json: Value = serde_json::from_str(&std::fs::read_to_string(file).unwrap()).unwrap();
            let wire = &json["wire"];
            let text = |v: &Value| v.as_str().unwrap().to_string();
            Capture {
                name: file.strip_prefix(&root).unwrap().display().to_string(),
                method: text(&wire["method"]),
                path: text(&wire["path"]),
                query: text(&wire["raw_query"]),
                headers: wire["headers"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|h| (text(&h[0]), text(&h[1])))
                    .collect(),
                body: base64::engine::general_purpose::STANDARD.decode(text(&wire["body_b64"])).unwrap(),
                expect_bad: json["wire_expect_bad"].as_bool().unwrap_or(false),
            }
        })
        .collect()
}
