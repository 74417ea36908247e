//! ecslab-encode-bench ITERATIONS QUALITY FILE.ppm...
//!
//! For each binary PPM (a QEMU screendump), times the steps ecslab runs after QEMU wrote the file, the same way
//! ecslab does them (crates/vmm/src/frame.rs `Frame::from_ppm`, crates/core/src/screen.rs), and prints one JSON line
//! per file with the median and 99th percentile in milliseconds of each step:
//!   read_parse      std::fs::read + header parse + copy of the pixels into a Vec (what from_ppm does)
//!   turbojpeg       turbojpeg 0.5 (libjpeg-turbo), RGB, 4:2:0, quality QUALITY (feature `turbojpeg`; what
//!                   crates/core/src/screen.rs does since ecslab moved to libjpeg-turbo)
//!   jpeg_encoder    jpeg-encoder 0.6 (simd feature unless built with --no-default-features), RGB, quality QUALITY
//!   image_jpeg      image 0.25 JpegEncoder::new_with_quality, RGB8 (the alternative)
//!   base64          base64 0.22 STANDARD of the jpeg-encoder output
//!   json            serde_json::to_vec of {"RequestId","InstanceId","Screenshot"}
use base64::Engine;
use std::time::Instant;

fn parse_ppm(data: &[u8]) -> (u32, u32, Vec<u8>) {
    let mut fields = Vec::new();
    let mut pos = 0;
    while fields.len() < 4 {
        while data[pos].is_ascii_whitespace() || data[pos] == b'#' {
            if data[pos] == b'#' {
                while data[pos] != b'\n' {
                    pos += 1;
                }
            } else {
                pos += 1;
            }
        }
        let start = pos;
        while !data[pos].is_ascii_whitespace() {
            pos += 1;
        }
        fields.push(std::str::from_utf8(&data[start..pos]).unwrap());
    }
    pos += 1;
    assert_eq!(fields[0], "P6");
    let w: u32 = fields[1].parse().unwrap();
    let h: u32 = fields[2].parse().unwrap();
    let need = w as usize * h as usize * 3;
    (w, h, data[pos..pos + need].to_vec())
}

fn stats(mut v: Vec<f64>) -> serde_json::Value {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let pct = |p: f64| {
        let k = (v.len() - 1) as f64 * p / 100.0;
        let lo = k.floor() as usize;
        let hi = (lo + 1).min(v.len() - 1);
        v[lo] + (v[hi] - v[lo]) * (k - lo as f64)
    };
    serde_json::json!({"p50": pct(50.0), "p99": pct(99.0)})
}

fn time<T>(n: usize, mut f: impl FnMut() -> T) -> (Vec<f64>, T) {
    let mut last = f(); // warm-up
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        let t = Instant::now();
        last = std::hint::black_box(f());
        out.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    (out, last)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let n: usize = args[1].parse().expect("ITERATIONS");
    let quality: u8 = args[2].parse().expect("QUALITY");
    for file in &args[3..] {
        let (t_read, (w, h, rgb)) = time(n, || parse_ppm(&std::fs::read(file).unwrap()));
        let (t_je, jpeg) = time(n, || {
            let mut out = Vec::with_capacity(rgb.len() / 8);
            jpeg_encoder::Encoder::new(&mut out, quality)
                .encode(&rgb, w as u16, h as u16, jpeg_encoder::ColorType::Rgb)
                .unwrap();
            out
        });
        #[cfg(feature = "turbojpeg")]
        let (t_turbo, jpeg_turbo) = time(n, || {
            let image = turbojpeg::Image {
                pixels: rgb.as_slice(),
                width: w as usize,
                pitch: w as usize * 3,
                height: h as usize,
                format: turbojpeg::PixelFormat::RGB,
            };
            let mut compressor = turbojpeg::Compressor::new().unwrap();
            compressor.set_quality(i32::from(quality));
            compressor.set_subsamp(turbojpeg::Subsamp::Sub2x2);
            compressor.compress_to_vec(image).unwrap()
        });
        let (t_img, jpeg_img) = time(n, || {
            let mut out = Vec::with_capacity(rgb.len() / 8);
            image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, quality)
                .encode(&rgb, w, h, image::ExtendedColorType::Rgb8)
                .unwrap();
            out
        });
        let (t_b64, b64) = time(n, || base64::engine::general_purpose::STANDARD.encode(&jpeg));
        let (t_json, body) = time(n, || {
            serde_json::to_vec(&serde_json::json!({
                "RequestId": "00000000-0000-0000-0000-000000000000",
                "InstanceId": "i-0123456789abcdef0123",
                "Screenshot": b64,
            }))
            .unwrap()
        });
        #[allow(unused_mut)]
        let mut line = serde_json::json!({
            "file": file, "width": w, "height": h, "iterations": n,
            "jpeg_encoder_bytes": jpeg.len(), "image_jpeg_bytes": jpeg_img.len(), "body_bytes": body.len(),
            "read_parse": stats(t_read), "jpeg_encoder": stats(t_je), "image_jpeg": stats(t_img),
            "base64": stats(t_b64), "json": stats(t_json),
        });
        #[cfg(feature = "turbojpeg")]
        {
            line["turbojpeg"] = stats(t_turbo);
            line["turbojpeg_bytes"] = jpeg_turbo.len().into();
        }
        println!("{line}");
    }
}
