//! What can be read from instances: DescribeInstances, the screen, the serial console.

use super::power::vm_error;
use super::Instances;
use super::{ConsoleOutput, InstanceView, CONSOLE_OUTPUT_BYTES};
use crate::catalog;
use crate::listing::{page_of, sort_key, window, Page};
use crate::requests::{InstanceFilter, Paging};
use crate::screen::{self, ScreenUpdate};
use crate::status::InstanceStatus;
use crate::{Error, Result};
use ecslab_store::DiskRecord;
use ecslab_store::{InstanceQuery, ListedPage};
use ecslab_vmm::Frame;
use std::time::Duration;
use std::time::Instant;

impl Instances {
    // ---- reading ----------------------------------------------------------------------------------

    pub async fn describe_instances(
        &self,
        account_id: &str,
        filter: &InstanceFilter,
        paging: &Paging,
    ) -> Result<Page<InstanceView>> {
        let query = InstanceQuery {
            instance_ids: filter.instance_ids.clone(),
            status: filter.status,
            name_pattern: filter.name_pattern.clone(),
            image_id: filter.image_id.clone(),
            instance_type: filter.instance_type.clone(),
            zone_id: filter.zone_id.clone(),
            tags: filter.tags.iter().map(|t| (t.key.clone(), t.value.clone())).collect(),
            key_pair_name: filter.key_pair_name.clone(),
        };
        let (listed, mut disks) = self.store.instances_page(account_id, &query, &window(paging)?).await?;
        let ids: Vec<String> = listed.items.iter().map(|r| r.instance_id.clone()).collect();
        let interfaces = self.store.interfaces_of_instances(&ids).await?;
        let mut settings = self.store.instance_settings(account_id, &ids).await?;
        let mut views = Vec::with_capacity(listed.items.len());
        for record in listed.items {
            let instance_type = catalog::find(&record.instance_type)
                .ok_or_else(|| Error::internal(format!("unknown type {}", record.instance_type)))?;
            // The page's disks come sorted by instance, then device.
            let (own, rest): (Vec<DiskRecord>, Vec<DiskRecord>) = disks
                .into_iter()
                .partition(|d| d.instance_id.as_deref() == Some(record.instance_id.as_str()));
            disks = rest;
            let interface = interfaces.iter().find(|i| i.instance_id == record.instance_id).cloned();
            let own_settings = settings.remove(&record.instance_id).unwrap_or_default();
            views.push(InstanceView {
                record,
                instance_type,
                disks: own,
                interface,
                key_pair_name: own_settings.key_pair_name,
                http_endpoint: own_settings.http_endpoint,
                http_tokens: own_settings.http_tokens,
            });
        }
        let listed = ListedPage { items: views, total: listed.total, more: listed.more };
        Ok(page_of(listed, paging, |v| sort_key(&v.record.created_at, &v.record.instance_id)))
    }

    /// GetInstanceScreenshot: the guest's real screen as base64 JPEG.
    pub async fn screenshot(&self, account_id: &str, instance_id: &str, wake_up: bool) -> Result<String> {
        let frame = self.capture(account_id, instance_id, wake_up).await?;
        self.encode(frame).await
    }

    /// The web console's grid (DescribeScreens): the screen through the same capture path, checks and
    /// rate limit as GetInstanceScreenshot, encoded only when its hash differs from `known_hash`, the
    /// hash of the frame the caller already shows.
    pub async fn screen_if_changed(
        &self,
        account_id: &str,
        instance_id: &str,
        known_hash: Option<&str>,
    ) -> Result<ScreenUpdate> {
        let frame = self.capture(account_id, instance_id, false).await?;
        let hash = screen::frame_hash(&frame);
        if known_hash == Some(hash.as_str()) {
            return Ok(ScreenUpdate { hash, jpeg_base64: None });
        }
        let jpeg_base64 = Some(self.encode(frame).await?);
        Ok(ScreenUpdate { hash, jpeg_base64 })
    }

    /// One captured frame of a running instance with a display, within the screenshot rate limit.
    async fn capture(&self, account_id: &str, instance_id: &str, wake_up: bool) -> Result<Frame> {
        let instance = crate::lookup::instance(&self.store, account_id, instance_id).await?;
        if instance.status != InstanceStatus::Running {
            return Err(Error::IncorrectInstanceStatus {
                instance_id: instance_id.into(),
                status: instance.status.to_string(),
            });
        }
        let display = catalog::find(&instance.instance_type).is_some_and(|t| t.display);
        if !display {
            return Err(Error::NotSupported { instance_id: instance_id.into() });
        }
        self.check_screenshot_interval(instance_id)?;
        if wake_up {
            self.hypervisor.wake_up(instance_id).await.map_err(|e| vm_error(instance_id, "waking up", e))?;
            // Let the guest redraw the console after the key press.
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        self.hypervisor.screenshot(instance_id).await.map_err(|e| vm_error(instance_id, "screendump", e))
    }

    async fn encode(&self, frame: Frame) -> Result<String> {
        let quality = self.config.jpeg_quality;
        tokio::task::spawn_blocking(move || screen::screenshot_base64(&frame, quality))
            .await
            .map_err(Error::internal)?
            .map_err(Error::internal)
    }

    fn check_screenshot_interval(&self, instance_id: &str) -> Result<()> {
        let Some(min) = self.config.screenshot_min_interval else { return Ok(()) };
        let mut last =
            self.last_screenshot.lock().map_err(|_| Error::internal("screenshot lock poisoned"))?;
        let now = Instant::now();
        if let Some(previous) = last.get(instance_id) {
            if now.duration_since(*previous) < min {
                return Err(Error::Throttling);
            }
        }
        last.insert(instance_id.to_string(), now);
        Ok(())
    }

    /// GetInstanceConsoleOutput: the most recent serial console output.
    pub async fn console_output(&self, account_id: &str, instance_id: &str) -> Result<ConsoleOutput> {
        // Any status: before the first boot the console is simply empty.
        crate::lookup::instance(&self.store, account_id, instance_id).await?;
        let output = self
            .hypervisor
            .console_output(instance_id, CONSOLE_OUTPUT_BYTES)
            .await
            .map_err(|e| vm_error(instance_id, "reading the console", e))?;
        let log = self.run_dir(instance_id).join("console.log");
        let last_update_time = std::fs::metadata(&log)
            .and_then(|m| m.modified())
            .map(|t| chrono::DateTime::<chrono::Utc>::from(t).format("%Y-%m-%dT%H:%M:%SZ").to_string())
            .unwrap_or_default();
        Ok(ConsoleOutput { output, last_update_time })
    }
}
