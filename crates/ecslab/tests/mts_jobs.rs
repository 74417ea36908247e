//! MTS screenshot jobs over HTTP against the real server: frames of a video made here with
//! FFmpeg's test sources sampled at known times, a real guest's screen while it boots, sprite
//! sheets and WebVTT indexes, failure codes, webhook notifications from a test HTTP server, and
//! what a restart does to queued and running jobs.

mod common;

use common::*;
use ecslab::client::{Client, Signing};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const MTS: &str = "2014-06-18";
const BOOT: Duration = Duration::from_secs(90);

async fn mts(client: &Client, action: &str, params: &[(&str, String)]) -> Value {
    let reply = client.call(MTS, action, params).await.unwrap();
    assert_eq!(reply.status, 200, "{action} failed: {}", reply.body);
    reply.body
}

/// SubmitSnapshotJob; returns the SnapshotJob.
async fn submit(client: &Client, input: Value, config: Value, extra: &[(&str, String)]) -> Value {
    let mut params = vec![("Input", input.to_string()), ("SnapshotConfig", config.to_string())];
    params.extend(extra.iter().cloned());
    mts(client, "SubmitSnapshotJob", &params).await["SnapshotJob"].clone()
}

async fn job(client: &Client, id: &str) -> Value {
    let body = mts(client, "QuerySnapshotJobList", &[("SnapshotJobIds", id.to_string())]).await;
    body["SnapshotJobList"]["SnapshotJob"][0].clone()
}

async fn wait_job(client: &Client, id: &str, limit: Duration) -> Value {
    let deadline = std::time::Instant::now() + limit;
    loop {
        let last = job(client, id).await;
        if matches!(last["State"].as_str(), Some("Success" | "Fail")) {
            return last;
        }
        assert!(std::time::Instant::now() < deadline, "job {id} did not finish within {limit:?}: {last}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn video_input(bucket: &str, object: &str) -> Value {
    json!({ "Bucket": bucket, "Location": "oss-local", "Object": object })
}

fn output(bucket: &str, object: &str) -> Value {
    json!({ "Bucket": bucket, "Location": "oss-local", "Object": object })
}

fn bucket(server: &Server, name: &str) -> PathBuf {
    let dir = server.data_dir.join("buckets").join(name);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A 6 s, 160x120 video whose red level is 50 per elapsed second: black in the first second,
/// then 50, 100, 150, 200, 250 (FFmpeg's `color` source through `geq`).
fn make_video(path: &Path) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let status = Command::new("ffmpeg")
        .args(["-v", "error", "-y", "-f", "lavfi", "-i"])
        .arg("color=c=black:s=160x120:r=10:d=6,format=rgb24,geq=r='min(255\\,floor(T)*50)':g=0:b=0")
        .args(["-c:v", "mpeg4", "-q:v", "2", "-g", "10", "-pix_fmt", "yuv420p"])
        .arg(path)
        .status()
        .expect("ffmpeg (scripts/setup installs it)");
    assert!(status.success());
}

fn load(path: &Path) -> image::RgbImage {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert_eq!(&bytes[..3], &[0xFF, 0xD8, 0xFF], "{} is not a JPEG", path.display());
    image::load_from_memory_with_format(&bytes, image::ImageFormat::Jpeg).unwrap().to_rgb8()
}

fn mean_red(img: &image::RgbImage) -> f64 {
    img.pixels().map(|p| f64::from(p[0])).sum::<f64>() / f64::from(img.width() * img.height())
}

fn blue_fraction(img: &image::RgbImage) -> f64 {
    let blue = img.pixels().filter(|p| p[2] > 100 && p[0] < 90 && p[1] < 90).count();
    blue as f64 / f64::from(img.width() * img.height())
}

fn files(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map(|d| d.flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect())
        .unwrap_or_default();
    names.sort();
    names
}

fn assert_red(path: &Path, expected: f64) {
    let red = mean_red(&load(path));
    assert!((red - expected).abs() < 12.0, "{}: red {red:.1}, expected {expected}", path.display());
}

#[tokio::test(flavor = "multi_thread")]
async fn video_frames_are_sampled_at_known_times() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &[]).await;
    let client = server.client(Signing::Acs3HmacSha256);
    make_video(&bucket(&server, "media").join("clips/v.mp4"));
    let thumbs = bucket(&server, "thumbs");

    // Synchronous: the image is in the bucket when the answer comes, scaled to Width.
    let sync = submit(
        &client,
        video_input("media", "clips/v.mp4"),
        json!({ "OutputFile": output("thumbs", "sync/{FileName}-{SnapshotTime}.jpg"), "Time": "2500", "Width": "80", "FrameType": "normal" }),
        &[("UserData", "{\"k\":\"v\"}".into())],
    )
    .await;
    assert_eq!((sync["State"].as_str(), sync["Count"].as_str()), (Some("Success"), Some("1")), "{sync}");
    assert_eq!(sync["UserData"], "{\"k\":\"v\"}");
    assert_eq!(sync["SnapshotConfig"]["Width"], "80");
    assert_eq!(sync["Input"]["Object"], "clips/v.mp4");
    let img = load(&thumbs.join("sync/v-2500.jpg"));
    assert_eq!(img.dimensions(), (80, 60));
    assert_red(&thumbs.join("sync/v-2500.jpg"), 100.0);

    // Asynchronous series: queued, then Success with Count; frames match the source times.
    let series = submit(
        &client,
        video_input("media", "clips/v.mp4"),
        json!({ "OutputFile": output("thumbs", "series/%7BCount%7D.jpg"), "Time": 500, "Interval": "1", "Num": "5", "FrameType": "normal" }),
        &[],
    )
    .await;
    assert!(matches!(series["State"].as_str(), Some("Submitted" | "Snapshoting" | "Success")), "{series}");
    let done = wait_job(&client, series["Id"].as_str().unwrap(), Duration::from_secs(60)).await;
    assert_eq!((done["State"].as_str(), done["Count"].as_str()), (Some("Success"), Some("5")), "{done}");
    assert_eq!(
        files(&thumbs.join("series")),
        ["00001.jpg", "00002.jpg", "00003.jpg", "00004.jpg", "00005.jpg"]
    );
    for (i, red) in [0.0, 50.0, 100.0, 150.0, 200.0].iter().enumerate() {
        assert_red(&thumbs.join(format!("series/{:05}.jpg", i + 1)), *red);
    }

    // Points past the end are skipped; the actual Count is returned.
    let past = submit(
        &client,
        video_input("media", "clips/v.mp4"),
        json!({ "OutputFile": output("thumbs", "past/{Count}.jpg"), "Time": "0", "Interval": "2", "Num": "10" }),
        &[],
    )
    .await;
    let done = wait_job(&client, past["Id"].as_str().unwrap(), Duration::from_secs(60)).await;
    assert_eq!((done["State"].as_str(), done["Count"].as_str()), (Some("Success"), Some("3")), "{done}");

    // BlackLevel: the black first second is skipped for the first image.
    let black = submit(
        &client,
        video_input("media", "clips/v.mp4"),
        json!({ "OutputFile": output("thumbs", "black/{Count}.jpg"), "Time": "0", "Interval": "2", "Num": "3",
                "BlackLevel": "100", "PixelBlackThreshold": "20", "FrameType": "normal" }),
        &[],
    )
    .await;
    let done = wait_job(&client, black["Id"].as_str().unwrap(), Duration::from_secs(60)).await;
    assert_eq!(done["State"], "Success", "{done}");
    assert_red(&thumbs.join("black/00001.jpg"), 50.0);
    assert_red(&thumbs.join("black/00002.jpg"), 100.0);

    // Sprite sheets and a WebVTT index pointing at their fragments.
    let tiles = submit(
        &client,
        video_input("media", "clips/v.mp4"),
        json!({ "OutputFile": output("thumbs", "vtt/{Count}.jpg"), "Time": "0", "Interval": "1", "Num": "6",
                "FrameType": "normal", "Format": "vtt",
                "TileOutputFile": output("thumbs", "vtt/sheet-{TileCount}.jpg"),
                "TileOut": { "Lines": "2", "Columns": "2", "CellWidth": "40", "CellHeight": "30", "Padding": "2", "Color": "white" },
                "SubOut": { "IsSptFrag": "true" } }),
        &[],
    )
    .await;
    let done = wait_job(&client, tiles["Id"].as_str().unwrap(), Duration::from_secs(60)).await;
    assert_eq!((done["Count"].as_str(), done["TileCount"].as_str()), (Some("6"), Some("2")), "{done}");
    assert_eq!(load(&thumbs.join("vtt/sheet-00001.jpg")).dimensions(), (82, 62));
    assert_eq!(load(&thumbs.join("vtt/sheet-00002.jpg")).dimensions(), (82, 30));
    let vtt = std::fs::read_to_string(thumbs.join("vtt/index.vtt")).unwrap();
    check_vtt(&vtt, 6);
    assert!(vtt.contains("00:00:01.000 --> 00:00:02.000\nsheet-00001.jpg#xywh=42,0,40,30\n"), "{vtt}");
    assert!(vtt.contains("sheet-00002.jpg#xywh=0,0,40,30"), "{vtt}");

    // Failures: missing object, unreadable video, missing output bucket (jobs fail with MTS's
    // codes); bad names and unknown pipelines are refused at the door.
    std::fs::write(server.data_dir.join("buckets/media/junk.mp4"), b"not a video").unwrap();
    for (input, out_bucket, code) in [
        ("nope.mp4", "thumbs", "InvalidParameter.ResourceNotFound"),
        ("junk.mp4", "thumbs", "InvalidParameter.ResourceContentBad"),
        ("clips/v.mp4", "no-such-bucket", "InvalidParameter.ResourceNotFound"),
    ] {
        let failed = submit(
            &client,
            video_input("media", input),
            json!({ "OutputFile": output(out_bucket, "x.jpg") }),
            &[],
        )
        .await;
        assert_eq!(
            (failed["State"].as_str(), failed["Code"].as_str()),
            (Some("Fail"), Some(code)),
            "{failed}"
        );
        assert!(!failed["Message"].as_str().unwrap_or("").is_empty());
    }
    let escape = client
        .call(
            MTS,
            "SubmitSnapshotJob",
            &[
                ("Input", video_input("media", "clips/v.mp4").to_string()),
                ("SnapshotConfig", json!({ "OutputFile": output("thumbs", "../media/x.jpg") }).to_string()),
            ],
        )
        .await
        .unwrap();
    assert_error(&escape, 400, "InvalidParameter.ObjectKeyInvalid");
    let no_pipeline = client
        .call(
            MTS,
            "SubmitSnapshotJob",
            &[
                ("Input", video_input("media", "clips/v.mp4").to_string()),
                ("SnapshotConfig", json!({ "OutputFile": output("thumbs", "x.jpg") }).to_string()),
                ("PipelineId", "0123456789abcdef0123456789abcdef".into()),
            ],
        )
        .await
        .unwrap();
    assert_error(&no_pipeline, 404, "InvalidParameter.ResourceNotFound");

    // QuerySnapshotJobList: unknown ids apart, State filter, paging walks every job once.
    let known = sync["Id"].as_str().unwrap();
    let q = mts(
        &client,
        "QuerySnapshotJobList",
        &[("SnapshotJobIds", format!("{known},ffffffffffffffffffffffffffffffff"))],
    )
    .await;
    assert_eq!(q["SnapshotJobList"]["SnapshotJob"][0]["Id"], known);
    assert_eq!(q["NonExistSnapshotJobIds"]["String"], json!(["ffffffffffffffffffffffffffffffff"]));
    let failed = mts(&client, "QuerySnapshotJobList", &[("State", "Fail".into())]).await;
    assert_eq!(failed["SnapshotJobList"]["SnapshotJob"].as_array().unwrap().len(), 3);
    let mut seen = Vec::new();
    let mut token = String::new();
    loop {
        let mut params = vec![("MaximumPageSize", "2".to_string())];
        if !token.is_empty() {
            params.push(("NextPageToken", token.clone()));
        }
        let page = mts(&client, "QuerySnapshotJobList", &params).await;
        for j in page["SnapshotJobList"]["SnapshotJob"].as_array().unwrap() {
            seen.push(j["Id"].as_str().unwrap().to_string());
        }
        token = page["NextPageToken"].as_str().unwrap().to_string();
        if token.is_empty() {
            break;
        }
    }
    assert_eq!(seen.len(), 8, "{seen:?}");
    assert_eq!(seen.last().map(String::as_str), Some(known), "newest first");
    let future = mts(
        &client,
        "QuerySnapshotJobList",
        &[("StartOfJobCreatedTimeRange", "2999-01-01T00:00:00Z".into())],
    )
    .await;
    assert_eq!(future["SnapshotJobList"]["SnapshotJob"], json!([]));
    let bad = client.call(MTS, "QuerySnapshotJobList", &[("MaximumPageSize", "301".into())]).await.unwrap();
    assert_error(&bad, 400, "InvalidParameter.OutOfRange");
}

/// WEBVTT header, `n` cues with increasing, well-formed timestamps.
fn check_vtt(vtt: &str, n: usize) {
    assert!(vtt.starts_with("WEBVTT\n\n"), "{vtt}");
    let cues: Vec<&str> = vtt.lines().filter(|l| l.contains(" --> ")).collect();
    assert_eq!(cues.len(), n, "{vtt}");
    let mut last_end = String::new();
    for cue in cues {
        let (start, end) = cue.split_once(" --> ").unwrap();
        for t in [start, end] {
            assert_eq!(t.len(), 12, "{t}");
            assert_eq!((&t[2..3], &t[5..6], &t[8..9]), (":", ":", "."), "{t}");
        }
        assert!(start < end && start >= last_end.as_str(), "{cue}");
        last_end = end.to_string();
    }
}

async fn run_instance(server: &Server, client: &Client) -> String {
    let image_id = server.import_guest(client).await;
    let run = client
        .ecs("RunInstances", &[("ImageId", image_id), ("InstanceType", "ecs.lab.tiny".into())])
        .await
        .unwrap();
    run["InstanceIdSets"]["InstanceIdSet"][0].as_str().unwrap().to_string()
}

#[tokio::test(flavor = "multi_thread")]
async fn instance_screens_while_it_boots() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &[]).await;
    let client = server.client(Signing::RpcHmacSha1);
    let shots = bucket(&server, "shots");
    let id = run_instance(&server, &client).await;
    let input = json!({ "InstanceId": id });

    wait_status(&client, &id, "Running", BOOT).await;

    // Num=5 Interval=1 while it boots: exactly 00001.jpg..00005.jpg, a sheet and an index.
    let series = submit(
        &client,
        input.clone(),
        json!({ "OutputFile": output("shots", "boot/{Count}.jpg"), "Time": "0", "Interval": "1", "Num": "5",
                "Format": "vtt", "TileOutputFile": output("shots", "sheets/{FileName}.jpg"),
                "TileOut": { "Lines": "1", "Columns": "5", "CellWidth": "144", "CellHeight": "80" } }),
        &[],
    )
    .await;
    let done = wait_job(&client, series["Id"].as_str().unwrap(), Duration::from_secs(60)).await;
    assert_eq!(
        (done["State"].as_str(), done["Count"].as_str(), done["TileCount"].as_str()),
        (Some("Success"), Some("5"), Some("1")),
        "{done}"
    );
    assert_eq!(
        files(&shots.join("boot")),
        ["00001.jpg", "00002.jpg", "00003.jpg", "00004.jpg", "00005.jpg", "index.vtt"]
    );
    let frames: Vec<image::RgbImage> =
        (1..=5).map(|i| load(&shots.join(format!("boot/{i:05}.jpg")))).collect();
    // The series starts as the VM starts, before the guest paints its blue screen.
    assert!(blue_fraction(&frames[0]) < 0.5, "the first boot frame is already the booted screen");
    assert_eq!(load(&shots.join(format!("sheets/{id}.jpg"))).dimensions(), (720, 80));
    check_vtt(&std::fs::read_to_string(shots.join("boot/index.vtt")).unwrap(), 5);

    // Booted: a synchronous snapshot shows the guest's blue screen, scaled; it differs from
    // the first boot frame, so the series saw the screen change.
    wait_console(&client, &id, "VMTEST-GUEST-READY", BOOT).await;
    let sync = submit(
        &client,
        input.clone(),
        json!({ "OutputFile": output("shots", "ready.jpg"), "Width": "360" }),
        &[],
    )
    .await;
    assert_eq!(sync["State"], "Success", "{sync}");
    let ready = load(&shots.join("ready.jpg"));
    assert_eq!(ready.dimensions(), (360, 200));
    assert!(blue_fraction(&ready) > 0.5);
    let first = image::imageops::resize(&frames[0], 360, 200, image::imageops::FilterType::Triangle);
    let diff: f64 =
        first.pixels().zip(ready.pixels()).map(|(a, b)| f64::from(a[2].abs_diff(b[2]))).sum::<f64>()
            / (360.0 * 200.0);
    assert!(diff > 10.0, "the first boot frame looks like the booted screen (diff {diff:.1})");

    // A delay past the synchronous limit: SnapshotTimeOut.
    let slow = submit(
        &client,
        input.clone(),
        json!({ "OutputFile": output("shots", "slow.jpg"), "Time": "6000" }),
        &[],
    )
    .await;
    assert_eq!(
        (slow["State"].as_str(), slow["Code"].as_str()),
        (Some("Fail"), Some("SnapshotTimeOut")),
        "{slow}"
    );

    // Stopped mid-job: the job fails cleanly with what it had written.
    let long = submit(
        &client,
        input.clone(),
        json!({ "OutputFile": output("shots", "long/{Count}.jpg"), "Interval": "1", "Num": "60" }),
        &[],
    )
    .await;
    let long_id = long["Id"].as_str().unwrap().to_string();
    wait_until(Duration::from_secs(30), || async {
        job(&client, &long_id).await["Count"].as_str().unwrap_or("0") >= "2"
    })
    .await;
    client.ecs("StopInstance", &[("InstanceId", id.clone()), ("ForceStop", "true".into())]).await.unwrap();
    let stopped = wait_job(&client, &long_id, Duration::from_secs(30)).await;
    assert_eq!(
        (stopped["State"].as_str(), stopped["Code"].as_str()),
        (Some("Fail"), Some("InvalidParameter.ResourceContentBad")),
        "{stopped}"
    );
    let count: usize = stopped["Count"].as_str().unwrap().parse().unwrap();
    assert!((2..60).contains(&count), "{stopped}");
    assert_eq!(files(&shots.join("long")).len(), count);

    wait_status(&client, &id, "Stopped", Duration::from_secs(30)).await;
    let not_running =
        submit(&client, input.clone(), json!({ "OutputFile": output("shots", "x.jpg") }), &[]).await;
    assert_eq!(not_running["Code"], "InvalidParameter.ResourceContentBad", "{not_running}");
    client.ecs("DeleteInstance", &[("InstanceId", id.clone())]).await.unwrap();
    let gone = submit(&client, input, json!({ "OutputFile": output("shots", "x.jpg") }), &[]).await;
    assert_eq!(gone["Code"], "InvalidParameter.ResourceNotFound", "{gone}");
}

/// A webhook receiver: records each JSON body; answers 503 to the first `failures` requests.
struct Hook {
    url: String,
    received: Arc<Mutex<Vec<Value>>>,
}

async fn start_hook(failures: usize) -> Hook {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    let received = Arc::new(Mutex::new(Vec::new()));
    let store = received.clone();
    tokio::spawn(async move {
        let mut served = 0usize;
        loop {
            let Ok((mut stream, _)) = listener.accept().await else { return };
            let body = read_request(&mut stream).await;
            served += 1;
            let status = if served <= failures { "503 Service Unavailable" } else { "200 OK" };
            if served > failures {
                if let Ok(value) = serde_json::from_slice::<Value>(&body) {
                    store.lock().unwrap().push(value);
                }
            }
            let reply = format!("HTTP/1.1 {status}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
            let _ = stream.write_all(reply.as_bytes()).await;
        }
    });
    Hook { url, received }
}

async fn read_request(stream: &mut tokio::net::TcpStream) -> Vec<u8> {
    let mut data = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let n = stream.read(&mut buf).await.unwrap_or(0);
        if n == 0 {
            return Vec::new();
        }
        data.extend_from_slice(&buf[..n]);
        if let Some(end) = data.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&data[..end]).to_ascii_lowercase();
            let length: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:").map(|v| v.trim().parse().unwrap_or(0)))
                .unwrap_or(0);
            while data.len() < end + 4 + length {
                let n = stream.read(&mut buf).await.unwrap_or(0);
                if n == 0 {
                    break;
                }
                data.extend_from_slice(&buf[..n]);
            }
            return data[end + 4..].to_vec();
        }
    }
}

fn messages_for(hook: &Hook, job_id: &str) -> Vec<Value> {
    hook.received.lock().unwrap().iter().filter(|m| m["JobId"] == job_id).cloned().collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn webhooks_and_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = Server::start(dir.path(), &["--mts-workers", "1"]).await;
    let client = server.client(Signing::Acs3HmacSha256);
    make_video(&bucket(&server, "media").join("v.mp4"));
    let out = bucket(&server, "out");
    let hook = start_hook(1).await;

    let added = mts(
        &client,
        "AddPipeline",
        &[("Name", "hooks".into()), ("NotifyConfig", json!({ "Topic": hook.url }).to_string())],
    )
    .await;
    let pipeline = added["Pipeline"]["Id"].as_str().unwrap().to_string();
    assert_eq!(added["Pipeline"]["NotifyConfig"]["Topic"], hook.url.as_str());
    let listed = mts(&client, "QueryPipelineList", &[("PipelineIds", format!("{pipeline},nope"))]).await;
    assert_eq!(listed["PipelineList"]["Pipeline"][0]["Id"], pipeline.as_str());
    assert_eq!(listed["NonExistPids"]["String"], json!(["nope"]));
    let with_pipeline = [("PipelineId", pipeline.clone())];

    // A finished job is POSTed to the webhook; the first attempt gets a 503 and is retried.
    let first = submit(
        &client,
        video_input("media", "v.mp4"),
        json!({ "OutputFile": output("out", "a/{Count}.jpg"), "Interval": "1", "Num": "2" }),
        &with_pipeline,
    )
    .await;
    let first_id = first["Id"].as_str().unwrap().to_string();
    wait_until(Duration::from_secs(30), || async { !messages_for(&hook, &first_id).is_empty() }).await;
    let message = &messages_for(&hook, &first_id)[0];
    assert_eq!(
        (message["State"].as_str(), message["Count"].as_str()),
        (Some("Success"), Some("2")),
        "{message}"
    );
    assert_eq!(message["PipelineId"], pipeline.as_str());
    let recorded = job(&client, &first_id).await;
    assert_eq!(recorded["MNSMessageResult"]["MessageId"], message["MessageId"]);

    // One worker: a long instance job runs, a video job waits in the queue. The server crashes;
    // after the restart the running job fails with a clear code, the queued one runs, and both
    // are notified.
    let id = run_instance(&server, &client).await;
    wait_status(&client, &id, "Running", BOOT).await;
    let long = submit(
        &client,
        json!({ "InstanceId": id }),
        json!({ "OutputFile": output("out", "long/{Count}.jpg"), "Interval": "1", "Num": "100" }),
        &with_pipeline,
    )
    .await;
    let long_id = long["Id"].as_str().unwrap().to_string();
    wait_until(Duration::from_secs(30), || async { job(&client, &long_id).await["Count"] != "0" }).await;
    let queued = submit(
        &client,
        video_input("media", "v.mp4"),
        json!({ "OutputFile": output("out", "queued/{Count}.jpg"), "Interval": "1", "Num": "3" }),
        &with_pipeline,
    )
    .await;
    let queued_id = queued["Id"].as_str().unwrap().to_string();
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(job(&client, &queued_id).await["State"], "Submitted");

    server.restart().await;
    let client = server.client(Signing::Acs3HmacSha256);
    let interrupted = wait_job(&client, &long_id, Duration::from_secs(30)).await;
    assert_eq!(
        (interrupted["State"].as_str(), interrupted["Code"].as_str()),
        (Some("Fail"), Some("InternalError.ServerRestart")),
        "{interrupted}"
    );
    let resumed = wait_job(&client, &queued_id, Duration::from_secs(60)).await;
    assert_eq!(
        (resumed["State"].as_str(), resumed["Count"].as_str()),
        (Some("Success"), Some("3")),
        "{resumed}"
    );
    assert_eq!(files(&out.join("queued")).len(), 3);
    wait_until(Duration::from_secs(30), || async {
        !messages_for(&hook, &long_id).is_empty() && !messages_for(&hook, &queued_id).is_empty()
    })
    .await;
    assert_eq!(messages_for(&hook, &long_id)[0]["Code"], "InternalError.ServerRestart");
    assert_eq!(messages_for(&hook, &queued_id)[0]["State"], "Success");
    client.ecs("DeleteInstance", &[("InstanceId", id), ("Force", "true".into())]).await.unwrap();
}
