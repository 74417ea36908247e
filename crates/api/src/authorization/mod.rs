//! The authorization step every request of every product goes through, after it is parsed and before it runs.
//!
//! Why here, once: RAM decides by the action's RAM name (`ecs:CreateSnapshot`), the resources' ARNs
//! (`acs:ecs:{region}:{account}:instance/{id}`) and the request's condition keys, and all of that is known to the
//! pipeline without any product's help except two facts each product states about itself ([`Product::RAM_CODE`],
//! [`Product::resources`]). The evaluation is `ecslab_iam::evaluate`, pure; the caller's policies come from core's
//! RAM service (cached there). The account's root key is allowed without loading anything.
//!
//! A denial is answered with the product's code ([`Product::DENIED_CODE`]) and RAM's AccessDeniedDetail; its
//! EncodedDiagnosticMessage is the decoded diagnostic as URL-safe base64 JSON (it names only the caller's own
//! action, resource and policy, which the caller may know).
//!
//! [`Product::RAM_CODE`]: crate::product::Product::RAM_CODE
//! [`Product::resources`]: crate::product::Product::resources
//! [`Product::DENIED_CODE`]: crate::product::Product::DENIED_CODE

mod resource_tags;

use crate::envelope::{ApiError, Denied};
use crate::params::Params;
use base64::Engine;
use chrono::Utc;
use ecslab_core::iam::{evaluate, Action, Arn, Decision, Policies, RequestContext, Resource};
use ecslab_core::{Cloud, Error, Principal};
use std::net::IpAddr;
use std::sync::Arc;

/// Who calls and from where: what authentication proved and what the connection tells.
#[derive(Debug, Clone)]
pub struct Call {
    pub principal: Principal,
    /// The client's address (the TCP peer), for `acs:SourceIp`.
    pub source_ip: Option<IpAddr>,
    /// Whether the request came over TLS (`acs:SecureTransport`); ecslab's front serves plain HTTP.
    pub secure_transport: bool,
    /// The request's Host header (`host` or `host:port`): the address the client reached this
    /// server at, for URLs a reply hands out (DescribeInstanceVncUrl).
    pub host: String,
}

impl Call {
    /// The account the call acts in.
    pub fn account(&self) -> &str {
        &self.principal.account_id
    }
}

/// A resource a request acts on, named as the relative part of its ARN: `instance/i-123` is
/// `ResourceName::new("instance", "i-123")`, in the product's service and the server's region, of the caller's
/// account. Global resources (RAM's users and roles) have no region: `ResourceName::global("ram", "role", "ops")`
/// is `acs:ram::{account}:role/ops`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResourceName {
    kind: &'static str,
    id: String,
    /// Another service than the product's (STS's AssumeRole names a RAM role).
    service: Option<&'static str>,
    global: bool,
}

impl ResourceName {
    pub fn new(kind: &'static str, id: impl Into<String>) -> ResourceName {
        ResourceName { kind, id: id.into(), service: None, global: false }
    }

    pub fn global(service: &'static str, kind: &'static str, id: impl Into<String>) -> ResourceName {
        ResourceName { kind, id: id.into(), service: Some(service), global: true }
    }

    /// A resource of another product in this region (`ResourceName::of("vpc", "vswitch", id)`: RunInstances'
    /// vSwitch is `acs:vpc:{region}:{account}:vswitch/{id}`).
    pub fn of(service: &'static str, kind: &'static str, id: impl Into<String>) -> ResourceName {
        ResourceName { kind, id: id.into(), service: Some(service), global: false }
    }

    /// Every resource of a kind, for what a request creates or lists (`instance/*`).
    pub fn any(kind: &'static str) -> ResourceName {
        ResourceName::new(kind, "*")
    }

    /// The service it belongs to when not the product's own.
    pub fn service(&self) -> Option<&'static str> {
        self.service
    }

    pub fn kind(&self) -> &'static str {
        self.kind
    }

    pub fn id(&self) -> &str {
        &self.id
    }

    /// The relative part of the ARN, `kind/id`.
    pub fn relative(&self) -> String {
        format!("{}/{}", self.kind, self.id)
    }

    /// The ARN of this resource in `account`.
    fn arn(&self, product_service: &str, region: &str, account: &str) -> Result<Arn, Error> {
        let relative = self.relative();
        let region = if self.global { "" } else { region };
        Arn::new(self.service.unwrap_or(product_service), region, account, &relative)
            .map_err(|e| Error::internal(format!("the resource {relative} has no ARN: {e}")))
    }
}

/// What one product says about a request for its authorization.
pub struct Subject<'a> {
    /// The product's RAM service code (`ecs`, `vpc`, `mts`, ...).
    pub ram_code: &'static str,
    /// The code a denial is answered with.
    pub denied_code: &'static str,
    /// The API action (`CreateSnapshot`).
    pub action: &'a str,
    pub resources: Vec<ResourceName>,
}

/// Allow the call, or refuse it with the product's denial.
pub async fn authorize(
    cloud: &Arc<Cloud>,
    call: &Call,
    subject: Subject<'_>,
    params: &Params,
) -> Result<(), ApiError> {
    if call.principal.is_root() {
        return Ok(());
    }
    let principal = &call.principal;
    let action = Action::parse(&format!("{}:{}", subject.ram_code, subject.action))
        .map_err(|e| Error::internal(format!("the action {} has no RAM name: {e}", subject.action)))?;
    let mut ctx = RequestContext::new(&principal.account_id, principal.caller(), action)
        .current_time(Utc::now())
        .secure_transport(call.secure_transport);
    if let Some(ip) = call.source_ip {
        ctx = ctx.source_ip(ip);
    }
    for (key, value) in request_tags(params) {
        ctx = ctx.request_tag(&key, &value);
    }
    let identity = cloud.ram().identity_policies(&principal.account_id, &principal.identity).await?;
    let identity: Vec<_> = identity.iter().map(|p| p.as_ref()).collect();
    let session = match &principal.identity {
        ecslab_core::Identity::Role { session_policy, .. } => session_policy.as_deref(),
        _ => None,
    };
    // Resource tags cost a store read per resource: looked up only when a policy of the caller reads them.
    let needs_tags = identity.iter().copied().chain(session).any(|p| p.document.reads_resource_tags());
    let region = cloud.region_id();
    for resource in &subject.resources {
        let arn = resource.arn(subject.ram_code, region, &principal.account_id)?;
        let mut in_context = Resource::new(arn);
        if needs_tags {
            let service = resource.service.unwrap_or(subject.ram_code);
            for tag in resource_tags::lookup(cloud, &principal.account_id, service, resource).await? {
                in_context = in_context.with_tag(&tag.key, &tag.value);
            }
        }
        ctx = ctx.resource(in_context);
    }
    match evaluate(&ctx, Policies { identity: &identity, session }) {
        Decision::Allowed(_) => Ok(()),
        Decision::Denied(denial) => {
            let mut detail = denial.access_denied_detail(&ctx);
            let diagnostic = serde_json::to_vec(&denial.diagnostic(&ctx)).map_err(Error::internal)?;
            detail.encoded_diagnostic_message =
                base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(diagnostic);
            tracing::info!(
                action = %detail.auth_action,
                resource = %denial.resource,
                principal = %detail.auth_principal_display_name,
                kind = ?detail.no_permission_type,
                "request denied by RAM policy"
            );
            Err(ApiError::Denied(Box::new(Denied { code: subject.denied_code, detail })))
        }
    }
}

/// The tags a request sets (`Tag.N.Key` / `Tag.N.Value`, as RunInstances, CreateDisk and the others take them),
/// for `acs:RequestTag/K` and `ecs:tag/K`.
fn request_tags(params: &Params) -> Vec<(String, String)> {
    let mut tags = Vec::new();
    for (key, value) in params.iter() {
        let Some(rest) = key.strip_prefix("Tag.") else { continue };
        let Some(n) = rest.strip_suffix(".Key") else { continue };
        let tag_value = params.get(&format!("Tag.{n}.Value")).unwrap_or("");
        tags.push((value.to_string(), tag_value.to_string()));
    }
    tags
}
