//! Domain values → MTS reply bodies as typed structs: every scalar a string (the SDK models
//! declare them so), lists wrapped the XML way (`SnapshotJobList.SnapshotJob[]`,
//! `NonExistSnapshotJobIds.String[]`). The request's Input and SnapshotConfig are echoed with
//! only the fields that were given.

use ecslab_core::mts::spec::{FrameType, JobInput, ObjectRef, SnapshotConfig, TileOut};
use ecslab_core::mts::{SnapshotJobPage, SnapshotJobView};
use ecslab_core::store::PipelineRecord;
use serde::Serialize;
use serde_json::Value;

/// The reply of each MTS action.
#[derive(Debug, Serialize)]
#[serde(untagged)]
pub enum MtsReply {
    #[serde(rename_all = "PascalCase")]
    SubmitSnapshotJob {
        snapshot_job: Box<Job>,
    },
    QuerySnapshotJobList(JobPage),
    #[serde(rename_all = "PascalCase")]
    AddPipeline {
        pipeline: Pipeline,
    },
    #[serde(rename_all = "PascalCase")]
    QueryPipelineList {
        pipeline_list: PipelineList,
        non_exist_pids: Strings,
    },
}

/// A list of strings the XML way: `{"String": [...]}`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Strings {
    pub string: Vec<String>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct PipelineList {
    pub pipeline: Vec<Pipeline>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ObjectOut {
    pub bucket: String,
    pub location: String,
    pub object: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub role_arn: Option<String>,
}

fn object_ref(o: &ObjectRef) -> ObjectOut {
    ObjectOut {
        bucket: o.bucket.clone(),
        location: o.location.clone(),
        object: o.object.clone(),
        role_arn: (!o.role_arn.is_empty()).then(|| o.role_arn.clone()),
    }
}

#[derive(Debug, Serialize)]
#[serde(untagged)]
pub enum InputOut {
    #[serde(rename_all = "PascalCase")]
    Instance {
        instance_id: String,
    },
    Video(ObjectOut),
}

fn input(input: &JobInput) -> InputOut {
    match input {
        JobInput::Instance { instance_id } => InputOut::Instance { instance_id: instance_id.clone() },
        JobInput::Video(o) => InputOut::Video(object_ref(o)),
    }
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct TileOutOut {
    pub lines: String,
    pub columns: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cell_width: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cell_height: Option<String>,
    pub margin: String,
    pub padding: String,
    pub color: String,
    pub is_keep_cell_pic: String,
    pub cell_sel_step: String,
}

fn tile_out(t: &TileOut) -> TileOutOut {
    TileOutOut {
        lines: t.lines.to_string(),
        columns: t.columns.to_string(),
        cell_width: t.cell_width.map(|w| w.to_string()),
        cell_height: t.cell_height.map(|h| h.to_string()),
        margin: t.margin.to_string(),
        padding: t.padding.to_string(),
        color: t.color.clone(),
        is_keep_cell_pic: t.keep_cell_pic.to_string(),
        cell_sel_step: t.cell_sel_step.to_string(),
    }
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct SubOut {
    pub is_spt_frag: String,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct SnapshotConfigOut {
    pub output_file: ObjectOut,
    pub time: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub interval: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub num: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub width: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub height: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub frame_type: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub format: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub black_level: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pixel_black_threshold: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tile_output_file: Option<ObjectOut>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tile_out: Option<TileOutOut>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sub_out: Option<SubOut>,
}

fn snapshot_config(c: &SnapshotConfig) -> SnapshotConfigOut {
    let text = |v: Option<u64>| v.map(|v| v.to_string());
    SnapshotConfigOut {
        output_file: object_ref(&c.output),
        time: c.time_ms.to_string(),
        interval: text(c.interval_s),
        num: text(c.num.map(u64::from)),
        width: text(c.width.map(u64::from)),
        height: text(c.height.map(u64::from)),
        frame_type: c.frame_type.map(|f| match f {
            FrameType::Normal => "normal".to_string(),
            FrameType::Intra => "intra".to_string(),
        }),
        format: c.format.clone(),
        black_level: text(c.black_level.map(u64::from)),
        pixel_black_threshold: text(c.pixel_black_threshold.map(u64::from)),
        tile_output_file: c.tile_output.as_ref().map(object_ref),
        tile_out: c.tile_out.as_ref().map(tile_out),
        sub_out: c.sprite_fragments.map(|frag| SubOut { is_spt_frag: frag.to_string() }),
    }
}

/// MNSMessageResult: empty until a notification was attempted.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct MnsMessageResult {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_code: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_message: Option<String>,
}

/// One SnapshotJob as SubmitSnapshotJob and QuerySnapshotJobList show it.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Job {
    pub id: String,
    pub state: String,
    pub code: String,
    pub message: String,
    pub count: String,
    pub tile_count: String,
    pub creation_time: String,
    pub finish_time: String,
    pub pipeline_id: String,
    pub user_data: String,
    pub input: InputOut,
    pub snapshot_config: SnapshotConfigOut,
    #[serde(rename = "MNSMessageResult")]
    pub mns_message_result: MnsMessageResult,
}

pub fn job(view: &SnapshotJobView) -> Job {
    let r = &view.record;
    let notified = !(r.mns_message_id.is_empty() && r.mns_error_code.is_empty());
    let field = |v: &String| notified.then(|| v.clone());
    Job {
        id: r.job_id.clone(),
        state: r.state.to_string(),
        code: r.code.clone(),
        message: r.message.clone(),
        count: r.count.to_string(),
        tile_count: r.tile_count.to_string(),
        creation_time: r.created_at.clone(),
        finish_time: r.finished_at.clone(),
        pipeline_id: r.pipeline_id.clone(),
        user_data: r.user_data.clone(),
        input: input(&view.spec.input),
        snapshot_config: snapshot_config(&view.spec.config),
        mns_message_result: MnsMessageResult {
            message_id: field(&r.mns_message_id),
            error_code: field(&r.mns_error_code),
            error_message: field(&r.mns_error_message),
        },
    }
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct JobList {
    pub snapshot_job: Vec<Job>,
}

/// QuerySnapshotJobList's reply.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct JobPage {
    pub next_page_token: String,
    pub snapshot_job_list: JobList,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub non_exist_snapshot_job_ids: Option<Strings>,
}

pub fn job_page(page: &SnapshotJobPage) -> JobPage {
    JobPage {
        next_page_token: page.next_page_token.clone(),
        snapshot_job_list: JobList { snapshot_job: page.jobs.iter().map(job).collect() },
        non_exist_snapshot_job_ids: (!page.non_existent.is_empty())
            .then(|| Strings { string: page.non_existent.clone() }),
    }
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct NotifyConfig {
    pub topic: String,
    pub queue_name: String,
    pub mq_topic: String,
    pub mq_tag: String,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Pipeline {
    pub id: String,
    pub name: String,
    pub state: String,
    pub speed: String,
    pub speed_level: i64,
    pub role: String,
    pub quota_allocate: i64,
    pub notify_config: NotifyConfig,
}

pub fn pipeline(p: &PipelineRecord) -> Pipeline {
    let notify: Value =
        serde_json::from_str(&p.notify_config).unwrap_or_else(|_| Value::Object(Default::default()));
    let field = |k: &str| notify.get(k).and_then(Value::as_str).unwrap_or("").to_string();
    Pipeline {
        id: p.pipeline_id.clone(),
        name: p.name.clone(),
        state: p.state.to_string(),
        speed: p.speed.clone(),
        speed_level: p.speed_level,
        role: p.role.clone(),
        quota_allocate: 0,
        notify_config: NotifyConfig {
            topic: field("Topic"),
            queue_name: field("QueueName"),
            mq_topic: field("MqTopic"),
            mq_tag: field("MqTag"),
        },
    }
}
