//! Buckets: where ImportImage reads objects from and MTS jobs read videos from and write frames
//! to. A bucket is either a local folder, `DATA/buckets/<Bucket>/` (the default, nothing to
//! configure), or a bucket on an S3-compatible object store named in the `--buckets-config`
//! file (see [`config`]), reached through the `object_store` crate.
//!
//! Callers see one async API, [`Buckets`], whatever backs a bucket. Bucket and object names are
//! checked before anything is touched, so that no name can reach outside its bucket (no `..`,
//! no `.` segments, no absolute keys, no NUL). Failures are [`BucketError`]s, which each API
//! maps to its own codes (ECS through `From<BucketError> for Error`, MTS in `mts::codes`).
//!
//! Buckets are server-wide, their objects are not: [`claim`] gives a bucket to the first tenant
//! that uses it, and to every other tenant it does not exist (the admin uses them all).

/// Whether `account_id` may use `bucket`, called by every action that names one (ImportImage,
/// ExportImage, SubmitSnapshotJob) before it touches it. The server's admin (the operator) uses
/// every bucket and claims none; any other account owns the buckets it used first, and another
/// account's bucket is to it a bucket that does not exist (`NoSuchBucket`: never "forbidden",
/// as for every other resource of another account). The outer error is the store's.
pub async fn claim(store: &ecslab_store::Store, account_id: &str, bucket: &str) -> Result<BucketResult<()>> {
    if !is_bucket_name(bucket) {
        return Ok(Err(BucketError::InvalidBucketName { bucket: bucket.to_string() }));
    }
    if account_id == ecslab_store::ADMIN_ACCOUNT_ID {
        return Ok(Ok(()));
    }
    let owner = store.claim_bucket(bucket, account_id).await?;
    Ok(if owner == account_id {
        Ok(())
    } else {
        Err(BucketError::NoSuchBucket { bucket: bucket.to_string() })
    })
}

pub mod config;
mod local;
mod s3;

pub use config::{BucketsConfig, S3BucketConfig};

use crate::{Error, Result};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// OSS bucket naming: 3-63 characters, lowercase letters, digits and hyphens, not starting or
/// ending with a hyphen.
pub fn check_bucket_name(bucket: &str) -> Result<()> {
    if is_bucket_name(bucket) {
        Ok(())
    } else {
        Err(BucketError::InvalidBucketName { bucket: bucket.into() }.into())
    }
}

fn is_bucket_name(bucket: &str) -> bool {
    (3..=63).contains(&bucket.len())
        && bucket.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !bucket.starts_with('-')
        && !bucket.ends_with('-')
}

/// Object keys: 1-1023 bytes, relative, no `.`/`..` segments, no NUL or backslash.
fn is_object_name(object: &str) -> bool {
    // Checked segment by segment: `Path::components` would silently drop a `.` in the middle.
    let relative_and_plain =
        object.split('/').all(|segment| !segment.is_empty() && segment != "." && segment != "..");
    !object.is_empty()
        && object.len() <= 1023
        && !object.starts_with('/')
        && !object.contains('\0')
        && !object.contains('\\')
        && relative_and_plain
}

/// Object keys as [`Buckets`] takes them, with ECS's error for a bad one.
pub fn check_object_name(object: &str) -> Result<()> {
    if is_object_name(object) {
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

/// Where an object of a local bucket lives on disk, after both names were checked.
pub fn object_path(buckets_dir: &Path, bucket: &str, object: &str) -> Result<PathBuf> {
    check_bucket_name(bucket)?;
    check_object_name(object)?;
    Ok(buckets_dir.join(bucket).join(object))
}

/// Why a bucket operation failed, before an API gives it its own code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BucketError {
    /// The bucket name breaks the naming rules.
    InvalidBucketName {
        bucket: String,
    },
    /// The object key could escape the bucket or is otherwise unusable.
    InvalidObjectName {
        key: String,
    },
    /// No local folder of that name, or the S3 bucket behind the name does not exist.
    NoSuchBucket {
        bucket: String,
    },
    NoSuchObject {
        bucket: String,
        key: String,
    },
    /// The filesystem or the object store refused the read or write.
    Denied {
        bucket: String,
        key: String,
        why: String,
    },
    /// A configured object store could not be reached or answered with an error.
    Unavailable {
        bucket: String,
        store: String,
        why: String,
    },
}

impl BucketError {
    /// `bucket/key`, for messages.
    fn label(bucket: &str, key: &str) -> String {
        format!("{bucket}/{key}")
    }
}

impl std::fmt::Display for BucketError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BucketError::InvalidBucketName { bucket } => write!(
                f,
                "The bucket name {bucket:?} is not valid: use 3-63 lowercase letters, digits and hyphens."
            ),
            BucketError::InvalidObjectName { key } => write!(
                f,
                "The object name {key:?} is not valid: it must be a relative key without '..' or '.' \
                 segments or control characters."
            ),
            BucketError::NoSuchBucket { bucket } => write!(f, "The bucket {bucket:?} does not exist."),
            BucketError::NoSuchObject { bucket, key } => {
                write!(f, "The object {key:?} does not exist in bucket {bucket:?}.")
            }
            BucketError::Denied { bucket, key, why } => {
                write!(f, "Access to {:?} was refused: {why}", BucketError::label(bucket, key))
            }
            BucketError::Unavailable { bucket, store, why } => {
                write!(f, "The bucket {bucket:?} ({store}) cannot be used right now: {why}")
            }
        }
    }
}

impl std::error::Error for BucketError {}

/// ECS's codes (ImportImage, ExportImage): OSS-flavoured names, 404 for what is missing, 403
/// for a refusal, 503 for a store that cannot be reached.
impl From<BucketError> for Error {
    fn from(e: BucketError) -> Error {
        let message = e.to_string();
        let code = match e {
            BucketError::InvalidBucketName { .. } => "InvalidOSSBucket.Malformed",
            BucketError::InvalidObjectName { .. } => "InvalidOSSObject.Malformed",
            BucketError::NoSuchBucket { .. } => "InvalidOSSBucket.NotFound",
            BucketError::NoSuchObject { .. } => "InvalidOSSObject.NotFound",
            BucketError::Denied { .. } => "PermissionDenied.BucketAccess",
            BucketError::Unavailable { .. } => "ServiceUnavailable",
        };
        Error::rejected(code, message)
    }
}

pub type BucketResult<T> = std::result::Result<T, BucketError>;

/// A bucket object as a local file: the object itself for local buckets, or a downloaded copy
/// (removed when this is dropped) for remote ones.
#[derive(Debug)]
pub struct ObjectFile {
    path: PathBuf,
    temporary: bool,
}

impl ObjectFile {
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for ObjectFile {
    fn drop(&mut self) {
        if self.temporary {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// Every bucket this server can use: local folders under `root`, plus the configured remote
/// ones (a configured name always means the remote bucket, even if a folder has that name).
pub struct Buckets {
    root: PathBuf,
    /// Downloads of remote objects that a tool needs as a file (qemu-img, ffmpeg).
    scratch: PathBuf,
    remote: HashMap<String, s3::RemoteBucket>,
}

impl std::fmt::Debug for Buckets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut remote: Vec<_> = self.remote.keys().collect();
        remote.sort();
        write!(f, "Buckets(root={}, remote={remote:?})", self.root.display())
    }
}

impl Buckets {
    /// Local buckets under `root`, remote ones from `config`. Creates `root` and empties the
    /// scratch folder (downloads a previous server left behind). Fails on a configuration that
    /// cannot work (bad names, endpoints).
    pub fn new(root: PathBuf, scratch: PathBuf, config: &BucketsConfig) -> Result<Buckets> {
        let mut remote = HashMap::new();
        for (name, bucket) in &config.buckets {
            check_bucket_name(name)
                .map_err(|e| Error::internal(format!("buckets config: bucket {name:?}: {e}")))?;
            let store = s3::RemoteBucket::new(name, bucket)
                .map_err(|e| Error::internal(format!("buckets config: bucket {name:?}: {e}")))?;
            remote.insert(name.clone(), store);
        }
        let _ = std::fs::remove_dir_all(&scratch);
        for dir in [&root, &scratch] {
            std::fs::create_dir_all(dir)
                .map_err(|e| Error::internal(format!("creating {}: {e}", dir.display())))?;
        }
        Ok(Buckets { root, scratch, remote })
    }

    /// Local buckets only (tests, tools).
    pub fn local(root: PathBuf) -> Result<Buckets> {
        let scratch = root.join(".scratch");
        Buckets::new(root, scratch, &BucketsConfig::default())
    }

    /// Whether the bucket is on a remote object store.
    pub fn is_remote(&self, bucket: &str) -> bool {
        self.remote.contains_key(bucket)
    }

    /// Where a bucket lives, for logs and messages.
    pub fn describe(&self, bucket: &str) -> String {
        match self.remote.get(bucket) {
            Some(remote) => remote.describe(),
            None => format!("local folder {}", self.root.join(bucket).display()),
        }
    }

    fn check_name(bucket: &str) -> BucketResult<()> {
        if is_bucket_name(bucket) {
            Ok(())
        } else {
            Err(BucketError::InvalidBucketName { bucket: bucket.into() })
        }
    }

    fn check_names(bucket: &str, key: &str) -> BucketResult<()> {
        Self::check_name(bucket)?;
        if is_object_name(key) {
            Ok(())
        } else {
            Err(BucketError::InvalidObjectName { key: key.into() })
        }
    }

    /// The bucket exists and can be reached: a local folder, or a remote store that answers
    /// (a missing remote bucket is `NoSuchBucket`).
    pub async fn check_bucket(&self, bucket: &str) -> BucketResult<()> {
        Self::check_name(bucket)?;
        match self.remote.get(bucket) {
            Some(remote) => remote.probe(bucket).await,
            None => local::check_bucket(&self.root, bucket),
        }
    }

    /// The object's size, or `None` when it does not exist.
    pub async fn head(&self, bucket: &str, key: &str) -> BucketResult<Option<u64>> {
        Self::check_names(bucket, key)?;
        match self.remote.get(bucket) {
            Some(remote) => remote.head(bucket, key).await,
            None => local::head(&self.root, bucket, key).await,
        }
    }

    pub async fn exists(&self, bucket: &str, key: &str) -> BucketResult<bool> {
        Ok(self.head(bucket, key).await?.is_some())
    }

    /// Copy an object into `dest` (written to a temporary name, then renamed). Returns its size.
    pub async fn get_to_file(&self, bucket: &str, key: &str, dest: &Path) -> BucketResult<u64> {
        Self::check_names(bucket, key)?;
        match self.remote.get(bucket) {
            Some(remote) => remote.get_to_file(bucket, key, dest).await,
            None => local::get_to_file(&self.root, bucket, key, dest).await,
        }
    }

    /// Bytes `range` of an object (clipped to its end): a ranged GET on a remote store, so
    /// that a file's headers can be inspected before it is downloaded.
    pub async fn read_range(
        &self,
        bucket: &str,
        key: &str,
        range: std::ops::Range<u64>,
    ) -> BucketResult<Vec<u8>> {
        Self::check_names(bucket, key)?;
        match self.remote.get(bucket) {
            Some(remote) => remote.get_range(bucket, key, range).await,
            None => local::read_range(&self.root, bucket, key, range).await,
        }
    }

    /// The object as a file a tool can open: in place for a local bucket, else downloaded
    /// into the scratch folder for as long as the returned [`ObjectFile`] lives.
    pub async fn object_file(&self, bucket: &str, key: &str) -> BucketResult<ObjectFile> {
        Self::check_names(bucket, key)?;
        let Some(remote) = self.remote.get(bucket) else {
            return match local::head(&self.root, bucket, key).await? {
                Some(_) => Ok(ObjectFile { path: self.root.join(bucket).join(key), temporary: false }),
                None => Err(BucketError::NoSuchObject { bucket: bucket.into(), key: key.into() }),
            };
        };
        let extension = Path::new(key).extension().map(|e| e.to_string_lossy().into_owned());
        let mut path = self.scratch.join(crate::ids::new_id("obj"));
        if let Some(extension) = extension {
            path.set_extension(extension);
        }
        // From here on the download is removed whatever happens.
        let file = ObjectFile { path, temporary: true };
        remote.get_to_file(bucket, key, &file.path).await?;
        Ok(file)
    }

    /// Store the file `src` as an object (large files are uploaded in parts). The object
    /// appears whole or not at all.
    pub async fn put_file(&self, bucket: &str, key: &str, src: &Path) -> BucketResult<()> {
        Self::check_names(bucket, key)?;
        match self.remote.get(bucket) {
            Some(remote) => remote.put_file(bucket, key, src).await,
            None => local::put_file(&self.root, bucket, key, src).await,
        }
    }

    /// Store `bytes` as an object; it appears whole or not at all.
    pub async fn put_bytes(&self, bucket: &str, key: &str, bytes: Vec<u8>) -> BucketResult<()> {
        Self::check_names(bucket, key)?;
        match self.remote.get(bucket) {
            Some(remote) => remote.put_bytes(bucket, key, bytes).await,
            None => local::put_bytes(&self.root, bucket, key, &bytes).await,
        }
    }
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

    #[tokio::test]
    async fn local_buckets_round_trip_and_refuse_escapes() {
        let dir = tempfile::tempdir().unwrap();
        let buckets = Buckets::local(dir.path().join("buckets")).unwrap();
        std::fs::create_dir_all(dir.path().join("buckets/media")).unwrap();

        buckets.put_bytes("media", "a/b/frame.jpg", b"jpeg".to_vec()).await.unwrap();
        assert_eq!(buckets.head("media", "a/b/frame.jpg").await.unwrap(), Some(4));
        assert!(!buckets.exists("media", "a/b/other.jpg").await.unwrap());

        let src = dir.path().join("src.bin");
        std::fs::write(&src, vec![7u8; 100_000]).unwrap();
        buckets.put_file("media", "big.bin", &src).await.unwrap();
        let dest = dir.path().join("copy.bin");
        assert_eq!(buckets.get_to_file("media", "big.bin", &dest).await.unwrap(), 100_000);
        assert_eq!(std::fs::read(&dest).unwrap(), vec![7u8; 100_000]);
        let file = buckets.object_file("media", "big.bin").await.unwrap();
        assert_eq!(file.path(), dir.path().join("buckets/media/big.bin"));

        assert_eq!(
            buckets.put_bytes("media", "../escape", vec![]).await,
            Err(BucketError::InvalidObjectName { key: "../escape".into() })
        );
        assert!(!dir.path().join("buckets/escape").exists());
        assert_eq!(
            buckets.put_bytes("nobucket", "x", vec![]).await,
            Err(BucketError::NoSuchBucket { bucket: "nobucket".into() })
        );
        assert_eq!(
            buckets.object_file("media", "missing.mp4").await.unwrap_err(),
            BucketError::NoSuchObject { bucket: "media".into(), key: "missing.mp4".into() }
        );
        // No partial files are left next to the objects.
        let names: Vec<_> = std::fs::read_dir(dir.path().join("buckets/media"))
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        assert_eq!(names.len(), 2, "{names:?}");
    }

    #[test]
    fn a_plain_http_endpoint_needs_allow_http() {
        let dir = tempfile::tempdir().unwrap();
        let config = |allow_http: bool| -> BucketsConfig {
            serde_json::from_value(serde_json::json!({
                "buckets": { "media": { "endpoint": "http://127.0.0.1:9", "allow_http": allow_http } }
            }))
            .unwrap()
        };
        let err = Buckets::new(dir.path().join("b"), dir.path().join("s"), &config(false)).unwrap_err();
        assert!(err.detail().contains("allow_http"), "{}", err.detail());
        assert!(Buckets::new(dir.path().join("b"), dir.path().join("s"), &config(true)).is_ok());
    }

    #[tokio::test]
    async fn an_unreachable_store_is_unavailable_not_missing() {
        let dir = tempfile::tempdir().unwrap();
        // A port nothing listens on: bind one, then close it.
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let config: BucketsConfig = serde_json::from_value(serde_json::json!({
            "buckets": { "remote-media": {
                "endpoint": format!("http://127.0.0.1:{port}"),
                "bucket": "media", "access_key_id": "k", "secret_access_key": "s", "allow_http": true
            }}
        }))
        .unwrap();
        let buckets = Buckets::new(dir.path().join("buckets"), dir.path().join("scratch"), &config).unwrap();
        assert!(buckets.is_remote("remote-media"));
        let started = std::time::Instant::now();
        let err = buckets.put_bytes("remote-media", "x.jpg", b"x".to_vec()).await.unwrap_err();
        assert!(matches!(err, BucketError::Unavailable { .. }), "{err:?}");
        assert!(err.to_string().contains(&format!("127.0.0.1:{port}")), "{err}");
        assert!(started.elapsed() < std::time::Duration::from_secs(30), "took {:?}", started.elapsed());
        assert_eq!(Error::from(err).code(), "ServiceUnavailable");
        let err = buckets.check_bucket("remote-media").await.unwrap_err();
        assert!(matches!(err, BucketError::Unavailable { .. }), "{err:?}");
        // Escapes are refused before the store is contacted.
        assert_eq!(
            buckets.head("remote-media", "a/../b").await,
            Err(BucketError::InvalidObjectName { key: "a/../b".into() })
        );
    }
}
