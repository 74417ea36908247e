//! Screenshots of a running domain, by the fastest route that works for the connection:
//!
//! - a QMP pass-through `screendump` ([`screendump_via_qmp`]) into the VM's run directory, where
//!   the server reads an uncompressed PPM: fast, but only where the server sees the libvirt
//!   host's files (`qmp_screendump` in [`super::LibvirtConfig`], on by default for local URIs);
//! - else libvirt's own stream (`virDomainScreenshot`, [`screenshot_via_stream`]), local or
//!   remote, which carries a file in QEMU's format: PNG when QEMU can write it (libvirt 9.0 asks
//!   QEMU 7.1+ for PNG), else PPM.
//!
//! Both become a packed-RGB [`Frame`] ([`decode`]), so JPEG encoding above the drivers stays the
//! same.

use super::{lv_error, Inner, LibvirtDriver};
use crate::{Frame, VmError};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;
use virt::domain::Domain;

/// Numbers screendump files.
static NEXT_SHOT: AtomicU64 = AtomicU64::new(0);

impl LibvirtDriver {
    /// The screen of a running domain with a display.
    pub(super) async fn screenshot_live(&self, vm_id: &str) -> Result<Frame, VmError> {
        let display = self.inner.shared.vms().get(vm_id).map(|state| state.display);
        if display == Some(false) {
            // Still say NotRunning for a stopped VM, as the qemu driver does.
            let id = vm_id.to_string();
            self.call(vm_id, move |inner| inner.running(&id).map(drop)).await?;
            return Err(VmError::NoDisplay { vm_id: vm_id.to_string() });
        }
        let id = vm_id.to_string();
        let begun = Instant::now();
        let run_dir = self.inner.shared.vms().get(vm_id).and_then(|state| state.run_dir.clone());
        let frame = self.call(vm_id, move |inner| screenshot_blocking(inner, &id, run_dir)).await?;
        tracing::debug!(vm_id, elapsed_ms = begun.elapsed().as_millis() as u64, "screenshot through libvirt");
        Ok(frame)
    }
}

/// A screenshot, by the fastest route that works for this connection.
fn screenshot_blocking(inner: &Inner, vm_id: &str, run_dir: Option<PathBuf>) -> Result<Frame, VmError> {
    let dom = inner.running(vm_id)?;
    if let (true, Some(run_dir)) = (inner.config.qmp_screendump, run_dir) {
        match screendump_via_qmp(vm_id, &dom, &run_dir) {
            Ok(frame) => return Ok(frame),
            Err(e) => {
                tracing::debug!(vm_id, error = %e, "QMP screendump failed; using the libvirt stream")
            }
        }
    }
    screenshot_via_stream(inner, vm_id, &dom)
}

/// QMP pass-through (`virDomainQemuMonitorCommand`): QEMU writes an uncompressed PPM into
/// the VM's run directory, which the server reads. Five times faster than the stream at
/// 1080p (no PNG encode and decode), but only where the server sees the libvirt host's
/// files. libvirt marks the domain tainted (`custom-monitor`) in its log, once.
fn screendump_via_qmp(vm_id: &str, dom: &Domain, run_dir: &Path) -> Result<Frame, VmError> {
    let shot = NEXT_SHOT.fetch_add(1, Ordering::Relaxed);
    let path = run_dir.join(format!("shot-{}-{shot}.ppm", std::process::id()));
    let command = serde_json::json!({
        "execute": "screendump",
        "arguments": { "filename": path.to_string_lossy(), "format": "ppm" },
    });
    let result = dom.qemu_monitor_command(&command.to_string(), 0);
    let data = std::fs::read(&path);
    let _ = std::fs::remove_file(&path);
    result.map_err(|e| lv_error(vm_id, "virDomainQemuMonitorCommand(screendump)", &e))?;
    let data = data.map_err(|e| VmError::io(vm_id, &path, e))?;
    Frame::from_ppm(&data).map_err(|reason| VmError::Libvirt {
        vm_id: vm_id.into(),
        call: "screendump".into(),
        reason: format!("unreadable PPM: {reason}"),
    })
}

/// libvirt's own screenshot stream (`virDomainScreenshot`): QEMU writes a file (PNG with
/// QEMU 7.1+) on the libvirt host and libvirtd streams it over the connection, local or remote.
fn screenshot_via_stream(inner: &Inner, vm_id: &str, dom: &Domain) -> Result<Frame, VmError> {
    let conn = inner.connection()?;
    let stream = virt::stream::Stream::new(&conn, 0).map_err(|e| lv_error(vm_id, "virStreamNew", &e))?;
    let mime = dom.screenshot(&stream, 0, 0).map_err(|e| lv_error(vm_id, "virDomainScreenshot", &e))?;
    let mut data = Vec::with_capacity(1 << 20);
    let mut buf = vec![0u8; 256 * 1024];
    loop {
        let n = stream.recv(&mut buf).map_err(|e| lv_error(vm_id, "virStreamRecv", &e))?;
        if n <= 0 {
            break;
        }
        data.extend_from_slice(&buf[..n as usize]);
    }
    stream.finish().map_err(|e| lv_error(vm_id, "virStreamFinish", &e))?;
    decode(&data).map_err(|reason| VmError::Libvirt {
        vm_id: vm_id.into(),
        call: "virDomainScreenshot".into(),
        reason: format!("unreadable {mime} screenshot: {reason}"),
    })
}

/// Decode a screenshot by its content (the MIME type libvirt reports is only a hint).
pub fn decode(data: &[u8]) -> Result<Frame, String> {
    if data.starts_with(b"\x89PNG") {
        from_png(data)
    } else if data.starts_with(b"P6") {
        Frame::from_ppm(data)
    } else {
        Err(format!("neither PNG nor PPM ({} bytes)", data.len()))
    }
}

fn from_png(data: &[u8]) -> Result<Frame, String> {
    let mut decoder = png::Decoder::new(std::io::Cursor::new(data));
    decoder.set_transformations(png::Transformations::EXPAND | png::Transformations::STRIP_16);
    let mut reader = decoder.read_info().map_err(|e| format!("PNG header: {e}"))?;
    let size = reader.output_buffer_size().ok_or("PNG too large")?;
    let mut buf = vec![0; size];
    let info = reader.next_frame(&mut buf).map_err(|e| format!("PNG data: {e}"))?;
    let pixels = &buf[..info.buffer_size()];
    let rgb = match info.color_type {
        png::ColorType::Rgb => pixels.to_vec(),
        png::ColorType::Rgba => pixels.chunks_exact(4).flat_map(|p| [p[0], p[1], p[2]]).collect(),
        png::ColorType::Grayscale => pixels.iter().flat_map(|&g| [g, g, g]).collect(),
        png::ColorType::GrayscaleAlpha => pixels.chunks_exact(2).flat_map(|p| [p[0], p[0], p[0]]).collect(),
        png::ColorType::Indexed => return Err("indexed PNG was not expanded".into()),
    };
    Ok(Frame { width: info.width, height: info.height, rgb })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn png_of(width: u32, height: u32, color: png::ColorType, pixels: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        let mut encoder = png::Encoder::new(&mut out, width, height);
        encoder.set_color(color);
        encoder.set_depth(png::BitDepth::Eight);
        let mut writer = encoder.write_header().unwrap();
        writer.write_image_data(pixels).unwrap();
        writer.finish().unwrap();
        out
    }

    #[test]
    fn decodes_rgb_and_rgba_png_and_ppm() {
        let frame = decode(&png_of(2, 1, png::ColorType::Rgb, &[255, 0, 0, 0, 0, 255])).unwrap();
        assert_eq!((frame.width, frame.height, frame.pixel(1, 0)), (2, 1, (0, 0, 255)));
        let frame = decode(&png_of(1, 1, png::ColorType::Rgba, &[1, 2, 3, 255])).unwrap();
        assert_eq!(frame.pixel(0, 0), (1, 2, 3));
        let mut ppm = b"P6 1 1 255\n".to_vec();
        ppm.extend_from_slice(&[9, 8, 7]);
        assert_eq!(decode(&ppm).unwrap().pixel(0, 0), (9, 8, 7));
        assert!(decode(b"GIF89a").is_err());
    }
}
