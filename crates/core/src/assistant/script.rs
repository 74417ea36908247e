//! A Cloud Assistant script, pure: its `{{name}}` placeholders and ECS's rules for them, the
//! values of the Parameters filled in, the built-in `{{ACS::…}}` values, the shell line that
//! runs it in the guest (working directory, user, stderr into stdout) and how much output is
//! kept. No I/O here, so every rule is a unit test.

use crate::{Error, Result};
use std::collections::BTreeMap;

/// ECS keeps at most 24 KB of a run's output and reports the rest as `Dropped`.
pub const OUTPUT_LIMIT: usize = 24 * 1024;
/// At most this many custom parameters in one command (ECS: 20 defined, 10 passed).
pub const MAX_DEFINED_PARAMETERS: usize = 20;
pub const MAX_PASSED_PARAMETERS: usize = 10;
/// A parameter name's longest length, in bytes.
pub const MAX_PARAMETER_NAME: usize = 64;
/// The built-in parameters ECS fills in itself (names compared case-insensitively).
pub const BUILT_INS: &[&str] = &[
    "ACS::RegionId",
    "ACS::AccountId",
    "ACS::InstanceId",
    "ACS::InstanceName",
    "ACS::InvokeId",
    "ACS::CommandId",
];

/// One `{{…}}` in a script: where it is and the name inside (spaces around it trimmed).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Placeholder {
    start: usize,
    end: usize,
    name: String,
}

fn placeholders(script: &str) -> Vec<Placeholder> {
    let mut found = Vec::new();
    let mut from = 0;
    while let Some(open) = script[from..].find("{{").map(|i| i + from) {
        let Some(close) = script[open + 2..].find("}}").map(|i| i + open + 2) else { break };
        let name = script[open + 2..close].trim().to_string();
        found.push(Placeholder { start: open, end: close + 2, name });
        from = close + 2;
    }
    found
}

fn is_built_in(name: &str) -> bool {
    BUILT_INS.iter().any(|b| b.eq_ignore_ascii_case(name))
}

fn well_formed_name(name: &str) -> bool {
    !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// The custom parameter names a script defines (built-ins excluded), in order of first use,
/// as ECS checks them when EnableParameter is true.
pub fn parameter_names(script: &str) -> Result<Vec<String>> {
    let mut names: Vec<String> = Vec::new();
    for p in placeholders(script) {
        if is_built_in(&p.name) {
            continue;
        }
        if p.name.len() > MAX_PARAMETER_NAME {
            return Err(Error::rejected(
                "InvalidParameters.KeyLengthLimitExceeded",
                format!("The length of the parameter name {:?} in CommandContent exceeds the limit of 64 characters.", p.name),
            ));
        }
        if !well_formed_name(&p.name) || p.name.to_ascii_lowercase().starts_with("acs::") {
            return Err(Error::rejected(
                "InvalidParameters.KeyMalformed",
                format!(
                    "The parameter name {:?} in CommandContent is not valid: letters, digits, - and _ only.",
                    p.name
                ),
            ));
        }
        if !names.iter().any(|n| n.eq_ignore_ascii_case(&p.name)) {
            names.push(p.name);
        }
    }
    if names.len() > MAX_DEFINED_PARAMETERS {
        return Err(Error::rejected(
            "InvalidParameters.CountLimitExceeded",
            format!("CommandContent defines {} custom parameters; at most 20 are allowed.", names.len()),
        ));
    }
    Ok(names)
}

/// Check the Parameters passed (a JSON object of strings) against the names the command
/// defines. ECS's rules: at most 10 keys, none empty, none longer than 64 bytes, none given
/// twice (names are case-insensitive), every key one of the defined names, every value a
/// string. Names the caller leaves out are filled with the empty string, as ECS does.
pub fn check_parameters(
    defined: &[String],
    given: &serde_json::Map<String, serde_json::Value>,
) -> Result<BTreeMap<String, String>> {
    if given.len() > MAX_PASSED_PARAMETERS {
        return Err(Error::rejected(
            "InvalidParameters.CountLimitExceeded",
            "The count of the parameter Parameters exceeds the limit of 10.",
        ));
    }
    let mut values = BTreeMap::new();
    for (key, value) in given {
        if key.is_empty() {
            return Err(Error::rejected(
                "InvalidParameters.KeyEmpty",
                "The key in the parameter Parameters cannot be empty.",
            ));
        }
        if key.len() > MAX_PARAMETER_NAME {
            return Err(Error::rejected(
                "InvalidParameters.KeyLengthLimitExceeded",
                "The length of the key in the parameter Parameters exceeds the limit of 64 characters.",
            ));
        }
        if !well_formed_name(key) {
            return Err(Error::rejected(
                "InvalidParameters.KeyMalformed",
                format!("The key {key:?} in the parameter Parameters is not valid."),
            ));
        }
        let Some(name) = defined.iter().find(|d| d.eq_ignore_ascii_case(key)) else {
            return Err(Error::rejected(
                "InvalidParameters.KeyNotMatch",
                format!("The key {key:?} in the parameter Parameters does not match those defined in the command."),
            ));
        };
        let serde_json::Value::String(value) = value else {
            return Err(Error::rejected(
                "InvalidParameters.ValueTypeUnsupported",
                format!("The value of {key:?} in the parameter Parameters is not a string."),
            ));
        };
        if values.insert(name.clone(), value.clone()).is_some() {
            return Err(Error::rejected(
                "InvalidParameters.KeyDuplicate",
                format!("The key {key:?} in the parameter Parameters is given more than once."),
            ));
        }
    }
    for name in defined {
        values.entry(name.clone()).or_default();
    }
    Ok(values)
}

/// Replace the custom placeholders by their values (built-ins are left for [`fill_built_ins`]).
pub fn fill_parameters(script: &str, values: &BTreeMap<String, String>) -> String {
    fill(script, |name| values.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.clone()))
}

/// The values of the built-in placeholders for one run.
#[derive(Debug, Clone)]
pub struct BuiltIns<'a> {
    pub region_id: &'a str,
    pub account_id: &'a str,
    pub instance_id: &'a str,
    pub instance_name: &'a str,
    pub invoke_id: &'a str,
    pub command_id: &'a str,
}

/// Replace `{{ACS::…}}` placeholders by this run's values.
pub fn fill_built_ins(script: &str, b: &BuiltIns<'_>) -> String {
    fill(script, |name| {
        let value = match name.to_ascii_lowercase().as_str() {
            "acs::regionid" => b.region_id,
            "acs::accountid" => b.account_id,
            "acs::instanceid" => b.instance_id,
            "acs::instancename" => b.instance_name,
            "acs::invokeid" => b.invoke_id,
            "acs::commandid" => b.command_id,
            _ => return None,
        };
        Some(value.to_string())
    })
}

fn fill(script: &str, value_of: impl Fn(&str) -> Option<String>) -> String {
    let mut out = String::with_capacity(script.len());
    let mut at = 0;
    for p in placeholders(script) {
        if let Some(value) = value_of(&p.name) {
            out.push_str(&script[at..p.start]);
            out.push_str(&value);
            at = p.end;
        }
    }
    out.push_str(&script[at..]);
    out
}

/// `value` as one single-quoted shell word.
pub fn shell_quote(value: &str) -> String {
    format!("'{}'", value.replace('\'', r"'\''"))
}

/// Exit codes of the preflight check (`preflight_line`), told apart from the script's own.
pub const NO_SUCH_USER: i64 = 201;
pub const NO_SUCH_DIRECTORY: i64 = 202;

/// The user a run is for: root when none is named, as on ECS's Linux instances.
pub fn user_or_root(username: &str) -> &str {
    if username.is_empty() {
        "root"
    } else {
        username
    }
}

/// A shell line that exits [`NO_SUCH_USER`] when the user does not exist and
/// [`NO_SUCH_DIRECTORY`] when the working directory does not.
pub fn preflight_line(username: &str, working_dir: &str) -> String {
    let mut line =
        format!("id -u -- {} >/dev/null 2>&1 || exit {NO_SUCH_USER}", shell_quote(user_or_root(username)));
    if !working_dir.is_empty() {
        line.push_str(&format!("; test -d {} || exit {NO_SUCH_DIRECTORY}", shell_quote(working_dir)));
    }
    line
}

/// The program and arguments for qemu-ga's `guest-exec`: the script under `/bin/sh` in a
/// session of its own (`setsid`, so a timeout or StopInvocation kills its whole process
/// group), stderr into stdout (ECS shows one Output), in the working directory (by default the
/// user's home), as the user (`su` for anyone but root).
pub fn exec_argv(script: &str, username: &str, working_dir: &str) -> (String, Vec<String>) {
    let cd = if working_dir.is_empty() {
        "cd \"${HOME:-/root}\" 2>/dev/null || cd /".to_string()
    } else {
        format!("cd {} || exit {NO_SUCH_DIRECTORY}", shell_quote(working_dir))
    };
    let line = format!("exec 2>&1; {cd}; exec /bin/sh -c {}", shell_quote(script));
    let user = user_or_root(username);
    let mut args = Vec::new();
    if user == "root" {
        args.extend(["/bin/sh".to_string(), "-c".to_string(), line]);
    } else {
        args.extend(["su".into(), "-s".into(), "/bin/sh".into(), user.to_string(), "-c".into(), line]);
    }
    ("setsid".to_string(), args)
}

/// The shell line that kills a run's process group (the pid is its session leader). No `--`
/// before the group: dash, Debian's /bin/sh, takes `kill -KILL -PID` but refuses `kill -KILL --
/// -PID` ("Illegal number"), which left a timed-out script running on the Debian guest.
pub fn kill_line(pid: i64) -> String {
    format!("kill -KILL -{pid} 2>/dev/null; kill -KILL {pid} 2>/dev/null; true")
}

/// Keep at most [`OUTPUT_LIMIT`] bytes of output; returns them and how many were dropped.
pub fn cap_output(mut output: Vec<u8>) -> (Vec<u8>, i64) {
    let dropped = output.len().saturating_sub(OUTPUT_LIMIT);
    output.truncate(OUTPUT_LIMIT);
    (output, dropped as i64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn object(v: serde_json::Value) -> serde_json::Map<String, serde_json::Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn placeholders_are_found_trimmed_and_built_ins_left_out() {
        let names =
            parameter_names("echo {{ name }} {{Name}} {{ACS::InstanceId}} {{dir-1}} {{ unclosed").unwrap();
        assert_eq!(names, ["name", "dir-1"]);
        assert_eq!(parameter_names("{{a b}}").unwrap_err().code(), "InvalidParameters.KeyMalformed");
        assert_eq!(parameter_names("{{acs::mine}}").unwrap_err().code(), "InvalidParameters.KeyMalformed");
        let long = format!("{{{{{}}}}}", "x".repeat(65));
        assert_eq!(parameter_names(&long).unwrap_err().code(), "InvalidParameters.KeyLengthLimitExceeded");
        let many: String = (0..21).map(|i| format!("{{{{p{i}}}}}")).collect();
        assert_eq!(parameter_names(&many).unwrap_err().code(), "InvalidParameters.CountLimitExceeded");
    }

    #[test]
    fn parameters_follow_ecs_rules() {
        let defined = vec!["name".to_string(), "greeting".to_string()];
        let values = check_parameters(&defined, &object(json!({"NAME": "Jack"}))).unwrap();
        assert_eq!(
            values,
            BTreeMap::from([("name".into(), "Jack".into()), ("greeting".into(), String::new())])
        );
        let code = |v| check_parameters(&defined, &object(v)).unwrap_err().code();
        assert_eq!(code(json!({"other": "x"})), "InvalidParameters.KeyNotMatch");
        assert_eq!(code(json!({"": "x"})), "InvalidParameters.KeyEmpty");
        assert_eq!(code(json!({"na me": "x"})), "InvalidParameters.KeyMalformed");
        assert_eq!(code(json!({"name": 3})), "InvalidParameters.ValueTypeUnsupported");
        assert_eq!(code(json!({"name": "a", "Name": "b"})), "InvalidParameters.KeyDuplicate");
        let eleven: serde_json::Map<_, _> = (0..11).map(|i| (format!("k{i}"), json!("v"))).collect();
        assert_eq!(
            check_parameters(&defined, &eleven).unwrap_err().code(),
            "InvalidParameters.CountLimitExceeded"
        );
    }

    #[test]
    fn values_and_built_ins_are_filled_in() {
        let values = BTreeMap::from([("name".to_string(), "Jack".to_string())]);
        let filled = fill_parameters("echo {{ Name }} on {{ACS::InstanceId}} {{x", &values);
        assert_eq!(filled, "echo Jack on {{ACS::InstanceId}} {{x");
        let b = BuiltIns {
            region_id: "local",
            account_id: "acc",
            instance_id: "i-1",
            instance_name: "web",
            invoke_id: "t-1",
            command_id: "c-1",
        };
        assert_eq!(fill_built_ins(&filled, &b), "echo Jack on i-1 {{x");
    }

    #[test]
    fn the_kill_line_names_the_group_as_dash_and_busybox_take_it() {
        assert_eq!(kill_line(42), "kill -KILL -42 2>/dev/null; kill -KILL 42 2>/dev/null; true");
    }

    #[test]
    fn the_guest_line_quotes_everything() {
        assert_eq!(shell_quote("it's"), r"'it'\''s'");
        let (path, args) = exec_argv("echo 'hi'", "", "/tmp/my dir");
        assert_eq!(path, "setsid");
        assert_eq!(args[..2], ["/bin/sh", "-c"]);
        assert_eq!(args[2], r"exec 2>&1; cd '/tmp/my dir' || exit 202; exec /bin/sh -c 'echo '\''hi'\'''");
        let (_, args) = exec_argv("id", "alice", "");
        assert_eq!(args[..5], ["su", "-s", "/bin/sh", "alice", "-c"]);
        assert_eq!(
            preflight_line("", "/x"),
            "id -u -- 'root' >/dev/null 2>&1 || exit 201; test -d '/x' || exit 202"
        );
    }

    #[test]
    fn output_is_capped_at_24_kib() {
        assert_eq!(cap_output(b"hi".to_vec()), (b"hi".to_vec(), 0));
        let (kept, dropped) = cap_output(vec![b'x'; OUTPUT_LIMIT + 100]);
        assert_eq!((kept.len(), dropped), (OUTPUT_LIMIT, 100));
    }
}
