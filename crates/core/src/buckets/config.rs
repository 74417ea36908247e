//! The `--buckets-config` file: which bucket names live on an S3-compatible object store, and
//! how to reach each. JSON, so that no extra parser is needed and every tool can write it:
//!
//! ```json
//! { "buckets": {
//!     "media": { "endpoint": "http://127.0.0.1:9000", "region": "us-east-1",
//!                "bucket": "lab-media", "access_key_id": "AK", "secret_access_key": "SK",
//!                "allow_http": true }
//! } }
//! ```
//!
//! Names not in the file are local folders under `DATA/buckets/`. Unknown fields are refused
//! (a typo must not silently turn a setting off). Credentials left out are taken from the
//! usual `AWS_ACCESS_KEY_ID` / `AWS_SECRET_ACCESS_KEY` / `AWS_SESSION_TOKEN` variables.

use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::Path;

#[derive(Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BucketsConfig {
    /// Bucket name as the APIs see it → where it really is.
    #[serde(default)]
    pub buckets: BTreeMap<String, S3BucketConfig>,
}

/// One bucket on an S3-compatible store.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct S3BucketConfig {
    /// The store's URL, e.g. `https://s3.eu-west-1.amazonaws.com` or `http://127.0.0.1:9000`.
    pub endpoint: String,
    /// The signing region (`us-east-1` when left out; most S3-compatible servers ignore it).
    #[serde(default)]
    pub region: Option<String>,
    /// The bucket's name on the store (the API name when left out).
    #[serde(default)]
    pub bucket: Option<String>,
    #[serde(default)]
    pub access_key_id: Option<String>,
    #[serde(default)]
    pub secret_access_key: Option<String>,
    #[serde(default)]
    pub session_token: Option<String>,
    /// Allow a plain `http://` endpoint (off by default: credentials would cross in the clear).
    #[serde(default)]
    pub allow_http: bool,
    /// `https://<bucket>.<endpoint host>/key` instead of path-style `https://<endpoint>/<bucket>/key`.
    #[serde(default)]
    pub virtual_hosted_style: bool,
    /// Seconds to wait for a connection before the store counts as unreachable (default 5).
    #[serde(default)]
    pub connect_timeout_secs: Option<u64>,
}

// Hand-written so that secrets never reach a log line.
impl std::fmt::Debug for BucketsConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_map().entries(self.buckets.iter()).finish()
    }
}

impl std::fmt::Debug for S3BucketConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "s3 {} bucket {:?}", self.endpoint, self.bucket)
    }
}

impl BucketsConfig {
    /// Read and parse the file; the error names the file and what is wrong in it.
    pub fn load(path: &Path) -> Result<BucketsConfig, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("reading {}: {e}", path.display()))?;
        serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_defaults_and_refuses_typos() {
        let config: BucketsConfig = serde_json::from_str(
            r#"{"buckets": {"media": {"endpoint": "http://127.0.0.1:9000", "allow_http": true}}}"#,
        )
        .unwrap();
        let media = &config.buckets["media"];
        assert!(media.allow_http);
        assert_eq!(media.bucket, None);
        assert!(!format!("{config:?}").contains("secret"));
        let typo = r#"{"buckets": {"media": {"endpoint": "http://x", "alow_http": true}}}"#;
        assert!(serde_json::from_str::<BucketsConfig>(typo).is_err());
    }
}
