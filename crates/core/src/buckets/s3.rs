//! Remote buckets on an S3-compatible store, through `object_store`'s `AmazonS3`.
//!
//! Timeouts and retries are kept short on purpose: a store that does not answer must fail the
//! request or job within seconds with `Unavailable` (naming the endpoint), not hang a worker
//! for the crate's default three minutes of retries. Files larger than [`SINGLE_PUT_LIMIT`] go
//! up in parts, so an exported disk image never has to fit in memory; S3 shows the object only
//! once the upload completes.

use super::{BucketError, BucketResult, S3BucketConfig};
use futures_util::StreamExt;
use object_store::aws::{AmazonS3, AmazonS3Builder};
use object_store::path::Path as StorePath;
use object_store::{BackoffConfig, ClientOptions, ObjectStore, PutPayload, RetryConfig, WriteMultipart};
use std::path::Path;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Up to this size a file is sent in one PUT.
const SINGLE_PUT_LIMIT: u64 = 16 * 1024 * 1024;
/// Part size of multipart uploads (S3's minimum is 5 MiB).
const PART_SIZE: usize = 8 * 1024 * 1024;
/// Parts in flight at once.
const PARTS_IN_FLIGHT: usize = 4;

pub(super) struct RemoteBucket {
    store: AmazonS3,
    endpoint: String,
    remote_name: String,
}

impl RemoteBucket {
    /// `name` is the API's name of the bucket, also its remote name unless the config says.
    pub(super) fn new(name: &str, config: &S3BucketConfig) -> Result<RemoteBucket, String> {
        let remote_name = config.bucket.clone().unwrap_or_else(|| name.to_string());
        if remote_name.is_empty() {
            return Err("\"bucket\" is empty".into());
        }
        if config.endpoint.starts_with("http://") && !config.allow_http {
            return Err(format!(
                "the endpoint {} is plain http: set \"allow_http\": true to allow it (credentials would cross \
                 in the clear)",
                config.endpoint
            ));
        }
        let connect = Duration::from_secs(config.connect_timeout_secs.unwrap_or(5).max(1));
        let client = ClientOptions::new()
            .with_allow_http(config.allow_http)
            .with_connect_timeout(connect)
            .with_timeout(Duration::from_secs(15 * 60));
        let retry = RetryConfig {
            backoff: BackoffConfig {
                init_backoff: Duration::from_millis(100),
                max_backoff: Duration::from_secs(2),
                base: 2.0,
            },
            max_retries: 2,
            retry_timeout: Duration::from_secs(15),
        };
        let mut builder = AmazonS3Builder::from_env()
            .with_endpoint(&config.endpoint)
            .with_region(config.region.clone().unwrap_or_else(|| "us-east-1".into()))
            .with_allow_http(config.allow_http)
            .with_virtual_hosted_style_request(config.virtual_hosted_style)
            .with_client_options(client)
            .with_retry(retry);
        if let Some(key) = &config.access_key_id {
            builder = builder.with_access_key_id(key);
        }
        if let Some(secret) = &config.secret_access_key {
            builder = builder.with_secret_access_key(secret);
        }
        if let Some(token) = &config.session_token {
            builder = builder.with_token(token);
        }
        let store = builder.with_bucket_name(&remote_name).build().map_err(|e| e.to_string())?;
        Ok(RemoteBucket { store, endpoint: config.endpoint.clone(), remote_name })
    }

    pub(super) fn describe(&self) -> String {
        format!("S3 bucket {:?} at {}", self.remote_name, self.endpoint)
    }

    fn location(key: &str) -> BucketResult<StorePath> {
        StorePath::parse(key).map_err(|_| BucketError::InvalidObjectName { key: key.into() })
    }

    /// Map a store error: what is missing, what is refused, and everything else (connection
    /// refused, timeouts, 5xx) as the store being unavailable.
    fn error(&self, bucket: &str, key: &str, e: object_store::Error, missing: BucketError) -> BucketError {
        match e {
            object_store::Error::NotFound { .. } => missing,
            object_store::Error::PermissionDenied { .. } | object_store::Error::Unauthenticated { .. } => {
                BucketError::Denied {
                    bucket: bucket.into(),
                    key: key.into(),
                    why: format!("{} refused it: {}", self.describe(), crate::error::format_chain(&e)),
                }
            }
            other => {
                let why = crate::error::format_chain(&other);
                // Listings and some writes report S3's 404 only as a generic error carrying
                // the reply: its `NoSuchBucket` code is the one reliable signal.
                if why.contains("NoSuchBucket") {
                    return Self::no_bucket(bucket);
                }
                BucketError::Unavailable { bucket: bucket.into(), store: self.describe(), why }
            }
        }
    }

    fn no_bucket(bucket: &str) -> BucketError {
        BucketError::NoSuchBucket { bucket: bucket.into() }
    }

    fn no_object(bucket: &str, key: &str) -> BucketError {
        BucketError::NoSuchObject { bucket: bucket.into(), key: key.into() }
    }

    /// One listing request under a prefix nothing uses: an existing bucket answers with an
    /// empty page, a missing one with 404.
    pub(super) async fn probe(&self, bucket: &str) -> BucketResult<()> {
        let prefix = StorePath::from(".ecslab-probe");
        let mut listing = self.store.list(Some(&prefix));
        match listing.next().await {
            None | Some(Ok(_)) => Ok(()),
            Some(Err(e)) => Err(self.error(bucket, "", e, Self::no_bucket(bucket))),
        }
    }

    pub(super) async fn head(&self, bucket: &str, key: &str) -> BucketResult<Option<u64>> {
        match self.store.head(&Self::location(key)?).await {
            Ok(meta) => Ok(Some(meta.size)),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(self.error(bucket, key, e, Self::no_object(bucket, key))),
        }
    }

    /// Bytes `range` of an object (a ranged GET).
    pub(super) async fn get_range(
        &self,
        bucket: &str,
        key: &str,
        range: std::ops::Range<u64>,
    ) -> BucketResult<Vec<u8>> {
        let location = Self::location(key)?;
        let bytes = self
            .store
            .get_range(&location, range)
            .await
            .map_err(|e| self.error(bucket, key, e, Self::no_object(bucket, key)))?;
        Ok(bytes.to_vec())
    }

    pub(super) async fn get_to_file(&self, bucket: &str, key: &str, dest: &Path) -> BucketResult<u64> {
        let location = Self::location(key)?;
        let got = self
            .store
            .get(&location)
            .await
            .map_err(|e| self.error(bucket, key, e, Self::no_object(bucket, key)))?;
        let partial = dest.with_extension("download-partial");
        let local = |e: std::io::Error| BucketError::Denied {
            bucket: bucket.into(),
            key: key.into(),
            why: format!("writing {}: {e}", partial.display()),
        };
        let mut file = tokio::fs::File::create(&partial).await.map_err(local)?;
        let mut stream = got.into_stream();
        let mut size = 0u64;
        let copied: BucketResult<()> = async {
            while let Some(chunk) = stream.next().await {
                let chunk = chunk.map_err(|e| self.error(bucket, key, e, Self::no_object(bucket, key)))?;
                file.write_all(&chunk).await.map_err(local)?;
                size += chunk.len() as u64;
            }
            file.flush().await.map_err(local)?;
            tokio::fs::rename(&partial, dest).await.map_err(local)
        }
        .await;
        if copied.is_err() {
            let _ = tokio::fs::remove_file(&partial).await;
        }
        copied.map(|()| size)
    }

    pub(super) async fn put_bytes(&self, bucket: &str, key: &str, bytes: Vec<u8>) -> BucketResult<()> {
        let location = Self::location(key)?;
        self.store
            .put(&location, PutPayload::from(bytes))
            .await
            .map(|_| ())
            .map_err(|e| self.error(bucket, key, e, Self::no_bucket(bucket)))
    }

    pub(super) async fn put_file(&self, bucket: &str, key: &str, src: &Path) -> BucketResult<()> {
        let location = Self::location(key)?;
        let local = |e: std::io::Error| BucketError::Denied {
            bucket: bucket.into(),
            key: key.into(),
            why: format!("reading {}: {e}", src.display()),
        };
        let size = tokio::fs::metadata(src).await.map_err(local)?.len();
        if size <= SINGLE_PUT_LIMIT {
            let bytes = tokio::fs::read(src).await.map_err(local)?;
            return self.put_bytes(bucket, key, bytes).await;
        }
        let upload = self
            .store
            .put_multipart(&location)
            .await
            .map_err(|e| self.error(bucket, key, e, Self::no_bucket(bucket)))?;
        let mut writer = WriteMultipart::new_with_chunk_size(upload, PART_SIZE);
        let mut file = tokio::fs::File::open(src).await.map_err(local)?;
        let mut buf = vec![0u8; PART_SIZE];
        let sent: BucketResult<()> = async {
            loop {
                let n = file.read(&mut buf).await.map_err(local)?;
                if n == 0 {
                    return Ok(());
                }
                writer
                    .wait_for_capacity(PARTS_IN_FLIGHT)
                    .await
                    .map_err(|e| self.error(bucket, key, e, Self::no_bucket(bucket)))?;
                writer.write(&buf[..n]);
            }
        }
        .await;
        match sent {
            Ok(()) => writer
                .finish()
                .await
                .map(|_| ())
                .map_err(|e| self.error(bucket, key, e, Self::no_bucket(bucket))),
            Err(e) => {
                let _ = writer.abort().await;
                Err(e)
            }
        }
    }
}
