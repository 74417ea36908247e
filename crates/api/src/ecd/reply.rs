//! ECD's reply bodies as typed structs: PascalCase fields and plain JSON arrays
//! (`"Desktops":[…]`), not ECS's wrapped lists.

use serde::Serialize;

/// The reply of each ECD action.
#[derive(Debug, Serialize)]
#[serde(untagged)]
pub enum EcdReply {
    DescribeDesktops(DesktopPage),
    #[serde(rename_all = "PascalCase")]
    RebuildDesktops {
        rebuild_results: Vec<RebuildResult>,
    },
    DescribeImageModifiedRecords(RecordPage),
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct DesktopPage {
    pub total_count: usize,
    pub page_number: u32,
    pub page_size: u32,
    pub next_token: String,
    pub desktops: Vec<Desktop>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Desktop {
    pub desktop_id: String,
    pub desktop_name: String,
    pub desktop_status: String,
    pub desktop_type: String,
    pub image_id: String,
    pub os_type: &'static str,
    pub platform: &'static str,
    pub cpu: u32,
    pub memory: u64,
    pub gpu_count: u32,
    pub creation_time: String,
    pub start_time: String,
    pub charge_type: &'static str,
    pub protocol_type: &'static str,
    pub management_flag: &'static str,
    pub system_disk_size: i64,
    pub end_user_ids: Vec<String>,
    pub disks: Vec<DesktopDisk>,
    pub tags: Vec<KeyValue>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct DesktopDisk {
    pub disk_id: String,
    pub disk_size: i64,
    pub disk_type: &'static str,
    pub disk_category: String,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct KeyValue {
    pub key: String,
    pub value: String,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct RebuildResult {
    pub desktop_id: String,
    pub code: String,
    pub message: String,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct RecordPage {
    pub total_count: i64,
    pub next_token: String,
    pub image_modified_records: Vec<ImageModifiedRecord>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ImageModifiedRecord {
    pub image_id: String,
    pub image_name: String,
    pub new_image_id: String,
    pub new_image_name: String,
    pub status: i64,
    pub reason: String,
    pub update_time: String,
}
