//! The simulated camera's pictures: an equirectangular test pattern (colour wheel by
//! longitude, grid every 30°, a sun sweeping once around the horizon per loop, and the
//! frame number in big digits) encoded as real JPEGs once at start and then looped.

use std::sync::Arc;

/// Encodes `count` looping frames of `width`×`height` pixels.
pub fn render_loop(width: u16, height: u16, count: usize) -> Vec<Arc<[u8]>> {
    let count = count.max(1);
    let base = background(width as usize, height as usize);
    (0..count)
        .map(|i| {
            let mut rgb = base.clone();
            draw_sun(&mut rgb, width as usize, height as usize, i, count);
            draw_number(&mut rgb, width as usize, height as usize, i);
            Arc::from(encode(&rgb, width, height))
        })
        .collect()
}

/// Encodes RGB pixels as a baseline JPEG.
pub fn encode(rgb: &[u8], width: u16, height: u16) -> Vec<u8> {
    let mut out = Vec::with_capacity(rgb.len() / 8);
    let encoder = jpeg_encoder::Encoder::new(&mut out, 80);
    // Only fails on a size mismatch or zero size, which `render_loop`'s callers rule out.
    encoder
        .encode(rgb, width, height, jpeg_encoder::ColorType::Rgb)
        .expect("pattern buffer matches its size");
    out
}

fn background(w: usize, h: usize) -> Vec<u8> {
    let tau = std::f32::consts::TAU;
    let columns: Vec<[f32; 3]> = (0..w)
        .map(|x| {
            let lon = x as f32 / w as f32 * tau;
            [
                0.5 + 0.4 * lon.cos(),
                0.5 + 0.4 * (lon - tau / 3.0).cos(),
                0.5 + 0.4 * (lon + tau / 3.0).cos(),
            ]
        })
        .collect();
    let grid_x = (w / 12).max(1);
    let grid_y = (h / 6).max(1);
    let mut rgb = vec![0u8; w * h * 3];
    for y in 0..h {
        let lat = (y as f32 + 0.5) / h as f32 * std::f32::consts::PI;
        let shade = 0.35 + 0.65 * lat.sin();
        for x in 0..w {
            let px = &mut rgb[(y * w + x) * 3..][..3];
            if x % grid_x == 0 || y % grid_y == 0 {
                px.copy_from_slice(&[235, 235, 235]);
            } else {
                for (c, v) in px.iter_mut().zip(columns[x]) {
                    *c = (v * shade * 255.0) as u8;
                }
            }
        }
    }
    rgb
}

fn draw_sun(rgb: &mut [u8], w: usize, h: usize, i: usize, count: usize) {
    let cx = (i * w / count) as isize;
    let cy = (h / 2) as isize;
    let r = (h / 10).max(2) as isize;
    for dy in -r..=r {
        for dx in -r..=r {
            if dx * dx + dy * dy <= r * r {
                let x = (cx + dx).rem_euclid(w as isize) as usize;
                let y = (cy + dy).clamp(0, h as isize - 1) as usize;
                rgb[(y * w + x) * 3..][..3].copy_from_slice(&[255, 220, 40]);
            }
        }
    }
}

/// 3×5 pixel digits, one row per u8 with the low three bits used.
const DIGITS: [[u8; 5]; 10] = [
    [7, 5, 5, 5, 7],
    [2, 6, 2, 2, 7],
    [7, 1, 7, 4, 7],
    [7, 1, 7, 1, 7],
    [5, 5, 7, 1, 1],
    [7, 4, 7, 1, 7],
    [7, 4, 7, 5, 7],
    [7, 1, 1, 1, 1],
    [7, 5, 7, 5, 7],
    [7, 5, 7, 1, 7],
];

fn draw_number(rgb: &mut [u8], w: usize, h: usize, n: usize) {
    let text = format!("{n:02}");
    let scale = (h / 24).max(1);
    let top = h / 4;
    let left = w / 2 - text.len() * 4 * scale / 2;
    for (k, ch) in text.bytes().enumerate() {
        let glyph = DIGITS[(ch - b'0') as usize];
        for (row, bits) in glyph.iter().enumerate() {
            for col in 0..3 {
                if bits & (4 >> col) == 0 {
                    continue;
                }
                for sy in 0..scale {
                    for sx in 0..scale {
                        let x = left + (k * 4 + col) * scale + sx;
                        let y = top + row * scale + sy;
                        if x < w && y < h {
                            rgb[(y * w + x) * 3..][..3].copy_from_slice(&[10, 10, 10]);
                        }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_are_whole_jpegs_that_differ() {
        let frames = render_loop(128, 64, 3);
        assert_eq!(frames.len(), 3);
        for f in &frames {
            assert!(crate::mjpeg::is_whole_jpeg(f));
        }
        assert_ne!(frames[0], frames[1]);
    }
}
