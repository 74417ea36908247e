//! The fast tier of the web console: its files at `/console/` (served without a signature, with a strict
//! Content-Security-Policy) and the error paths of the private `ecslab-console` actions.

mod lab;

use axum::body::Body;
use axum::http::Request;
use lab::{assert_error, assert_ok, Lab, Scheme};

const CONSOLE: &str = "ecslab-console";

fn get(path: &str) -> Request<Body> {
    Request::builder().uri(path).body(Body::empty()).unwrap()
}

#[tokio::test]
async fn the_console_files_are_served_with_their_types_and_policy() {
    let lab = Lab::new().await;
    let page = lab.send(get("/console/")).await;
    assert_eq!(page.status, 200);
    assert!(page.headers["content-type"].to_str().unwrap().starts_with("text/html"));
    assert!(page.headers["content-security-policy"].to_str().unwrap().contains("default-src 'self'"));
    assert!(page.text.contains("app.js"));
    let script = lab.send(get("/console/api.js")).await;
    assert_eq!(script.status, 200);
    assert!(script.headers["content-type"].to_str().unwrap().contains("javascript"));
    assert!(script.text.contains("ACS3-HMAC-SHA256"));
    let bare = lab.send(get("/console")).await;
    assert_eq!(bare.status, 308);
    assert_eq!(bare.headers["location"], "/console/");
    assert_eq!(lab.send(get("/console/nothing-here.js")).await.status, 404);
    assert_eq!(lab.send(get("/console/../Cargo.toml")).await.status, 404);
}

/// (parameters, HTTP status, code).
type ErrorCase = (&'static [(&'static str, &'static str)], u16, &'static str);

#[tokio::test]
async fn describe_screens_error_paths() {
    let lab = Lab::new().await;
    let cases: &[ErrorCase] = &[
        (&[], 400, "MissingParameter"),
        (&[("Screen.1.Hash", "0011223344556677")], 400, "MissingParameter"),
        (&[("Screen.1.InstanceId", "i-a"), ("Screen.1.Hash", "short")], 400, "InvalidParameter"),
        (&[("Screen.1.InstanceId", "i-a"), ("Screen.1.Hash", "zz11223344556677")], 400, "InvalidParameter"),
        (&[("Screen.1.InstanceId", "i-a"), ("Screen.1.Zoom", "2")], 400, "InvalidParameter"),
        (&[("Screen.0.InstanceId", "i-a")], 400, "InvalidParameter"),
        (&[("Screen.101.InstanceId", "i-a")], 400, "InvalidParameter"),
        (&[("Screen.x.InstanceId", "i-a")], 400, "InvalidParameter"),
    ];
    for scheme in [Scheme::RpcV1, Scheme::Acs3] {
        for (params, status, code) in cases {
            assert_error(&lab.call(scheme, CONSOLE, "DescribeScreens", params).await, *status, code);
        }
        assert_error(&lab.call(scheme, CONSOLE, "DescribeNothing", &[]).await, 404, "InvalidAction.NotFound");
        // An instance that does not exist is listed, not a failure of the whole call.
        let reply = lab.call(scheme, CONSOLE, "DescribeScreens", &[("Screen.1.InstanceId", "i-nope")]).await;
        let body = assert_ok(&reply);
        assert_eq!(body["Unavailable"][0]["Code"], "InvalidInstanceId.NotFound");
        assert_eq!(body["Screens"].as_array().unwrap().len(), 0);
        assert_error(&lab.call(scheme, CONSOLE, "DescribeSnapshotTree", &[]).await, 400, "MissingParameter");
        let missing = lab.call(scheme, CONSOLE, "DescribeSnapshotTree", &[("DiskId", "d-nope")]).await;
        assert_error(&missing, 404, "InvalidDiskId.NotFound");
    }
}

#[tokio::test]
async fn describe_job_frames_error_paths() {
    let lab = Lab::new().await;
    const JOB: &str = "0123456789abcdef0123456789abcdef";
    let cases: &[ErrorCase] = &[
        (&[], 400, "MissingParameter"),
        (&[("JobId", JOB), ("MaxFrames", "0")], 400, "InvalidParameter"),
        (&[("JobId", JOB), ("MaxFrames", "51")], 400, "InvalidParameter"),
        (&[("JobId", JOB), ("MaxFrames", "many")], 400, "InvalidParameter"),
        (&[("JobId", JOB)], 404, "InvalidParameter.ResourceNotFound"),
    ];
    for scheme in [Scheme::RpcV1, Scheme::Acs3] {
        for (params, status, code) in cases {
            assert_error(&lab.call(scheme, CONSOLE, "DescribeJobFrames", params).await, *status, code);
        }
    }
}
