//! The fast tier for issue 14's metrics: DescribeInstanceMonitorData's parameter errors with
//! their codes and HTTP statuses in both RPC signature schemes, and `/metrics` off (404 envelope) on a server without a token. (The token,
//! scrapes and points of a real guest are in tests/python/test_metrics.py.)

mod lab;

use axum::body::Body;
use http::Request;
use lab::{Lab, Scheme, ECS};

type Case = (&'static [(&'static str, &'static str)], u16, &'static str);

const ID: (&str, &str) = ("InstanceId", "i-nope");
const START: (&str, &str) = ("StartTime", "2099-01-01T00:00:00Z");
const END: (&str, &str) = ("EndTime", "2099-01-01T01:00:00Z");

const CASES: &[Case] = &[
    (&[START, END], 400, "MissingParameter"),
    (&[ID, END], 400, "MissingParameter"),
    (&[ID, START], 400, "MissingParameter"),
    (&[ID, ("StartTime", "2099-01-01"), END], 400, "InvalidStartTime.Malformed"),
    (&[ID, START, ("EndTime", "2099-01-01T01:00:00+08:00")], 400, "InvalidEndTime.Malformed"),
    (&[ID, START, END, ("Period", "300")], 400, "InvalidPeriod.ValueNotSupported"),
    (&[ID, START, END, ("Period", "sixty")], 400, "InvalidPeriod.ValueNotSupported"),
    (&[ID, ("StartTime", "2099-01-01T02:00:00Z"), END], 400, "InvalidParameter.EndTime"),
    (
        &[ID, ("StartTime", "2000-01-01T00:00:00Z"), ("EndTime", "2000-01-01T01:00:00Z")],
        400,
        "InvalidStartTime.TooEarly",
    ),
    (&[ID, START, ("EndTime", "2099-01-01T06:41:00Z")], 400, "InvalidParameter.TooManyDataQueried"),
    (&[ID, START, ("EndTime", "2099-01-02T00:00:00Z"), ("Period", "600")], 404, "InvalidInstanceId.NotFound"),
    (&[ID, START, END], 404, "InvalidInstanceId.NotFound"),
];

#[tokio::test]
async fn every_monitor_data_error_path() {
    let lab = Lab::new().await;
    let mut wrong = Vec::new();
    for (params, status, code) in CASES {
        for scheme in [Scheme::RpcV1, Scheme::Acs3] {
            let reply = lab.call(scheme, ECS, "DescribeInstanceMonitorData", params).await;
            if (reply.status.as_u16(), reply.code()) != (*status, *code)
                || !reply.json["RequestId"].is_string()
            {
                wrong.push(format!("{params:?} ({scheme:?}): {} {}", reply.status, reply.text));
            }
        }
    }
    assert!(wrong.is_empty(), "{} cases differ:\n{}", wrong.len(), wrong.join("\n"));
}

#[tokio::test]
async fn metrics_are_off_without_a_token() {
    let lab = Lab::new().await;
    let request = Request::builder()
        .method("GET")
        .uri("/metrics")
        .header("authorization", "Bearer anything")
        .body(Body::empty())
        .unwrap();
    let reply = lab.send(request).await;
    assert_eq!((reply.status.as_u16(), reply.code()), (404, "InvalidApi.NotFound"), "{}", reply.text);
    assert!(reply.json["RequestId"].is_string());
}
