//! Job notifications. On MTS a pipeline's NotifyConfig names an MNS topic or queue that receives
//! a message per finished job; ecslab has no MNS, so a Topic (or QueueName) that is an
//! `http://`/`https://` URL is a webhook: each finished job is POSTed there as JSON, retried with
//! exponential backoff. The pending delivery is recorded in the same update that finishes the
//! job, so a restart resumes it; the outcome shows in the job's `MNSMessageResult`.

use super::ScreenshotJobs;
use ecslab_store::{NotifyState, SnapshotJobRecord};
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::Duration;

/// Attempts per message before it is given up (`MNSMessageResult.ErrorCode` says so).
pub const MAX_ATTEMPTS: i64 = 8;
const FIRST_BACKOFF: Duration = Duration::from_millis(500);
const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// The webhook URL in a NotifyConfig object, if it has one.
pub fn webhook_url(notify_config: &Value) -> Option<String> {
    ["Topic", "QueueName"]
        .iter()
        .filter_map(|k| notify_config.get(*k).and_then(Value::as_str))
        .find(|v| v.starts_with("http://") || v.starts_with("https://"))
        .map(str::to_string)
}

/// The JSON message a webhook receives for one finished job.
pub fn message(job: &SnapshotJobRecord, message_id: &str) -> Value {
    json!({
        "Type": "Snapshot",
        "MessageId": message_id,
        "JobId": job.job_id,
        "State": job.state,
        "Code": job.code,
        "Message": job.message,
        "Count": job.count.to_string(),
        "TileCount": job.tile_count.to_string(),
        "PipelineId": job.pipeline_id,
        "UserData": job.user_data,
        "CreationTime": job.created_at,
        "FinishTime": job.finished_at,
    })
}

fn backoff(attempt: i64) -> Duration {
    let factor = 1u32 << attempt.clamp(0, 16) as u32;
    FIRST_BACKOFF.saturating_mul(factor).min(MAX_BACKOFF)
}

impl ScreenshotJobs {
    /// The webhook of a pipeline, if the job has a pipeline and it has one.
    pub(crate) async fn webhook_of(&self, pipeline_id: &str) -> Option<String> {
        if pipeline_id.is_empty() {
            return None;
        }
        let pipeline = self.store.pipeline_by_id(pipeline_id).await.ok()??;
        let config: Value = serde_json::from_str(&pipeline.notify_config).ok()?;
        webhook_url(&config)
    }

    /// Deliver a finished job's message in the background, retrying with backoff.
    pub(crate) fn spawn_delivery(self: Arc<Self>, job_id: String) {
        tokio::spawn(async move { self.deliver(&job_id).await });
    }

    async fn deliver(&self, job_id: &str) {
        loop {
            let Ok(Some(job)) = self.store.snapshot_job_by_id(job_id).await else { return };
            if job.notify_state != NotifyState::Pending {
                return;
            }
            let Some(url) = self.webhook_of(&job.pipeline_id).await else {
                let _ = self
                    .store
                    .record_snapshot_notification(
                        job_id,
                        NotifyState::Failed,
                        "",
                        "NoEndpoint",
                        "The pipeline has no webhook any more.",
                    )
                    .await;
                return;
            };
            let message_id = if job.mns_message_id.is_empty() {
                crate::mts::new_hex_id()
            } else {
                job.mns_message_id.clone()
            };
            let outcome = self.post(&url, &message(&job, &message_id), &message_id).await;
            let attempts = job.notify_attempts + 1;
            let recorded = match &outcome {
                Ok(()) => {
                    self.store
                        .record_snapshot_notification(job_id, NotifyState::Delivered, &message_id, "", "")
                        .await
                }
                Err(why) => {
                    let state =
                        if attempts >= MAX_ATTEMPTS { NotifyState::Failed } else { NotifyState::Pending };
                    tracing::warn!(job_id, %url, attempts, error = %why, "webhook delivery failed");
                    self.store
                        .record_snapshot_notification(job_id, state, &message_id, "DeliveryFailed", why)
                        .await
                }
            };
            if let Err(e) = recorded {
                tracing::error!(job_id, error = %e, "recording a webhook delivery failed");
                return;
            }
            if outcome.is_ok() || attempts >= MAX_ATTEMPTS {
                return;
            }
            tokio::time::sleep(backoff(attempts - 1)).await;
        }
    }

    async fn post(&self, url: &str, body: &Value, message_id: &str) -> Result<(), String> {
        let response = self
            .http
            .post(url)
            .header("x-mts-message-id", message_id)
            .json(body)
            .send()
            .await
            .map_err(|e| crate::error::format_chain(&e))?;
        if response.status().is_success() {
            Ok(())
        } else {
            Err(format!("the endpoint answered HTTP {}", response.status().as_u16()))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn webhooks_are_http_topics_or_queues() {
        assert_eq!(
            webhook_url(&json!({"Topic": "http://127.0.0.1:9/hook"})).as_deref(),
            Some("http://127.0.0.1:9/hook")
        );
        assert_eq!(
            webhook_url(&json!({"Topic": "mts-topic", "QueueName": "https://h/q"})).as_deref(),
            Some("https://h/q")
        );
        assert_eq!(webhook_url(&json!({"Topic": "mts-topic"})), None);
    }

    #[test]
    fn backoff_grows_and_is_capped() {
        assert_eq!(backoff(0), Duration::from_millis(500));
        assert_eq!(backoff(2), Duration::from_secs(2));
        assert_eq!(backoff(30), MAX_BACKOFF);
    }
}
