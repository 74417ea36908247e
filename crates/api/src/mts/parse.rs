//! Parameters → [`MtsRequest`]. Pure: no state, no I/O.
//!
//! MTS takes its job description as JSON strings (`Input`, `SnapshotConfig`, `NotifyConfig`)
//! whose values are themselves strings (`"Time": "5000"`); numbers are accepted too. Errors use
//! MTS's request codes (docs/api/FACTS.md §6.3): `InvalidParameter.JsonFormatInvalid`,
//! `…JsonObjectFormatInvalid`, `…NullValue`, `…OutOfRange`, `…BucketNameInvalid`,
//! `…ObjectKeyInvalid`, `…LocationInvalid`, `…UUIDFormatInvalid`.

use super::MtsRequest;
use crate::params::Params;
use ecslab_core::mts::spec::{
    percent_decode, FrameType, JobInput, ObjectRef, SnapshotConfig, SnapshotJobSpec, TileOut,
};
use ecslab_core::mts::{is_hex_id, NewPipeline, SnapshotJobQuery, SubmitSnapshotJob};
use ecslab_core::{buckets, Error, Result};
use serde_json::{Map, Value};

type Object = Map<String, Value>;

/// Parse one MTS action. `None` when the action is not one ecslab implements.
pub fn parse(action: &str, p: &Params) -> Option<Result<MtsRequest>> {
    let parsed = match action {
        "SubmitSnapshotJob" => submit_snapshot_job(p).map(|s| MtsRequest::SubmitSnapshotJob(Box::new(s))),
        "QuerySnapshotJobList" => query_snapshot_jobs(p).map(MtsRequest::QuerySnapshotJobList),
        "AddPipeline" => add_pipeline(p).map(MtsRequest::AddPipeline),
        "QueryPipelineList" => {
            id_list(p, "PipelineIds", true).map(|ids| MtsRequest::QueryPipelineList { pipeline_ids: ids })
        }
        _ => return None,
    };
    Some(parsed)
}

// ---- MTS's request errors ---------------------------------------------------------------------

fn json_invalid(name: &str) -> Error {
    Error::rejected(
        "InvalidParameter.JsonFormatInvalid",
        format!("The parameter \"{name}\" does not conform to the JSON specification."),
    )
}

fn json_object_invalid(name: &str) -> Error {
    Error::rejected(
        "InvalidParameter.JsonObjectFormatInvalid",
        format!("The parameter \"{name}\" must be a JSON object."),
    )
}

fn null_value(name: &str) -> Error {
    Error::rejected("InvalidParameter.NullValue", format!("The parameter \"{name}\" cannot be null."))
}

fn out_of_range(name: &str, min: u64, max: u64) -> Error {
    Error::rejected(
        "InvalidParameter.OutOfRange",
        format!("The parameter \"{name}\" is out of range: it must be between {min} and {max}."),
    )
}

fn bucket_invalid(name: &str, bucket: &str) -> Error {
    Error::rejected(
        "InvalidParameter.BucketNameInvalid",
        format!("The bucket name {bucket:?} in \"{name}\" is invalid: use 3-63 lowercase letters, digits and hyphens."),
    )
}

fn object_invalid(name: &str, object: &str) -> Error {
    Error::rejected(
        "InvalidParameter.ObjectKeyInvalid",
        format!("The object key {object:?} in \"{name}\" is invalid: it must be a relative key without '..' segments."),
    )
}

// ---- JSON access ------------------------------------------------------------------------------

/// A JSON-object parameter.
fn json_param(p: &Params, name: &str, required: bool) -> Result<Option<Object>> {
    let Some(raw) = p.opt_str(name) else {
        return if required { Err(Error::missing(name)) } else { Ok(None) };
    };
    match serde_json::from_str::<Value>(&raw) {
        Ok(Value::Object(map)) => Ok(Some(map)),
        Ok(_) => Err(json_object_invalid(name)),
        Err(_) => Err(json_invalid(name)),
    }
}

/// A nested object field (`SnapshotConfig.OutputFile`); MTS also accepts it as a JSON string.
fn object_field(obj: &Object, field: &str, path: &str) -> Result<Option<Object>> {
    match obj.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Object(map)) => Ok(Some(map.clone())),
        Some(Value::String(s)) if s.trim().is_empty() => Ok(None),
        Some(Value::String(s)) => match serde_json::from_str::<Value>(s) {
            Ok(Value::Object(map)) => Ok(Some(map)),
            Ok(_) => Err(json_object_invalid(path)),
            Err(_) => Err(json_invalid(path)),
        },
        Some(_) => Err(json_object_invalid(path)),
    }
}

/// A scalar field as text (strings as they are, numbers and booleans written out).
fn text_field(obj: &Object, field: &str, path: &str) -> Result<Option<String>> {
    match obj.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.is_empty() => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(Value::Number(n)) => Ok(Some(n.to_string())),
        Some(Value::Bool(b)) => Ok(Some(b.to_string())),
        Some(_) => Err(Error::invalid(path, "Expected a string.")),
    }
}

/// An integer field within `min..=max`.
fn int_field(obj: &Object, field: &str, path: &str, min: u64, max: u64) -> Result<Option<u64>> {
    let Some(text) = text_field(obj, field, path)? else { return Ok(None) };
    let n: u64 = text
        .trim()
        .parse()
        .map_err(|_| Error::invalid(path, format!("Expected an integer, got {text:?}.")))?;
    if (min..=max).contains(&n) {
        Ok(Some(n))
    } else {
        Err(out_of_range(path, min, max))
    }
}

fn bool_field(obj: &Object, field: &str, path: &str) -> Result<Option<bool>> {
    match text_field(obj, field, path)? {
        None => Ok(None),
        Some(v) if v.eq_ignore_ascii_case("true") => Ok(Some(true)),
        Some(v) if v.eq_ignore_ascii_case("false") => Ok(Some(false)),
        Some(v) => Err(Error::invalid(path, format!("Expected true or false, got {v:?}."))),
    }
}

fn u32_of(n: Option<u64>) -> Option<u32> {
    n.and_then(|v| u32::try_from(v).ok())
}

// ---- objects ----------------------------------------------------------------------------------

/// Values the placeholders can take, to check a name template as a key.
fn sample_key(key: &str) -> String {
    key.replace("{ObjectPrefix}", "prefix/")
        .replace("{FileName}", "name")
        .replace("{ExtName}", "ext")
        .replace("{SnapshotTime}", "0")
        .replace("{Count}", "00001")
        .replace("{TileCount}", "00001")
        .replace("{RunId}", "run")
        .replace("{MediaId}", "media")
}

/// `{"Bucket", "Location", "Object", "RoleArn"}` with checked names.
fn object_ref(obj: &Object, path: &str) -> Result<ObjectRef> {
    let field = |f: &str| format!("{path}.{f}");
    let bucket = text_field(obj, "Bucket", &field("Bucket"))?.ok_or_else(|| null_value(&field("Bucket")))?;
    buckets::check_bucket_name(&bucket).map_err(|_| bucket_invalid(path, &bucket))?;
    let object = text_field(obj, "Object", &field("Object"))?.ok_or_else(|| null_value(&field("Object")))?;
    let key = sample_key(&percent_decode(&object));
    buckets::check_object_name(&key).map_err(|_| object_invalid(path, &object))?;
    let location = text_field(obj, "Location", &field("Location"))?.unwrap_or_default();
    let location_ok = location.is_empty()
        || (location.starts_with("oss-")
            && location.len() <= 64
            && location.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-'));
    if !location_ok {
        return Err(Error::rejected(
            "InvalidParameter.LocationInvalid",
            format!("The location {location:?} in \"{path}\" is invalid: expected oss-<region>."),
        ));
    }
    let role_arn = text_field(obj, "RoleArn", &field("RoleArn"))?.unwrap_or_default();
    Ok(ObjectRef { bucket, location, object, role_arn })
}

fn job_input(obj: &Object) -> Result<JobInput> {
    if let Some(instance_id) = text_field(obj, "InstanceId", "Input.InstanceId")? {
        if obj.contains_key("Bucket") || obj.contains_key("Object") {
            return Err(Error::invalid(
                "Input",
                "Give either an InstanceId or a Bucket and Object, not both.",
            ));
        }
        if !instance_id.starts_with("i-") || !ecslab_core::ids::is_well_formed(&instance_id) {
            return Err(Error::invalid(
                "Input.InstanceId",
                format!("{instance_id:?} is not an instance id."),
            ));
        }
        return Ok(JobInput::Instance { instance_id });
    }
    Ok(JobInput::Video(object_ref(obj, "Input")?))
}

// ---- SnapshotConfig ---------------------------------------------------------------------------

fn snapshot_config(obj: &Object, input: &JobInput) -> Result<SnapshotConfig> {
    let path = |f: &str| format!("SnapshotConfig.{f}");
    let output = object_field(obj, "OutputFile", &path("OutputFile"))?
        .ok_or_else(|| null_value(&path("OutputFile")))?;
    let frame_type = match text_field(obj, "FrameType", &path("FrameType"))? {
        None => None,
        Some(t) if t.eq_ignore_ascii_case("normal") => Some(FrameType::Normal),
        Some(t) if t.eq_ignore_ascii_case("intra") => Some(FrameType::Intra),
        Some(t) => {
            return Err(Error::invalid(&path("FrameType"), format!("Expected normal or intra, got {t:?}.")))
        }
    };
    let format = text_field(obj, "Format", &path("Format"))?;
    if let Some(f) = &format {
        if !f.eq_ignore_ascii_case("vtt") && !f.eq_ignore_ascii_case("jpg") {
            return Err(Error::invalid(
                &path("Format"),
                format!("Expected vtt (or empty for JPG images), got {f:?}."),
            ));
        }
    }
    let tile_output = object_field(obj, "TileOutputFile", &path("TileOutputFile"))?
        .map(|o| object_ref(&o, &path("TileOutputFile")))
        .transpose()?;
    let tile_out = object_field(obj, "TileOut", &path("TileOut"))?.map(|o| tile_out(&o)).transpose()?;
    let tile_out = match (tile_out, &tile_output) {
        (Some(_), None) => return Err(null_value(&path("TileOutputFile"))),
        (None, Some(_)) => Some(TileOut::default()),
        (t, _) => t,
    };
    let sub_out = object_field(obj, "SubOut", &path("SubOut"))?;
    let sprite_fragments =
        sub_out.map(|s| bool_field(&s, "IsSptFrag", &path("SubOut.IsSptFrag"))).transpose()?.flatten();
    let config = SnapshotConfig {
        output: object_ref(&output, &path("OutputFile"))?,
        time_ms: int_field(obj, "Time", &path("Time"), 0, 1_000_000_000_000)?.unwrap_or(0),
        interval_s: int_field(obj, "Interval", &path("Interval"), 0, 86_400)?,
        num: u32_of(int_field(obj, "Num", &path("Num"), 1, 10_000)?),
        width: u32_of(int_field(obj, "Width", &path("Width"), 8, 4096)?),
        height: u32_of(int_field(obj, "Height", &path("Height"), 8, 4096)?),
        frame_type,
        format,
        black_level: u32_of(int_field(obj, "BlackLevel", &path("BlackLevel"), 30, 100)?),
        pixel_black_threshold: u32_of(int_field(
            obj,
            "PixelBlackThreshold",
            &path("PixelBlackThreshold"),
            0,
            255,
        )?),
        tile_output,
        tile_out,
        sprite_fragments,
    };
    check_series(&config, input)?;
    Ok(config)
}

fn tile_out(obj: &Object) -> Result<TileOut> {
    let path = |f: &str| format!("SnapshotConfig.TileOut.{f}");
    let d = TileOut::default();
    let int = |f: &str, min: u64, max: u64| int_field(obj, f, &path(f), min, max).map(u32_of);
    Ok(TileOut {
        lines: int("Lines", 1, 10_000)?.unwrap_or(d.lines),
        columns: int("Columns", 1, 10_000)?.unwrap_or(d.columns),
        cell_width: int("CellWidth", 8, 4096)?,
        cell_height: int("CellHeight", 8, 4096)?,
        margin: int("Margin", 0, 4096)?.unwrap_or(d.margin),
        padding: int("Padding", 0, 4096)?.unwrap_or(d.padding),
        color: text_field(obj, "Color", &path("Color"))?.unwrap_or(d.color),
        keep_cell_pic: bool_field(obj, "IsKeepCellPic", &path("IsKeepCellPic"))?.unwrap_or(d.keep_cell_pic),
        cell_sel_step: int("CellSelStep", 1, 10_000)?.unwrap_or(d.cell_sel_step),
    })
}

/// The rules that tie fields together: a series needs `{Count}` (and `{TileCount}` when it can
/// fill several sheets); an instance has no end, so its series needs Num.
fn check_series(c: &SnapshotConfig, input: &JobInput) -> Result<()> {
    if c.interval_s == Some(0) && c.num.is_none() {
        return Err(null_value("SnapshotConfig.Num"));
    }
    if matches!(input, JobInput::Instance { .. }) && c.interval_s.is_some() && c.num.is_none() {
        return Err(Error::invalid(
            "SnapshotConfig.Num",
            "A series of an instance's screen needs Num (a screen has no end).",
        ));
    }
    if c.is_series() && c.keeps_cells() && !percent_decode(&c.output.object).contains("{Count}") {
        return Err(Error::invalid(
            "SnapshotConfig.OutputFile.Object",
            "A series of snapshots needs the {Count} placeholder in the object name.",
        ));
    }
    if let (Some(tile), Some(output)) = (&c.tile_out, &c.tile_output) {
        let per_sheet = u64::from(tile.cells()) * u64::from(tile.cell_sel_step.max(1));
        let many = c.is_series() && c.num.is_none_or(|n| u64::from(n) > per_sheet);
        if many && !percent_decode(&output.object).contains("{TileCount}") {
            return Err(Error::invalid(
                "SnapshotConfig.TileOutputFile.Object",
                "These snapshots can fill several sprite sheets: the object name needs {TileCount}.",
            ));
        }
    }
    Ok(())
}

// ---- actions ----------------------------------------------------------------------------------

fn submit_snapshot_job(p: &Params) -> Result<SubmitSnapshotJob> {
    let input = json_param(p, "Input", true)?.ok_or_else(|| Error::missing("Input"))?;
    let input = job_input(&input)?;
    let config = json_param(p, "SnapshotConfig", true)?.ok_or_else(|| Error::missing("SnapshotConfig"))?;
    let config = snapshot_config(&config, &input)?;
    let user_data = p.get("UserData").unwrap_or("").to_string();
    if user_data.len() > 1024 {
        return Err(Error::invalid("UserData", "At most 1024 bytes are allowed."));
    }
    let pipeline_id = p.opt_str("PipelineId");
    if let Some(id) = &pipeline_id {
        check_id_text("PipelineId", id)?;
    }
    Ok(SubmitSnapshotJob { spec: SnapshotJobSpec { input, config }, pipeline_id, user_data })
}

fn check_id_text(name: &str, id: &str) -> Result<()> {
    if id.len() <= 64 && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') {
        Ok(())
    } else {
        Err(Error::invalid(name, format!("{id:?} is not an id.")))
    }
}

/// A comma-separated id list of at most 10.
fn id_list(p: &Params, name: &str, required: bool) -> Result<Vec<String>> {
    let Some(raw) = p.opt_str(name) else {
        return if required { Err(Error::missing(name)) } else { Ok(Vec::new()) };
    };
    let ids: Vec<String> =
        raw.split(',').map(str::trim).filter(|s| !s.is_empty()).map(str::to_string).collect();
    if ids.len() > 10 {
        return Err(Error::invalid(name, "At most 10 ids are allowed."));
    }
    Ok(ids)
}

/// `YYYY-MM-DDThh:mm:ssZ` in UTC.
fn utc_time(p: &Params, name: &str) -> Result<Option<String>> {
    let Some(value) = p.opt_str(name) else { return Ok(None) };
    chrono::NaiveDateTime::parse_from_str(&value, "%Y-%m-%dT%H:%M:%SZ").map_err(|_| {
        Error::invalid(name, format!("Expected a UTC time like 2026-01-02T03:04:05Z, got {value:?}."))
    })?;
    Ok(Some(value))
}

fn query_snapshot_jobs(p: &Params) -> Result<SnapshotJobQuery> {
    let state = p.opt_str("State");
    if let Some(s) = &state {
        if !["Submitted", "Snapshoting", "Success", "Fail"].contains(&s.as_str()) {
            return Err(Error::invalid("State", "Expected Submitted, Snapshoting, Success or Fail."));
        }
    }
    let next_page_token = p.opt_str("NextPageToken");
    if let Some(token) = &next_page_token {
        if !is_hex_id(token) {
            return Err(Error::rejected(
                "InvalidParameter.UUIDFormatInvalid",
                "The parameter \"NextPageToken\" is invalid: a uuid must be [a-f0-9], 32 chars.",
            ));
        }
    }
    let page_size = match p.get("MaximumPageSize").filter(|v| !v.is_empty()) {
        None => 30,
        Some(v) => match v.trim().parse::<i64>() {
            Ok(n) if (1..=300).contains(&n) => n as u32,
            Ok(_) => return Err(out_of_range("MaximumPageSize", 1, 300)),
            Err(_) => {
                return Err(Error::invalid("MaximumPageSize", format!("Expected an integer, got {v:?}.")))
            }
        },
    };
    let pipeline_id = p.opt_str("PipelineId");
    if let Some(id) = &pipeline_id {
        check_id_text("PipelineId", id)?;
    }
    Ok(SnapshotJobQuery {
        job_ids: id_list(p, "SnapshotJobIds", false)?,
        state,
        pipeline_id,
        created_from: utc_time(p, "StartOfJobCreatedTimeRange")?,
        created_to: utc_time(p, "EndOfJobCreatedTimeRange")?,
        next_page_token,
        page_size,
    })
}

fn add_pipeline(p: &Params) -> Result<NewPipeline> {
    let name = p.str("Name")?;
    if name.chars().count() > 128 {
        return Err(Error::invalid("Name", "At most 128 characters are allowed."));
    }
    let speed = p.opt_str("Speed").unwrap_or_else(|| "Standard".into());
    if speed.len() > 64 || !speed.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Err(Error::invalid("Speed", format!("{speed:?} is not a pipeline speed.")));
    }
    let speed_level = p.opt_int("SpeedLevel", 1, 10)?.unwrap_or(1);
    let role = p.opt_str("Role").unwrap_or_default();
    let notify_config = json_param(p, "NotifyConfig", false)?.unwrap_or_default();
    Ok(NewPipeline { name, speed, speed_level, role, notify_config })
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::params::test_params as params;

    const OUT: &str =
        r#""OutputFile": {"Bucket": "out", "Location": "oss-local", "Object": "s/{Count}.jpg"}"#;

    fn submit(input: &str, config: &str) -> Result<SubmitSnapshotJob> {
        match parse("SubmitSnapshotJob", &params(&[("Input", input), ("SnapshotConfig", config)])).unwrap()? {
            MtsRequest::SubmitSnapshotJob(s) => Ok(*s),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn the_sdk_request_parses() {
        let job = submit(
            r#"{"Bucket": "harness-in", "Location": "oss-cn-hangzhou", "Object": "videos/sample clip.mp4"}"#,
            r#"{"OutputFile": {"Bucket": "harness-out", "Location": "oss-cn-hangzhou", "Object": "snaps/{Count}.jpg"}, "Time": "5000", "Num": "3", "Interval": "2", "Width": "640", "Height": "360", "FrameType": "normal"}"#,
        )
        .unwrap();
        let c = &job.spec.config;
        assert_eq!(
            (c.time_ms, c.num, c.interval_s, c.width, c.height),
            (5000, Some(3), Some(2), Some(640), Some(360))
        );
        assert_eq!(c.frame_type, Some(FrameType::Normal));
        assert!(!c.is_sync());
        let instance = submit(r#"{"InstanceId": "i-abc"}"#, &format!("{{{OUT}, \"Time\": 0}}")).unwrap();
        assert_eq!(instance.spec.input, JobInput::Instance { instance_id: "i-abc".into() });
        assert!(instance.spec.config.is_sync());
    }

    #[test]
    fn bad_input_gets_mts_codes() {
        let video = r#"{"Bucket": "vin", "Object": "v.mp4"}"#;
        let cases: Vec<(Result<SubmitSnapshotJob>, &str)> = vec![
            (submit("not json", "{}"), "InvalidParameter.JsonFormatInvalid"),
            (submit("[1]", "{}"), "InvalidParameter.JsonObjectFormatInvalid"),
            (submit(video, r#"{"Time": "1"}"#), "InvalidParameter.NullValue"),
            (submit(r#"{"Bucket": "vin"}"#, &format!("{{{OUT}}}")), "InvalidParameter.NullValue"),
            (submit(r#"{"Bucket": "UP", "Object": "v"}"#, &format!("{{{OUT}}}")), "InvalidParameter.BucketNameInvalid"),
            (submit(r#"{"Bucket": "vin", "Object": "../x"}"#, &format!("{{{OUT}}}")), "InvalidParameter.ObjectKeyInvalid"),
            (submit(r#"{"Bucket": "vin", "Object": "%2E%2E/x"}"#, &format!("{{{OUT}}}")), "InvalidParameter.ObjectKeyInvalid"),
            (submit(r#"{"Bucket": "vin", "Object": "v", "Location": "here"}"#, &format!("{{{OUT}}}")), "InvalidParameter.LocationInvalid"),
            (submit(video, &format!("{{{OUT}, \"Width\": \"4\"}}")), "InvalidParameter.OutOfRange"),
            (submit(video, &format!("{{{OUT}, \"Height\": \"5000\"}}")), "InvalidParameter.OutOfRange"),
            (submit(video, &format!("{{{OUT}, \"BlackLevel\": \"10\"}}")), "InvalidParameter.OutOfRange"),
            (submit(video, &format!("{{{OUT}, \"Time\": \"-1\"}}")), "InvalidParameter"),
            (submit(video, &format!("{{{OUT}, \"FrameType\": \"odd\"}}")), "InvalidParameter"),
            (submit(video, r#"{"OutputFile": {"Bucket": "out", "Object": "one.jpg"}, "Num": "3"}"#), "InvalidParameter"),
            (submit(r#"{"InstanceId": "i-a"}"#, &format!("{{{OUT}, \"Interval\": \"1\"}}")), "InvalidParameter"),
            (submit(r#"{"InstanceId": "web"}"#, &format!("{{{OUT}}}")), "InvalidParameter"),
            (submit(video, &format!("{{{OUT}, \"TileOut\": {{}}}}")), "InvalidParameter.NullValue"),
            (
                submit(video, &format!("{{{OUT}, \"Num\": \"300\", \"TileOutputFile\": {{\"Bucket\": \"out\", \"Object\": \"t.jpg\"}}}}")),
                "InvalidParameter",
            ),
        ];
        for (i, (result, code)) in cases.into_iter().enumerate() {
            assert_eq!(result.err().map(|e| e.code()), Some(code), "case {i}");
        }
        let long = "x".repeat(1025);
        let p = params(&[("Input", video), ("SnapshotConfig", &format!("{{{OUT}}}")), ("UserData", &long)]);
        assert_eq!(parse("SubmitSnapshotJob", &p).unwrap().unwrap_err().code(), "InvalidParameter");
        let p = params(&[("SnapshotConfig", "{}")]);
        assert_eq!(parse("SubmitSnapshotJob", &p).unwrap().unwrap_err().code(), "MissingParameter");
    }

    #[test]
    fn tiles_and_vtt() {
        let job = submit(
            r#"{"Bucket": "vin", "Object": "v.mp4"}"#,
            &format!("{{{OUT}, \"Num\": 4, \"Interval\": 1, \"Format\": \"vtt\", \"TileOutputFile\": {{\"Bucket\": \"out\", \"Object\": \"tile.jpg\"}}, \"TileOut\": {{\"Lines\": \"2\", \"Columns\": \"2\", \"IsKeepCellPic\": \"false\"}}, \"SubOut\": {{\"IsSptFrag\": \"true\"}}}}"),
        )
        .unwrap();
        let c = job.spec.config;
        assert!(c.wants_vtt() && !c.keeps_cells());
        assert_eq!(c.tile_out.as_ref().map(|t| (t.lines, t.columns)), Some((2, 2)));
        assert_eq!(c.sprite_fragments, Some(true));
    }

    #[test]
    fn queries() {
        let q = |pairs: &[(&str, &str)]| match parse("QuerySnapshotJobList", &params(pairs)).unwrap() {
            Ok(MtsRequest::QuerySnapshotJobList(q)) => Ok(q),
            Ok(other) => panic!("{other:?}"),
            Err(e) => Err(e),
        };
        let ok = q(&[("SnapshotJobIds", "a, b,,c"), ("MaximumPageSize", "10")]).unwrap();
        assert_eq!((ok.job_ids.len(), ok.page_size), (3, 10));
        assert_eq!(q(&[]).unwrap().page_size, 30);
        let eleven = (0..11).map(|i| i.to_string()).collect::<Vec<_>>().join(",");
        assert_eq!(q(&[("SnapshotJobIds", &eleven)]).unwrap_err().code(), "InvalidParameter");
        assert_eq!(q(&[("MaximumPageSize", "301")]).unwrap_err().code(), "InvalidParameter.OutOfRange");
        assert_eq!(q(&[("NextPageToken", "zz")]).unwrap_err().code(), "InvalidParameter.UUIDFormatInvalid");
        assert_eq!(q(&[("State", "Done")]).unwrap_err().code(), "InvalidParameter");
        assert_eq!(q(&[("StartOfJobCreatedTimeRange", "yesterday")]).unwrap_err().code(), "InvalidParameter");
        assert!(q(&[("EndOfJobCreatedTimeRange", "2026-01-02T03:04:05Z")]).is_ok());
    }

    #[test]
    fn pipelines() {
        let ok =
            parse("AddPipeline", &params(&[("Name", "p"), ("NotifyConfig", r#"{"Topic": "http://h/x"}"#)]));
        assert!(matches!(ok, Some(Ok(MtsRequest::AddPipeline(_)))));
        let bad = parse("AddPipeline", &params(&[("Name", "p"), ("NotifyConfig", "nope")])).unwrap();
        assert_eq!(bad.unwrap_err().code(), "InvalidParameter.JsonFormatInvalid");
        let missing = parse("QueryPipelineList", &params(&[])).unwrap();
        assert_eq!(missing.unwrap_err().code(), "MissingParameter");
        assert!(parse("Transcode", &params(&[])).is_none());
    }
}
