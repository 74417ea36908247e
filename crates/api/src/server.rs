//! The HTTP front: one axum handler that takes any request through the same steps.
//!
//! 1. Give it a RequestId (returned in the body and the `x-acs-request-id` header, and recorded
//!    in every log line of the request through a tracing span).
//! 2. Authenticate: detect the signature scheme, find the access key (the account's root key, a
//!    RAM user's key, or an STS session's key proven by its SecurityToken: its principal and account
//!    scope everything that follows), verify the signature byte-exactly, check the ±15 min window and
//!    refuse a reused nonce (every scheme must carry one; nonces are kept in the store for
//!    `NONCE_MEMORY_SECS`, two windows, so a restart forgets none that could still be replayed).
//! 3. Pick the product from the table in `products.rs` (by the signed Version on `/`, RPC; by the
//!    path elsewhere, REST) and let it parse the request into its typed form (no I/O); RPC
//!    requests also have their RegionId checked against this server's region.
//! 4. Execute it through the steps every product shares (`product.rs`): authorization (the
//!    caller's RAM policies on the action and its resources, `authorization.rs`), the ClientToken
//!    idempotency record when the request honours one, then the typed reply rendered to JSON.
//! 5. Wrap the result, or the error, in the envelope: JSON or XML (RPC), PAI's JSON (REST).

use crate::auth::{self, RawRequest, SignedClaims};
use crate::authorization::Call;
use crate::console;
use crate::envelope::{self, ApiError, ErrorCode, Format};
use crate::metrics::{self, RequestMetrics};
use crate::params::Params;
use crate::product::RestCall;
use crate::products;
use axum::body::{to_bytes, Body};
use axum::extract::{Request, State};
use axum::http::Method;
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use chrono::Utc;
use ecslab_core::{Cloud, Error, Identity, Principal};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;
use tracing::Instrument;

/// How far a request's timestamp may be from the server's clock.
const CLOCK_WINDOW_SECS: i64 = 15 * 60;
/// How long a nonce is remembered (in the store, so across restarts). A request stamped up to
/// one window ahead of the server's clock stays acceptable until one window after its stamp, so
/// its nonce must outlive both: two windows, plus a minute of slack (Alibaba keeps 31 minutes).
const NONCE_MEMORY_SECS: i64 = 2 * CLOCK_WINDOW_SECS + 60;

/// Server-wide options.
#[derive(Debug, Clone)]
pub struct ServerOptions {
    /// Check the timestamp window and nonce reuse (off only to replay recorded requests).
    pub check_freshness: bool,
    /// The bearer token that opens `/metrics`; `None` turns the route off.
    pub metrics_token: Option<String>,
}

impl Default for ServerOptions {
    fn default() -> Self {
        ServerOptions { check_freshness: true, metrics_token: None }
    }
}

#[derive(Clone)]
pub struct AppState {
    pub cloud: Arc<Cloud>,
    pub options: ServerOptions,
    /// Request counts and latencies for `/metrics`.
    pub requests: Arc<RequestMetrics>,
}

impl AppState {
    pub fn new(cloud: Arc<Cloud>, options: ServerOptions) -> AppState {
        AppState { cloud, options, requests: Arc::default() }
    }
}

/// The router: the web console's files (`console/files.rs`), everything else through [`handle`]. Tests
/// drive it with `tower::ServiceExt::oneshot`.
pub fn app(state: AppState) -> Router {
    Router::new()
        .route("/console", get(console::files::redirect))
        .route("/console/", get(console::files::index))
        .route("/console/{*path}", get(console::files::file))
        .fallback(handle)
        .with_state(state)
}

/// What the access log needs from a request once it is parsed.
struct Outcome {
    response: Response,
    action: Option<String>,
}

async fn handle(State(state): State<AppState>, request: Request) -> Response {
    let request_id = envelope::new_request_id();
    let span = tracing::info_span!("request", request_id = %request_id);
    async move {
        let started = Instant::now();
        let method = request.method().to_string();
        let path = crate::vnc::loggable_path(request.uri().path());
        let outcome = if path == metrics::PATH && request.method() == Method::GET {
            let token = state.options.metrics_token.as_deref();
            let response =
                metrics::serve(&state.cloud, &state.requests, token, request.headers(), &request_id).await;
            Outcome { response, action: None }
        } else {
            serve(&state, &request_id, request).await
        };
        let status = outcome.response.status().as_u16();
        let code = outcome.response.extensions().get::<ErrorCode>().map(|c| c.0.clone());
        let known_action = outcome.action.as_deref().filter(|_| {
            !matches!(
                code.as_deref(),
                Some("InvalidAction.NotFound" | "InvalidVersion" | "InvalidApi.NotFound")
            )
        });
        state.requests.record(known_action, status, started.elapsed().as_secs_f64());
        tracing::info!(
            %method,
            %path,
            action = outcome.action.as_deref().unwrap_or("-"),
            status,
            code = code.as_deref().unwrap_or("-"),
            elapsed_ms = started.elapsed().as_secs_f64() * 1000.0,
            "request done"
        );
        outcome.response
    }
    .instrument(span)
    .await
}

async fn serve(state: &AppState, request_id: &str, request: Request) -> Outcome {
    let (parts, body) = request.into_parts();
    // A VncUrl's WebSocket: its token is the credential, so no signature is asked for.
    if let Some(token) = parts.uri.path().strip_prefix(crate::vnc::PATH_PREFIX) {
        let response = crate::vnc::upgrade(&state.cloud, request_id, &parts, token).await;
        return Outcome { response, action: None };
    }
    let source_ip = parts.extensions.get::<axum::extract::ConnectInfo<SocketAddr>>().map(|c| c.0.ip());
    let host_id = parts.headers.get("host").and_then(|h| h.to_str().ok()).unwrap_or("ecslab").to_string();
    let body = match to_bytes(Body::new(body), crate::wire::MAX_BODY_BYTES).await {
        Ok(b) => b,
        Err(_) => {
            let response = envelope::error(request_id, &host_id, None, &ApiError::BodyTooLarge, Format::Json);
            return Outcome { response, action: None };
        }
    };
    let raw = RawRequest {
        method: parts.method.as_str(),
        raw_path: parts.uri.path(),
        raw_query: parts.uri.query().unwrap_or(""),
        headers: &parts.headers,
        body: &body,
    };
    let pairs = auth::rpc_params(&raw);
    let format = Format::from_param(pairs.iter().find(|(k, _)| k == "Format").map(|(_, v)| v.as_str()));
    let mut action = None;
    // REST (ROA) products are routed by path; everything else is RPC on `/`.
    let roa = raw.raw_path != "/";
    let result = async {
        let (principal, claims) = authenticate(state, &raw).await?;
        let caller = Call { principal, source_ip, secure_transport: false, host: host_id.clone() };
        if roa {
            let call = RestCall {
                method: raw.method,
                raw_path: raw.raw_path,
                version: claims.version.as_deref(),
                query: Params::from_pairs(pairs.clone()),
                body: raw.body,
            };
            let unknown =
                || ApiError::UnknownRoute { method: raw.method.to_string(), path: raw.raw_path.to_string() };
            let product = products::rest(raw.raw_path).ok_or_else(unknown)?;
            let (name, reply) = product.serve(&state.cloud, &caller, &call).ok_or_else(unknown)?;
            action = Some(name.to_string());
            return reply.await;
        }
        let name = claims.action.clone().filter(|a| !a.is_empty()).ok_or(ApiError::MissingAction)?;
        action = Some(name.clone());
        let version = claims.version.clone().unwrap_or_default();
        let params = Params::from_pairs(pairs.clone());
        let product = match products::rpc(&version, &name, &params) {
            Some(product) => product,
            None if version.is_empty() => return Err(Error::missing("Version").into()),
            None => return Err(ApiError::UnknownVersion { version }),
        };
        product.serve(&state.cloud, &caller, &name, &params).await
    }
    .await;
    let response = match result {
        Ok(body) if roa => envelope::roa_success(request_id, body),
        Err(err) if roa => {
            if let ApiError::Domain(Error::Internal { context }) = &err {
                tracing::error!(%context, "internal error");
            }
            envelope::roa_error(request_id, &host_id, action.as_deref(), &err)
        }
        Ok(body) => envelope::success(request_id, action.as_deref().unwrap_or("Unknown"), body, format),
        Err(err) => {
            if let ApiError::Domain(Error::Internal { context }) = &err {
                tracing::error!(%context, "internal error");
            }
            envelope::error(request_id, &host_id, action.as_deref(), &err, format)
        }
    };
    Outcome { response, action }
}

/// Steps 2: who is calling, proven by the signature: the account's root key, a RAM user's key, or an
/// STS session's `STS.` key with its SecurityToken (whose secret is derived, never stored).
async fn authenticate(state: &AppState, raw: &RawRequest<'_>) -> Result<(Principal, SignedClaims), ApiError> {
    let claims = auth::parse_claims(raw)?;
    let store = state.cloud.store();
    let (principal, secret) = if claims.access_key_id.starts_with(ecslab_core::sts::STS_KEY_PREFIX) {
        state.cloud.sts().authenticate(&claims.access_key_id, claims.security_token.as_deref())?
    } else {
        let key = store
            .access_key(&claims.access_key_id)
            .await
            .map_err(Error::from)?
            .ok_or(ApiError::AccessKeyNotFound)?;
        if !key.enabled {
            return Err(ApiError::AccessKeyDisabled);
        }
        let identity = match (key.user_id, key.user_name) {
            (None, _) => Identity::Root,
            (Some(user_id), Some(user_name)) => Identity::User { user_id, user_name },
            (Some(_), None) => return Err(ApiError::AccessKeyNotFound),
        };
        let principal = Principal { account_id: key.account_id, access_key_id: key.access_key_id, identity };
        (principal, key.access_key_secret)
    };
    auth::verify(raw, &claims, &secret)?;
    if state.options.check_freshness {
        let now = Utc::now();
        if let Some(ts) = claims.timestamp {
            if (now - ts).num_seconds().abs() > CLOCK_WINDOW_SECS {
                return Err(ApiError::TimestampExpired);
            }
        }
        let fresh = store
            .claim_nonce(&claims.access_key_id, &claims.nonce, now.timestamp(), NONCE_MEMORY_SECS)
            .await
            .map_err(Error::from)?;
        if !fresh {
            return Err(ApiError::NonceUsed);
        }
    }
    Ok((principal, claims))
}
