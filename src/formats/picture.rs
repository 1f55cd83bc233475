//! Small pictures the binary draws itself: an RGB canvas, a 5×7 pixel font and JPEG
//! encoding. The simulator's test pattern and the relay's NO SIGNAL frame are made with
//! it, so neither needs an image file on disk.

use crate::formats::flat::{Planes, encode};

/// An RGB image, 3 bytes a pixel, row by row.
pub struct Canvas {
    pub width: usize,
    pub height: usize,
    pub rgb: Vec<u8>,
}

pub type Rgb = [u8; 3];

impl Canvas {
    pub fn filled(width: usize, height: usize, colour: Rgb) -> Canvas {
        Canvas {
            width,
            height,
            rgb: colour.repeat(width * height),
        }
    }

    /// Sets a pixel; coordinates outside the canvas are ignored.
    pub fn set(&mut self, x: usize, y: usize, colour: Rgb) {
        if x < self.width && y < self.height {
            self.rgb[(y * self.width + x) * 3..][..3].copy_from_slice(&colour);
        }
    }

    pub fn fill_rect(&mut self, x: usize, y: usize, w: usize, h: usize, colour: Rgb) {
        for yy in y..(y + h).min(self.height) {
            for xx in x..(x + w).min(self.width) {
                self.set(xx, yy, colour);
            }
        }
    }

    /// Width in pixels of `text` drawn at `scale`.
    pub fn text_width(text: &str, scale: usize) -> usize {
        text.chars().count() * 6 * scale
    }

    /// Draws `text` (upper-cased) with its top left corner at (x, y), each font pixel `scale` wide.
    pub fn text(&mut self, x: usize, y: usize, text: &str, scale: usize, colour: Rgb) {
        for (i, ch) in text.chars().enumerate() {
            let rows = glyph(ch.to_ascii_uppercase());
            for (row, bits) in rows.iter().enumerate() {
                for col in 0..5 {
                    if bits & (0b10000 >> col) != 0 {
                        let px = x + (i * 6 + col) * scale;
                        self.fill_rect(px, y + row * scale, scale, scale, colour);
                    }
                }
            }
        }
    }

    /// Draws `text` centred horizontally with its top at `y`.
    pub fn text_centred(&mut self, y: usize, text: &str, scale: usize, colour: Rgb) {
        let w = Self::text_width(text, scale);
        self.text(self.width.saturating_sub(w) / 2, y, text, scale, colour);
    }

    /// Encodes the canvas as a baseline 4:2:0 JPEG, with the flat views' encoder.
    pub fn to_jpeg(&self, quality: u8) -> Vec<u8> {
        // Sizes are clamped to what JPEG allows, so encoding a canvas cannot fail.
        let (w, h) = (self.width.clamp(1, 65_535), self.height.clamp(1, 65_535));
        let planes = Planes::from_rgb(&self.rgb[..w * h * 3], w, h);
        encode(&planes, quality).expect("planes of a size JPEG carries")
    }
}

/// 5×7 glyphs, one row per byte, the low five bits used (bit 4 is the left column).
fn glyph(c: char) -> [u8; 7] {
    match c {
        'A' => [14, 17, 17, 31, 17, 17, 17],
        'B' => [30, 17, 17, 30, 17, 17, 30],
        'C' => [14, 17, 16, 16, 16, 17, 14],
        'D' => [30, 17, 17, 17, 17, 17, 30],
        'E' => [31, 16, 16, 30, 16, 16, 31],
        'F' => [31, 16, 16, 30, 16, 16, 16],
        'G' => [14, 17, 16, 23, 17, 17, 15],
        'H' => [17, 17, 17, 31, 17, 17, 17],
        'I' => [14, 4, 4, 4, 4, 4, 14],
        'J' => [7, 2, 2, 2, 2, 18, 12],
        'K' => [17, 18, 20, 24, 20, 18, 17],
        'L' => [16, 16, 16, 16, 16, 16, 31],
        'M' => [17, 27, 21, 21, 17, 17, 17],
        'N' => [17, 17, 25, 21, 19, 17, 17],
        'O' => [14, 17, 17, 17, 17, 17, 14],
        'P' => [30, 17, 17, 30, 16, 16, 16],
        'Q' => [14, 17, 17, 17, 21, 18, 13],
        'R' => [30, 17, 17, 30, 20, 18, 17],
        'S' => [15, 16, 16, 14, 1, 1, 30],
        'T' => [31, 4, 4, 4, 4, 4, 4],
        'U' => [17, 17, 17, 17, 17, 17, 14],
        'V' => [17, 17, 17, 17, 17, 10, 4],
        'W' => [17, 17, 17, 21, 21, 21, 10],
        'X' => [17, 17, 10, 4, 10, 17, 17],
        'Y' => [17, 17, 17, 10, 4, 4, 4],
        'Z' => [31, 1, 2, 4, 8, 16, 31],
        '0' => [14, 17, 19, 21, 25, 17, 14],
        '1' => [4, 12, 4, 4, 4, 4, 14],
        '2' => [14, 17, 1, 2, 4, 8, 31],
        '3' => [31, 2, 4, 2, 1, 17, 14],
        '4' => [2, 6, 10, 18, 31, 2, 2],
        '5' => [31, 16, 30, 1, 1, 17, 14],
        '6' => [6, 8, 16, 30, 17, 17, 14],
        '7' => [31, 1, 2, 4, 8, 8, 8],
        '8' => [14, 17, 17, 14, 17, 17, 14],
        '9' => [14, 17, 17, 15, 1, 2, 12],
        '.' => [0, 0, 0, 0, 0, 12, 12],
        ':' => [0, 12, 12, 0, 12, 12, 0],
        '-' | '—' => [0, 0, 0, 31, 0, 0, 0],
        '/' => [1, 2, 2, 4, 8, 8, 16],
        '[' => [14, 8, 8, 8, 8, 8, 14],
        ']' => [14, 2, 2, 2, 2, 2, 14],
        ' ' => [0; 7],
        _ => [14, 17, 1, 2, 4, 0, 4],
    }
}

/// The frame viewers get while the camera is gone, "NO SIGNAL — reconnecting to
/// `<camera>`", at the stream's own size so that players never see the size change.
pub fn no_signal_jpeg(camera: &str, width: u16, height: u16) -> Vec<u8> {
    let (w, h) = (usize::from(width.max(16)), usize::from(height.max(16)));
    let mut c = Canvas::filled(w, h, [24, 24, 28]);
    // Sized for 640×320 and scaled with the picture's width.
    let scale = |n: usize| (n * w / 640).max(1);
    c.text_centred(h * 110 / 320, "NO SIGNAL", scale(8), [235, 235, 235]);
    c.text_centred(
        h * 200 / 320,
        &format!("RECONNECTING TO {camera}"),
        scale(3),
        [200, 160, 60],
    );
    c.to_jpeg(75)
}

/// The frame viewers get while an overheated camera cools down, at the stream's size.
pub fn cooling_jpeg(camera: &str, temperature: Option<i32>, width: u16, height: u16) -> Vec<u8> {
    let (w, h) = (usize::from(width.max(16)), usize::from(height.max(16)));
    let mut c = Canvas::filled(w, h, [20, 28, 44]);
    let scale = |n: usize| (n * w / 640).max(1);
    c.text_centred(h * 100 / 320, "COOLING DOWN", scale(6), [150, 200, 255]);
    let line = match temperature {
        Some(t) => format!("{camera} IS AT {t} C - BACK SOON"),
        None => format!("{camera} IS TOO HOT - BACK SOON"),
    };
    c.text_centred(h * 200 / 320, &line, scale(3), [230, 230, 230]);
    c.to_jpeg(75)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_signal_is_a_small_whole_jpeg_of_the_asked_size() {
        for (w, h) in [(640, 320), (1024, 512), (1920, 960), (256, 128)] {
            let jpeg = no_signal_jpeg("192.168.1.1:80", w, h);
            assert!(crate::formats::jpeg::is_whole_jpeg(&jpeg));
            assert_eq!(crate::formats::jpeg::jpeg_dimensions(&jpeg), Some((w, h)));
            assert!(jpeg.len() < 96 << 10, "{} bytes", jpeg.len());
        }
    }

    #[test]
    fn text_lands_where_asked() {
        let mut c = Canvas::filled(40, 10, [0, 0, 0]);
        c.text(0, 0, "I", 1, [255, 255, 255]);
        // 'I' has its top row at columns 1..=3.
        assert_eq!(&c.rgb[0..3], &[0, 0, 0]);
        assert_eq!(&c.rgb[3..6], &[255, 255, 255]);
    }
}
