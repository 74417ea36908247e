//! The metadata service's HTTP/1.1 shell: accept on a VPC's listener, read each request's method, path and the
//! token headers, answer with `Metadata::handle`. Guests are untrusted: request heads must arrive within a few
//! seconds, bodies are never read, and a VPC's listener serves a bounded number of connections at once.

use std::convert::Infallible;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::sync::Semaphore;

use super::{Metadata, Method, Request, TOKEN_HEADER, TTL_HEADER};

/// Connections one VPC's listener serves at once; more wait in the accept queue.
const CONNECTIONS_PER_VPC: usize = 64;
/// How long a request head may take to arrive.
const HEAD_TIMEOUT: Duration = Duration::from_secs(10);

/// Serve `listener` (inside `vpc_id`'s namespace) until the task is aborted; aborting it also ends the
/// connections it serves (they live in its `JoinSet`), so no socket keeps the namespace alive.
pub fn serve(
    listener: std::net::TcpListener,
    vpc_id: String,
    metadata: Arc<Metadata>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let listener = match tokio::net::TcpListener::from_std(listener) {
            Ok(l) => l,
            Err(e) => {
                tracing::error!(vpc_id, error = %e, "the metadata listener cannot be used");
                return;
            }
        };
        let slots = Arc::new(Semaphore::new(CONNECTIONS_PER_VPC));
        let mut connections = tokio::task::JoinSet::new();
        loop {
            while connections.try_join_next().is_some() {}
            let Ok(permit) = slots.clone().acquire_owned().await else { return };
            let (stream, peer) = match listener.accept().await {
                Ok(accepted) => accepted,
                Err(e) => {
                    tracing::warn!(vpc_id, error = %e, "metadata accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            };
            let IpAddr::V4(source) = peer.ip() else { continue };
            let (vpc_id, metadata) = (vpc_id.clone(), metadata.clone());
            connections.spawn(async move {
                let service = service_fn(move |request| {
                    let (vpc_id, metadata) = (vpc_id.clone(), metadata.clone());
                    async move { Ok::<_, Infallible>(respond(&metadata, &vpc_id, source, request).await) }
                });
                // half_close: a client may shut its side after the request (nc, HTTP/1.0) and still read the reply.
                let served = http1::Builder::new()
                    .half_close(true)
                    .timer(TokioTimer::new())
                    .header_read_timeout(HEAD_TIMEOUT)
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
                if let Err(e) = served {
                    tracing::debug!(%source, error = %e, "metadata connection ended");
                }
                drop(permit);
            });
        }
    })
}

async fn respond(
    metadata: &Metadata,
    vpc_id: &str,
    source: Ipv4Addr,
    request: hyper::Request<Incoming>,
) -> hyper::Response<Full<Bytes>> {
    let header = |name: &str| request.headers().get(name).and_then(|v| v.to_str().ok()).map(str::to_string);
    let method = match *request.method() {
        hyper::Method::GET => Method::Get,
        hyper::Method::HEAD => Method::Head,
        hyper::Method::PUT => Method::Put,
        _ => Method::Other,
    };
    let asked = Request {
        method,
        path: request.uri().path().to_string(),
        token: header(TOKEN_HEADER),
        ttl: header(TTL_HEADER),
        forwarded: request.headers().contains_key("x-forwarded-for"),
    };
    let reply = metadata.handle(vpc_id, source, &asked).await;
    tracing::debug!(vpc_id, %source, path = asked.path, status = reply.status, "metadata request");
    let body = if method == Method::Head { Bytes::new() } else { Bytes::from(reply.body) };
    let mut response = hyper::Response::new(Full::new(body));
    *response.status_mut() =
        hyper::StatusCode::from_u16(reply.status).unwrap_or(hyper::StatusCode::INTERNAL_SERVER_ERROR);
    response
        .headers_mut()
        .insert(hyper::header::CONTENT_TYPE, hyper::header::HeaderValue::from_static("text/plain"));
    response
}
