//! Screenshots arrive from `virDomainScreenshot` as a file in QEMU's format: PNG when QEMU can
//! write it (libvirt 9.0 asks QEMU 7.1+ for PNG), else PPM. Both become a packed-RGB [`Frame`],
//! so JPEG encoding above the drivers stays the same.

use crate::Frame;

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
