//! The web console's files at `/console/`: the page's own HTML, JS and CSS (`console/src/`, in the
//! repository) and noVNC's ES modules (`console/dist/novnc/`, copied from the pinned npm package by
//! `scripts/build-console`), both embedded in the binary by rust-embed, so a built `ecslab` serves the
//! console wherever it runs and nothing is fetched at run time. (Debug builds read the same folders
//! from disk, so editing the page needs no rebuild.) Served without authentication: they are public
//! code, and every API call the page then makes is signed. A strict Content-Security-Policy keeps the
//! page to its own origin.

use axum::body::Body;
use axum::extract::Path;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use rust_embed::RustEmbed;
use std::borrow::Cow;

/// The console's own files.
#[derive(RustEmbed)]
#[folder = "../../console/src/"]
struct Own;

/// noVNC's modules; missing until `scripts/build-console` ran (the console then has no interactive
/// screen and says so).
#[derive(RustEmbed)]
#[folder = "../../console/dist/"]
#[allow_missing = true]
struct Bundled;

const CSP: &str = "default-src 'self'; img-src 'self' data: blob:; connect-src 'self'; \
                   style-src 'self'; script-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'";

/// `/console` → `/console/`, so the page's relative links resolve.
pub async fn redirect() -> Redirect {
    Redirect::permanent("/console/")
}

/// `/console/`: the page.
pub async fn index() -> Response {
    serve("index.html")
}

/// `/console/{path}`: one file, the console's own first, then noVNC's.
pub async fn file(Path(path): Path<String>) -> Response {
    serve(&path)
}

fn serve(path: &str) -> Response {
    let found = Own::get(path).or_else(|| Bundled::get(path));
    let Some(file) = found else {
        return (StatusCode::NOT_FOUND, "not found").into_response();
    };
    let mime = file.metadata.mimetype().to_string();
    let body = match file.data {
        Cow::Borrowed(bytes) => Body::from(bytes),
        Cow::Owned(bytes) => Body::from(bytes),
    };
    let mut response = Response::new(body);
    let headers = response.headers_mut();
    if let Ok(value) = HeaderValue::from_str(&mime) {
        headers.insert(header::CONTENT_TYPE, value);
    }
    headers.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
}
