//! The fast tier: the whole API in process (see `lab/`), in seconds. The envelope in JSON and
//! XML, the three signature schemes (the SDK captures in tests/fixtures replayed through the app,
//! and requests signed here), parameter parsing, and the error paths of every action of every
//! product: MissingParameter, InvalidParameter, NotFound, unknown action, version and route.

mod lab;

use lab::{assert_error, assert_ok, Lab, Scheme, ECD, ECS, MTS, OMIT, PAI};
use serde_json::json;

// ---- the envelope -------------------------------------------------------------------------------

#[tokio::test]
async fn json_success_envelope_carries_the_request_id() {
    let lab = Lab::new().await;
    let reply = lab.rpc(ECS, "DescribeRegions", &[]).await;
    let body = assert_ok(&reply);
    let id = body["RequestId"].as_str().unwrap();
    assert_eq!(reply.headers["x-acs-request-id"], id);
    assert_eq!(reply.headers["content-type"], "application/json;charset=utf-8");
    assert_eq!(body["Regions"]["Region"][0]["RegionId"], "local");
}

#[tokio::test]
async fn json_error_envelope_has_every_field() {
    let lab = Lab::new().await;
    let reply = lab.rpc(ECS, "StartInstance", &[("InstanceId", "i-nope")]).await;
    assert_error(&reply, 404, "InvalidInstanceId.NotFound");
    assert_eq!(reply.json["HostId"], "fast-tier");
    assert_eq!(reply.json["Recommend"], "https://api.aliyun.com/troubleshoot?q=InvalidInstanceId.NotFound");
    assert_eq!(reply.headers["x-acs-request-id"], reply.json["RequestId"].as_str().unwrap());
}

#[tokio::test]
async fn xml_success_and_error_envelopes() {
    let lab = Lab::new().await;
    let reply = lab.rpc(ECS, "DescribeZones", &[("Format", "XML")]).await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    assert_eq!(reply.headers["content-type"], "text/xml;charset=utf-8");
    let doc = roxmltree::Document::parse(&reply.text).unwrap();
    let root = doc.root_element();
    assert_eq!(root.tag_name().name(), "DescribeZonesResponse");
    let child = |name: &str| root.children().find(|n| n.has_tag_name(name)).unwrap();
    assert_eq!(child("RequestId").text(), reply.headers["x-acs-request-id"].to_str().ok());
    let zone_id = root.descendants().find(|n| n.has_tag_name("ZoneId")).unwrap();
    assert_eq!(zone_id.text(), Some("local-a"));

    let reply = lab.rpc(ECS, "DeleteImage", &[("Format", "xml"), ("ImageId", "m-nope")]).await;
    assert_eq!(reply.status, 404, "{}", reply.text);
    let doc = roxmltree::Document::parse(&reply.text).unwrap();
    let root = doc.root_element();
    assert_eq!(root.tag_name().name(), "Error");
    let code = root.children().find(|n| n.has_tag_name("Code")).unwrap();
    assert_eq!(code.text(), Some("InvalidImageId.NotFound"));
    for field in ["RequestId", "HostId", "Message", "Recommend"] {
        assert!(root.children().any(|n| n.has_tag_name(field)), "{field} missing: {}", reply.text);
    }
}

#[tokio::test]
async fn rest_envelope_is_pais() {
    let lab = Lab::new().await;
    let reply = lab
        .rest(Scheme::Acs3, "GET", "/api/v2/instances/i-nope/snapshots", "ListInstanceSnapshot", None)
        .await;
    assert_error(&reply, 404, "InstanceNotFound");
    assert_eq!(reply.json["Success"], false);
    assert_eq!(reply.json["HttpStatusCode"], 404);
}

// ---- signatures ---------------------------------------------------------------------------------

#[tokio::test]
async fn every_scheme_signed_here_is_accepted() {
    let lab = Lab::new().await;
    for scheme in [Scheme::RpcV1, Scheme::Acs3] {
        let reply = lab.call(scheme, ECS, "DescribeInstances", &[]).await;
        assert_eq!(assert_ok(&reply)["TotalCount"], 0, "{scheme:?}");
    }
    for scheme in [Scheme::Acs3, Scheme::RoaV1] {
        let reply =
            lab.rest(scheme, "GET", "/api/v2/instances/i-nope/snapshots", "ListInstanceSnapshot", None).await;
        // Past authentication: the instance is what is missing.
        assert_error(&reply, 404, "InstanceNotFound");
    }
}

#[tokio::test]
async fn captures_from_the_sdks_pass_authentication() {
    let lab = Lab::for_captures().await;
    let auth_codes = [
        "SignatureDoesNotMatch",
        "IncompleteSignature",
        "InvalidSignatureMethod",
        "MissingSignatureNonce",
        "InvalidAccessKeyId.NotFound",
        "InvalidTimeStamp.Format",
    ];
    let mut replayed = 0;
    for capture in lab::captures() {
        let bad = capture.expect_bad;
        let reply = lab.send(capture.request()).await;
        assert!(reply.json["RequestId"].is_string(), "{}: {}", capture.name, reply.text);
        if bad {
            assert_error(&reply, 400, "SignatureDoesNotMatch");
        } else {
            assert!(!auth_codes.contains(&reply.code()), "{}: {}", capture.name, reply.text);
            replayed += 1;
        }
        if capture.path != "/" {
            assert!(
                reply.json["Success"].is_boolean(),
                "{}: PAI's envelope expected: {}",
                capture.name,
                reply.text
            );
        }
    }
    assert!(replayed >= 34, "only {replayed} captures replayed");
}

#[tokio::test]
async fn tampered_requests_fail_their_signature() {
    let lab = Lab::new().await;
    // A parameter changed after signing.
    let request = lab.rpc_v1_request(ECS, "DescribeInstances", &[("PageSize", "10")]);
    let uri = request.uri().to_string().replace("PageSize=10", "PageSize=11");
    let (mut parts, body) = request.into_parts();
    parts.uri = uri.parse().unwrap();
    let reply = lab.send(http::Request::from_parts(parts, body)).await;
    assert_error(&reply, 400, "SignatureDoesNotMatch");
    assert!(reply.json["Message"].as_str().unwrap().contains("server string to sign is:"));

    // An ACS3 body changed after signing no longer matches its signed content hash.
    let request = lab.acs3_request(
        "POST",
        "/api/v2/instances/i-x/snapshots",
        PAI,
        "CreateInstanceSnapshot",
        &[],
        b"{}".to_vec(),
    );
    let (parts, _) = request.into_parts();
    let reply = lab.send(http::Request::from_parts(parts, axum::body::Body::from("{\"a\":1}"))).await;
    assert_error(&reply, 400, "IncompleteSignature");
}

#[tokio::test]
async fn stale_timestamps_reused_nonces_and_unknown_keys_are_refused() {
    let lab = Lab::new().await;
    let reply = lab.rpc(ECS, "DescribeRegions", &[("Timestamp", "2020-01-01T00:00:00Z")]).await;
    assert_error(&reply, 400, "InvalidTimeStamp.Expired");

    let request = lab.rpc_v1_request(ECS, "DescribeRegions", &[("SignatureNonce", "fast-tier-nonce")]);
    let again = lab.rpc_v1_request(ECS, "DescribeRegions", &[("SignatureNonce", "fast-tier-nonce")]);
    assert_ok(&lab.send(request).await);
    assert_error(&lab.send(again).await, 400, "SignatureNonceUsed");

    let reply = lab.rpc(ECS, "DescribeRegions", &[("SignatureNonce", OMIT)]).await;
    assert_error(&reply, 400, "MissingSignatureNonce");

    let reply = lab.rpc(ECS, "DescribeRegions", &[("AccessKeyId", "LTAInobody")]).await;
    assert_error(&reply, 404, "InvalidAccessKeyId.NotFound");

    let reply = lab.rpc(ECS, "DescribeRegions", &[("SignatureMethod", "HMAC-MD5")]).await;
    assert_error(&reply, 400, "InvalidSignatureMethod");
}

// ---- routing ------------------------------------------------------------------------------------

#[tokio::test]
async fn unknown_actions_versions_and_routes() {
    let lab = Lab::new().await;
    for version in [ECS, MTS, ECD] {
        assert_error(&lab.rpc(version, "FlyToTheMoon", &[]).await, 404, "InvalidAction.NotFound");
    }
    assert_error(&lab.rpc("2099-01-01", "DescribeRegions", &[]).await, 400, "InvalidVersion");
    assert_error(&lab.rpc(OMIT, "DescribeRegions", &[]).await, 400, "MissingParameter");
    assert_error(&lab.rpc(ECS, OMIT, &[]).await, 400, "MissingParameter");
    assert_error(
        &lab.rpc(ECS, "DescribeRegions", &[("RegionId", "elsewhere")]).await,
        404,
        "InvalidRegionId.NotFound",
    );
    // An ECS action under another product's version is unknown there.
    assert_error(&lab.rpc(MTS, "DescribeRegions", &[]).await, 404, "InvalidAction.NotFound");

    let reply = lab.rest(Scheme::Acs3, "GET", "/api/v2/nothing", "Nothing", None).await;
    assert_error(&reply, 404, "InvalidApi.NotFound");
    let reply = lab.rest(Scheme::Acs3, "PUT", "/api/v2/instances/i-x/snapshots", "Nothing", None).await;
    assert_error(&reply, 404, "InvalidApi.NotFound");
    let request = lab.acs3_request(
        "GET",
        "/api/v2/instances/i-x/snapshots",
        "2099-01-01",
        "ListInstanceSnapshot",
        &[],
        Vec::new(),
    );
    assert_error(&lab.send(request).await, 400, "InvalidVersion");
}

// ---- every action's error paths -----------------------------------------------------------------

/// (version, action, parameters, status, code).
type Case = (&'static str, &'static str, &'static [(&'static str, &'static str)], u16, &'static str);

const RPC_CASES: &[Case] = &[
    // ECS: instances
    (ECS, "RunInstances", &[], 400, "MissingParameter"),
    (
        ECS,
        "RunInstances",
        &[("ImageId", "m-nope"), ("InstanceType", "ecs.lab.tiny"), ("Amount", "0")],
        403,
        "InvalidParam.Amount",
    ),
    (
        ECS,
        "RunInstances",
        &[("ImageId", "m-nope"), ("InstanceType", "ecs.t6-c1m1.large")],
        400,
        "InvalidInstanceType.ValueNotSupported",
    ),
    (
        ECS,
        "RunInstances",
        &[("ImageId", "m-nope"), ("InstanceType", "ecs.lab.tiny")],
        404,
        "InvalidImageId.NotFound",
    ),
    (
        ECS,
        "CreateInstance",
        &[("ImageId", "m-nope"), ("InstanceType", "ecs.lab.tiny")],
        404,
        "InvalidImageId.NotFound",
    ),
    (ECS, "CreateInstance", &[], 400, "MissingParameter"),
    // ECS: instances on the network (RunInstances' network parameters, the interface actions)
    (
        ECS,
        "RunInstances",
        &[("ImageId", "m-nope"), ("InstanceType", "ecs.lab.tiny"), ("PrivateIpAddress", "10.0.0.x")],
        400,
        "InvalidPrivateIpAddress.Malformed",
    ),
    (
        ECS,
        "RunInstances",
        &[
            ("ImageId", "m-nope"),
            ("InstanceType", "ecs.lab.tiny"),
            ("PrivateIpAddress", "10.0.0.5"),
            ("Amount", "2"),
        ],
        400,
        "InvalidParameter.Conflict",
    ),
    (
        ECS,
        "RunInstances",
        &[
            ("ImageId", "m-nope"),
            ("InstanceType", "ecs.lab.tiny"),
            ("SecurityGroupId", "sg-1"),
            ("SecurityGroupIds.1", "sg-2"),
        ],
        400,
        "InvalidParameter.Conflict",
    ),
    (
        ECS,
        "RunInstances",
        &[("ImageId", "m-nope"), ("InstanceType", "ecs.lab.tiny"), ("InternetMaxBandwidthOut", "101")],
        400,
        "InvalidInternetMaxBandwidthOut.Malformed",
    ),
    (
        ECS,
        "RunInstances",
        &[("ImageId", "m-nope"), ("InstanceType", "ecs.lab.tiny"), ("SecurityGroupIds.6", "sg-6")],
        400,
        "InvalidParameter",
    ),
    (
        ECS,
        "RunInstances",
        &[("ImageId", "m-nope"), ("InstanceType", "ecs.lab.tiny"), ("NetworkInterface.1.VSwitchId", "vsw-1")],
        400,
        "InvalidParameter",
    ),
    (ECS, "DescribeInstanceAttribute", &[], 400, "MissingParameter"),
    (ECS, "DescribeInstanceAttribute", &[("InstanceId", "i-nope")], 404, "InvalidInstanceId.NotFound"),
    (ECS, "JoinSecurityGroup", &[("InstanceId", "i-nope")], 400, "MissingParameter"),
    (
        ECS,
        "JoinSecurityGroup",
        &[("InstanceId", "i-nope"), ("SecurityGroupId", "sg-1")],
        404,
        "InvalidInstanceId.NotFound",
    ),
    (
        ECS,
        "JoinSecurityGroup",
        &[("InstanceId", "i-nope"), ("SecurityGroupId", "sg-1"), ("NetworkInterfaceId", "eni-1")],
        400,
        "InvalidParameter",
    ),
    (ECS, "LeaveSecurityGroup", &[("SecurityGroupId", "sg-1")], 400, "MissingParameter"),
    (
        ECS,
        "LeaveSecurityGroup",
        &[("InstanceId", "i-nope"), ("SecurityGroupId", "sg-1")],
        404,
        "InvalidInstanceId.NotFound",
    ),
    (ECS, "AllocatePublicIpAddress", &[], 400, "MissingParameter"),
    (ECS, "AllocatePublicIpAddress", &[("InstanceId", "i-nope")], 404, "InvalidInstanceId.NotFound"),
    (
        ECS,
        "AllocatePublicIpAddress",
        &[("InstanceId", "i-nope"), ("IpAddress", "1.2.3.4")],
        400,
        "InvalidParameter",
    ),
    (ECS, "DescribeNetworkInterfaces", &[("PageSize", "0")], 400, "InvalidParameter"),
    (ECS, "DescribeNetworkInterfaces", &[("Type", "Secondary")], 400, "InvalidParameter"),
    (ECS, "DescribeNetworkInterfaces", &[("PrivateIpAddress.2", "10.0.0.2")], 400, "InvalidParameter"),
    (ECS, "StartInstance", &[], 400, "MissingParameter"),
    (ECS, "StartInstance", &[("InstanceId", "i-nope"), ("DryRun", "perhaps")], 400, "InvalidParameter"),
    (ECS, "StartInstance", &[("InstanceId", "i-nope")], 404, "InvalidInstanceId.NotFound"),
    (ECS, "StopInstance", &[], 400, "MissingParameter"),
    (ECS, "StopInstance", &[("InstanceId", "i-nope"), ("ForceStop", "perhaps")], 400, "InvalidParameter"),
    (ECS, "StopInstance", &[("InstanceId", "i-nope")], 404, "InvalidInstanceId.NotFound"),
    (ECS, "RebootInstance", &[], 400, "MissingParameter"),
    (ECS, "RebootInstance", &[("InstanceId", "i-nope")], 404, "InvalidInstanceId.NotFound"),
    (ECS, "DeleteInstance", &[], 400, "MissingParameter"),
    (ECS, "DeleteInstance", &[("InstanceId", "i-nope")], 404, "InvalidInstanceId.NotFound"),
    (ECS, "DescribeInstances", &[("PageSize", "0")], 400, "InvalidParameter"),
    (ECS, "DescribeInstances", &[("DryRun", "true")], 400, "DryRunOperation"),
    (ECS, "DescribeInstanceStatus", &[("PageSize", "x")], 400, "InvalidParameter"),
    (ECS, "GetInstanceScreenshot", &[], 400, "MissingParameter"),
    (ECS, "GetInstanceScreenshot", &[("InstanceId", "i-nope")], 404, "InvalidInstanceId.NotFound"),
    (ECS, "DescribeInstanceVncUrl", &[], 400, "MissingParameter"),
    (ECS, "DescribeInstanceVncUrl", &[("InstanceId", "i-nope")], 404, "InvalidInstanceId.NotFound"),
    (ECS, "GetInstanceConsoleOutput", &[], 400, "MissingParameter"),
    (ECS, "GetInstanceConsoleOutput", &[("InstanceId", "i-nope")], 404, "InvalidInstanceId.NotFound"),
    // ECS: images and tasks
    (ECS, "ImportImage", &[], 400, "MissingParameter"),
    (
        ECS,
        "ImportImage",
        &[
            ("DiskDeviceMapping.1.OSSBucket", "b"),
            ("DiskDeviceMapping.1.OSSObject", "o"),
            ("DiskDeviceMapping.1.Format", "iso"),
        ],
        400,
        "InvalidParameter.Format",
    ),
    (ECS, "DescribeImages", &[("PageNumber", "0")], 400, "InvalidParameter"),
    (ECS, "DeleteImage", &[], 400, "MissingParameter"),
    (ECS, "DeleteImage", &[("ImageId", "m-nope")], 404, "InvalidImageId.NotFound"),
    (ECS, "ExportImage", &[], 400, "MissingParameter"),
    (
        ECS,
        "ExportImage",
        &[("ImageId", "m-nope"), ("OSSBucket", "b"), ("ImageFormat", "iso")],
        400,
        "InvalidImageFormat.NotSupported",
    ),
    (ECS, "ExportImage", &[("ImageId", "m-nope"), ("OSSBucket", "b")], 404, "InvalidImageId.NotFound"),
    (ECS, "CreateImage", &[], 400, "MissingParameter"),
    (ECS, "CreateImage", &[("InstanceId", "i-nope")], 404, "InvalidInstanceId.NotFound"),
    (ECS, "DescribeTaskAttribute", &[], 400, "MissingParameter"),
    (ECS, "DescribeTaskAttribute", &[("TaskId", "t-nope")], 404, "InvalidTaskId.NotFound"),
    (ECS, "DescribeTasks", &[("TaskStatus", "Sleeping")], 400, "InvalidParameter"),
    // ECS: disks and snapshots
    (ECS, "CreateSnapshot", &[], 400, "MissingParameter"),
    (ECS, "CreateSnapshot", &[("DiskId", "d-nope")], 404, "InvalidDiskId.NotFound"),
    (ECS, "DescribeSnapshots", &[("PageSize", "1000")], 400, "InvalidParameter"),
    (ECS, "DeleteSnapshot", &[], 400, "MissingParameter"),
    (ECS, "DeleteSnapshot", &[("SnapshotId", "s-nope")], 404, "InvalidSnapshotId.NotFound"),
    (ECS, "ResetDisk", &[("DiskId", "d-nope")], 400, "MissingParameter"),
    (ECS, "ResetDisk", &[("DiskId", "d-nope"), ("SnapshotId", "s-nope")], 404, "InvalidDiskId.NotFound"),
    (ECS, "CreateDisk", &[("Size", "0")], 400, "InvalidSize.ValueNotSupported"),
    (ECS, "CreateDisk", &[("Size", "1"), ("SnapshotId", "s-nope")], 404, "InvalidSnapshotId.NotFound"),
    (ECS, "AttachDisk", &[("InstanceId", "i-nope")], 400, "MissingParameter"),
    (ECS, "AttachDisk", &[("InstanceId", "i-nope"), ("DiskId", "d-nope")], 404, "InvalidInstanceId.NotFound"),
    (ECS, "DetachDisk", &[("DiskId", "d-nope")], 400, "MissingParameter"),
    (ECS, "DetachDisk", &[("InstanceId", "i-nope"), ("DiskId", "d-nope")], 404, "InvalidInstanceId.NotFound"),
    (ECS, "DeleteDisk", &[], 400, "MissingParameter"),
    (ECS, "DeleteDisk", &[("DiskId", "d-nope")], 404, "InvalidDiskId.NotFound"),
    (ECS, "ResizeDisk", &[("DiskId", "d-nope")], 400, "MissingParameter"),
    (ECS, "ResizeDisk", &[("DiskId", "d-nope"), ("NewSize", "0")], 400, "InvalidParameter"),
    (ECS, "ResizeDisk", &[("DiskId", "d-nope"), ("NewSize", "20")], 404, "InvalidDiskId.NotFound"),
    (ECS, "DescribeDisks", &[("PageSize", "-1")], 400, "InvalidParameter"),
    (ECS, "ReplaceSystemDisk", &[("InstanceId", "i-nope")], 400, "MissingParameter"),
    (
        ECS,
        "ReplaceSystemDisk",
        &[("InstanceId", "i-nope"), ("ImageId", "m-nope"), ("SystemDisk.Size", "0")],
        400,
        "InvalidSystemDiskSize.ValueNotSupported",
    ),
    (
        ECS,
        "ReplaceSystemDisk",
        &[("InstanceId", "i-nope"), ("ImageId", "m-nope")],
        404,
        "InvalidInstanceId.NotFound",
    ),
    // MTS
    (MTS, "SubmitSnapshotJob", &[], 400, "MissingParameter"),
    (
        MTS,
        "SubmitSnapshotJob",
        &[("Input", "{not json"), ("SnapshotConfig", "{}")],
        400,
        "InvalidParameter.JsonFormatInvalid",
    ),
    (
        MTS,
        "QuerySnapshotJobList",
        &[("NextPageToken", "not-a-uuid")],
        400,
        "InvalidParameter.UUIDFormatInvalid",
    ),
    (MTS, "QuerySnapshotJobList", &[("State", "Sleeping")], 400, "InvalidParameter"),
    (MTS, "QuerySnapshotJobList", &[("MaximumPageSize", "301")], 400, "InvalidParameter.OutOfRange"),
    (MTS, "AddPipeline", &[], 400, "MissingParameter"),
    (MTS, "QueryPipelineList", &[], 400, "MissingParameter"),
    // ECS: key pairs and what the guest is given (issue 12)
    (ECS, "CreateKeyPair", &[], 400, "MissingParameter"),
    (ECS, "CreateKeyPair", &[("KeyPairName", "1bad")], 400, "InvalidKeyPairName.Malformed"),
    (ECS, "CreateKeyPair", &[("KeyPairName", "kp-a"), ("Tag.1.Key", "k")], 400, "InvalidParameter"),
    (ECS, "ImportKeyPair", &[("KeyPairName", "kp-a")], 400, "MissingParameter"),
    (
        ECS,
        "ImportKeyPair",
        &[("KeyPairName", "kp-a"), ("PublicKeyBody", "ssh-rsa AAAA-not-a-key")],
        400,
        "InvalidPublicKeyBody.Malformed",
    ),
    (ECS, "DescribeKeyPairs", &[("PageSize", "51")], 400, "InvalidParameter"),
    (ECS, "DeleteKeyPairs", &[], 400, "MissingParameter"),
    (ECS, "DeleteKeyPairs", &[("KeyPairNames", "kp-a")], 400, "InvalidKeyPairNames.ValueNotSupported"),
    (
        ECS,
        "AttachKeyPair",
        &[("KeyPairName", "kp-none"), ("InstanceIds", "[\"i-nope\"]")],
        404,
        "InvalidKeyPairName.NotFound",
    ),
    (
        ECS,
        "DetachKeyPair",
        &[("KeyPairName", "kp-none"), ("InstanceIds", "[\"i-nope\"]")],
        404,
        "InvalidKeyPairName.NotFound",
    ),
    (ECS, "AttachKeyPair", &[("KeyPairName", "kp-none"), ("InstanceIds", "i-nope")], 400, "InvalidParameter"),
    (
        ECS,
        "RunInstances",
        &[("ImageId", "m-nope"), ("InstanceType", "ecs.lab.tiny"), ("Password", "password")],
        400,
        "InvalidPassword.Malformed",
    ),
    (
        ECS,
        "RunInstances",
        &[("ImageId", "m-nope"), ("InstanceType", "ecs.lab.tiny"), ("UserData", "#!/bin/sh")],
        400,
        "InvalidUserData.NotBase64",
    ),
    (
        ECS,
        "RunInstances",
        &[("ImageId", "m-nope"), ("InstanceType", "ecs.lab.tiny"), ("HostName", "web_1")],
        400,
        "InvalidHostName.Malformed",
    ),
    (
        ECS,
        "RunInstances",
        &[("ImageId", "m-nope"), ("InstanceType", "ecs.lab.tiny"), ("HostNames.1", "a1")],
        400,
        "InvalidParameter",
    ),
    (ECS, "DescribeUserData", &[], 400, "MissingParameter"),
    (ECS, "DescribeUserData", &[("InstanceId", "i-nope")], 404, "InvalidInstanceId.NotFound"),
    (ECS, "ModifyInstanceAttribute", &[("InstanceName", "abc")], 400, "MissingParameter"),
    (
        ECS,
        "ModifyInstanceAttribute",
        &[("InstanceId", "i-nope"), ("InstanceName", "abc")],
        404,
        "InvalidInstanceId.NotFound",
    ),
    (
        ECS,
        "ModifyInstanceAttribute",
        &[("InstanceId", "i-nope"), ("UserData", "%%")],
        400,
        "InvalidUserData.NotBase64",
    ),
    (
        ECS,
        "ReplaceSystemDisk",
        &[("InstanceId", "i-nope"), ("ImageId", "m-nope"), ("Password", "short1A")],
        400,
        "InvalidPassword.Malformed",
    ),
    // ECD
    (ECD, "DescribeDesktops", &[("DesktopStatus", "Sleeping")], 400, "InvalidParameter"),
    (ECD, "RebuildDesktops", &[("ImageId", "m-nope")], 400, "MissingParameter"),
    (ECD, "RebuildDesktops", &[("DesktopId.1", "i-nope")], 400, "MissingParameter"),
    (
        ECD,
        "RebuildDesktops",
        &[("DesktopId.1", "i-nope"), ("ImageId", "m-nope")],
        404,
        "InvalidImageId.NotFound",
    ),
    (ECD, "DescribeImageModifiedRecords", &[], 400, "MissingParameter"),
    (ECD, "DescribeImageModifiedRecords", &[("DesktopId", "i-nope")], 404, "InvalidDesktopId.NotFound"),
];

#[tokio::test]
async fn every_rpc_action_error_path() {
    let lab = Lab::new().await;
    let mut wrong = Vec::new();
    for (version, action, params, status, code) in RPC_CASES {
        for scheme in [Scheme::RpcV1, Scheme::Acs3] {
            let reply = lab.call(scheme, version, action, params).await;
            if (reply.status.as_u16(), reply.code()) != (*status, *code)
                || !reply.json["RequestId"].is_string()
            {
                wrong.push(format!("{action} {params:?} ({scheme:?}): {} {}", reply.status, reply.text));
            }
        }
    }
    assert!(wrong.is_empty(), "{} cases differ:\n{}", wrong.len(), wrong.join("\n"));
}

/// (method, path, action, JSON body, status, code).
type RestCase = (&'static str, String, &'static str, Option<serde_json::Value>, u16, &'static str);

#[tokio::test]
async fn every_rest_action_error_path() {
    let lab = Lab::new().await;
    let base = "/api/v2/instances";
    let cases: [RestCase; 7] = [
        (
            "POST",
            format!("{base}/i-nope/snapshots"),
            "CreateInstanceSnapshot",
            Some(json!({"SnapshotName": "s", "ImageUrl": "r/x:y"})),
            404,
            "InstanceNotFound",
        ),
        (
            "POST",
            format!("{base}/i-nope/snapshots"),
            "CreateInstanceSnapshot",
            Some(json!([1])),
            400,
            "ValidationError",
        ),
        (
            "POST",
            format!("{base}/i-nope/snapshots"),
            "CreateInstanceSnapshot",
            Some(json!({"ExcludePaths": "x"})),
            400,
            "ValidationError",
        ),
        ("GET", format!("{base}/i-nope/snapshots"), "ListInstanceSnapshot", None, 404, "InstanceNotFound"),
        (
            "GET",
            format!("{base}/i-nope/snapshots/snp-nope"),
            "GetInstanceSnapshot",
            None,
            404,
            "InstanceNotFound",
        ),
        (
            "GET",
            format!("{base}/%20/snapshots/snp-nope"),
            "GetInstanceSnapshot",
            None,
            400,
            "ValidationError",
        ),
        (
            "DELETE",
            format!("{base}/i-nope/snapshots/snp-nope"),
            "DeleteInstanceSnapshot",
            None,
            404,
            "InstanceNotFound",
        ),
    ];
    let mut wrong = Vec::new();
    for (method, path, action, body, status, code) in cases {
        for scheme in [Scheme::Acs3, Scheme::RoaV1] {
            let reply = lab.rest(scheme, method, &path, action, body.clone()).await;
            if (reply.status.as_u16(), reply.code()) != (status, code) || reply.json["Success"] != false {
                wrong.push(format!("{method} {path} ({scheme:?}): {} {}", reply.status, reply.text));
            }
        }
    }
    assert!(wrong.is_empty(), "{} cases differ:\n{}", wrong.len(), wrong.join("\n"));
}

// ---- successes that need no VM ------------------------------------------------------------------

#[tokio::test]
async fn empty_lists_render_in_each_products_shape() {
    let lab = Lab::new().await;
    let ok = |r: &lab::Reply| assert_ok(r).clone();
    let b = ok(&lab.rpc(ECS, "DescribeInstances", &[]).await);
    assert_eq!(b["Instances"], json!({ "Instance": [] }));
    assert_eq!(
        (b["PageNumber"].clone(), b["PageSize"].clone(), b["NextToken"].clone()),
        (json!(1), json!(10), json!(""))
    );
    let b = ok(&lab.rpc(ECS, "DescribeInstanceStatus", &[]).await);
    assert_eq!(b["InstanceStatuses"], json!({ "InstanceStatus": [] }));
    let b = ok(&lab.rpc(ECS, "DescribeImages", &[]).await);
    assert_eq!((b["Images"].clone(), b["RegionId"].clone()), (json!({ "Image": [] }), json!("local")));
    let b = ok(&lab.rpc(ECS, "DescribeSnapshots", &[]).await);
    assert_eq!(b["Snapshots"], json!({ "Snapshot": [] }));
    let b = ok(&lab.rpc(ECS, "DescribeDisks", &[]).await);
    assert_eq!(b["Disks"], json!({ "Disk": [] }));
    let b = ok(&lab.rpc(ECS, "DescribeTasks", &[]).await);
    assert_eq!(b["TaskSet"], json!({ "Task": [] }));
    let b = ok(&lab.rpc(ECS, "DescribeInstanceTypes", &[]).await);
    assert!(!b["InstanceTypes"]["InstanceType"].as_array().unwrap().is_empty());
    assert!(b["InstanceTypes"]["InstanceType"][0]["MemorySize"].is_f64());
    let b = ok(&lab.rpc(ECD, "DescribeDesktops", &[]).await);
    assert_eq!((b["Desktops"].clone(), b["TotalCount"].clone()), (json!([]), json!(0)));
    let b =
        ok(&lab.rpc(MTS, "QueryPipelineList", &[("PipelineIds", "0123456789abcdef0123456789abcdef")]).await);
    assert_eq!(b["PipelineList"], json!({ "Pipeline": [] }));
    assert_eq!(b["NonExistPids"], json!({ "String": ["0123456789abcdef0123456789abcdef"] }));
    let b = ok(&lab
        .rpc(MTS, "QuerySnapshotJobList", &[("SnapshotJobIds", "0123456789abcdef0123456789abcdef")])
        .await);
    assert_eq!(b["SnapshotJobList"], json!({ "SnapshotJob": [] }));
    assert_eq!(b["NonExistSnapshotJobIds"], json!({ "String": ["0123456789abcdef0123456789abcdef"] }));
}

#[tokio::test]
async fn mts_pipeline_round_trip() {
    let lab = Lab::new().await;
    let reply = lab.rpc(MTS, "AddPipeline", &[("Name", "fast"), ("NotifyConfig", "{\"Topic\":\"t\"}")]).await;
    let pipeline = assert_ok(&reply)["Pipeline"].clone();
    assert_eq!(pipeline["Name"], "fast");
    assert_eq!(pipeline["QuotaAllocate"], 0);
    assert_eq!(
        pipeline["NotifyConfig"],
        json!({ "Topic": "t", "QueueName": "", "MqTopic": "", "MqTag": "" })
    );
    let id = pipeline["Id"].as_str().unwrap();
    let reply = lab.rpc(MTS, "QueryPipelineList", &[("PipelineIds", id)]).await;
    assert_eq!(assert_ok(&reply)["PipelineList"]["Pipeline"][0], pipeline);
    assert_eq!(reply.json["NonExistPids"], json!({ "String": [] }));
}

#[tokio::test]
async fn client_token_is_checked_before_anything_runs() {
    let lab = Lab::new().await;
    let long = "x".repeat(65);
    let reply = lab.rpc(ECS, "CreateSnapshot", &[("DiskId", "d-nope"), ("ClientToken", &long)]).await;
    assert_error(&reply, 400, "InvalidParameter");
    // A failed request releases its token: the same token may be used again.
    for _ in 0..2 {
        let reply =
            lab.rpc(ECS, "CreateSnapshot", &[("DiskId", "d-nope"), ("ClientToken", "fast-token")]).await;
        assert_error(&reply, 404, "InvalidDiskId.NotFound");
    }
}

#[tokio::test]
async fn disk_tags_round_trip_and_filter() {
    let lab = Lab::new().await;
    let reply = lab
        .rpc(
            ECS,
            "CreateDisk",
            &[("Size", "1"), ("Tag.1.Key", "team"), ("Tag.1.Value", "storage"), ("Tag.2.Key", "env")],
        )
        .await;
    let disk_id = assert_ok(&reply)["DiskId"].as_str().unwrap().to_string();
    let reply = lab.rpc(ECS, "CreateDisk", &[("Size", "1")]).await;
    let untagged = assert_ok(&reply)["DiskId"].as_str().unwrap().to_string();

    let reply = lab.rpc(ECS, "DescribeDisks", &[]).await;
    let disks = assert_ok(&reply)["Disks"]["Disk"].as_array().unwrap().clone();
    let disk = disks.iter().find(|d| d["DiskId"] == disk_id.as_str()).unwrap();
    assert_eq!(
        disk["Tags"],
        json!({ "Tag": [{ "TagKey": "team", "TagValue": "storage" }, { "TagKey": "env", "TagValue": "" }] })
    );
    assert_eq!(
        (disk["MountInstanceNum"].clone(), disk["MountInstances"].clone()),
        (json!(0), json!({ "MountInstance": [] }))
    );
    let plain = disks.iter().find(|d| d["DiskId"] == untagged.as_str()).unwrap();
    assert_eq!(plain["Tags"], json!({ "Tag": [] }));

    assert_eq!(listed(&lab, &[("Tag.1.Key", "team")]).await, vec![disk_id.clone()]);
    assert_eq!(
        listed(&lab, &[("Tag.1.Key", "team"), ("Tag.1.Value", "storage")]).await,
        vec![disk_id.clone()]
    );
    assert!(listed(&lab, &[("Tag.1.Key", "team"), ("Tag.1.Value", "other")]).await.is_empty());
    let reply = lab.rpc(ECS, "DescribeDisks", &[("Tag.1.Value", "storage")]).await;
    assert_error(&reply, 400, "InvalidTag.Mismatch");
}

/// The DiskIds DescribeDisks answers for these parameters.
async fn listed(lab: &Lab, params: &[(&str, &str)]) -> Vec<String> {
    let reply = lab.rpc(ECS, "DescribeDisks", params).await;
    let disks = assert_ok(&reply)["Disks"]["Disk"].as_array().unwrap().clone();
    disks.into_iter().map(|d| d["DiskId"].as_str().unwrap().to_string()).collect()
}

// ---- the VNC console's WebSocket upgrade (crate::vnc) ---------------------------------------------

#[tokio::test]
async fn vnc_urls_refuse_what_is_not_a_fresh_websocket_upgrade() {
    let lab = Lab::new().await;
    let upgrade = |path: &str, websocket: bool| {
        let mut builder = http::Request::builder().method("GET").uri(path).header("host", "fast-tier");
        if websocket {
            builder = builder
                .header("upgrade", "websocket")
                .header("connection", "Upgrade")
                .header("sec-websocket-version", "13")
                .header("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ==");
        }
        builder.body(axum::body::Body::empty()).unwrap()
    };
    // A made-up token; a plain GET (refused before the token is looked at).
    assert_error(
        &lab.send(upgrade(&format!("/vnc/{}", "0".repeat(40)), true)).await,
        404,
        "InvalidVncUrl.NotFound",
    );
    assert_error(&lab.send(upgrade("/vnc/", true)).await, 404, "InvalidVncUrl.NotFound");
    assert_error(&lab.send(upgrade("/vnc/abc", false)).await, 426, "UpgradeRequired");
    let post =
        http::Request::builder().method("POST").uri("/vnc/abc").body(axum::body::Body::empty()).unwrap();
    let reply = lab.send(post).await;
    assert_error(&reply, 426, "UpgradeRequired");
    assert!(reply.json["Message"].as_str().unwrap().contains("GET"), "{}", reply.text);
}
