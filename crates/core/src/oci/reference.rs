//! Telling a registry image reference (`host[:port]/repository[:tag]`) from a plain image name,
//! with docker's rule, and checking each part against the distribution spec's grammar so a bad
//! ImageUrl fails before anything is uploaded.

use super::OciError;

/// A parsed `host[:port]/repository:tag`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageReference {
    /// `host[:port]` as written, e.g. `127.0.0.1:5000` or `registry.example.com`.
    pub registry: String,
    /// The repository path inside the registry, e.g. `team/snapshots`.
    pub repository: String,
    /// The tag; `latest` when the URL names none (docker's default).
    pub tag: String,
}

impl std::fmt::Display for ImageReference {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}:{}", self.registry, self.repository, self.tag)
    }
}

/// `host[:port]/repository[:tag]` names a registry when the first component has a '.' or ':' or
/// is `localhost` (docker's rule); anything else (e.g. `my-image:v1`) is not a registry → `None`.
/// A string that does name a registry but breaks the reference grammar is `InvalidImageUrl`.
pub fn parse_registry_url(url: &str) -> Result<Option<ImageReference>, OciError> {
    let url = url.trim();
    if url.contains("://") {
        return Err(invalid(url, "write it as host[:port]/repository[:tag], without a scheme"));
    }
    let Some((first, rest)) = url.split_once('/') else { return Ok(None) };
    if !(first.contains('.') || first.contains(':') || first == "localhost") {
        return Ok(None);
    }
    if !is_valid_host(first) {
        return Err(invalid(url, "the registry host is not a valid host[:port]"));
    }
    if rest.contains('@') {
        return Err(invalid(url, "digest references are not supported here; name a tag"));
    }
    // The tag is after the last ':' that follows the last '/'.
    let last_slash = rest.rfind('/').map_or(0, |i| i + 1);
    let (repository, tag) = match rest[last_slash..].find(':') {
        Some(i) => (&rest[..last_slash + i], &rest[last_slash + i + 1..]),
        None => (rest, "latest"),
    };
    if !is_valid_repository(repository) {
        return Err(invalid(
            url,
            "the repository must be lowercase letters and digits separated by '.', '_', '__', '-' or '/'",
        ));
    }
    if !is_valid_tag(tag) {
        return Err(invalid(url, "the tag must be 1-128 of [A-Za-z0-9_.-], not starting with '.' or '-'"));
    }
    Ok(Some(ImageReference {
        registry: first.to_string(),
        repository: repository.to_string(),
        tag: tag.to_string(),
    }))
}

fn invalid(url: &str, why: &str) -> OciError {
    OciError::new(
        "InvalidImageUrl",
        format!("ImageUrl \"{url}\" is not a valid registry image reference: {why}."),
    )
}

/// `host`, `host:port`, `[ipv6]:port`, with DNS-ish labels.
fn is_valid_host(host: &str) -> bool {
    let (name, port) = if let Some(bracketed) = host.strip_prefix('[') {
        let Some((v6, after)) = bracketed.split_once(']') else { return false };
        if v6.parse::<std::net::Ipv6Addr>().is_err() {
            return false;
        }
        match after {
            "" => return true,
            _ => match after.strip_prefix(':') {
                Some(port) => (None, Some(port)),
                None => return false,
            },
        }
    } else {
        match host.rsplit_once(':') {
            Some((name, port)) => (Some(name), Some(port)),
            None => (Some(host), None),
        }
    };
    if let Some(port) = port {
        if port.is_empty() || port.len() > 5 || port.parse::<u16>().is_err() {
            return false;
        }
    }
    match name {
        None => true,
        Some(name) => {
            !name.is_empty()
                && name.split('.').all(|label| {
                    !label.is_empty()
                        && label.len() <= 63
                        && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
                        && !label.starts_with('-')
                        && !label.ends_with('-')
                })
        }
    }
}

/// `[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*(/[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*)*`, at most 255 bytes.
fn is_valid_repository(repository: &str) -> bool {
    !repository.is_empty() && repository.len() <= 255 && repository.split('/').all(is_valid_path_component)
}

fn is_valid_path_component(component: &str) -> bool {
    let bytes = component.as_bytes();
    let alnum = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    if bytes.is_empty() || !alnum(bytes[0]) || !alnum(bytes[bytes.len() - 1]) {
        return false;
    }
    let mut i = 0;
    while i < bytes.len() {
        if alnum(bytes[i]) {
            i += 1;
            continue;
        }
        // A separator run: ".", "_", "__" or one or more '-', followed by an alphanumeric.
        let start = i;
        match bytes[i] {
            b'.' => i += 1,
            b'_' => {
                i += 1;
                if i < bytes.len() && bytes[i] == b'_' {
                    i += 1;
                }
            }
            b'-' => {
                while i < bytes.len() && bytes[i] == b'-' {
                    i += 1;
                }
            }
            _ => return false,
        }
        if i == start || i >= bytes.len() || !alnum(bytes[i]) {
            return false;
        }
    }
    true
}

/// `[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}`.
fn is_valid_tag(tag: &str) -> bool {
    let word = |c: char| c.is_ascii_alphanumeric() || c == '_';
    let mut chars = tag.chars();
    matches!(chars.next(), Some(c) if word(c))
        && tag.len() <= 128
        && chars.all(|c| word(c) || c == '.' || c == '-')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(url: &str) -> ImageReference {
        parse_registry_url(url).unwrap().unwrap()
    }

    #[test]
    fn names_a_registry_by_dot_colon_or_localhost() {
        let r = parsed("127.0.0.1:5000/team/snap:v1");
        assert_eq!(
            (r.registry.as_str(), r.repository.as_str(), r.tag.as_str()),
            ("127.0.0.1:5000", "team/snap", "v1")
        );
        let r = parsed("registry.cn-shanghai.aliyuncs.com/test/example:snapshot-v1");
        assert_eq!(r.registry, "registry.cn-shanghai.aliyuncs.com");
        assert_eq!(r.repository, "test/example");
        assert_eq!(r.tag, "snapshot-v1");
        let r = parsed("localhost/disk");
        assert_eq!((r.registry.as_str(), r.tag.as_str()), ("localhost", "latest"));
        let r = parsed("[::1]:5000/a/b");
        assert_eq!(r.registry, "[::1]:5000");
        assert_eq!(r.to_string(), "[::1]:5000/a/b:latest");
    }

    #[test]
    fn plain_names_are_not_registries() {
        for url in ["my-image:v1", "my-image", "library/ubuntu:22.04", "team/snap", "localhost:5000"] {
            assert_eq!(parse_registry_url(url).unwrap(), None, "{url}");
        }
    }

    #[test]
    fn refuses_malformed_references() {
        for url in [
            "http://127.0.0.1:5000/a:b",
            "127.0.0.1:5000/Upper:v1",
            "127.0.0.1:5000/a//b:v1",
            "127.0.0.1:5000/a:",
            "127.0.0.1:5000/a:-bad",
            "127.0.0.1:5000/a@sha256:00",
            "127.0.0.1:99999/a:v1",
            "bad_host.example/a:v1",
            "127.0.0.1:5000/a-:v1",
        ] {
            let err = parse_registry_url(url).unwrap_err();
            assert_eq!(err.code, "InvalidImageUrl", "{url}");
            assert!(err.message.contains(url), "{url}: {}", err.message);
        }
    }

    #[test]
    fn repository_separators_follow_the_spec() {
        for ok in ["a", "a.b", "a_b", "a__b", "a---b", "a/b/c", "x0-1.y_2"] {
            assert!(is_valid_repository(ok), "{ok}");
        }
        for bad in ["", "a___b", "a._b", ".a", "a/", "A", "a b"] {
            assert!(!is_valid_repository(bad), "{bad}");
        }
    }
}
