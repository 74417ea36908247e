//! A minimal signed client for ECS-style RPC calls, used by the CLI and the integration tests.
//! It signs with either scheme the server accepts (RPC HMAC-SHA1 or ACS3-HMAC-SHA256), using the
//! same canonicalization code the server verifies with.

use ecslab_api::auth::{acs3, encode::percent_encode, rpc_v1};
use serde_json::Value;

/// Where to reach the server and with which key.
#[derive(clap::Args, Debug, Clone)]
pub struct Connection {
    /// The API endpoint, host:port.
    #[arg(long, env = "ECSLAB_ENDPOINT", default_value = "127.0.0.1:8080")]
    pub endpoint: String,
    #[arg(long, env = "ALIBABA_CLOUD_ACCESS_KEY_ID")]
    pub access_key_id: String,
    #[arg(long, env = "ALIBABA_CLOUD_ACCESS_KEY_SECRET", hide_env_values = true)]
    pub access_key_secret: String,
    /// RegionId sent with requests.
    #[arg(long, env = "ECSLAB_REGION", default_value = "local")]
    pub region: String,
}

/// Which signature to put on requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signing {
    RpcHmacSha1,
    Acs3HmacSha256,
}

/// A reply: HTTP status and JSON body (success or error envelope).
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub body: Value,
}

impl Reply {
    pub fn code(&self) -> &str {
        self.body["Code"].as_str().unwrap_or("")
    }
}

pub struct Client {
    pub connection: Connection,
    pub signing: Signing,
    http: reqwest::Client,
}

impl Client {
    pub fn new(connection: Connection) -> Client {
        Client { connection, signing: Signing::RpcHmacSha1, http: reqwest::Client::new() }
    }

    pub fn with_signing(mut self, signing: Signing) -> Client {
        self.signing = signing;
        self
    }

    /// Call an ECS action; a non-2xx reply becomes an error with its code and message.
    pub async fn ecs(&self, action: &str, params: &[(&str, String)]) -> Result<Value, String> {
        let reply = self.call("2014-05-26", action, params).await?;
        if (200..300).contains(&reply.status) {
            Ok(reply.body)
        } else {
            Err(format!(
                "{action} failed: {} {}: {}",
                reply.status,
                reply.code(),
                reply.body["Message"].as_str().unwrap_or("")
            ))
        }
    }

    /// Call any RPC action and return the reply whatever its status.
    pub async fn call(
        &self,
        version: &str,
        action: &str,
        params: &[(&str, String)],
    ) -> Result<Reply, String> {
        let c = &self.connection;
        let mut pairs: Vec<(String, String)> = vec![("RegionId".into(), c.region.clone())];
        for (k, v) in params {
            pairs.retain(|(existing, _)| existing != k);
            pairs.push((k.to_string(), v.clone()));
        }
        let request = match self.signing {
            Signing::RpcHmacSha1 => self.rpc_v1_request(version, action, pairs),
            Signing::Acs3HmacSha256 => self.acs3_request(version, action, pairs)?,
        };
        send(request, action, &c.endpoint).await
    }

    fn rpc_v1_request(
        &self,
        version: &str,
        action: &str,
        mut pairs: Vec<(String, String)>,
    ) -> reqwest::RequestBuilder {
        let c = &self.connection;
        pairs.extend([
            ("Action".to_string(), action.to_string()),
            ("Version".into(), version.into()),
            ("Format".into(), "JSON".into()),
            ("AccessKeyId".into(), c.access_key_id.clone()),
            ("SignatureMethod".into(), "HMAC-SHA1".into()),
            ("SignatureVersion".into(), "1.0".into()),
            ("SignatureNonce".into(), uuid::Uuid::new_v4().to_string()),
            ("Timestamp".into(), chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string()),
        ]);
        let signature = rpc_v1::sign(&c.access_key_secret, &rpc_v1::string_to_sign("GET", &pairs));
        pairs.push(("Signature".into(), signature));
        self.http.get(format!("http://{}/?{}", c.endpoint, encode_query(&pairs)))
    }

    fn acs3_request(
        &self,
        version: &str,
        action: &str,
        pairs: Vec<(String, String)>,
    ) -> Result<reqwest::RequestBuilder, String> {
        self.acs3_request_to("POST", "/", version, action, pairs, Vec::new())
    }

    /// Call a REST (ROA) action, ACS3-signed: `body` is sent as JSON when given.
    pub async fn rest(
        &self,
        method: &str,
        path: &str,
        version: &str,
        action: &str,
        body: Option<Value>,
    ) -> Result<Reply, String> {
        let body = body.map(|b| b.to_string().into_bytes()).unwrap_or_default();
        let request = self.acs3_request_to(method, path, version, action, Vec::new(), body)?;
        send(request, action, &self.connection.endpoint).await
    }

    fn acs3_request_to(
        &self,
        method: &str,
        path: &str,
        version: &str,
        action: &str,
        pairs: Vec<(String, String)>,
        body: Vec<u8>,
    ) -> Result<reqwest::RequestBuilder, String> {
        let c = &self.connection;
        let query = encode_query(&pairs);
        let body_hash = acs3::sha256_hex(&body);
        let mut headers = http::HeaderMap::new();
        let mut set = |name: &'static str, value: String| -> Result<(), String> {
            headers.insert(name, value.parse().map_err(|_| format!("bad header value for {name}"))?);
            Ok(())
        };
        set("host", c.endpoint.clone())?;
        set("x-acs-action", action.to_string())?;
        set("x-acs-version", version.to_string())?;
        set("x-acs-date", chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string())?;
        set("x-acs-signature-nonce", uuid::Uuid::new_v4().simple().to_string())?;
        set("x-acs-content-sha256", body_hash.clone())?;
        set("accept", "application/json".into())?;
        let mut signed: Vec<String> = headers.keys().map(|k| k.as_str().to_string()).collect();
        signed.sort();
        let canonical = acs3::canonical_request(method, path, &query, &headers, &signed, &body_hash);
        let signature = acs3::sign(&c.access_key_secret, &acs3::string_to_sign(&canonical));
        let authorization = format!(
            "ACS3-HMAC-SHA256 Credential={},SignedHeaders={},Signature={signature}",
            c.access_key_id,
            signed.join(";")
        );
        let method =
            reqwest::Method::from_bytes(method.as_bytes()).map_err(|e| format!("method {method}: {e}"))?;
        let mut request = self
            .http
            .request(method, format!("http://{}{path}?{query}", c.endpoint))
            .header("authorization", authorization);
        if !body.is_empty() {
            request = request.header("content-type", "application/json; charset=utf-8").body(body);
        }
        for (name, value) in headers.iter() {
            if name.as_str() != "host" {
                request = request.header(name, value);
            }
        }
        Ok(request)
    }
}

/// Send a signed request; the reply's status and JSON body (or its text).
async fn send(request: reqwest::RequestBuilder, action: &str, endpoint: &str) -> Result<Reply, String> {
    let response = request
        .send()
        .await
        .map_err(|e| format!("calling {action} on {endpoint}: {}", ecslab_core::error::format_chain(&e)))?;
    let status = response.status().as_u16();
    let text = response.text().await.map_err(|e| format!("reading the {action} reply: {e}"))?;
    let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
    Ok(Reply { status, body })
}

fn encode_query(pairs: &[(String, String)]) -> String {
    pairs
        .iter()
        .map(|(k, v)| format!("{}={}", percent_encode(k), percent_encode(v)))
        .collect::<Vec<_>>()
        .join("&")
}
