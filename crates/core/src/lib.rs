//! ecslab's domain layer: the rules of each action, the instance state machine, and the long
//! operations (booting, stopping, importing) that run after an API call has answered.
//!
//! [`Cloud`] is the one entry point: a thin facade that builds the domain services ([`Instances`],
//! [`Disks`], [`Images`], [`ImageBuilds`], [`ImageChanges`], [`InstanceSnapshots`], [`Exports`],
//! [`ScreenshotJobs`]) and hands them out. The API crate parses a request into a typed value from
//! [`requests`], calls the owning service's method with the caller's account, and maps the
//! [`Error`] it may return into Alibaba's envelope.

pub mod accounts;
pub mod assistant;
pub mod buckets;
pub mod catalog;
pub mod chain;
mod cloud;
pub mod config;
mod disks;
pub mod error;
pub mod exclude;
pub mod exports;
pub mod guest_settings;
pub mod ids;
mod image_builds;
pub mod image_changes;
mod images;
pub mod inspect;
pub mod instance_snapshots;
mod instances;
pub mod key_pairs;
pub mod listing;
mod lookup;
pub mod metadata;
pub mod monitor;
pub mod mts;
pub mod network;
pub mod oci;
pub mod principal;
pub mod ram;
pub mod requests;
mod runner;
pub mod screen;
pub mod signed;
pub mod status;
pub mod sts;
pub mod vnc;
mod work;

pub use cloud::Cloud;
pub use config::CloudConfig;
pub use disks::Disks;
pub use disks::ListedSnapshot;
pub use ecslab_iam as iam;
pub use ecslab_store::{
    DiskStatus, DiskType, ImageStatus, InstanceSnapshotStatus, JobOutputKind, SnapshotStatus, TaskStatus,
};
pub use error::{Error, Resource, Result};
pub use exports::Exports;
pub use image_builds::ImageBuilds;
pub use image_changes::ImageChanges;
pub use images::ImageDetails;
pub use images::Images;
pub use instance_snapshots::InstanceSnapshots;
pub use instances::Instances;
pub use instances::{ConsoleOutput, InstanceUserData, InstanceView, ModifyInstanceAttribute};
pub use mts::ScreenshotJobs;
pub use principal::{Identity, Principal};
pub use status::InstanceStatus;

pub use ecslab_store as store;
pub use ecslab_vmm::Hypervisor;
