//! A job's images read back for the web console. MTS itself has no such action (its users read the bucket); the
//! console shows a job's frames beside the instance they came from, so the runner notes every object it writes
//! and this reads the newest images back from their buckets, bounded in number and size.

use super::{codes, ScreenshotJobs};
use crate::buckets::BucketError;
use crate::Result;
use ecslab_store::JobOutputKind;

/// Images larger than this are listed without their bytes (a sprite sheet of big frames).
pub const MAX_IMAGE_BYTES: u64 = 8 << 20;

/// One image a job wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobImage {
    pub kind: JobOutputKind,
    pub bucket: String,
    pub object_key: String,
    pub content: ImageContent,
}

/// What became of an image's bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ImageContent {
    Jpeg(Vec<u8>),
    /// Deleted from its bucket since the job wrote it.
    Gone,
    /// Over [`MAX_IMAGE_BYTES`].
    TooLarge {
        bytes: u64,
    },
}

/// The newest images of a job, oldest of them first, and how many it wrote in all.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobImages {
    pub total: usize,
    pub images: Vec<JobImage>,
}

impl ScreenshotJobs {
    /// The last `max` images (frames and sprite sheets) job `job_id` of the account wrote, read from their buckets.
    /// An unknown job, or another account's, is MTS's `InvalidParameter.ResourceNotFound`.
    pub async fn job_images(&self, account_id: &str, job_id: &str, max: usize) -> Result<JobImages> {
        if self.store.snapshot_job(account_id, job_id).await?.is_none() {
            return Err(codes::not_found(job_id));
        }
        let mut outputs = self.store.snapshot_job_outputs(job_id).await?;
        outputs.retain(|o| o.kind != JobOutputKind::Index);
        let total = outputs.len();
        let newest = outputs.split_off(total.saturating_sub(max));
        let mut images = Vec::with_capacity(newest.len());
        for output in newest {
            let content = self.read_image(&output.bucket, &output.object_key).await?;
            images.push(JobImage {
                kind: output.kind,
                bucket: output.bucket,
                object_key: output.object_key,
                content,
            });
        }
        Ok(JobImages { total, images })
    }

    /// One image's bytes; an object or bucket removed since (even between the two reads) is [`ImageContent::Gone`].
    async fn read_image(&self, bucket: &str, key: &str) -> Result<ImageContent> {
        let read = async {
            Ok(match self.buckets.head(bucket, key).await? {
                None => ImageContent::Gone,
                Some(bytes) if bytes > MAX_IMAGE_BYTES => ImageContent::TooLarge { bytes },
                Some(bytes) => ImageContent::Jpeg(self.buckets.read_range(bucket, key, 0..bytes).await?),
            })
        };
        match read.await {
            Ok(content) => Ok(content),
            Err(BucketError::NoSuchBucket { .. } | BucketError::NoSuchObject { .. }) => {
                Ok(ImageContent::Gone)
            }
            Err(e) => Err(codes::from_bucket(e)),
        }
    }
}
