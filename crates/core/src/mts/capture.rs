//! Getting frames and turning them into images: a video's frames decoded by FFmpeg (as MTS does),
//! scaling with the `image` crate, and sprite sheets. An instance's screen comes from the
//! hypervisor (see `runner.rs`); everything here is about pixels and processes, not rules.

use super::codes;
use super::spec::{FrameType, TileOut};
use crate::{Error, Result};
use ecslab_vmm::Frame;
use image::{imageops, RgbImage};
use std::path::Path;
use std::process::Stdio;
use tokio::process::Command;

/// Inputs FFmpeg may read: only local files (no network, no `data:`/`subfile:`/`concat:`
/// protocols) through demuxers of plain, self-contained video files. Playlists and scripts
/// (HLS `.m3u8`, `concat`, `image2` sequences, `tee`, ...) name other files, so a video in a
/// bucket could otherwise make FFmpeg read host files; their demuxers are not on the list.
const INPUT_LIMITS: [&str; 4] = [
    "-protocol_whitelist",
    "file",
    "-format_whitelist",
    "mov,mp4,m4a,3gp,3g2,mj2,matroska,webm,avi,flv,mpegts,mpeg,ogg,asf,m4v,h264,hevc,ivf,gif,mjpeg,yuv4mpegpipe,nut,rawvideo",
];

/// The duration of a video in milliseconds; a file FFmpeg cannot read as a video is
/// `InvalidParameter.ResourceContentBad`.
pub(crate) async fn probe_duration_ms(path: &Path, label: &str) -> Result<u64> {
    let output = Command::new("ffprobe")
        .args(["-v", "error", "-select_streams", "v:0", "-show_entries", "stream=codec_type:format=duration"])
        .args(["-of", "json"])
        .args(INPUT_LIMITS)
        .arg(path)
        .stdin(Stdio::null())
        .kill_on_drop(true)
        .output()
        .await
        .map_err(|e| Error::internal(format!("running ffprobe (is FFmpeg installed? scripts/setup): {e}")))?;
    let bad = |why: &str| codes::content_bad(label, why);
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        return Err(bad(&format!("FFmpeg cannot read it: {}", stderr.trim())));
    }
    let info: serde_json::Value = serde_json::from_slice(&output.stdout)
        .map_err(|e| Error::internal(format!("ffprobe output: {e}")))?;
    let has_video = info["streams"].as_array().is_some_and(|s| !s.is_empty());
    if !has_video {
        return Err(bad("it has no video stream"));
    }
    let seconds: f64 = info["format"]["duration"].as_str().and_then(|d| d.parse().ok()).unwrap_or(0.0);
    if !(seconds.is_finite() && seconds > 0.0) {
        return Err(bad("its duration is unknown"));
    }
    Ok((seconds * 1000.0) as u64)
}

/// The frame shown at `time_ms` (`Normal`), or the key frame at or before it (`Intra`).
/// `None` when the video has no frame there.
pub(crate) async fn video_frame(path: &Path, time_ms: u64, frame_type: FrameType) -> Result<Option<Frame>> {
    let mut command = Command::new("ffmpeg");
    command.args(["-v", "error", "-nostdin"]);
    if frame_type == FrameType::Intra {
        command.arg("-noaccurate_seek");
    }
    let output = command
        .args(INPUT_LIMITS)
        .args(["-ss", &format!("{}.{:03}", time_ms / 1000, time_ms % 1000), "-i"])
        .arg(path)
        .args(["-frames:v", "1", "-f", "image2pipe", "-c:v", "ppm", "-pix_fmt", "rgb24", "-"])
        .stdin(Stdio::null())
        .kill_on_drop(true)
        .output()
        .await
        .map_err(|e| Error::internal(format!("running ffmpeg (is FFmpeg installed? scripts/setup): {e}")))?;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        return Err(codes::content_bad(&path.display().to_string(), stderr.trim()));
    }
    if output.stdout.is_empty() {
        return Ok(None);
    }
    Frame::from_ppm(&output.stdout).map(Some).map_err(|e| Error::internal(format!("ffmpeg frame: {e}")))
}

fn to_image(frame: Frame) -> Result<RgbImage> {
    let (w, h) = (frame.width, frame.height);
    RgbImage::from_raw(w, h, frame.rgb)
        .ok_or_else(|| Error::internal(format!("frame {w}x{h} has the wrong size")))
}

/// Scale to Width/Height; with only one of them the other keeps the aspect ratio.
pub(crate) fn scale(frame: Frame, width: Option<u32>, height: Option<u32>) -> Result<RgbImage> {
    let (w, h) = (frame.width.max(1), frame.height.max(1));
    let target = match (width, height) {
        (None, None) => return to_image(frame),
        (Some(tw), Some(th)) => (tw, th),
        (Some(tw), None) => {
            (tw, ((u64::from(h) * u64::from(tw) + u64::from(w) / 2) / u64::from(w)).max(1) as u32)
        }
        (None, Some(th)) => {
            (((u64::from(w) * u64::from(th) + u64::from(h) / 2) / u64::from(h)).max(1) as u32, th)
        }
    };
    let image = to_image(frame)?;
    if (image.width(), image.height()) == target {
        return Ok(image);
    }
    Ok(imageops::resize(&image, target.0, target.1, imageops::FilterType::Triangle))
}

/// JPEG bytes of an image (the same encoder as GetInstanceScreenshot).
pub(crate) fn encode(image: &RgbImage, quality: u8) -> Result<Vec<u8>> {
    let frame = Frame { width: image.width(), height: image.height(), rgb: image.as_raw().clone() };
    crate::screen::encode_jpeg(&frame, quality)
        .map_err(|e| Error::internal(format!("encoding a snapshot: {e}")))
}

/// The largest sprite sheet side (JPEG's own limit is 65535; this keeps memory bounded).
pub(crate) const MAX_SHEET_SIDE: u32 = 16384;

/// A sprite sheet being filled cell by cell.
pub(crate) struct Sheet {
    tile: TileOut,
    cell: (u32, u32),
    color: [u8; 3],
    image: RgbImage,
    filled: u32,
}

impl Sheet {
    /// A new empty sheet whose cells are `cell` pixels (or the TileOut's CellWidth/CellHeight).
    pub(crate) fn new(tile: &TileOut, cell: (u32, u32)) -> Result<Sheet> {
        let (w, h) = (u64::from(cell.0.max(1)), u64::from(cell.1.max(1)));
        let cell = match (tile.cell_width, tile.cell_height) {
            (Some(cw), Some(ch)) => (cw, ch),
            (Some(cw), None) => (cw, ((h * u64::from(cw) + w / 2) / w).max(1) as u32),
            (None, Some(ch)) => (((w * u64::from(ch) + h / 2) / h).max(1) as u32, ch),
            (None, None) => cell,
        };
        let side = |n: u32, size: u32| {
            u64::from(2 * tile.margin)
                + u64::from(n) * u64::from(size)
                + u64::from(n.saturating_sub(1)) * u64::from(tile.padding)
        };
        let (w, h) = (side(tile.columns, cell.0), side(tile.lines, cell.1));
        if w > u64::from(MAX_SHEET_SIDE) || h > u64::from(MAX_SHEET_SIDE) {
            return Err(codes::out_of_range_msg(&format!(
                "The sprite sheet would be {w}x{h} pixels; at most {MAX_SHEET_SIDE} per side is allowed (TileOut)."
            )));
        }
        let color = parse_color(&tile.color);
        let image = RgbImage::from_pixel(w as u32, h as u32, image::Rgb(color));
        Ok(Sheet { tile: tile.clone(), cell, color, image, filled: 0 })
    }

    pub(crate) fn is_full(&self) -> bool {
        self.filled >= self.tile.cells()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.filled == 0
    }

    /// Place the next cell; returns its rectangle `(x, y, w, h)` (for WebVTT fragments).
    pub(crate) fn add(&mut self, image: &RgbImage) -> (u32, u32, u32, u32) {
        let index = self.filled;
        let (col, row) = (index % self.tile.columns, index / self.tile.columns);
        let x = self.tile.margin + col * (self.cell.0 + self.tile.padding);
        let y = self.tile.margin + row * (self.cell.1 + self.tile.padding);
        let cell = if (image.width(), image.height()) == self.cell {
            image.clone()
        } else {
            imageops::resize(image, self.cell.0, self.cell.1, imageops::FilterType::Triangle)
        };
        imageops::replace(&mut self.image, &cell, i64::from(x), i64::from(y));
        self.filled += 1;
        (x, y, self.cell.0, self.cell.1)
    }

    /// The sheet, cut below the last row in use, then emptied for the next one.
    pub(crate) fn take(&mut self) -> RgbImage {
        let rows = self.filled.div_ceil(self.tile.columns).max(1);
        let height = (2 * self.tile.margin + rows * self.cell.1 + (rows - 1) * self.tile.padding)
            .min(self.image.height());
        let cut = imageops::crop_imm(&self.image, 0, 0, self.image.width(), height).to_image();
        self.image = RgbImage::from_pixel(self.image.width(), self.image.height(), image::Rgb(self.color));
        self.filled = 0;
        cut
    }
}

/// TileOut's Color: a keyword, `#rrggbb`, or `random`; anything else is black.
pub(crate) fn parse_color(color: &str) -> [u8; 3] {
    let c = color.trim().to_ascii_lowercase();
    if let Some(hex) = c.strip_prefix('#') {
        if hex.len() == 6 {
            if let Ok(v) = u32::from_str_radix(hex, 16) {
                return [(v >> 16) as u8, (v >> 8) as u8, v as u8];
            }
        }
    }
    match c.as_str() {
        "white" => [255, 255, 255],
        "red" => [255, 0, 0],
        "green" => [0, 128, 0],
        "blue" => [0, 0, 255],
        "yellow" => [255, 255, 0],
        "gray" | "grey" => [128, 128, 128],
        "random" => rand::random(),
        _ => [0, 0, 0],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(w: u32, h: u32, rgb: [u8; 3]) -> Frame {
        Frame { width: w, height: h, rgb: rgb.repeat((w * h) as usize) }
    }

    #[test]
    fn scaling_keeps_the_aspect_ratio_when_one_side_is_given() {
        assert_eq!(scale(frame(720, 400, [1, 2, 3]), Some(360), None).unwrap().dimensions(), (360, 200));
        assert_eq!(scale(frame(720, 400, [1, 2, 3]), None, Some(100)).unwrap().dimensions(), (180, 100));
        assert_eq!(scale(frame(720, 400, [1, 2, 3]), Some(64), Some(64)).unwrap().dimensions(), (64, 64));
        assert_eq!(scale(frame(20, 10, [1, 2, 3]), None, None).unwrap().dimensions(), (20, 10));
    }

    #[test]
    fn sheets_place_cells_row_by_row_and_cut_unused_rows() {
        let tile = TileOut {
            lines: 2,
            columns: 3,
            margin: 2,
            padding: 1,
            color: "#ffffff".into(),
            ..TileOut::default()
        };
        let mut sheet = Sheet::new(&tile, (10, 5)).unwrap();
        let red = RgbImage::from_pixel(10, 5, image::Rgb([255, 0, 0]));
        assert_eq!(sheet.add(&red), (2, 2, 10, 5));
        assert_eq!(sheet.add(&red), (13, 2, 10, 5));
        let image = sheet.take();
        assert_eq!(image.dimensions(), (2 * 2 + 3 * 10 + 2, 2 * 2 + 5));
        assert_eq!(image.get_pixel(3, 3).0, [255, 0, 0]);
        assert_eq!(image.get_pixel(0, 0).0, [255, 255, 255]);
        assert!(sheet.is_empty());
    }

    #[test]
    fn oversized_sheets_are_refused() {
        let one_side = TileOut { lines: 1, columns: 2, cell_width: Some(360), ..TileOut::default() };
        assert_eq!(Sheet::new(&one_side, (720, 400)).unwrap().take().dimensions(), (720, 200));
        let tile = TileOut { lines: 10000, columns: 10, ..TileOut::default() };
        assert_eq!(Sheet::new(&tile, (720, 400)).err().unwrap().code(), "InvalidParameter.OutOfRange");
    }

    #[test]
    fn colors() {
        assert_eq!(parse_color("#102030"), [16, 32, 48]);
        assert_eq!(parse_color("White"), [255, 255, 255]);
        assert_eq!(parse_color("nonsense"), [0, 0, 0]);
    }
}
