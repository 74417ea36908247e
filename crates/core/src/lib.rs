//! ecslab's domain layer: the rules of each action, the instance state machine, and the long
//! operations (booting, stopping, importing) that run after an API call has answered.
//!
//! [`Cloud`] is the one entry point. The API crate parses a request into a typed value from
//! [`requests`], calls a `Cloud` method with the caller's account, and maps the [`Error`] it may
//! return into Alibaba's envelope. `Cloud` owns the store and the [`Hypervisor`] driver.

pub mod buckets;
pub mod catalog;
pub mod chain;
mod cloud;
pub mod config;
pub mod crash;
mod disks;
pub mod error;
pub mod exclude;
pub mod exports;
pub mod ids;
mod image_capture;
pub mod image_changes;
mod images;
pub mod inspect;
pub mod instance_snapshots;
mod instances;
pub mod listing;
pub mod mts;
pub mod network;
pub mod oci;
pub mod requests;
pub mod screen;
mod snapshots;
pub mod status;

pub use cloud::Cloud;
pub use config::CloudConfig;
pub use ecslab_store::{DiskStatus, ImageStatus, InstanceSnapshotStatus, SnapshotStatus, TaskStatus};
pub use error::{Error, Resource, Result};
pub use images::ImageDetails;
pub use instances::{ConsoleOutput, InstanceView};
pub use snapshots::ListedSnapshot;
pub use status::InstanceStatus;

pub use ecslab_store as store;
pub use ecslab_vmm::Hypervisor;
