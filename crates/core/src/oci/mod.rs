//! Saving a disk to an OCI registry as a KubeVirt containerDisk, and reading one back.
//!
//! PAI-DSW's CreateInstanceSnapshot takes an `ImageUrl`; when it names a registry
//! (`host[:port]/repository[:tag]`), the saved system disk is pushed there so that other tools
//! (KubeVirt, skopeo, containerd) can pull it. The image is what KubeVirt documents for a
//! containerDisk (`FROM scratch` + `ADD --chown=107:107 disk.qcow2 /disk/`): one layer holding
//! `disk/disk.qcow2` owned by 107:107, an OCI image manifest, and a config for linux/amd64.
//!
//! Errors are [`OciError`]s whose `code` and `message` are meant to become a snapshot's
//! ReasonCode and ReasonMessage as they are.

mod layer;
mod reference;
mod registry;

pub use layer::{CONTAINER_DISK_OWNER, DISK_FILE};
pub use reference::{parse_registry_url, ImageReference};

use registry::{content_digest, json_body, Registry, MANIFEST_TYPES, OCI_MANIFEST};
use reqwest::header::{ACCEPT, CONTENT_LENGTH, CONTENT_TYPE};
use reqwest::{Method, StatusCode};
use sha2::{Digest, Sha256};
use std::path::Path;
use tokio::io::AsyncWriteExt;

/// Layer bytes sent per PATCH: big enough that round trips don't matter, small enough to keep
/// memory flat and above every registry's minimum chunk size (5 MiB on some).
const CHUNK: usize = 16 << 20;
const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
const OCI_LAYER_TAR: &str = "application/vnd.oci.image.layer.v1.tar";

/// Why a push or pull failed, as an Alibaba-style code and a sentence for the caller.
///
/// Codes: `InvalidImageUrl`, `ImageTagExists`, `RegistryUnreachable`, `RegistryRejected`,
/// `RegistryAuthRequired`, `ImageNotFound`, `NotAContainerDisk`, `DiskFileError`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OciError {
    pub code: &'static str,
    pub message: String,
}

impl OciError {
    pub fn new(code: &'static str, message: impl Into<String>) -> OciError {
        OciError { code, message: message.into() }
    }

    fn disk(what: &str, path: &Path, e: impl std::fmt::Display) -> OciError {
        OciError::new("DiskFileError", format!("Cannot {what} {}: {e}", path.display()))
    }
}

impl std::fmt::Display for OciError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

impl std::error::Error for OciError {}

/// What a push left in the registry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushedImage {
    /// `sha256:...` of the manifest: `registry/repository@digest` names exactly this image.
    pub manifest_digest: String,
    /// `sha256:...` of the (uncompressed) layer tar.
    pub layer_digest: String,
    /// Bytes of the layer, which is the disk plus a few tar blocks.
    pub layer_size: u64,
}

/// What a pull found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PulledImage {
    pub manifest_digest: String,
    /// The disk's path inside the image, e.g. `disk/disk.qcow2`.
    pub disk_path: String,
    /// Bytes written to the destination file.
    pub size: u64,
}

/// Pushes the file `qcow2` to `reference` as a containerDisk image. With `overwrite` false an
/// existing tag is refused (`ImageTagExists`) before anything is uploaded. `progress` gets the
/// percentage sent, 0 to 100, each time it changes. Registries on loopback and those listed in
/// `insecure_registries` (`host` or `host:port`) are spoken to over plain HTTP, others over HTTPS.
pub async fn push_container_disk(
    reference: &ImageReference,
    qcow2: &Path,
    overwrite: bool,
    insecure_registries: &[String],
    progress: &(dyn Fn(u8) + Send + Sync),
) -> Result<PushedImage, OciError> {
    let mut registry = Registry::new(reference, insecure_registries, true)?;
    let file = tokio::fs::File::open(qcow2).await.map_err(|e| OciError::disk("open", qcow2, e))?;
    let size = file.metadata().await.map_err(|e| OciError::disk("stat", qcow2, e))?.len();
    progress(0);

    if !overwrite {
        let url = registry.url(&format!("manifests/{}", reference.tag));
        let response = registry.send(Method::HEAD, url, |r| r.header(ACCEPT, MANIFEST_TYPES)).await?;
        match response.status() {
            StatusCode::NOT_FOUND => {}
            s if s.is_success() => {
                return Err(OciError::new(
                    "ImageTagExists",
                    format!("The image {reference} already exists and Overwrite is false."),
                ))
            }
            _ => return Err(registry.error("look up the tag", response).await),
        }
    }

    let mut layer = layer::LayerReader::new(file, size);
    let layer_size = layer.total_len();
    let layer_digest = upload_layer(&mut registry, &mut layer, progress).await?;

    let config = serde_json::json!({
        "created": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        "architecture": "amd64",
        "os": "linux",
        "config": {},
        "rootfs": { "type": "layers", "diff_ids": [layer_digest] },
        "history": [{ "created_by": "ecslab: containerDisk (ADD --chown=107:107 disk.qcow2 /disk/)" }],
    });
    let config = bytes::Bytes::from(serde_json::to_vec(&config).expect("JSON"));
    let config_digest = sha256_digest(&config);
    upload_small_blob(&mut registry, &config_digest, config.clone()).await?;

    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": { "mediaType": OCI_CONFIG, "digest": config_digest, "size": config.len() },
        "layers": [{ "mediaType": OCI_LAYER_TAR, "digest": layer_digest, "size": layer_size }],
    });
    let manifest = bytes::Bytes::from(serde_json::to_vec(&manifest).expect("JSON"));
    let manifest_digest = sha256_digest(&manifest);
    let url = registry.url(&format!("manifests/{}", reference.tag));
    let response = registry.send(Method::PUT, url, |r| json_body(r, OCI_MANIFEST, manifest.clone())).await?;
    if !response.status().is_success() {
        return Err(registry.error("store the manifest", response).await);
    }
    if let Some(echoed) = content_digest(response.headers()) {
        if echoed != manifest_digest {
            return Err(registry
                .rejected(&format!("stored the manifest under {echoed}, not its digest {manifest_digest}")));
        }
    }
    progress(100);
    Ok(PushedImage { manifest_digest, layer_digest, layer_size })
}

/// Streams the layer in PATCH chunks while hashing it, then commits it under its digest.
async fn upload_layer(
    registry: &mut Registry,
    layer: &mut layer::LayerReader,
    progress: &(dyn Fn(u8) + Send + Sync),
) -> Result<String, OciError> {
    let total = layer.total_len();
    let response =
        registry.send(Method::POST, registry.url("blobs/uploads/"), |r| r.header(CONTENT_LENGTH, 0)).await?;
    if response.status() != StatusCode::ACCEPTED {
        return Err(registry.error("start a blob upload", response).await);
    }
    let mut location = registry.location(&response)?;
    let mut hasher = Sha256::new();
    let mut sent = 0u64;
    let mut last_percent = 0u8;
    loop {
        let chunk =
            layer.next_chunk(CHUNK).await.map_err(|e| OciError::new("DiskFileError", e.to_string()))?;
        if chunk.is_empty() {
            break;
        }
        hasher.update(&chunk);
        let chunk = bytes::Bytes::from(chunk);
        let range = format!("{}-{}", sent, sent + chunk.len() as u64 - 1);
        let response = registry
            .send(Method::PATCH, location.clone(), |r| {
                r.header(CONTENT_TYPE, "application/octet-stream")
                    .header("Content-Range", range.as_str())
                    .header(CONTENT_LENGTH, chunk.len())
                    .body(chunk.clone())
            })
            .await?;
        if response.status() != StatusCode::ACCEPTED {
            return Err(registry.error("accept a layer chunk", response).await);
        }
        location = registry.location(&response)?;
        sent += chunk.len() as u64;
        // 99 at most until the manifest is stored.
        let percent = (sent * 99 / total.max(1)) as u8;
        if percent != last_percent {
            last_percent = percent;
            progress(percent);
        }
    }
    let digest = format!("sha256:{}", hex::encode(hasher.finalize()));
    location.query_pairs_mut().append_pair("digest", &digest);
    let response = registry.send(Method::PUT, location, |r| r.header(CONTENT_LENGTH, 0)).await?;
    if response.status() != StatusCode::CREATED {
        return Err(registry.error("commit the layer", response).await);
    }
    Ok(digest)
}

/// A blob small enough for one monolithic upload (POST, then PUT with the body), skipped when
/// the registry already has it.
async fn upload_small_blob(
    registry: &mut Registry,
    digest: &str,
    body: bytes::Bytes,
) -> Result<(), OciError> {
    let response = registry.send(Method::HEAD, registry.url(&format!("blobs/{digest}")), |r| r).await?;
    if response.status().is_success() {
        return Ok(());
    }
    let response =
        registry.send(Method::POST, registry.url("blobs/uploads/"), |r| r.header(CONTENT_LENGTH, 0)).await?;
    if response.status() != StatusCode::ACCEPTED {
        return Err(registry.error("start a blob upload", response).await);
    }
    let mut location = registry.location(&response)?;
    location.query_pairs_mut().append_pair("digest", digest);
    let response = registry
        .send(Method::PUT, location, |r| json_body(r, "application/octet-stream", body.clone()))
        .await?;
    if response.status() != StatusCode::CREATED {
        return Err(registry.error("store the image config", response).await);
    }
    Ok(())
}

/// Pulls the containerDisk `reference` and writes its disk file to `dest_qcow2` (replacing it
/// only once the whole disk is there). Index images resolve to their linux/amd64 manifest; the
/// topmost layer with a file directly under `disk/` wins; gzip layers are understood.
pub async fn pull_container_disk(
    reference: &ImageReference,
    dest_qcow2: &Path,
    insecure_registries: &[String],
) -> Result<PulledImage, OciError> {
    let mut registry = Registry::new(reference, insecure_registries, false)?;
    let (manifest_digest, manifest) = get_manifest(&mut registry, reference, &reference.tag).await?;
    let manifest = match manifest.get("manifests").and_then(|m| m.as_array()) {
        Some(entries) => {
            let amd64 = entries.iter().find(|m| {
                let platform = m.get("platform");
                platform.and_then(|p| p.get("architecture")).and_then(|a| a.as_str()) == Some("amd64")
                    && platform.and_then(|p| p.get("os")).and_then(|a| a.as_str()) == Some("linux")
            });
            let digest = amd64.and_then(|m| m.get("digest")).and_then(|d| d.as_str()).ok_or_else(|| {
                OciError::new(
                    "NotAContainerDisk",
                    format!("The image {reference} has no linux/amd64 variant."),
                )
            })?;
            check_digest(&registry, digest)?;
            get_manifest(&mut registry, reference, digest).await?.1
        }
        None => manifest,
    };
    let layers = manifest.get("layers").and_then(|l| l.as_array()).cloned().unwrap_or_default();
    let dir = dest_qcow2.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    for layer in layers.iter().rev() {
        let Some(digest) = layer.get("digest").and_then(|d| d.as_str()) else { continue };
        check_digest(&registry, digest)?;
        let blob = tempfile::Builder::new()
            .prefix(".oci-layer-")
            .tempfile_in(dir)
            .map_err(|e| OciError::disk("create a temporary file in", dir, e))?;
        download_blob(&mut registry, digest, blob.path()).await?;
        let part = tempfile::Builder::new()
            .prefix(".oci-disk-")
            .tempfile_in(dir)
            .map_err(|e| OciError::disk("create a temporary file in", dir, e))?;
        let (blob_path, part_file) =
            (blob.path().to_path_buf(), part.reopen().map_err(|e| OciError::disk("open", part.path(), e))?);
        let found = tokio::task::spawn_blocking(move || extract_disk_from_blob(&blob_path, part_file))
            .await
            .map_err(|e| OciError::new("DiskFileError", format!("extracting the disk failed: {e}")))??;
        if let Some((disk_path, size)) = found {
            check_pulled_disk(part.path())?;
            part.persist(dest_qcow2).map_err(|e| OciError::disk("write", dest_qcow2, e.error))?;
            return Ok(PulledImage { manifest_digest, disk_path, size });
        }
    }
    Err(OciError::new(
        "NotAContainerDisk",
        format!("The image {reference} has no file under /disk/, so it is not a containerDisk."),
    ))
}

/// A pulled disk comes from outside: before anything opens it, it must be a standalone qcow2
/// (or raw) that names no other file (see `crate::inspect`). Refused: `DiskFileError`, and the
/// temporary file goes with its guard.
fn check_pulled_disk(path: &Path) -> Result<(), OciError> {
    use crate::inspect::{self, Format};
    let inspection = inspect::inspect_file(path)
        .map_err(|e| OciError::new("DiskFileError", format!("Cannot inspect the pulled disk: {e}")))?;
    let claimed =
        if matches!(inspection.format, Format::Raw | Format::Iso) { Format::Raw } else { Format::Qcow2 };
    inspect::check_standalone(&inspection, claimed).map_err(|refusal| {
        tracing::warn!(%refusal, "a pulled containerDisk was refused");
        OciError::new("DiskFileError", format!("The pulled disk is refused: {refusal}."))
    })
}

async fn get_manifest(
    registry: &mut Registry,
    reference: &ImageReference,
    tag_or_digest: &str,
) -> Result<(String, serde_json::Value), OciError> {
    let url = registry.url(&format!("manifests/{tag_or_digest}"));
    let response = registry.send(Method::GET, url, |r| r.header(ACCEPT, MANIFEST_TYPES)).await?;
    if response.status() == StatusCode::NOT_FOUND {
        return Err(OciError::new(
            "ImageNotFound",
            format!("The image {reference} does not exist in its registry."),
        ));
    }
    if !response.status().is_success() {
        return Err(registry.error("send the manifest", response).await);
    }
    let body =
        response.bytes().await.map_err(|e| registry.rejected(&format!("broke off the manifest: {e}")))?;
    let digest = sha256_digest(&body);
    if tag_or_digest.starts_with("sha256:") && digest != tag_or_digest {
        return Err(
            registry.rejected(&format!("sent a manifest whose digest is {digest}, not {tag_or_digest}"))
        );
    }
    let manifest = serde_json::from_slice(&body)
        .map_err(|e| registry.rejected(&format!("sent a manifest that is not JSON: {e}")))?;
    Ok((digest, manifest))
}

/// Streams a blob into `path`, checking its sha256 digest on the way.
async fn download_blob(registry: &mut Registry, digest: &str, path: &Path) -> Result<(), OciError> {
    let mut response = registry.send(Method::GET, registry.url(&format!("blobs/{digest}")), |r| r).await?;
    if !response.status().is_success() {
        return Err(registry.error(&format!("send the blob {digest}"), response).await);
    }
    let mut file = tokio::fs::File::create(path).await.map_err(|e| OciError::disk("create", path, e))?;
    let mut hasher = Sha256::new();
    while let Some(chunk) =
        response.chunk().await.map_err(|e| registry.rejected(&format!("broke off the blob {digest}: {e}")))?
    {
        hasher.update(&chunk);
        file.write_all(&chunk).await.map_err(|e| OciError::disk("write", path, e))?;
    }
    file.flush().await.map_err(|e| OciError::disk("write", path, e))?;
    let got = format!("sha256:{}", hex::encode(hasher.finalize()));
    if got != digest {
        return Err(registry.rejected(&format!("sent a blob whose digest is {got}, not {digest}")));
    }
    Ok(())
}

/// Extracts the disk from a downloaded layer (plain or gzip tar) into `dest`.
fn extract_disk_from_blob(blob: &Path, dest: std::fs::File) -> Result<Option<(String, u64)>, OciError> {
    use std::io::{BufReader, Read, Seek, Write};
    let mut file = std::fs::File::open(blob).map_err(|e| OciError::disk("open", blob, e))?;
    let mut magic = [0u8; 2];
    let gzip = file.read_exact(&mut magic).is_ok() && magic == [0x1f, 0x8b];
    file.rewind().map_err(|e| OciError::disk("read", blob, e))?;
    let reader: Box<dyn Read> = if gzip {
        Box::new(flate2::read::MultiGzDecoder::new(BufReader::new(file)))
    } else {
        Box::new(BufReader::new(file))
    };
    let mut out = std::io::BufWriter::with_capacity(1 << 20, dest);
    let found = layer::extract_disk(reader, &mut out).map_err(|e| {
        OciError::new("NotAContainerDisk", format!("The image layer is not a readable tar: {e}"))
    })?;
    out.flush().map_err(|e| OciError::new("DiskFileError", format!("Cannot write the pulled disk: {e}")))?;
    let file = out.into_inner().map_err(|e| OciError::new("DiskFileError", e.to_string()))?;
    let size = file.metadata().map(|m| m.len()).unwrap_or(0);
    Ok(found.map(|name| (name, size)))
}

/// Only `sha256:<64 hex>` digests from a manifest are followed: they become URL paths, and the
/// content is checked against them.
fn check_digest(registry: &Registry, digest: &str) -> Result<(), OciError> {
    let valid = digest.strip_prefix("sha256:").is_some_and(|hex| {
        hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    });
    if valid {
        Ok(())
    } else {
        Err(registry.rejected(&format!(
            "sent a manifest with the unusable digest {digest:?} (ecslab follows sha256 only)"
        )))
    }
}

fn sha256_digest(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_sha256_digests_are_followed() {
        let reference = parse_registry_url("127.0.0.1:5000/a:b").unwrap().unwrap();
        let registry = Registry::new(&reference, &[], false).unwrap();
        assert!(check_digest(&registry, &format!("sha256:{}", "ab".repeat(32))).is_ok());
        for bad in ["sha256:../../x", "sha512:00", "sha256:ABAB", &format!("sha256:{}", "g".repeat(64))] {
            assert_eq!(check_digest(&registry, bad).unwrap_err().code, "RegistryRejected", "{bad}");
        }
    }
}
