//! Local buckets: `DATA/buckets/<Bucket>/<Object>`. Bucket and object names are checked so that
//! no name can reach outside its bucket (no `..`, no absolute paths, no NUL).

use crate::{Error, Result};
use std::path::{Path, PathBuf};

/// OSS bucket naming: 3-63 characters, lowercase letters, digits and hyphens, not starting or
/// ending with a hyphen.
pub fn check_bucket_name(bucket: &str) -> Result<()> {
    let ok = (3..=63).contains(&bucket.len())
        && bucket.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !bucket.starts_with('-')
        && !bucket.ends_with('-');
    if ok {
        Ok(())
    } else {
        Err(Error::rejected(
            "InvalidOSSBucket.Malformed",
            format!(
                "The bucket name {bucket:?} is not valid: use 3-63 lowercase letters, digits and hyphens."
            ),
        ))
    }
}

/// Object keys: 1-1023 bytes, relative, no `.`/`..` segments, no NUL or backslash.
pub fn check_object_name(object: &str) -> Result<()> {
    // Checked segment by segment: `Path::components` would silently drop a `.` in the middle.
    let relative_and_plain =
        object.split('/').all(|segment| !segment.is_empty() && segment != "." && segment != "..");
    let ok = !object.is_empty()
        && object.len() <= 1023
        && !object.starts_with('/')
        && !object.contains('\0')
        && !object.contains('\\')
        && relative_and_plain;
    if ok {
        Ok(())
    } else {
        Err(Error::rejected(
            "InvalidOSSObject.Malformed",
            format!(
                "The object name {object:?} is not valid: it must be a relative key without '..' segments."
            ),
        ))
    }
}

/// Where an object lives on disk, after both names were checked.
pub fn object_path(buckets_dir: &Path, bucket: &str, object: &str) -> Result<PathBuf> {
    check_bucket_name(bucket)?;
    check_object_name(object)?;
    Ok(buckets_dir.join(bucket).join(object))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_cannot_escape_the_bucket() {
        let root = Path::new("/data/buckets");
        assert_eq!(object_path(root, "images", "a/b.qcow2").unwrap(), root.join("images/a/b.qcow2"));
        for bad in ["../x", "a/../../x", "/etc/passwd", "a/./b", "", "a\\b", "a\0b"] {
            assert!(object_path(root, "images", bad).is_err(), "{bad:?} accepted");
        }
        for bad in ["..", "UPPER", "a", "-lead", "trail-", "has/slash"] {
            assert!(object_path(root, bad, "x").is_err(), "bucket {bad:?} accepted");
        }
    }
}
