//! The simulated camera's pictures: an equirectangular test pattern (colour wheel by
//! longitude, grid every 30°, a sun sweeping once around the horizon per loop, and the
//! frame number in big digits) encoded as real JPEGs once at start and then looped.

use crate::formats::picture::Canvas;
use std::sync::Arc;

/// Encodes `count` looping frames of `width`×`height` pixels.
pub fn render_loop(width: u16, height: u16, count: usize) -> Vec<Arc<[u8]>> {
    let count = count.max(1);
    let base = background(width as usize, height as usize);
    (0..count)
        .map(|i| {
            let mut canvas = Canvas {
                width: base.width,
                height: base.height,
                rgb: base.rgb.clone(),
            };
            draw_sun(&mut canvas, i, count);
            let scale = (canvas.height / 40).max(1);
            canvas.text_centred(canvas.height / 4, &format!("{i:02}"), scale, [10, 10, 10]);
            Arc::from(canvas.to_jpeg(80))
        })
        .collect()
}

fn background(w: usize, h: usize) -> Canvas {
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
    let mut canvas = Canvas::filled(w, h, [0, 0, 0]);
    for y in 0..h {
        let lat = (y as f32 + 0.5) / h as f32 * std::f32::consts::PI;
        let shade = 0.35 + 0.65 * lat.sin();
        for (x, column) in columns.iter().enumerate() {
            let colour = if x % grid_x == 0 || y % grid_y == 0 {
                [235, 235, 235]
            } else {
                column.map(|v| (v * shade * 255.0) as u8)
            };
            canvas.set(x, y, colour);
        }
    }
    canvas
}

fn draw_sun(canvas: &mut Canvas, i: usize, count: usize) {
    let (w, h) = (canvas.width as isize, canvas.height as isize);
    let cx = i as isize * w / count as isize;
    let r = (h / 10).max(2);
    for dy in -r..=r {
        for dx in -r..=r {
            if dx * dx + dy * dy <= r * r {
                let x = (cx + dx).rem_euclid(w) as usize;
                let y = (h / 2 + dy).clamp(0, h - 1) as usize;
                canvas.set(x, y, [255, 220, 40]);
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
            assert!(crate::formats::jpeg::is_whole_jpeg(f));
        }
        assert_ne!(frames[0], frames[1]);
    }
}
