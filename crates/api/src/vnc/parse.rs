//! Parameters → [`VncRequest`]. Pure: no state, no I/O.

use super::VncRequest;
use crate::params::Params;
use ecslab_core::Result;

/// Parse one console action. `None` when the action is not one of them.
pub fn parse(action: &str, p: &Params) -> Option<Result<VncRequest>> {
    Some(match action {
        "DescribeInstanceVncUrl" => {
            p.str("InstanceId").map(|instance_id| VncRequest::DescribeInstanceVncUrl { instance_id })
        }
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(pairs: &[(&str, &str)]) -> Params {
        Params::from_pairs(pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())))
    }

    #[test]
    fn instance_id_is_required() {
        let parsed = parse("DescribeInstanceVncUrl", &params(&[("InstanceId", "i-1")])).unwrap();
        assert_eq!(parsed.unwrap(), VncRequest::DescribeInstanceVncUrl { instance_id: "i-1".into() });
        let missing = parse("DescribeInstanceVncUrl", &params(&[])).unwrap().unwrap_err();
        assert_eq!(missing.code(), "MissingParameter");
        assert!(parse("DescribeInstances", &params(&[])).is_none());
    }
}
