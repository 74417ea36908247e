//! Hostile HTTP against the real server binary (`--driver fake`, nothing boots): malformed
//! requests get the ECS JSON envelope with the right status, keep-alive and pipelining stay
//! framed, and slow or surplus connections cannot hold the server (issue 15, classes 4 and 6).
//! Raw sockets, because no HTTP client library sends these bytes.

mod common;

use common::Server;
use ecslab::client::Signing;
use serde_json::Value;
use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

/// One HTTP reply read off a socket.
#[derive(Debug)]
struct Reply {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Reply {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    /// The body as the ECS error envelope; asserts its shape and returns the Code.
    fn envelope_code(&self) -> String {
        assert_eq!(self.header("content-type"), Some("application/json;charset=utf-8"), "{self:?}");
        let body: Value = serde_json::from_slice(&self.body).unwrap_or_else(|e| panic!("{e}: {self:?}"));
        let request_id = body["RequestId"].as_str().unwrap();
        assert_eq!(request_id.len(), 36, "{body}");
        assert_eq!(self.header("x-acs-request-id"), Some(request_id));
        for field in ["HostId", "Message", "Code"] {
            assert!(body[field].as_str().is_some_and(|v| !v.is_empty()), "{field} in {body}");
        }
        body["Code"].as_str().unwrap().to_string()
    }
}

fn connect(server: &Server) -> TcpStream {
    let stream = TcpStream::connect(("127.0.0.1", server.port)).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    stream
}

/// Read one reply (Content-Length framed, as every ecslab reply is) from `stream`, keeping
/// what follows in `rest`.
fn read_reply(stream: &mut TcpStream, rest: &mut Vec<u8>) -> Option<Reply> {
    let mut chunk = [0u8; 65536];
    loop {
        if let Some(end) = rest.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&rest[..end]).to_string();
            let mut lines = head.split("\r\n");
            let status: u16 = lines.next().unwrap().split(' ').nth(1).unwrap().parse().unwrap();
            let headers: Vec<(String, String)> = lines
                .map(|l| l.split_once(':').unwrap())
                .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
                .collect();
            let length: usize = headers
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
                .map(|(_, v)| v.parse().unwrap())
                .expect("every reply has a Content-Length");
            while rest.len() < end + 4 + length {
                let n = stream.read(&mut chunk).unwrap();
                assert!(n > 0, "connection closed inside a reply body");
                rest.extend_from_slice(&chunk[..n]);
            }
            let body = rest[end + 4..end + 4 + length].to_vec();
            rest.drain(..end + 4 + length);
            return Some(Reply { status, headers, body });
        }
        match stream.read(&mut chunk) {
            Ok(0) => return None,
            Ok(n) => rest.extend_from_slice(&chunk[..n]),
            Err(e) if e.kind() == ErrorKind::ConnectionReset => return None,
            Err(e) => panic!("reading a reply: {e}"),
        }
    }
}

/// Send `bytes` on a new connection and read the one reply; the server must then close.
fn exchange_once(server: &Server, bytes: &[u8]) -> Reply {
    let mut stream = connect(server);
    // A peer that refuses early may reset the rest of a huge write: that is fine.
    let _ = stream.write_all(bytes);
    let mut rest = Vec::new();
    let reply = read_reply(&mut stream, &mut rest).expect("a reply");
    assert_eq!(reply.header("connection"), Some("close"), "{reply:?}");
    assert!(read_reply(&mut stream, &mut rest).is_none(), "the connection is closed after a refusal");
    reply
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_http_gets_the_ecs_envelope() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &["--driver", "fake", "--body-timeout-secs", "2"]).await;
    let long_target = format!("GET /?{} HTTP/1.1\r\nHost: x\r\n\r\n", "a".repeat(70 * 1024));
    let huge_headers = format!("GET / HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\n\r\n", "b".repeat(400 * 1024));
    let many_headers =
        format!("GET / HTTP/1.1\r\n{}\r\n", (0..150).map(|i| format!("X-H{i}: v\r\n")).collect::<String>());
    let cases: Vec<(Vec<u8>, u16, &str)> = vec![
        (b"GET / HTTP/1.7\r\nHost: x\r\n\r\n".to_vec(), 505, "InvalidRequest.HttpVersionNotSupported"),
        (b"GET / HTTP/2.0\r\n\r\n".to_vec(), 505, "InvalidRequest.HttpVersionNotSupported"),
        (b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".to_vec(), 505, "InvalidRequest.HttpVersionNotSupported"),
        (b"GET / HTTQ/1.1\r\n\r\n".to_vec(), 400, "InvalidRequest.Malformed"),
        (long_target.into_bytes(), 414, "InvalidRequest.UriTooLong"),
        (huge_headers.into_bytes(), 431, "InvalidRequest.HeaderTooLarge"),
        (many_headers.into_bytes(), 431, "InvalidRequest.HeaderTooLarge"),
        (b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03".to_vec(), 400, "InvalidRequest.Malformed"),
        (b"hello world\r\n\r\n".to_vec(), 400, "InvalidRequest.Malformed"),
        (b"GET / HTTP/1.1\r\nBad Header\r\n\r\n".to_vec(), 400, "InvalidRequest.Malformed"),
        (b"GET /\x7f HTTP/1.1\r\n\r\n".to_vec(), 400, "InvalidRequest.Malformed"),
        (b"POST / HTTP/1.1\r\nContent-Length: ten\r\n\r\n".to_vec(), 400, "InvalidRequest.Malformed"),
        (
            b"POST / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab".to_vec(),
            400,
            "InvalidRequest.Malformed",
        ),
        (
            b"POST / HTTP/1.1\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n".to_vec(),
            400,
            "InvalidRequest.Malformed",
        ),
        (
            b"POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n".to_vec(),
            501,
            "InvalidRequest.TransferCodingNotSupported",
        ),
        (
            b"POST / HTTP/1.1\r\nContent-Length: 99999999999\r\n\r\n".to_vec(),
            413,
            "InvalidRequest.BodyTooLarge",
        ),
        (
            b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nxyz\r\n".to_vec(),
            400,
            "InvalidRequest.Malformed",
        ),
        // A body that never arrives: the body timeout (2 s here).
        (b"POST / HTTP/1.1\r\nContent-Length: 100\r\n\r\nonly this".to_vec(), 408, "RequestTimeout"),
        // Too many empty lines before the request line.
        ([b"\r\n".repeat(100), b"GET / HTTP/1.1\r\n\r\n".to_vec()].concat(), 400, "InvalidRequest.Malformed"),
    ];
    for (bytes, status, code) in cases {
        let what = String::from_utf8_lossy(&bytes[..bytes.len().min(60)]).to_string();
        let reply = exchange_once(&server, &bytes);
        assert_eq!((reply.status, reply.envelope_code().as_str()), (status, code), "{what:?}");
    }
    // A half-sent head closed by the client: 400 if it still reads, and the server lives on.
    let mut stream = connect(&server);
    stream.write_all(b"GET /?Action=Desc").unwrap();
    stream.shutdown(std::net::Shutdown::Write).unwrap();
    let reply = read_reply(&mut stream, &mut Vec::new()).expect("a reply");
    assert_eq!((reply.status, reply.envelope_code().as_str()), (400, "InvalidRequest.Malformed"));
    let client = server.client(Signing::Acs3HmacSha256);
    client.ecs("DescribeRegions", &[]).await.unwrap();
    assert!(!server.log().contains("panicked"), "{}", server.log());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keep_alive_and_pipelining_stay_framed() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &["--driver", "fake"]).await;
    let mut stream = connect(&server);
    // Four requests in one write: no signature (400), a chunked body, a Content-Length body
    // with a pipelined head right behind it, then garbage, which closes the connection.
    let pipeline = b"GET /?Action=DescribeRegions HTTP/1.1\r\nHost: a\r\n\r\n\
        POST / HTTP/1.1\r\nHost: b\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nA=1&\r\n3\r\nB=2\r\n0\r\nT: x\r\n\r\n\
        POST / HTTP/1.1\r\nHost: c\r\nContent-Length: 11\r\nContent-Type: application/x-www-form-urlencoded\r\n\r\nGET / HTTP/\
        NOT HTTP\r\n\r\n";
    stream.write_all(pipeline).unwrap();
    let mut rest = Vec::new();
    for host in ["a", "b", "c"] {
        let reply = read_reply(&mut stream, &mut rest).expect("a reply per request");
        assert_eq!((reply.status, reply.envelope_code().as_str()), (400, "IncompleteSignature"));
        assert_eq!(reply.header("connection"), Some("keep-alive"));
        let body: Value = serde_json::from_slice(&reply.body).unwrap();
        assert_eq!(body["HostId"], host, "replies come in request order");
    }
    let reply = read_reply(&mut stream, &mut rest).expect("the garbage is answered");
    assert_eq!((reply.status, reply.envelope_code().as_str()), (400, "InvalidRequest.Malformed"));
    assert!(read_reply(&mut stream, &mut rest).is_none());

    // HTTP/1.0 closes unless asked; HEAD gets no body.
    let reply = exchange_once(&server, b"GET / HTTP/1.0\r\n\r\n");
    assert_eq!(reply.envelope_code(), "IncompleteSignature");
    let mut stream = connect(&server);
    stream.write_all(b"HEAD / HTTP/1.1\r\n\r\nGET / HTTP/1.1\r\nConnection: close\r\n\r\n").unwrap();
    let mut raw = Vec::new();
    let _ = stream.read_to_end(&mut raw);
    let text = String::from_utf8_lossy(&raw);
    assert_eq!(text.matches("HTTP/1.1 400 Bad Request\r\n").count(), 2, "{text}");
    assert!(
        text.split("\r\n\r\n").nth(1).unwrap().starts_with("HTTP/1.1 400"),
        "HEAD reply has no body: {text}"
    );

    // Signed SDK-style calls over one keep-alive connection (reqwest pools it).
    for signing in [Signing::RpcHmacSha1, Signing::Acs3HmacSha256] {
        let client = server.client(signing);
        for _ in 0..20 {
            client.ecs("DescribeRegions", &[]).await.unwrap();
        }
    }
}

/// The kinds of slow client a slow-loris run mixes.
#[derive(Debug, Clone, Copy)]
enum Slow {
    Silent,
    BlankLines,
    HalfRequestLine,
    HeadersByteByByte,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_loris_cannot_starve_the_server() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &["--driver", "fake", "--header-read-timeout-secs", "3"]).await;
    let port = server.port;
    let started = Instant::now();
    let kinds = [Slow::Silent, Slow::BlankLines, Slow::HalfRequestLine, Slow::HeadersByteByByte];
    let mut loris = Vec::new();
    for i in 0..200 {
        let kind = kinds[i % kinds.len()];
        loris.push(std::thread::spawn(move || {
            let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
            stream.set_read_timeout(Some(Duration::from_millis(200))).unwrap();
            let opened = Instant::now();
            let drip: &[u8] = match kind {
                Slow::Silent => b"",
                Slow::BlankLines => b"\r\n",
                Slow::HalfRequestLine => b"GET /?Action=DescribeRegions&Version=2014-05-26",
                Slow::HeadersByteByByte => {
                    b"GET / HTTP/1.1\r\nHost: loris\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaa"
                }
            };
            let mut sent = 0;
            let mut got = Vec::new();
            loop {
                if sent < drip.len() && stream.write_all(&drip[sent..sent + 1]).is_ok() {
                    sent += 1;
                } else if matches!(kind, Slow::BlankLines) && stream.write_all(b"\r\n").is_err() {
                    break;
                }
                let mut buf = [0u8; 4096];
                match stream.read(&mut buf) {
                    Ok(0) => break,
                    Ok(n) => got.extend_from_slice(&buf[..n]),
                    Err(e) if e.kind() == ErrorKind::WouldBlock || e.kind() == ErrorKind::TimedOut => {}
                    Err(_) => break,
                }
                assert!(opened.elapsed() < Duration::from_secs(30), "{kind:?} still open after 30 s");
            }
            (kind, opened.elapsed(), String::from_utf8_lossy(&got).to_string())
        }));
    }
    // Real signed calls meanwhile, both schemes: they succeed with normal latency.
    let mut latencies = Vec::new();
    tokio::time::sleep(Duration::from_millis(500)).await;
    for signing in [Signing::RpcHmacSha1, Signing::Acs3HmacSha256].into_iter().cycle().take(30) {
        let t = Instant::now();
        server.client(signing).ecs("DescribeInstances", &[("PageSize", "10".into())]).await.unwrap();
        latencies.push(t.elapsed());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    latencies.sort();
    let p95 = latencies[latencies.len() * 95 / 100];
    assert!(p95 < Duration::from_millis(500), "p95 {p95:?} under 200 slow connections");
    for handle in loris {
        let (kind, open_for, got) = handle.join().unwrap();
        // Closed within the header-read timeout (3 s) plus the linger and scheduling slack.
        assert!(open_for < Duration::from_secs(7), "{kind:?} open for {open_for:?}");
        assert!(open_for >= Duration::from_millis(2500), "{kind:?} closed too early: {open_for:?}");
        match kind {
            Slow::Silent => assert_eq!(got, "", "a silent connection is closed without a reply"),
            _ => assert!(got.starts_with("HTTP/1.1 408 Request Timeout\r\n"), "{kind:?}: {got}"),
        }
    }
    eprintln!("200 slow connections for {:?}; signed calls p95 {p95:?}", started.elapsed());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_beyond_the_cap_get_503_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &["--driver", "fake", "--max-connections", "8"]).await;
    // Eight keep-alive connections, each proven served (so each holds its slot).
    let mut held = Vec::new();
    for _ in 0..8 {
        let mut stream = connect(&server);
        stream.write_all(b"GET / HTTP/1.1\r\nHost: held\r\n\r\n").unwrap();
        let reply = read_reply(&mut stream, &mut Vec::new()).expect("served");
        assert_eq!(reply.header("connection"), Some("keep-alive"));
        held.push(stream);
    }
    let t = Instant::now();
    let reply = exchange_once(&server, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!((reply.status, reply.envelope_code().as_str()), (503, "ServiceUnavailable"));
    assert!(t.elapsed() < Duration::from_secs(3), "refused at once, not queued: {:?}", t.elapsed());
    drop(held);
    tokio::time::sleep(Duration::from_millis(300)).await;
    server.client(Signing::Acs3HmacSha256).ecs("DescribeRegions", &[]).await.unwrap();
    // The help text documents the limits.
    let help =
        std::process::Command::new(env!("CARGO_BIN_EXE_ecslab")).args(["serve", "--help"]).output().unwrap();
    let help = String::from_utf8_lossy(&help.stdout);
    for flag in
        ["--header-read-timeout-secs", "--idle-timeout-secs", "--body-timeout-secs", "--max-connections"]
    {
        assert!(help.contains(flag), "{flag} in {help}");
    }
}
