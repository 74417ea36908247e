//! A captured screen: packed RGB pixels, as every driver returns them, so JPEG encoding and pixel
//! checks live in one place above the drivers.

/// A screen image: `width * height` pixels, 3 bytes each (R, G, B), row by row.
#[derive(Clone, PartialEq, Eq)]
pub struct Frame {
    pub width: u32,
    pub height: u32,
    pub rgb: Vec<u8>,
}

impl std::fmt::Debug for Frame {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Frame({}x{})", self.width, self.height)
    }
}

impl Frame {
    /// Parse a binary PPM (P6, maxval 255), the format QEMU's `screendump` writes by default.
    pub fn from_ppm(data: &[u8]) -> Result<Frame, String> {
        let mut fields = Vec::with_capacity(4);
        let mut pos = 0;
        while fields.len() < 4 {
            // Skip whitespace and comments.
            while pos < data.len() && (data[pos].is_ascii_whitespace() || data[pos] == b'#') {
                if data[pos] == b'#' {
                    while pos < data.len() && data[pos] != b'\n' {
                        pos += 1;
                    }
                } else {
                    pos += 1;
                }
            }
            let start = pos;
            while pos < data.len() && !data[pos].is_ascii_whitespace() {
                pos += 1;
            }
            if start == pos {
                return Err("truncated PPM header".into());
            }
            fields.push(std::str::from_utf8(&data[start..pos]).map_err(|_| "PPM header is not ASCII")?);
        }
        pos += 1; // the single whitespace after maxval
        if fields[0] != "P6" {
            return Err(format!("not a binary PPM (magic {:?})", fields[0]));
        }
        let width: u32 = fields[1].parse().map_err(|_| "bad PPM width")?;
        let height: u32 = fields[2].parse().map_err(|_| "bad PPM height")?;
        if fields[3] != "255" {
            return Err(format!("unsupported PPM maxval {}", fields[3]));
        }
        let need = width as usize * height as usize * 3;
        let pixels = data.get(pos..pos + need).ok_or("PPM pixel data is shorter than its header says")?;
        Ok(Frame { width, height, rgb: pixels.to_vec() })
    }

    /// The pixel at (x, y) as (r, g, b).
    pub fn pixel(&self, x: u32, y: u32) -> (u8, u8, u8) {
        let i = (y as usize * self.width as usize + x as usize) * 3;
        (self.rgb[i], self.rgb[i + 1], self.rgb[i + 2])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_ppm_with_a_comment() {
        let mut data = b"P6\n# made by a test\n2 1\n255\n".to_vec();
        data.extend_from_slice(&[255, 0, 0, 0, 0, 255]);
        let frame = Frame::from_ppm(&data).unwrap();
        assert_eq!((frame.width, frame.height), (2, 1));
        assert_eq!(frame.pixel(0, 0), (255, 0, 0));
        assert_eq!(frame.pixel(1, 0), (0, 0, 255));
    }

    #[test]
    fn refuses_short_pixel_data() {
        let data = b"P6 4 4 255\n\x00\x00\x00".to_vec();
        assert!(Frame::from_ppm(&data).unwrap_err().contains("shorter"));
    }
}
