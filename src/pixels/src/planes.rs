//! Pictures as planes: Y at full size, Cb and Cr at half width and height (4:2:0), the
//! way the camera's JPEGs, our decoder, the remap and our encoder all keep them; and
//! [`Source`], a decoded camera frame laid out for the remap.

/// A picture as three planes, each row by row without gaps.
#[derive(Debug, Clone, Default)]
pub struct Planes {
    pub width: usize,
    pub height: usize,
    pub y: Vec<u8>,
    pub cb: Vec<u8>,
    pub cr: Vec<u8>,
}

impl Planes {
    pub(crate) fn chroma_size(&self) -> (usize, usize) {
        (self.width.div_ceil(2), self.height.div_ceil(2))
    }

    /// An RGB picture (3 bytes a pixel, row by row) as planes: JFIF's full-range
    /// BT.601 YCbCr, chroma averaged over each 2×2.
    pub fn from_rgb(rgb: &[u8], width: usize, height: usize) -> Planes {
        let pixel = |x: usize, y: usize| -> [f32; 3] {
            let i = (y.min(height - 1) * width + x.min(width - 1)) * 3;
            [rgb[i], rgb[i + 1], rgb[i + 2]].map(f32::from)
        };
        let byte = |v: f32| (v + 0.5).clamp(0.0, 255.0) as u8;
        let y = (0..width * height)
            .map(|i| {
                let [r, g, b] = pixel(i % width, i / width);
                byte(0.299 * r + 0.587 * g + 0.114 * b)
            })
            .collect();
        let (cw, ch) = (width.div_ceil(2), height.div_ceil(2));
        let (mut cb, mut cr) = (Vec::with_capacity(cw * ch), Vec::with_capacity(cw * ch));
        for cy in 0..ch {
            for cx in 0..cw {
                let mut sum = [0f32; 3];
                for (dx, dy) in [(0, 0), (1, 0), (0, 1), (1, 1)] {
                    let p = pixel(2 * cx + dx, 2 * cy + dy);
                    sum.iter_mut().zip(p).for_each(|(s, v)| *s += v / 4.0);
                }
                let [r, g, b] = sum;
                cb.push(byte(128.0 - 0.168_736 * r - 0.331_264 * g + 0.5 * b));
                cr.push(byte(128.0 + 0.5 * r - 0.418_688 * g - 0.081_312 * b));
            }
        }
        Planes {
            width,
            height,
            y,
            cb,
            cr,
        }
    }

    /// Bytes of the three planes of a `width`×`height` picture.
    pub fn bytes_for(width: usize, height: usize) -> usize {
        width * height + 2 * width.div_ceil(2) * height.div_ceil(2)
    }
}

/// Bytes past each plane's spare row, so a 4-byte load at its last pixel (the remap's
/// gathers load four to use two) stays inside.
const SLACK: usize = 3;

/// A decoded camera frame as the remap reads it. Each plane is one column wider than
/// the picture — its first column again, so a tap at ±180° reads across the seam — and
/// one row taller — its last row again, for the taps at the bottom pole: the four
/// pixels around any tap are at `i`, `i + 1`, `i + stride` and `i + stride + 1`, with
/// no branch and no bounds to check per pixel.
#[derive(Debug, Clone, Default)]
pub struct Source {
    pub width: usize,
    pub height: usize,
    pub(crate) planes: [Vec<u8>; 3],
}

/// Y, Cb or Cr.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Plane {
    Y = 0,
    Cb = 1,
    Cr = 2,
}

impl Source {
    /// The picture's size of `plane` (without the padding).
    pub(crate) fn size_of(&self, plane: Plane) -> (usize, usize) {
        match plane {
            Plane::Y => (self.width, self.height),
            _ => (self.width.div_ceil(2), self.height.div_ceil(2)),
        }
    }

    /// Bytes from one row of `plane` to the next.
    pub(crate) fn stride(&self, plane: Plane) -> usize {
        self.size_of(plane).0 + 1
    }

    /// Sizes the planes for a `width`×`height` picture, reusing the buffers. Pixels a
    /// partial decode leaves alone keep what they held: no reader of it reads them.
    pub(crate) fn prepare(&mut self, width: usize, height: usize) {
        if (self.width, self.height) == (width, height) {
            return;
        }
        (self.width, self.height) = (width, height);
        for plane in [Plane::Y, Plane::Cb, Plane::Cr] {
            let (w, h) = self.size_of(plane);
            let buffer = &mut self.planes[plane as usize];
            buffer.clear();
            buffer.resize((w + 1) * (h + 1) + SLACK, 0);
        }
    }

    /// `plane` and its stride, to write.
    pub(crate) fn plane_mut(&mut self, plane: Plane) -> (&mut [u8], usize) {
        let stride = self.stride(plane);
        (&mut self.planes[plane as usize], stride)
    }

    /// `plane` and its stride.
    pub(crate) fn plane(&self, plane: Plane) -> (&[u8], usize) {
        (&self.planes[plane as usize], self.stride(plane))
    }

    /// Fills the padding from the picture: the wrap column and the spare row.
    pub(crate) fn pad(&mut self) {
        for plane in [Plane::Y, Plane::Cb, Plane::Cr] {
            let (w, h) = self.size_of(plane);
            let (buffer, stride) = self.plane_mut(plane);
            for row in buffer.chunks_exact_mut(stride).take(h) {
                row[w] = row[0];
            }
            buffer.copy_within((h - 1) * stride..h * stride, h * stride);
        }
    }

    /// The picture's planes without the padding.
    pub fn to_planes(&self) -> Planes {
        let unpadded = |plane: Plane| -> Vec<u8> {
            let ((w, h), (buffer, stride)) = (self.size_of(plane), self.plane(plane));
            buffer
                .chunks_exact(stride)
                .take(h)
                .flat_map(|row| &row[..w])
                .copied()
                .collect()
        };
        Planes {
            width: self.width,
            height: self.height,
            y: unpadded(Plane::Y),
            cb: unpadded(Plane::Cb),
            cr: unpadded(Plane::Cr),
        }
    }

    /// Bytes a `width`×`height` source holds.
    pub fn bytes_for(width: usize, height: usize) -> usize {
        let (cw, ch) = (width.div_ceil(2), height.div_ceil(2));
        (width + 1) * (height + 1) + 2 * (cw + 1) * (ch + 1) + 3 * SLACK
    }
}
