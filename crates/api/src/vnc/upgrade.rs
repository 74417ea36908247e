//! `GET /vnc/TOKEN` with `Upgrade: websocket`: the WebSocket handshake (RFC 6455 §4.2) of a
//! VncUrl. Checked in this order, each refusal an error envelope with its HTTP status and the
//! connection then closed by the front:
//! 1. a WebSocket opening handshake at all (GET, HTTP/1.1, `Upgrade: websocket`,
//!    `Connection: upgrade`, version 13, a 16-byte key), else 426 `UpgradeRequired` and the
//!    token is not spent (a browser's plain GET of the URL does not burn it);
//! 2. the token (`InvalidVncUrl.NotFound` 404, `.Used` 403, `.Expired` 403), spent from here on;
//! 3. the instance still Running (`IncorrectInstanceStatus` 403) and its VNC server reachable.
//!
//! Then a 101 with `Sec-WebSocket-Accept` and, when the client offers it, the subprotocol
//! `binary` (what noVNC asks for), and the [`Handoff`] that runs [`super::proxy`].
//! The token is never logged in full: [`token_hint`] is its first six characters.

use super::proxy;
use crate::envelope::{self, ApiError, Format};
use crate::front::Handoff;
use axum::body::Body;
use axum::response::Response;
use ecslab_core::vnc::token_hint;
use ecslab_core::{Cloud, Error};
use http::{header, request::Parts, HeaderMap, HeaderValue, Method, StatusCode, Version};
use std::sync::Arc;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tracing::Instrument;

/// Where VncUrls point: `/vnc/TOKEN`.
pub(crate) const PATH_PREFIX: &str = "/vnc/";
/// The WebSocket subprotocol noVNC asks for: RFB bytes in binary messages.
const SUBPROTOCOL: &str = "binary";

/// Answer an upgrade request for `token` (the path after [`PATH_PREFIX`]).
pub(crate) async fn upgrade(cloud: &Arc<Cloud>, request_id: &str, parts: &Parts, token: &str) -> Response {
    let host = parts.headers.get(header::HOST).and_then(|h| h.to_str().ok()).unwrap_or("ecslab");
    let refuse = |err: Error| {
        tracing::info!(token = token_hint(token), code = err.code(), "VNC connection refused");
        envelope::error(request_id, host, None, &ApiError::Domain(err), Format::Json)
    };
    let key = match handshake_key(parts) {
        Ok(key) => key,
        Err(why) => {
            return refuse(Error::rejected(
                "UpgradeRequired",
                format!("A VncUrl takes a WebSocket connection: {why}"),
            ))
        }
    };
    let (ticket, vm) = match cloud.instances().vnc_connect(token).await {
        Ok(pair) => pair,
        Err(err) => return refuse(err),
    };
    let span = tracing::info_span!("vnc", request_id = %request_id, instance_id = %ticket.instance_id);
    span.in_scope(|| tracing::info!(token = token_hint(token), "VNC connection accepted"));
    let handoff = Handoff::new(move |upgraded| proxy::run(upgraded, vm).instrument(span));
    let mut response = Response::new(Body::empty());
    *response.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    let headers = response.headers_mut();
    headers.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
    headers.insert(header::CONNECTION, HeaderValue::from_static("Upgrade"));
    if let Ok(accept) = HeaderValue::from_str(&derive_accept_key(key.as_bytes())) {
        headers.insert(header::SEC_WEBSOCKET_ACCEPT, accept);
    }
    if offers_binary(&parts.headers) {
        headers.insert(header::SEC_WEBSOCKET_PROTOCOL, HeaderValue::from_static(SUBPROTOCOL));
    }
    response.extensions_mut().insert(handoff);
    response
}

/// The `Sec-WebSocket-Key` of a well-formed opening handshake, or what is wrong with it.
fn handshake_key(parts: &Parts) -> Result<String, &'static str> {
    if parts.method != Method::GET {
        return Err("the method must be GET");
    }
    if parts.version != Version::HTTP_11 {
        return Err("the request must be HTTP/1.1");
    }
    if !tokens(&parts.headers, header::UPGRADE).iter().any(|t| t == "websocket") {
        return Err("the request has no Upgrade: websocket header");
    }
    if !tokens(&parts.headers, header::CONNECTION).iter().any(|t| t == "upgrade") {
        return Err("the request has no Connection: Upgrade header");
    }
    if parts.headers.get(header::SEC_WEBSOCKET_VERSION).map(HeaderValue::as_bytes) != Some(b"13") {
        return Err("Sec-WebSocket-Version must be 13");
    }
    let key = parts
        .headers
        .get(header::SEC_WEBSOCKET_KEY)
        .and_then(|k| k.to_str().ok())
        .map(str::trim)
        .ok_or("the request has no Sec-WebSocket-Key")?;
    use base64::Engine;
    match base64::engine::general_purpose::STANDARD.decode(key) {
        Ok(nonce) if nonce.len() == 16 => Ok(key.to_string()),
        _ => Err("Sec-WebSocket-Key must be 16 bytes in base64"),
    }
}

/// Whether the client offers the `binary` subprotocol.
fn offers_binary(headers: &HeaderMap) -> bool {
    tokens(headers, header::SEC_WEBSOCKET_PROTOCOL).iter().any(|t| t == SUBPROTOCOL)
}

/// The comma-separated tokens of every `name` header, trimmed and lowercased.
fn tokens(headers: &HeaderMap, name: header::HeaderName) -> Vec<String> {
    headers
        .get_all(name)
        .iter()
        .flat_map(|v| {
            String::from_utf8_lossy(v.as_bytes())
                .split(',')
                .map(|t| t.trim().to_ascii_lowercase())
                .collect::<Vec<_>>()
        })
        .filter(|t| !t.is_empty())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(method: &str, headers: &[(&str, &str)]) -> Parts {
        let mut builder = http::Request::builder().method(method).uri("/vnc/x").version(Version::HTTP_11);
        for (k, v) in headers {
            builder = builder.header(*k, *v);
        }
        builder.body(()).unwrap().into_parts().0
    }

    const GOOD: &[(&str, &str)] = &[
        ("Upgrade", "websocket"),
        ("Connection", "keep-alive, Upgrade"),
        ("Sec-WebSocket-Version", "13"),
        ("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="),
        ("Sec-WebSocket-Protocol", "base64, binary"),
    ];

    #[test]
    fn a_browser_handshake_is_accepted_with_the_binary_subprotocol() {
        let p = parts("GET", GOOD);
        assert_eq!(handshake_key(&p).unwrap(), "dGhlIHNhbXBsZSBub25jZQ==");
        assert!(offers_binary(&p.headers));
        // RFC 6455's own example.
        assert_eq!(derive_accept_key(b"dGhlIHNhbXBsZSBub25jZQ=="), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
    }

    #[test]
    fn anything_else_is_not_an_upgrade() {
        assert!(handshake_key(&parts("GET", &[])).is_err());
        assert!(handshake_key(&parts("POST", GOOD)).is_err());
        for (skip, header) in GOOD.iter().enumerate().take(4) {
            let fewer: Vec<(&str, &str)> =
                GOOD.iter().enumerate().filter(|(i, _)| *i != skip).map(|(_, h)| *h).collect();
            assert!(handshake_key(&parts("GET", &fewer)).is_err(), "without {header:?}");
        }
        let mut short_key = GOOD.to_vec();
        short_key[3] = ("Sec-WebSocket-Key", "c2hvcnQ=");
        assert!(handshake_key(&parts("GET", &short_key)).is_err());
        let mut old = GOOD.to_vec();
        old[2] = ("Sec-WebSocket-Version", "8");
        assert!(handshake_key(&parts("GET", &old)).is_err());
        assert!(!offers_binary(&parts("GET", &GOOD[..4]).headers));
    }
}
