//! A minimal signed client for the CLI: RPC requests with the HMAC-SHA1 signature, built with the
//! same canonicalization code the server verifies with.

use ecslab_api::auth::{encode::percent_encode, rpc_v1};
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

pub struct Client {
    connection: Connection,
    http: reqwest::Client,
}

impl Client {
    pub fn new(connection: Connection) -> Client {
        Client { connection, http: reqwest::Client::new() }
    }

    /// Call an ECS action; returns the response body, or the server's error as text.
    pub async fn ecs(&self, action: &str, params: &[(&str, String)]) -> Result<Value, String> {
        let c = &self.connection;
        let mut pairs: Vec<(String, String)> = vec![
            ("Action".into(), action.into()),
            ("Version".into(), "2014-05-26".into()),
            ("Format".into(), "JSON".into()),
            ("AccessKeyId".into(), c.access_key_id.clone()),
            ("SignatureMethod".into(), "HMAC-SHA1".into()),
            ("SignatureVersion".into(), "1.0".into()),
            ("SignatureNonce".into(), uuid::Uuid::new_v4().to_string()),
            ("Timestamp".into(), chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string()),
            ("RegionId".into(), c.region.clone()),
        ];
        pairs.extend(params.iter().map(|(k, v)| (k.to_string(), v.clone())));
        let signature = rpc_v1::sign(&c.access_key_secret, &rpc_v1::string_to_sign("GET", &pairs));
        pairs.push(("Signature".into(), signature));
        let query: Vec<String> = pairs.iter().map(|(k, v)| format!("{}={}", percent_encode(k), percent_encode(v))).collect();
        let url = format!("http://{}/?{}", c.endpoint, query.join("&"));
        let response = self.http.get(&url).send().await.map_err(|e| format!("calling {action} on {}: {e}", c.endpoint))?;
        let status = response.status();
        let body: Value = response.json().await.map_err(|e| format!("reading the {action} reply: {e}"))?;
        if status.is_success() {
            Ok(body)
        } else {
            Err(format!("{action} failed: {} {}: {}", status.as_u16(), body["Code"].as_str().unwrap_or("?"), body["Message"].as_str().unwrap_or("")))
        }
    }
}
