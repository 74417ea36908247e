//! Local buckets: folders under `DATA/buckets/`. A bucket exists when its folder does (ecslab
//! never creates one implicitly, as OSS does not). Writes go to a hidden temporary name next to
//! the object and are renamed into place, so readers never see half an object.

use super::{BucketError, BucketResult};
use std::path::{Path, PathBuf};

pub(super) fn check_bucket(root: &Path, bucket: &str) -> BucketResult<()> {
    if root.join(bucket).is_dir() {
        Ok(())
    } else {
        Err(BucketError::NoSuchBucket { bucket: bucket.into() })
    }
}

fn denied(bucket: &str, key: &str, e: &std::io::Error) -> BucketError {
    BucketError::Denied { bucket: bucket.into(), key: key.into(), why: e.kind().to_string() }
}

pub(super) async fn head(root: &Path, bucket: &str, key: &str) -> BucketResult<Option<u64>> {
    check_bucket(root, bucket)?;
    match tokio::fs::metadata(root.join(bucket).join(key)).await {
        Ok(m) if m.is_file() => Ok(Some(m.len())),
        _ => Ok(None),
    }
}

pub(super) async fn get_to_file(root: &Path, bucket: &str, key: &str, dest: &Path) -> BucketResult<u64> {
    if head(root, bucket, key).await?.is_none() {
        return Err(BucketError::NoSuchObject { bucket: bucket.into(), key: key.into() });
    }
    let partial = partial_name(dest);
    let copied = tokio::fs::copy(root.join(bucket).join(key), &partial).await;
    let size = *copied.as_ref().unwrap_or(&0);
    finish(copied.map(drop), &partial, dest).await.map_err(|e| denied(bucket, key, &e))?;
    Ok(size)
}

pub(super) async fn read_range(
    root: &Path,
    bucket: &str,
    key: &str,
    range: std::ops::Range<u64>,
) -> BucketResult<Vec<u8>> {
    use tokio::io::{AsyncReadExt, AsyncSeekExt};
    if head(root, bucket, key).await?.is_none() {
        return Err(BucketError::NoSuchObject { bucket: bucket.into(), key: key.into() });
    }
    let read = async {
        let mut file = tokio::fs::File::open(root.join(bucket).join(key)).await?;
        file.seek(std::io::SeekFrom::Start(range.start)).await?;
        let mut bytes = Vec::new();
        file.take(range.end.saturating_sub(range.start)).read_to_end(&mut bytes).await?;
        Ok(bytes)
    };
    read.await.map_err(|e: std::io::Error| denied(bucket, key, &e))
}

pub(super) async fn put_file(root: &Path, bucket: &str, key: &str, src: &Path) -> BucketResult<()> {
    let target = prepare(root, bucket, key).await?;
    let partial = partial_name(&target);
    let copied = tokio::fs::copy(src, &partial).await.map(|_| ());
    finish(copied, &partial, &target).await.map_err(|e| denied(bucket, key, &e))
}

pub(super) async fn put_bytes(root: &Path, bucket: &str, key: &str, bytes: &[u8]) -> BucketResult<()> {
    let target = prepare(root, bucket, key).await?;
    let partial = partial_name(&target);
    let written = tokio::fs::write(&partial, bytes).await;
    finish(written, &partial, &target).await.map_err(|e| denied(bucket, key, &e))
}

/// The object's path, with its folders created.
async fn prepare(root: &Path, bucket: &str, key: &str) -> BucketResult<PathBuf> {
    check_bucket(root, bucket)?;
    let target = root.join(bucket).join(key);
    if let Some(parent) = target.parent() {
        tokio::fs::create_dir_all(parent).await.map_err(|e| denied(bucket, key, &e))?;
    }
    Ok(target)
}

fn partial_name(target: &Path) -> PathBuf {
    let file_name = target.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    target.with_file_name(format!(".{file_name}.partial-{}", crate::ids::new_id("w")))
}

/// Rename the finished temporary file into place, or remove it.
async fn finish(written: std::io::Result<()>, partial: &Path, target: &Path) -> std::io::Result<()> {
    let renamed = match written {
        Ok(()) => tokio::fs::rename(partial, target).await,
        Err(e) => Err(e),
    };
    if renamed.is_err() {
        let _ = tokio::fs::remove_file(partial).await;
    }
    renamed
}
