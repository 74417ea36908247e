//! A minimal client for the OCI distribution API: the handful of calls a containerDisk push and
//! pull need (manifest HEAD/GET/PUT, blob HEAD/GET, chunked and monolithic blob uploads), with
//! anonymous bearer-token auth (the `WWW-Authenticate: Bearer` dance) and registry errors turned
//! into [`OciError`]s that say what the registry answered.

use super::{ImageReference, OciError};
use reqwest::header::{HeaderMap, AUTHORIZATION, CONTENT_LENGTH, CONTENT_TYPE, LOCATION, WWW_AUTHENTICATE};
use reqwest::{Method, RequestBuilder, Response, StatusCode, Url};
use std::time::Duration;

/// How long one request may take: a 16 MiB chunk at 100 KB/s still fits.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(300);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
/// The `Accept` header of a manifest request: single-platform manifests and indexes, OCI and docker.
pub const MANIFEST_TYPES: &str = "application/vnd.oci.image.manifest.v1+json, \
     application/vnd.docker.distribution.manifest.v2+json, application/vnd.oci.image.index.v1+json, \
     application/vnd.docker.distribution.manifest.list.v2+json";

/// One repository on one registry.
pub struct Registry {
    client: reqwest::Client,
    base: Url,
    repository: String,
    registry: String,
    token: Option<String>,
    scope: &'static str,
}

impl Registry {
    /// `push` asks for a push token when the registry wants one; plain HTTP for loopback hosts and
    /// for `insecure_registries` (entries `host` or `host:port`), HTTPS otherwise.
    pub fn new(
        reference: &ImageReference,
        insecure_registries: &[String],
        push: bool,
    ) -> Result<Registry, OciError> {
        let (host, repository) = match reference.registry.as_str() {
            // Docker Hub's API host differs from its name, and its official images live in library/.
            "docker.io" | "index.docker.io" if !reference.repository.contains('/') => {
                ("registry-1.docker.io".to_string(), format!("library/{}", reference.repository))
            }
            "docker.io" | "index.docker.io" => {
                ("registry-1.docker.io".to_string(), reference.repository.clone())
            }
            other => (other.to_string(), reference.repository.clone()),
        };
        let scheme = if plain_http(&reference.registry, insecure_registries) { "http" } else { "https" };
        let base = Url::parse(&format!("{scheme}://{host}/"))
            .map_err(|e| OciError::new("InvalidImageUrl", format!("registry {host}: {e}")))?;
        let client = reqwest::Client::builder().connect_timeout(CONNECT_TIMEOUT).build().map_err(|e| {
            OciError::new("RegistryUnreachable", format!("cannot set up an HTTP client: {e}"))
        })?;
        Ok(Registry {
            client,
            base,
            repository,
            registry: reference.registry.clone(),
            token: None,
            scope: if push { "pull,push" } else { "pull" },
        })
    }

    pub fn url(&self, path: &str) -> Url {
        // `base` always parses and `path` is built from checked parts.
        self.base.join(&format!("v2/{}/{path}", self.repository)).expect("registry URL")
    }

    /// Resolves an upload `Location` header, which may be relative.
    pub fn location(&self, response: &Response) -> Result<Url, OciError> {
        let value = response
            .headers()
            .get(LOCATION)
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| self.rejected("answered an upload without a Location header"))?;
        self.base
            .join(value)
            .map_err(|e| self.rejected(&format!("sent an unusable upload Location {value:?}: {e}")))
    }

    /// Sends a request built by `build`, fetching an anonymous bearer token and retrying once when
    /// the registry asks for one.
    pub async fn send(
        &mut self,
        method: Method,
        url: Url,
        build: impl Fn(RequestBuilder) -> RequestBuilder,
    ) -> Result<Response, OciError> {
        let response = self.send_once(method.clone(), url.clone(), &build).await?;
        if response.status() != StatusCode::UNAUTHORIZED || self.token.is_some() {
            return Ok(response);
        }
        let Some(challenge) = response.headers().get(WWW_AUTHENTICATE).and_then(|v| v.to_str().ok()) else {
            return Ok(response);
        };
        let challenge = challenge.to_string();
        self.token = Some(self.fetch_token(&challenge).await?);
        self.send_once(method, url, &build).await
    }

    async fn send_once(
        &self,
        method: Method,
        url: Url,
        build: &impl Fn(RequestBuilder) -> RequestBuilder,
    ) -> Result<Response, OciError> {
        let mut request = self.client.request(method, url).timeout(REQUEST_TIMEOUT);
        if let Some(token) = &self.token {
            request = request.header(AUTHORIZATION, format!("Bearer {token}"));
        }
        build(request).send().await.map_err(|e| self.unreachable(&e))
    }

    /// Anonymous token from the realm a `Bearer realm=...,service=...` challenge names.
    async fn fetch_token(&self, challenge: &str) -> Result<String, OciError> {
        let Some(params) = challenge.strip_prefix("Bearer ").or_else(|| challenge.strip_prefix("bearer "))
        else {
            return Err(self.auth_required());
        };
        let param = |key: &str| {
            params.split(',').find_map(|kv| {
                let (k, v) = kv.trim().split_once('=')?;
                (k.eq_ignore_ascii_case(key)).then(|| v.trim_matches('"').to_string())
            })
        };
        let realm = param("realm").ok_or_else(|| self.auth_required())?;
        let mut url = Url::parse(&realm).map_err(|_| self.auth_required())?;
        {
            let mut query = url.query_pairs_mut();
            if let Some(service) = param("service") {
                query.append_pair("service", &service);
            }
            query.append_pair("scope", &format!("repository:{}:{}", self.repository, self.scope));
        }
        let response =
            self.client.get(url).timeout(REQUEST_TIMEOUT).send().await.map_err(|e| self.unreachable(&e))?;
        if !response.status().is_success() {
            return Err(self.auth_required());
        }
        let body: serde_json::Value = response.json().await.map_err(|_| self.auth_required())?;
        body.get("token")
            .or_else(|| body.get("access_token"))
            .and_then(|t| t.as_str())
            .map(str::to_string)
            .ok_or_else(|| self.auth_required())
    }

    /// Turns a non-success answer into `RegistryRejected` (or `RegistryAuthRequired`), quoting the
    /// registry's own error codes.
    pub async fn error(&self, what: &str, response: Response) -> OciError {
        let status = response.status();
        if status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN {
            return self.auth_required();
        }
        let body = response.text().await.unwrap_or_default();
        let detail = serde_json::from_str::<serde_json::Value>(&body)
            .ok()
            .and_then(|v| {
                let errors = v.get("errors")?.as_array()?;
                Some(
                    errors
                        .iter()
                        .map(|e| {
                            let code = e.get("code").and_then(|c| c.as_str()).unwrap_or("");
                            let message = e.get("message").and_then(|c| c.as_str()).unwrap_or("");
                            format!("{code}: {message}")
                        })
                        .collect::<Vec<_>>()
                        .join("; "),
                )
            })
            .unwrap_or_else(|| body.chars().take(200).collect());
        OciError::new(
            "RegistryRejected",
            format!("Registry {} refused to {what}: HTTP {status} {detail}", self.registry)
                .trim_end()
                .to_string(),
        )
    }

    pub fn rejected(&self, why: &str) -> OciError {
        OciError::new("RegistryRejected", format!("Registry {} {why}.", self.registry))
    }

    fn auth_required(&self) -> OciError {
        OciError::new(
            "RegistryAuthRequired",
            format!(
                "Registry {} requires credentials for {}; ecslab pushes and pulls anonymously.",
                self.registry, self.repository
            ),
        )
    }

    fn unreachable(&self, e: &reqwest::Error) -> OciError {
        OciError::new(
            "RegistryUnreachable",
            format!(
                "Cannot reach registry {} ({}): {}",
                self.registry,
                self.base,
                crate::error::format_chain(e)
            ),
        )
    }
}

/// The `Docker-Content-Digest` header, if the registry sent one.
pub fn content_digest(headers: &HeaderMap) -> Option<String> {
    headers.get("docker-content-digest").and_then(|v| v.to_str().ok()).map(str::to_string)
}

pub fn json_body(builder: RequestBuilder, content_type: &str, body: bytes::Bytes) -> RequestBuilder {
    builder.header(CONTENT_TYPE, content_type).header(CONTENT_LENGTH, body.len()).body(body)
}

/// Loopback registries and the operator's insecure list are spoken to over plain HTTP.
fn plain_http(registry: &str, insecure_registries: &[String]) -> bool {
    let host = match registry.strip_prefix('[') {
        Some(rest) => rest.split(']').next().unwrap_or(rest),
        None => registry.rsplit_once(':').map_or(registry, |(h, _)| h),
    };
    let loopback = host == "localhost" || host.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback());
    loopback || insecure_registries.iter().any(|entry| entry == registry || entry == host)
}

#[cfg(test)]
mod tests {
    use super::plain_http;

    #[test]
    fn loopback_and_listed_hosts_use_plain_http() {
        assert!(plain_http("127.0.0.1:5000", &[]));
        assert!(plain_http("127.9.9.9", &[]));
        assert!(plain_http("localhost:5000", &[]));
        assert!(plain_http("[::1]:5000", &[]));
        assert!(!plain_http("registry.example.com", &[]));
        assert!(plain_http("registry.lan:5000", &["registry.lan".to_string()]));
        assert!(plain_http("registry.lan:5000", &["registry.lan:5000".to_string()]));
        assert!(!plain_http("registry.lan:5001", &["registry.lan:5000".to_string()]));
    }
}
