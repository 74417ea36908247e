//! The HTTP front: one axum handler that takes any request through the same steps.
//!
//! 1. Give it a RequestId (returned in the body and the `x-acs-request-id` header, and recorded
//!    in every log line of the request through a tracing span).
//! 2. Authenticate: detect the signature scheme, find the access key (its account scopes
//!    everything that follows), verify the signature byte-exactly, check the ±15 min window and
//!    refuse a reused nonce (every scheme must carry one; nonces are kept in the store for
//!    `NONCE_MEMORY_SECS`, two windows, so a restart forgets none that could still be replayed).
//! 3. Route by the signed Action and Version to a product, and parse the parameters into a typed
//!    request (no I/O), checking RegionId against this server's region.
//! 4. Execute it, through the ClientToken idempotency record when the action honours one.
//! 5. Render the result, or the error envelope, in JSON or XML.

use crate::auth::{self, RawRequest, SignedClaims};
use crate::ecd;
use crate::ecs::{self, EcsRequest};
use crate::envelope::{self, ApiError, ErrorCode, Format};
use crate::mts;
use crate::paidsw;
use crate::params::Params;
use axum::body::{to_bytes, Body};
use axum::extract::{Request, State};
use axum::response::Response;
use axum::Router;
use chrono::Utc;
use ecslab_core::store::TokenClaim;
use ecslab_core::{Cloud, Error};
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::sync::Arc;
use std::time::Instant;
use tracing::Instrument;

/// How far a request's timestamp may be from the server's clock.
const CLOCK_WINDOW_SECS: i64 = 15 * 60;
/// How long a nonce is remembered (in the store, so across restarts). A request stamped up to
/// one window ahead of the server's clock stays acceptable until one window after its stamp, so
/// its nonce must outlive both: two windows, plus a minute of slack (Alibaba keeps 31 minutes).
const NONCE_MEMORY_SECS: i64 = 2 * CLOCK_WINDOW_SECS + 60;
pub(crate) const MAX_BODY_BYTES: usize = 4 * 1024 * 1024;

/// Server-wide options.
#[derive(Debug, Clone)]
pub struct ServerOptions {
    /// Check the timestamp window and nonce reuse (off only to replay recorded requests).
    pub check_freshness: bool,
}

impl Default for ServerOptions {
    fn default() -> Self {
        ServerOptions { check_freshness: true }
    }
}

#[derive(Clone)]
pub struct AppState {
    pub cloud: Arc<Cloud>,
    pub options: ServerOptions,
}

/// The router. Tests drive it with `tower::ServiceExt::oneshot`.
pub fn app(state: AppState) -> Router {
    Router::new().fallback(handle).with_state(state)
}

/// What the access log needs from a request once it is parsed.
struct Outcome {
    response: Response,
    action: Option<String>,
}

async fn handle(State(state): State<AppState>, request: Request) -> Response {
    let request_id = uuid::Uuid::new_v4().to_string().to_uppercase();
    let span = tracing::info_span!("request", request_id = %request_id);
    async move {
        let started = Instant::now();
        let method = request.method().to_string();
        let path = request.uri().path().to_string();
        let outcome = serve(&state, &request_id, request).await;
        let status = outcome.response.status().as_u16();
        let code = outcome.response.extensions().get::<ErrorCode>().map(|c| c.0.clone());
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
    let host_id = parts.headers.get("host").and_then(|h| h.to_str().ok()).unwrap_or("ecslab").to_string();
    let body = match to_bytes(Body::new(body), MAX_BODY_BYTES).await {
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
        let claims = authenticate(state, &raw).await?;
        let (account_id, claims) = claims;
        if roa {
            let query = Params::from_pairs(pairs.clone());
            let (name, request) =
                paidsw::route(raw.method, raw.raw_path, &query, raw.body).ok_or_else(|| {
                    ApiError::UnknownRoute { method: raw.method.to_string(), path: raw.raw_path.to_string() }
                })?;
            action = Some(name.to_string());
            let request = request?;
            match claims.version.as_deref() {
                None | Some(paidsw::VERSION) => {}
                Some(other) => return Err(ApiError::UnknownVersion { version: other.to_string() }),
            }
            return paidsw::execute(&state.cloud, &account_id, request).await;
        }
        let name = claims.action.clone().filter(|a| !a.is_empty()).ok_or(ApiError::MissingAction)?;
        action = Some(name.clone());
        let version = claims.version.clone().unwrap_or_default();
        let params = Params::from_pairs(pairs.clone());
        dispatch(state, &account_id, &name, &version, params).await
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

/// Steps 2: who is calling, proven by the signature.
async fn authenticate(state: &AppState, raw: &RawRequest<'_>) -> Result<(String, SignedClaims), ApiError> {
    let claims = auth::parse_claims(raw)?;
    let store = state.cloud.store();
    let key = store
        .access_key(&claims.access_key_id)
        .await
        .map_err(Error::from)?
        .ok_or(ApiError::AccessKeyNotFound)?;
    if !key.enabled {
        return Err(ApiError::AccessKeyDisabled);
    }
    auth::verify(raw, &claims, &key.access_key_secret)?;
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
    Ok((key.account_id, claims))
}

/// Steps 3-4: route, parse, execute.
async fn dispatch(
    state: &AppState,
    account: &str,
    action: &str,
    version: &str,
    params: Params,
) -> Result<Value, ApiError> {
    match version {
        ecs::VERSION => {
            let request = parsed_rpc(&state.cloud, action, &params, ecs::parse(action, &params))?;
            let token = params.opt_str("ClientToken").filter(|_| request.honours_client_token());
            match token {
                None => Ok(ecs::execute(&state.cloud, account, request).await?),
                Some(token) => idempotent(state, account, action, &token, &params, request).await,
            }
        }
        mts::VERSION => mts::dispatch(&state.cloud, account, action, &params).await,
        ecd::VERSION => ecd::dispatch(&state.cloud, account, action, &params).await,
        "" => Err(Error::missing("Version").into()),
        other => Err(ApiError::UnknownVersion { version: other.to_string() }),
    }
}

/// Run a request at most once per ClientToken: the same token and parameters get the first
/// response again; the same token with other parameters is refused.
async fn idempotent(
    state: &AppState,
    account: &str,
    action: &str,
    token: &str,
    params: &Params,
    request: EcsRequest,
) -> Result<Value, ApiError> {
    if token.len() > 64 || !token.is_ascii() {
        return Err(
            Error::invalid("ClientToken", "The ClientToken must be at most 64 ASCII characters.").into()
        );
    }
    let digest = params_digest(params);
    let store = state.cloud.store();
    match store.claim_token(account, action, token, &digest).await.map_err(Error::from)? {
        TokenClaim::Replay(body) => Ok(serde_json::from_str(&body).map_err(Error::internal)?),
        TokenClaim::InProgress => Err(Error::IdempotentProcessing.into()),
        TokenClaim::Mismatch => Err(Error::IdempotentParameterMismatch.into()),
        TokenClaim::New => match ecs::execute(&state.cloud, account, request).await {
            Ok(body) => {
                store.finish_token(account, action, token, &body.to_string()).await.map_err(Error::from)?;
                Ok(body)
            }
            Err(e) => {
                store.release_token(account, action, token).await.map_err(Error::from)?;
                Err(e.into())
            }
        },
    }
}

fn params_digest(params: &Params) -> String {
    let mut hasher = Sha256::new();
    for (k, v) in params.iter().filter(|(k, _)| k.as_str() != "ClientToken") {
        hasher.update(k.as_bytes());
        hasher.update([0]);
        hasher.update(v.as_bytes());
        hasher.update([0]);
    }
    hex::encode(hasher.finalize())
}

/// Step 3 of an RPC product: the action must be one it knows, its parameters
/// parse, and RegionId (when given) is this server's region.
pub(crate) fn parsed_rpc<R>(
    cloud: &Cloud,
    action: &str,
    params: &Params,
    parsed: Option<ecslab_core::Result<R>>,
) -> Result<R, ApiError> {
    let request = parsed.ok_or_else(|| ApiError::UnknownAction { action: action.to_string() })??;
    cloud.check_region(params.get("RegionId").filter(|r| !r.is_empty()))?;
    Ok(request)
}
