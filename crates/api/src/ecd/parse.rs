//! Parameters → [`EcdRequest`], one function per action. Pure: no state, no I/O.

use super::{DesktopQuery, EcdRequest, DESKTOP_STATUSES};
use crate::params::Params;
use ecslab_core::{Error, Result};

/// Parse one ECD action. `None` when the action is not one ecslab implements.
pub fn parse(action: &str, p: &Params) -> Option<Result<EcdRequest>> {
    Some(match action {
        "DescribeDesktops" => describe_desktops(p),
        "RebuildDesktops" => rebuild_desktops(p),
        "DescribeImageModifiedRecords" => describe_image_modified_records(p),
        _ => return None,
    })
}

fn describe_desktops(p: &Params) -> Result<EcdRequest> {
    let mut statuses = p.repeat_list("DesktopStatusList", 100)?;
    statuses.extend(p.opt_str("DesktopStatus"));
    for status in &statuses {
        if !DESKTOP_STATUSES.contains(&status.as_str()) {
            return Err(Error::invalid(
                "DesktopStatus",
                format!("{status:?} is not one of {}.", DESKTOP_STATUSES.join(", ")),
            ));
        }
    }
    Ok(EcdRequest::DescribeDesktops(DesktopQuery {
        desktop_ids: p.repeat_list("DesktopId", 100)?,
        statuses,
        name: p.opt_str("DesktopName"),
        image_ids: p.repeat_list("ImageId", 100)?,
        paging: p.paging(100)?,
    }))
}

fn rebuild_desktops(p: &Params) -> Result<EcdRequest> {
    let desktop_ids = p.repeat_list("DesktopId", 20)?;
    if desktop_ids.is_empty() {
        return Err(Error::missing("DesktopId.1"));
    }
    let image_id = p.str("ImageId")?;
    if let Some(kind) = p.opt_str("OperateType") {
        if kind.eq_ignore_ascii_case("replace") {
            return Err(Error::invalid(
                "OperateType",
                "Replacing data disks is not supported: a rebuild keeps every data disk.",
            ));
        }
    }
    Ok(EcdRequest::RebuildDesktops { desktop_ids, image_id })
}

fn describe_image_modified_records(p: &Params) -> Result<EcdRequest> {
    let desktop_id = p.str("DesktopId")?;
    let max_results = p.opt_int("MaxResults", 1, 100)?.unwrap_or(10);
    Ok(EcdRequest::DescribeImageModifiedRecords {
        desktop_id,
        max_results,
        next_token: p.opt_str("NextToken"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::params::test_params as params;

    #[test]
    fn bad_input_gets_the_documented_codes() {
        type Case<'a> = (&'a str, &'a [(&'a str, &'a str)], &'a str);
        let cases: &[Case] = &[
            ("DescribeImageModifiedRecords", &[], "MissingParameter"),
            (
                "DescribeImageModifiedRecords",
                &[("DesktopId", "i-1"), ("MaxResults", "101")],
                "InvalidParameter",
            ),
            (
                "DescribeImageModifiedRecords",
                &[("DesktopId", "i-1"), ("MaxResults", "0")],
                "InvalidParameter",
            ),
            (
                "DescribeImageModifiedRecords",
                &[("DesktopId", "i-1"), ("MaxResults", "x")],
                "InvalidParameter",
            ),
            ("RebuildDesktops", &[("ImageId", "m-1")], "MissingParameter"),
            ("RebuildDesktops", &[("DesktopId.1", "i-1")], "MissingParameter"),
            ("RebuildDesktops", &[("DesktopId.21", "i-1"), ("ImageId", "m-1")], "InvalidParameter"),
            (
                "RebuildDesktops",
                &[("DesktopId.1", "i-1"), ("ImageId", "m-1"), ("OperateType", "replace")],
                "InvalidParameter",
            ),
            ("DescribeDesktops", &[("DesktopStatus", "Flying")], "InvalidParameter"),
            ("DescribeDesktops", &[("MaxResults", "101")], "InvalidParameter"),
        ];
        for (action, pairs, code) in cases {
            let got = parse(action, &params(pairs)).expect("known action").expect_err("must fail");
            assert_eq!(got.code(), *code, "{action} {pairs:?}: {got}");
        }
    }

    #[test]
    fn defaults_and_lists() {
        let parsed =
            parse("DescribeImageModifiedRecords", &params(&[("DesktopId", "i-1")])).unwrap().unwrap();
        assert_eq!(
            parsed,
            EcdRequest::DescribeImageModifiedRecords {
                desktop_id: "i-1".into(),
                max_results: 10,
                next_token: None
            }
        );
        let parsed = parse(
            "RebuildDesktops",
            &params(&[
                ("DesktopId.2", "i-2"),
                ("DesktopId.1", "i-1"),
                ("ImageId", "m-1"),
                ("OperateType", "keep"),
            ]),
        )
        .unwrap()
        .unwrap();
        assert_eq!(
            parsed,
            EcdRequest::RebuildDesktops {
                desktop_ids: vec!["i-1".into(), "i-2".into()],
                image_id: "m-1".into()
            }
        );
        assert!(parse("CreateDesktops", &params(&[])).is_none());
    }
}
