//! Domain values → MTS response JSON: every scalar a string (the SDK models declare them so),
//! lists wrapped the XML way (`SnapshotJobList.SnapshotJob[]`, `NonExistSnapshotJobIds.String[]`).
//! The request's Input and SnapshotConfig are echoed with only the fields that were given.

use ecslab_core::mts::spec::{FrameType, JobInput, ObjectRef, SnapshotConfig, TileOut};
use ecslab_core::mts::{SnapshotJobPage, SnapshotJobView};
use ecslab_core::store::PipelineRecord;
use serde_json::{json, Map, Value};

fn object_ref(o: &ObjectRef) -> Value {
    let mut map = Map::new();
    map.insert("Bucket".into(), o.bucket.clone().into());
    map.insert("Location".into(), o.location.clone().into());
    map.insert("Object".into(), o.object.clone().into());
    if !o.role_arn.is_empty() {
        map.insert("RoleArn".into(), o.role_arn.clone().into());
    }
    Value::Object(map)
}

fn input(input: &JobInput) -> Value {
    match input {
        JobInput::Instance { instance_id } => json!({ "InstanceId": instance_id }),
        JobInput::Video(o) => object_ref(o),
    }
}

fn tile_out(t: &TileOut) -> Value {
    let mut map = Map::new();
    let mut put = |k: &str, v: String| {
        map.insert(k.into(), v.into());
    };
    put("Lines", t.lines.to_string());
    put("Columns", t.columns.to_string());
    if let Some(w) = t.cell_width {
        put("CellWidth", w.to_string());
    }
    if let Some(h) = t.cell_height {
        put("CellHeight", h.to_string());
    }
    put("Margin", t.margin.to_string());
    put("Padding", t.padding.to_string());
    put("Color", t.color.clone());
    put("IsKeepCellPic", t.keep_cell_pic.to_string());
    put("CellSelStep", t.cell_sel_step.to_string());
    Value::Object(map)
}

fn snapshot_config(c: &SnapshotConfig) -> Value {
    let mut map = Map::new();
    map.insert("OutputFile".into(), object_ref(&c.output));
    map.insert("Time".into(), c.time_ms.to_string().into());
    let mut opt = |k: &str, v: Option<String>| {
        if let Some(v) = v {
            map.insert(k.into(), v.into());
        }
    };
    opt("Interval", c.interval_s.map(|v| v.to_string()));
    opt("Num", c.num.map(|v| v.to_string()));
    opt("Width", c.width.map(|v| v.to_string()));
    opt("Height", c.height.map(|v| v.to_string()));
    opt(
        "FrameType",
        c.frame_type.map(|f| match f {
            FrameType::Normal => "normal".to_string(),
            FrameType::Intra => "intra".to_string(),
        }),
    );
    opt("Format", c.format.clone());
    opt("BlackLevel", c.black_level.map(|v| v.to_string()));
    opt("PixelBlackThreshold", c.pixel_black_threshold.map(|v| v.to_string()));
    if let Some(t) = &c.tile_output {
        map.insert("TileOutputFile".into(), object_ref(t));
    }
    if let Some(t) = &c.tile_out {
        map.insert("TileOut".into(), tile_out(t));
    }
    if let Some(frag) = c.sprite_fragments {
        map.insert("SubOut".into(), json!({ "IsSptFrag": frag.to_string() }));
    }
    Value::Object(map)
}

/// One SnapshotJob as SubmitSnapshotJob and QuerySnapshotJobList show it.
pub fn job(view: &SnapshotJobView) -> Value {
    let r = &view.record;
    let mns = if r.mns_message_id.is_empty() && r.mns_error_code.is_empty() {
        json!({})
    } else {
        json!({ "MessageId": r.mns_message_id, "ErrorCode": r.mns_error_code, "ErrorMessage": r.mns_error_message })
    };
    json!({
        "Id": r.job_id,
        "State": r.state,
        "Code": r.code,
        "Message": r.message,
        "Count": r.count.to_string(),
        "TileCount": r.tile_count.to_string(),
        "CreationTime": r.created_at,
        "FinishTime": r.finished_at,
        "PipelineId": r.pipeline_id,
        "UserData": r.user_data,
        "Input": input(&view.spec.input),
        "SnapshotConfig": snapshot_config(&view.spec.config),
        "MNSMessageResult": mns,
    })
}

pub fn job_page(page: &SnapshotJobPage) -> Value {
    let mut body = json!({
        "NextPageToken": page.next_page_token,
        "SnapshotJobList": { "SnapshotJob": page.jobs.iter().map(job).collect::<Vec<_>>() },
    });
    if !page.non_existent.is_empty() {
        body["NonExistSnapshotJobIds"] = json!({ "String": page.non_existent });
    }
    body
}

pub fn pipeline(p: &PipelineRecord) -> Value {
    let notify: Value = serde_json::from_str(&p.notify_config).unwrap_or_else(|_| json!({}));
    let field = |k: &str| notify.get(k).and_then(Value::as_str).unwrap_or("").to_string();
    json!({
        "Id": p.pipeline_id,
        "Name": p.name,
        "State": p.state,
        "Speed": p.speed,
        "SpeedLevel": p.speed_level,
        "Role": p.role,
        "QuotaAllocate": 0,
        "NotifyConfig": {
            "Topic": field("Topic"),
            "QueueName": field("QueueName"),
            "MqTopic": field("MqTopic"),
            "MqTag": field("MqTag"),
        },
    })
}
