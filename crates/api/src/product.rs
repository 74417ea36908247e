//! One pipeline for every product. A product (ECS, MTS, ECD, PAI-DSW, and the next one) says
//! what it serves and how to parse, execute and render one request through [`Product`], plus
//! [`RpcProduct`] (requests named by the signed Action) or [`RestProduct`] (requests routed by
//! method and path). Everything between authentication and the envelope that is the same for all
//! of them lives here, written once: the unknown-action check, the RegionId check, the
//! authorization step (`authorization.rs`: RAM policies on the action and its resources), and the
//! ClientToken idempotency step. The server picks a product from the table in
//! `products.rs` and never names one itself.

pub use crate::authorization::ResourceName;
use crate::authorization::{self, Call, Subject};
use crate::envelope::ApiError;
use crate::params::Params;
use ecslab_core::store::TokenClaim;
use ecslab_core::{Cloud, Error};
use serde::Serialize;
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::sync::Arc;

/// An action as RAM names it, `{service}:{name}` (`ecs:CreateSnapshot`). Resources the request names without a
/// service of their own are in `service`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RamAction<'a> {
    pub service: &'static str,
    pub name: &'a str,
}

/// What every product implements: its version, its typed request, how to run it, how to render
/// the result.
pub trait Product: Send + Sync + 'static {
    /// The API version it serves (RPC: the signed `Version`; REST: `x-acs-version` when sent).
    const VERSION: &'static str;
    /// One parsed request (pure data, no I/O was needed to build it).
    type Request: Send;
    /// What executing a request produced, before it is rendered.
    type Response: Serialize + Send;
    /// The product's service code in RAM: actions are `{RAM_CODE}:{Action}`, resources
    /// `acs:{RAM_CODE}:{region}:{account}:{kind}/{id}`.
    const RAM_CODE: &'static str;
    /// The code a request refused by RAM policy is answered with (HTTP 403).
    const DENIED_CODE: &'static str = "Forbidden.RAM";

    /// The resources a request acts on, for RAM's Resource element. None: the action has no
    /// resource-level permission and is checked against `acs:{RAM_CODE}:*:{account}:*`.
    fn resources(_request: &Self::Request) -> Vec<ResourceName> {
        Vec::new()
    }

    /// The action RAM checks, when it is not the request's own: a private action that only reads what a
    /// public one reads (the console's DescribeScreens, `ecs:GetInstanceScreenshot`) is allowed exactly
    /// when that one is.
    fn ram_action(_request: &Self::Request) -> Option<RamAction<'static>> {
        None
    }

    /// Whether any authenticated caller may make this request whatever its policies say (STS's
    /// GetCallerIdentity, as on Alibaba Cloud).
    fn open_to_all(_request: &Self::Request) -> bool {
        false
    }

    /// Whether a ClientToken on this request makes it idempotent (none, unless a product says so).
    fn honours_client_token(_request: &Self::Request) -> bool {
        false
    }

    /// Run a parsed request for an authenticated call. Nearly every product needs only the caller's account
    /// ([`Call::account`]); STS and the admin product need to know who calls, DescribeInstanceVncUrl the Host the
    /// call came to.
    fn execute(
        cloud: &Arc<Cloud>,
        call: &Call,
        request: Self::Request,
    ) -> impl Future<Output = Result<Self::Response, ApiError>> + Send;

    /// The reply body, without RequestId (the envelope adds it).
    fn render(response: Self::Response) -> Result<Value, ApiError> {
        Ok(serde_json::to_value(response).map_err(Error::internal)?)
    }
}

/// A product whose requests are named by the signed Action (RPC style, on `/`).
pub trait RpcProduct: Product {
    /// Parse one action's parameters. `None` when the product has no such action.
    fn parse(action: &str, params: &Params) -> Option<ecslab_core::Result<Self::Request>>;
}

/// A product routed by method and path (REST, ROA style).
pub trait RestProduct: Product {
    /// The paths it owns start with this.
    const PATH_PREFIX: &'static str;

    /// The action a method and raw path name, with the request parsed; `None` when no route
    /// matches. The action name is known from the route even when the parameters do not parse.
    fn route(
        method: &str,
        raw_path: &str,
        query: &Params,
        body: &[u8],
    ) -> Option<(&'static str, ecslab_core::Result<Self::Request>)>;
}

/// A boxed future of a rendered reply body.
pub(crate) type Reply<'a> = Pin<Box<dyn Future<Output = Result<Value, ApiError>> + Send + 'a>>;

/// An RPC product as the server's table holds it (object-safe, so products of different request
/// types sit in one table).
pub(crate) trait RpcEntry: Sync {
    fn version(&self) -> &'static str;
    /// Whether the product has this action (its parse answers, with a request or an error).
    fn knows(&self, action: &str, params: &Params) -> bool;
    fn serve<'a>(
        &self,
        cloud: &'a Arc<Cloud>,
        call: &'a Call,
        action: &'a str,
        params: &'a Params,
    ) -> Reply<'a>;
}

/// A REST product as the server's table holds it.
pub(crate) trait RestEntry: Sync {
    fn path_prefix(&self) -> &'static str;
    /// `None` when no route matches; else the action name and the rest of the pipeline.
    fn serve<'a>(
        &self,
        cloud: &'a Arc<Cloud>,
        caller: &'a Call,
        call: &'a RestCall<'a>,
    ) -> Option<(&'static str, Reply<'a>)>;
}

/// What a REST product's route step reads.
pub(crate) struct RestCall<'a> {
    pub method: &'a str,
    pub raw_path: &'a str,
    /// The signed version, when the request named one.
    pub version: Option<&'a str>,
    pub query: Params,
    pub body: &'a [u8],
}

/// A product type mounted in a table.
pub(crate) struct Mount<P>(PhantomData<fn() -> P>);

impl<P> Mount<P> {
    pub(crate) const fn new() -> Mount<P> {
        Mount(PhantomData)
    }
}

impl<P: RpcProduct> RpcEntry for Mount<P> {
    fn version(&self) -> &'static str {
        P::VERSION
    }

    fn knows(&self, action: &str, params: &Params) -> bool {
        P::parse(action, params).is_some()
    }

    fn serve<'a>(
        &self,
        cloud: &'a Arc<Cloud>,
        call: &'a Call,
        action: &'a str,
        params: &'a Params,
    ) -> Reply<'a> {
        Box::pin(async move {
            let request = P::parse(action, params)
                .ok_or_else(|| ApiError::UnknownAction { action: action.to_string() })??;
            cloud.check_region(params.get("RegionId").filter(|r| !r.is_empty()))?;
            let ram_action =
                P::ram_action(&request).unwrap_or(RamAction { service: P::RAM_CODE, name: action });
            authorize::<P>(cloud, call, ram_action, subject_resources::<P>(&request), params).await?;
            run::<P>(cloud, call, action, params, request).await
        })
    }
}

impl<P: RestProduct> RestEntry for Mount<P> {
    fn path_prefix(&self) -> &'static str {
        P::PATH_PREFIX
    }

    fn serve<'a>(
        &self,
        cloud: &'a Arc<Cloud>,
        caller: &'a Call,
        call: &'a RestCall<'a>,
    ) -> Option<(&'static str, Reply<'a>)> {
        let (action, parsed) = P::route(call.method, call.raw_path, &call.query, call.body)?;
        let reply: Reply<'a> = Box::pin(async move {
            let request = parsed?;
            match call.version {
                None => {}
                Some(v) if v == P::VERSION => {}
                Some(other) => return Err(ApiError::UnknownVersion { version: other.to_string() }),
            }
            let ram_action = RamAction { service: P::RAM_CODE, name: action };
            authorize::<P>(cloud, caller, ram_action, subject_resources::<P>(&request), &call.query).await?;
            run::<P>(cloud, caller, action, &call.query, request).await
        });
        Some((action, reply))
    }
}

/// The authorization step for one parsed request of product `P` on `resources`; none when the request
/// is open to all (the root key needs none either).
async fn authorize<P: Product>(
    cloud: &Arc<Cloud>,
    call: &Call,
    action: RamAction<'_>,
    resources: Option<Vec<ResourceName>>,
    params: &Params,
) -> Result<(), ApiError> {
    let Some(resources) = resources.filter(|_| !call.principal.is_root()) else {
        return Ok(());
    };
    let subject =
        Subject { ram_code: action.service, denied_code: P::DENIED_CODE, action: action.name, resources };
    authorization::authorize(cloud, call, subject, params).await
}

/// The resources to authorize a request on; `None` when it is open to all.
fn subject_resources<P: Product>(request: &P::Request) -> Option<Vec<ResourceName>> {
    (!P::open_to_all(request)).then(|| P::resources(request))
}

/// Execute and render a parsed request, at most once per ClientToken when it honours one.
async fn run<P: Product>(
    cloud: &Arc<Cloud>,
    call: &Call,
    action: &str,
    params: &Params,
    request: P::Request,
) -> Result<Value, ApiError> {
    let account = call.principal.account_id.as_str();
    let token = params.opt_str("ClientToken").filter(|_| P::honours_client_token(&request));
    let once = async { P::render(P::execute(cloud, call, request).await?) };
    match token {
        None => once.await,
        Some(token) => idempotent(cloud, account, action, &token, params, once).await,
    }
}

/// Run a request at most once per ClientToken: the same token and parameters get the first
/// response again; the same token with other parameters is refused.
async fn idempotent(
    cloud: &Cloud,
    account: &str,
    action: &str,
    token: &str,
    params: &Params,
    once: impl Future<Output = Result<Value, ApiError>>,
) -> Result<Value, ApiError> {
    if token.len() > 64 || !token.is_ascii() {
        return Err(
            Error::invalid("ClientToken", "The ClientToken must be at most 64 ASCII characters.").into()
        );
    }
    let digest = params_digest(params);
    let store = cloud.store();
    match store.claim_token(account, action, token, &digest).await.map_err(Error::from)? {
        TokenClaim::Replay(body) => Ok(serde_json::from_str(&body).map_err(Error::internal)?),
        TokenClaim::InProgress => Err(Error::IdempotentProcessing.into()),
        TokenClaim::Mismatch => Err(Error::IdempotentParameterMismatch.into()),
        TokenClaim::New => match once.await {
            Ok(body) => {
                store.finish_token(account, action, token, &body.to_string()).await.map_err(Error::from)?;
                Ok(body)
            }
            Err(e) => {
                store.release_token(account, action, token).await.map_err(Error::from)?;
                Err(e)
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
