//! What a snapshot job asks for, as typed values (the API crate builds them from MTS's JSON
//! strings), and the pure rules derived from them: the mode, the capture schedule and the output
//! object names with their placeholders. Kept free of I/O so every rule is unit tested.

use serde::{Deserialize, Serialize};

/// Where the frames come from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum JobInput {
    /// An ecslab instance's live screen (`{"InstanceId": "i-..."}`).
    Instance { instance_id: String },
    /// A video object in a bucket (`{"Bucket", "Location", "Object"}`).
    Video(ObjectRef),
}

/// An OSS-style object reference. `object` is kept as the caller wrote it (MTS allows it
/// URL-encoded) and echoed back so; [`ObjectRef::key`] is the decoded key.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObjectRef {
    pub bucket: String,
    pub location: String,
    pub object: String,
    pub role_arn: String,
}

impl ObjectRef {
    /// The object key with `%XX` escapes decoded.
    pub fn key(&self) -> String {
        percent_decode(&self.object)
    }
}

/// `FrameType`: the exact frame at a time, or the key frame at or before it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum FrameType {
    Normal,
    Intra,
}

/// Sprite sheets (`TileOut`), with MTS's defaults filled in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TileOut {
    pub lines: u32,
    pub columns: u32,
    /// Cell size; `None` is the snapshot's own size.
    pub cell_width: Option<u32>,
    pub cell_height: Option<u32>,
    pub margin: u32,
    pub padding: u32,
    /// As given: a colour keyword, `#rrggbb` or `random`.
    pub color: String,
    /// Whether the single snapshots are written too.
    pub keep_cell_pic: bool,
    /// Every n-th snapshot goes into the sheet.
    pub cell_sel_step: u32,
}

impl Default for TileOut {
    fn default() -> TileOut {
        TileOut {
            lines: 10,
            columns: 10,
            cell_width: None,
            cell_height: None,
            margin: 0,
            padding: 0,
            color: "black".into(),
            keep_cell_pic: true,
            cell_sel_step: 1,
        }
    }
}

impl TileOut {
    pub fn cells(&self) -> u32 {
        self.lines.saturating_mul(self.columns)
    }
}

/// SnapshotConfig. Optional fields stay `None` when absent so responses echo only what was sent.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SnapshotConfig {
    pub output: ObjectRef,
    /// Milliseconds: into the video, or a delay before the first capture of an instance.
    pub time_ms: u64,
    /// Seconds between snapshots (0: spread evenly over the video).
    pub interval_s: Option<u64>,
    pub num: Option<u32>,
    pub width: Option<u32>,
    pub height: Option<u32>,
    pub frame_type: Option<FrameType>,
    /// `vtt` for a WebVTT index next to the images.
    pub format: Option<String>,
    pub black_level: Option<u32>,
    pub pixel_black_threshold: Option<u32>,
    pub tile_output: Option<ObjectRef>,
    pub tile_out: Option<TileOut>,
    /// `SubOut.IsSptFrag`: the WebVTT cues point at sprite fragments.
    pub sprite_fragments: Option<bool>,
}

impl SnapshotConfig {
    /// Synchronous when neither Interval nor Num is given (MTS's rule).
    pub fn is_sync(&self) -> bool {
        self.interval_s.is_none() && self.num.is_none()
    }

    pub fn wants_vtt(&self) -> bool {
        self.format.as_deref().is_some_and(|f| f.eq_ignore_ascii_case("vtt"))
    }

    /// Single snapshots are written unless a sprite sheet says not to keep them.
    pub fn keeps_cells(&self) -> bool {
        self.tile_out.as_ref().is_none_or(|t| t.keep_cell_pic)
    }

    /// Whether the job can produce more than one image (then `{Count}` is required).
    pub fn is_series(&self) -> bool {
        !self.is_sync() && self.num != Some(1)
    }

    /// The first frame is checked for black when BlackLevel is given.
    pub fn black_filter(&self) -> Option<BlackFilter> {
        self.black_level.map(|level| BlackFilter {
            level,
            pixel_threshold: self.pixel_black_threshold.unwrap_or(DEFAULT_PIXEL_BLACK_THRESHOLD),
        })
    }
}

/// A pixel is black when all its channels are below this, unless PixelBlackThreshold says.
pub const DEFAULT_PIXEL_BLACK_THRESHOLD: u32 = 16;

/// When a frame counts as black: at least `level` percent of its pixels are black.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BlackFilter {
    pub level: u32,
    pub pixel_threshold: u32,
}

impl BlackFilter {
    pub fn is_black(&self, rgb: &[u8]) -> bool {
        let pixels = rgb.len() / 3;
        if pixels == 0 {
            return true;
        }
        let t = self.pixel_threshold;
        let black = rgb.chunks_exact(3).filter(|p| p.iter().all(|&c| u32::from(c) < t.max(1))).count();
        black * 100 >= pixels * self.level as usize
    }
}

/// A whole SubmitSnapshotJob request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SnapshotJobSpec {
    pub input: JobInput,
    pub config: SnapshotConfig,
}

impl SnapshotJobSpec {
    /// Every bucket the job reads or writes: the input video's, the output's, the tile sheets'.
    pub fn buckets(&self) -> Vec<&str> {
        let mut buckets = Vec::new();
        if let JobInput::Video(video) = &self.input {
            buckets.push(video.bucket.as_str());
        }
        buckets.push(self.config.output.bucket.as_str());
        if let Some(tiles) = &self.config.tile_output {
            buckets.push(tiles.bucket.as_str());
        }
        buckets
    }
}

/// SubmitSnapshotJob as the API parsed it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubmitSnapshotJob {
    pub spec: SnapshotJobSpec,
    pub pipeline_id: Option<String>,
    pub user_data: String,
}

/// QuerySnapshotJobList as the API parsed it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SnapshotJobQuery {
    pub job_ids: Vec<String>,
    pub state: Option<String>,
    pub pipeline_id: Option<String>,
    pub created_from: Option<String>,
    pub created_to: Option<String>,
    pub next_page_token: Option<String>,
    pub page_size: u32,
}

/// AddPipeline as the API parsed it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewPipeline {
    pub name: String,
    pub speed: String,
    pub speed_level: i64,
    pub role: String,
    /// The NotifyConfig object as given (already checked to be a JSON object).
    pub notify_config: serde_json::Map<String, serde_json::Value>,
}

// ---- schedule ---------------------------------------------------------------------------------

/// MTS's default Interval when only Num is given.
pub const DEFAULT_INTERVAL_S: u64 = 10;

/// Capture times (ms) for a video of `duration_ms`: points past the end are dropped.
pub fn video_times(config: &SnapshotConfig, duration_ms: u64) -> Vec<u64> {
    let start = config.time_ms;
    if start >= duration_ms {
        return Vec::new();
    }
    if config.is_sync() || config.num == Some(1) {
        return vec![start];
    }
    let interval = config.interval_s.unwrap_or(DEFAULT_INTERVAL_S);
    match (interval, config.num) {
        (0, Some(num)) => {
            let span = duration_ms - start;
            (0..u64::from(num)).map(|k| start + k * span / u64::from(num)).collect()
        }
        (0, None) => vec![start],
        (step, num) => {
            let limit = num.map(u64::from).unwrap_or(u64::MAX);
            (0..limit).map(|k| start + k * step * 1000).take_while(|t| *t < duration_ms).collect()
        }
    }
}

/// Capture times (ms after the job starts) for an instance: Time, then every Interval.
pub fn instance_times(config: &SnapshotConfig) -> Vec<u64> {
    let start = config.time_ms;
    let num = if config.is_sync() { 1 } else { config.num.unwrap_or(1) };
    let step = if num == 1 { 0 } else { config.interval_s.unwrap_or(DEFAULT_INTERVAL_S) * 1000 };
    (0..u64::from(num)).map(|k| start + k * step).collect()
}

// ---- names ------------------------------------------------------------------------------------

/// Values for the placeholders of one output name.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NameValues {
    /// 1-based snapshot number, written `00001`.
    pub count: Option<u64>,
    pub tile_count: Option<u64>,
    pub snapshot_time_ms: u64,
    /// `{ObjectPrefix}`: the input object's folder, with its trailing `/` (empty for instances).
    pub object_prefix: String,
    /// `{FileName}`: the input object's name without folder and extension (the instance id).
    pub file_name: String,
    /// `{ExtName}`: the input object's extension without the dot.
    pub ext_name: String,
}

impl NameValues {
    pub fn for_input(input: &JobInput) -> NameValues {
        match input {
            JobInput::Instance { instance_id } => {
                NameValues { file_name: instance_id.clone(), ..NameValues::default() }
            }
            JobInput::Video(object) => {
                let key = object.key();
                let (prefix, name) = match key.rfind('/') {
                    Some(i) => (key[..=i].to_string(), key[i + 1..].to_string()),
                    None => (String::new(), key.clone()),
                };
                let (file_name, ext_name) = match name.rfind('.') {
                    Some(i) if i > 0 => (name[..i].to_string(), name[i + 1..].to_string()),
                    _ => (name.clone(), String::new()),
                };
                NameValues { object_prefix: prefix, file_name, ext_name, ..NameValues::default() }
            }
        }
    }
}

/// Expand the placeholders of a (decoded) object name template.
pub fn expand_name(template: &str, v: &NameValues) -> String {
    let mut out = template
        .replace("{ObjectPrefix}", &v.object_prefix)
        .replace("{FileName}", &v.file_name)
        .replace("{ExtName}", &v.ext_name)
        .replace("{SnapshotTime}", &v.snapshot_time_ms.to_string());
    if let Some(count) = v.count {
        out = out.replace("{Count}", &format!("{count:05}"));
    }
    if let Some(tile) = v.tile_count {
        out = out.replace("{TileCount}", &format!("{tile:05}"));
    }
    out
}

/// Where the WebVTT index goes: the OutputFile template with `{Count}` read as `index` and the
/// extension replaced by `.vtt` (`snaps/{Count}.jpg` → `snaps/index.vtt`).
pub fn vtt_name(template: &str, v: &NameValues) -> String {
    let name = expand_name(&template.replace("{Count}", "index"), &NameValues { count: None, ..v.clone() });
    let base_start = name.rfind('/').map_or(0, |i| i + 1);
    match name[base_start..].rfind('.') {
        Some(dot) if dot > 0 => format!("{}.vtt", &name[..base_start + dot]),
        _ => format!("{name}.vtt"),
    }
}

/// `a/b/c.jpg` relative to the folder of `a/b/index.vtt` is `c.jpg`; other folders keep the key.
pub fn relative_to(vtt: &str, object: &str) -> String {
    let folder = vtt.rfind('/').map_or("", |i| &vtt[..=i]);
    object.strip_prefix(folder).unwrap_or(object).to_string()
}

/// Decode `%XX` escapes; text that is not valid UTF-8 once decoded is kept as given.
pub fn percent_decode(s: &str) -> String {
    if !s.contains('%') {
        return s.to_string();
    }
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let (Some(h), Some(l)) = (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                out.push((h * 16 + l) as u8);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8(out).unwrap_or_else(|_| s.to_string())
}

/// `00:01:02.345`, WebVTT's timestamp.
pub fn vtt_timestamp(ms: u64) -> String {
    format!("{:02}:{:02}:{:02}.{:03}", ms / 3_600_000, ms / 60_000 % 60, ms / 1000 % 60, ms % 1000)
}

/// One cue of the WebVTT index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cue {
    pub start_ms: u64,
    pub end_ms: u64,
    pub text: String,
}

/// A WebVTT document.
pub fn render_vtt(cues: &[Cue]) -> String {
    let mut out = String::from("WEBVTT\n");
    for cue in cues {
        out.push_str(&format!(
            "\n{} --> {}\n{}\n",
            vtt_timestamp(cue.start_ms),
            vtt_timestamp(cue.end_ms),
            cue.text
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(time_ms: u64, interval_s: Option<u64>, num: Option<u32>) -> SnapshotConfig {
        SnapshotConfig { time_ms, interval_s, num, ..SnapshotConfig::default() }
    }

    #[test]
    fn modes() {
        assert!(config(0, None, None).is_sync());
        assert!(!config(0, Some(1), None).is_sync());
        assert!(!config(0, None, Some(1)).is_series());
        assert!(config(0, None, Some(3)).is_series());
    }

    #[test]
    fn video_schedule_drops_points_past_the_end() {
        assert_eq!(video_times(&config(500, Some(1), Some(3)), 10_000), vec![500, 1500, 2500]);
        assert_eq!(video_times(&config(0, Some(2), None), 5_000), vec![0, 2000, 4000]);
        assert_eq!(video_times(&config(0, Some(1), Some(20)), 3_000), vec![0, 1000, 2000]);
        assert_eq!(video_times(&config(0, Some(0), Some(4)), 8_000), vec![0, 2000, 4000, 6000]);
        assert_eq!(video_times(&config(0, None, Some(2)), 30_000), vec![0, 10_000]);
        assert_eq!(video_times(&config(9_000, None, None), 5_000), Vec::<u64>::new());
        assert_eq!(video_times(&config(7, Some(5), Some(1)), 5_000), vec![7]);
    }

    #[test]
    fn instance_schedule() {
        assert_eq!(instance_times(&config(0, Some(1), Some(5))), vec![0, 1000, 2000, 3000, 4000]);
        assert_eq!(instance_times(&config(250, None, None)), vec![250]);
        assert_eq!(instance_times(&config(0, Some(9), Some(1))), vec![0]);
    }

    #[test]
    fn placeholders() {
        let input =
            JobInput::Video(ObjectRef { object: "videos/sample%20clip.mp4".into(), ..Default::default() });
        let mut v = NameValues::for_input(&input);
        assert_eq!(
            (v.object_prefix.as_str(), v.file_name.as_str(), v.ext_name.as_str()),
            ("videos/", "sample clip", "mp4")
        );
        v.count = Some(7);
        v.snapshot_time_ms = 1500;
        assert_eq!(
            expand_name("{ObjectPrefix}{FileName}-{SnapshotTime}/{Count}.jpg", &v),
            "videos/sample clip-1500/00007.jpg"
        );
        assert_eq!(vtt_name("out/{Count}.jpg", &v), "out/index.vtt");
        assert_eq!(vtt_name("thumb.jpg", &v), "thumb.vtt");
        assert_eq!(relative_to("out/index.vtt", "out/00001.jpg"), "00001.jpg");
        assert_eq!(relative_to("out/index.vtt", "tiles/00001.jpg"), "tiles/00001.jpg");
        let instance = NameValues::for_input(&JobInput::Instance { instance_id: "i-x".into() });
        assert_eq!(
            expand_name("{FileName}/{Count}.jpg", &NameValues { count: Some(1), ..instance }),
            "i-x/00001.jpg"
        );
    }

    #[test]
    fn percent_decoding() {
        assert_eq!(percent_decode("snaps/%7BCount%7D.jpg"), "snaps/{Count}.jpg");
        assert_eq!(percent_decode("100%"), "100%");
        assert_eq!(percent_decode("a%zzb"), "a%zzb");
        assert_eq!(percent_decode("%E4%B8%AD"), "中");
    }

    #[test]
    fn vtt_is_well_formed() {
        let cues = vec![Cue { start_ms: 0, end_ms: 1000, text: "00001.jpg".into() }];
        assert_eq!(render_vtt(&cues), "WEBVTT\n\n00:00:00.000 --> 00:00:01.000\n00001.jpg\n");
        assert_eq!(vtt_timestamp(3_723_045), "01:02:03.045");
    }

    #[test]
    fn black_frames() {
        let filter = BlackFilter { level: 100, pixel_threshold: 16 };
        assert!(filter.is_black(&[0, 0, 0, 5, 5, 5]));
        assert!(!filter.is_black(&[0, 0, 0, 200, 0, 0]));
        assert!(BlackFilter { level: 50, pixel_threshold: 16 }.is_black(&[0, 0, 0, 200, 0, 0]));
    }
}
