//! Flat views of an equirectangular picture, for oscstream: the geometry of ffmpeg's
//! `v360=e:flat:yaw=..:pitch=..:roll=..:h_fov=..:v_fov=..:w=..:h=..:interp=line`, a
//! lookup table that turns it into one fixed-point bilinear remap per plane, and the
//! JPEG decode and encode on either side of it.
//!
//! The table is built once per view and source size (the trigonometry happens there);
//! each frame is then a table walk over planar YCbCr: Y at full resolution, Cb and Cr at
//! half (4:2:0), the way the camera's JPEGs and our encoder both keep them.

use std::ops::RangeInclusive;

mod dct;
mod decode;
mod encode;
mod lanes;
mod tables;

pub use decode::McuMask;
pub use encode::encode;
use zune_jpeg::JpegDecoder;
use zune_jpeg::zune_core::bytestream::ZCursor;
use zune_jpeg::zune_core::colorspace::ColorSpace;
use zune_jpeg::zune_core::options::DecoderOptions;

/// The largest view we render: full HD.
pub const MAX_VIEW_WIDTH: u16 = 1920;
pub const MAX_VIEW_HEIGHT: u16 = 1080;
/// The largest source we decode: a THETA X's 4K preview (bounds the decoder's allocation).
pub const MAX_SOURCE_WIDTH: usize = 3840;
pub const MAX_SOURCE_HEIGHT: usize = 1920;
/// Quality of the views' JPEGs: near ffmpeg's `-q:v 4` in size and look.
pub const VIEW_QUALITY: u8 = 80;

/// The ranges the numbers take, said the same way by the config and by `flat.jpg`.
pub const YAW: RangeInclusive<f64> = -180.0..=180.0;
pub const PITCH: RangeInclusive<f64> = -90.0..=90.0;
pub const ROLL: RangeInclusive<f64> = -180.0..=180.0;
pub const FOV: RangeInclusive<f64> = 1.0..=179.0;

/// `value` of `what` within `range`, or the sentence naming both.
pub fn degrees_in(value: f64, range: &RangeInclusive<f64>, what: &str) -> Result<f64, String> {
    if value.is_finite() && range.contains(&value) {
        Ok(value)
    } else {
        Err(format!(
            "{what} takes degrees from {} to {} (got {value})",
            range.start(),
            range.end()
        ))
    }
}

/// Whether `n` pixels can be a view's side: even (4:2:0 halves it), 16 up to `most`.
pub fn is_view_side(n: u16, most: u16) -> bool {
    (16..=most).contains(&n) && n.is_multiple_of(2)
}

/// Where a view looks and how much it sees, in ffmpeg `v360`'s words and signs.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ViewGeometry {
    /// Degrees; positive turns right.
    pub yaw: f64,
    /// Degrees; positive looks up.
    pub pitch: f64,
    /// Degrees; positive tilts the picture clockwise.
    pub roll: f64,
    /// Horizontal field of view in degrees, 1 to 179; the vertical one follows from the
    /// size, for square pixels.
    pub fov: f64,
    pub width: u16,
    pub height: u16,
}

/// How the camera hangs: applied before every view's own rotation, so yaw 0 is the
/// direction the user calls ahead (`roll_offset = 180` for a camera upside down).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Mount {
    pub yaw: f64,
    pub pitch: f64,
    pub roll: f64,
}

impl ViewGeometry {
    /// The vertical field of view that keeps pixels square, as ffmpeg is told it.
    pub fn v_fov(&self) -> f64 {
        let half =
            (self.fov.to_radians() / 2.0).tan() * f64::from(self.height) / f64::from(self.width);
        2.0 * half.atan().to_degrees()
    }
}

type Matrix = [[f64; 3]; 3];

fn multiply(a: &Matrix, b: &Matrix) -> Matrix {
    let mut c = [[0.0; 3]; 3];
    for (i, row) in c.iter_mut().enumerate() {
        for (j, cell) in row.iter_mut().enumerate() {
            *cell = (0..3).map(|k| a[i][k] * b[k][j]).sum();
        }
    }
    c
}

/// ffmpeg's rotation for yaw, pitch and roll in its default order (`rorder=ypr`).
fn rotation(yaw: f64, pitch: f64, roll: f64) -> Matrix {
    let (sy, cy) = yaw.to_radians().sin_cos();
    let (sp, cp) = pitch.to_radians().sin_cos();
    let (sr, cr) = roll.to_radians().sin_cos();
    let yaw_m = [[cy, 0.0, sy], [0.0, 1.0, 0.0], [-sy, 0.0, cy]];
    let pitch_m = [[1.0, 0.0, 0.0], [0.0, cp, -sp], [0.0, sp, cp]];
    let roll_m = [[cr, -sr, 0.0], [sr, cr, 0.0], [0.0, 0.0, 1.0]];
    multiply(&multiply(&yaw_m, &pitch_m), &roll_m)
}

/// Bits of a tap's offset that say where its other three source pixels are; the low 30
/// are the index of the top-left one (a 3840×1920 source needs 23).
const WRAPS: u32 = 1 << 31;
/// The lower neighbour is the same row (the bottom pole).
const LAST_ROW: u32 = 1 << 30;
const INDEX: u32 = LAST_ROW - 1;

/// Bytes of table per output pixel: a 4-byte offset and two weights.
pub const TABLE_BYTES_PER_PIXEL: usize = 6;

/// The remap of one plane: for each output pixel the offset of the top-left of the four
/// source pixels around it (with [`WRAPS`] when the right one is the row's first, at the
/// seam at ±180°, and [`LAST_ROW`]), and the weights (0..256) of the right and lower
/// ones. Offsets and weights are kept apart: six bytes a pixel, so a 1920×1080 view's
/// table (both planes) is 15 MB.
struct PlaneMap {
    width: usize,
    height: usize,
    src_width: usize,
    offsets: Vec<u32>,
    weights: Vec<[u8; 2]>,
}

impl PlaneMap {
    fn new(
        rot: &Matrix,
        ranges: (f64, f64),
        (width, height): (usize, usize),
        (src_width, src_height): (usize, usize),
    ) -> PlaneMap {
        let mut offsets = Vec::with_capacity(width * height);
        let mut weights = Vec::with_capacity(width * height);
        for j in 0..height {
            for i in 0..width {
                let lx = ranges.0 * ((2 * i + 1) as f64 / width as f64 - 1.0);
                let ly = ranges.1 * ((2 * j + 1) as f64 / height as f64 - 1.0);
                let norm = (lx * lx + ly * ly + 1.0).sqrt();
                let v = [lx / norm, ly / norm, 1.0 / norm];
                let r = [0, 1, 2].map(|k| rot[k][0] * v[0] + rot[k][1] * v[1] + rot[k][2] * v[2]);
                let phi = r[0].atan2(r[2]);
                let theta = r[1].clamp(-1.0, 1.0).asin();
                let uf = (phi / std::f64::consts::PI + 1.0) * src_width as f64 / 2.0 - 0.5;
                let vf =
                    (theta / std::f64::consts::FRAC_PI_2 + 1.0) * src_height as f64 / 2.0 - 0.5;
                let (offset, weight) = tap(uf, vf, src_width, src_height);
                offsets.push(offset);
                weights.push(weight);
            }
        }
        PlaneMap {
            width,
            height,
            src_width,
            offsets,
            weights,
        }
    }

    /// Calls `mark` with every source pixel a tap reads (the four around each).
    fn mark_reads(&self, mut mark: impl FnMut(usize, usize)) {
        for &offset in &self.offsets {
            let i = (offset & INDEX) as usize;
            let (x, y) = (i % self.src_width, i / self.src_width);
            let right = if offset & WRAPS != 0 { 0 } else { x + 1 };
            let down = if offset & LAST_ROW != 0 { y } else { y + 1 };
            for (x, y) in [(x, y), (right, y), (x, down), (right, down)] {
                mark(x, y);
            }
        }
    }

    /// Bilinear, in 8.8 fixed point: the source plane `src` (rows of `src_width`) into `out`.
    fn apply(&self, src: &[u8], out: &mut Vec<u8>) {
        out.clear();
        out.resize(self.width * self.height, 0);
        let stride = self.src_width;
        let at = |i: usize| i32::from(src.get(i).copied().unwrap_or(0));
        for ((pixel, &offset), &[wx, wy]) in out.iter_mut().zip(&self.offsets).zip(&self.weights) {
            let i = (offset & INDEX) as usize;
            let right = if offset & WRAPS != 0 {
                i + 1 - stride
            } else {
                i + 1
            };
            let down = if offset & LAST_ROW != 0 { 0 } else { stride };
            let (wx, wy) = (i32::from(wx), i32::from(wy));
            let (a, b) = (at(i), at(right));
            let (c, d) = (at(i + down), at(right + down));
            // Three lerps, each a single multiply, in 8.8 then 16.16 fixed point.
            let top = (a << 8) + (b - a) * wx;
            let bottom = (c << 8) + (d - c) * wx;
            *pixel = (((top << 8) + (bottom - top) * wy + (1 << 15)) >> 16) as u8;
        }
    }
}

/// The tap around source position (`uf`, `vf`): columns wrap around the sphere, rows
/// stop at the poles.
fn tap(uf: f64, vf: f64, width: usize, height: usize) -> (u32, [u8; 2]) {
    let (w, h) = (width as i64, height as i64);
    let (mut u0, mut v0) = (uf.floor() as i64, vf.floor() as i64);
    let mut wx = ((uf - uf.floor()) * 256.0).round() as i64;
    let mut wy = ((vf - vf.floor()) * 256.0).round() as i64;
    if wx == 256 {
        (u0, wx) = (u0 + 1, 0);
    }
    if wy == 256 {
        (v0, wy) = (v0 + 1, 0);
    }
    let (wy, v0) = match v0 {
        v if v < 0 => (0, 0),
        v if v >= h - 1 => (0, h - 1),
        v => (wy, v),
    };
    let x0 = u0.rem_euclid(w);
    let mut offset = (v0 * w + x0) as u32;
    if x0 == w - 1 {
        offset |= WRAPS;
    }
    if v0 == h - 1 {
        offset |= LAST_ROW;
    }
    (offset, [wx as u8, wy as u8])
}

/// A picture as three planes: Y at full size, Cb and Cr at half width and height.
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

/// Bytes a watched view keeps while it runs: its table, its output planes and its
/// encoder's output.
pub fn view_bytes(geometry: &ViewGeometry) -> usize {
    let (w, h) = (usize::from(geometry.width), usize::from(geometry.height));
    let pixels = Planes::bytes_for(w, h);
    pixels * TABLE_BYTES_PER_PIXEL + pixels + w * h / 4
}

/// Bytes the decode of a `width`×`height` camera frame keeps: the decoder's interleaved
/// output, the planes of the frame being decoded and of the one views still read.
pub fn decode_bytes(width: usize, height: usize) -> usize {
    width * height * 3 + 2 * Planes::bytes_for(width, height)
}

/// A view's remap: built once for its geometry and a source size.
pub struct Remap {
    geometry: ViewGeometry,
    mount: Mount,
    source: (usize, usize),
    luma: PlaneMap,
    chroma: PlaneMap,
    /// The source's MCUs this view reads.
    mcus: McuMask,
}

impl Remap {
    pub fn new(geometry: ViewGeometry, mount: Mount, source: (usize, usize)) -> Remap {
        let rot = multiply(
            &rotation(mount.yaw, mount.pitch, mount.roll),
            &rotation(geometry.yaw, geometry.pitch, geometry.roll),
        );
        let ranges = (
            (geometry.fov.to_radians() / 2.0).tan(),
            (geometry.v_fov().to_radians() / 2.0).tan(),
        );
        let (w, h) = (usize::from(geometry.width), usize::from(geometry.height));
        let half = |(a, b): (usize, usize)| (a.div_ceil(2), b.div_ceil(2));
        let luma = PlaneMap::new(&rot, ranges, (w, h), source);
        let chroma = PlaneMap::new(&rot, ranges, half((w, h)), half(source));
        let mut mcus = McuMask::none(source.0, source.1);
        luma.mark_reads(|x, y| mcus.mark_luma(x, y));
        chroma.mark_reads(|x, y| mcus.mark_chroma(x, y));
        Remap {
            geometry,
            mount,
            source,
            luma,
            chroma,
            mcus,
        }
    }

    /// The source MCUs the view reads: all a decode for it has to transform.
    pub fn mcus(&self) -> &McuMask {
        &self.mcus
    }

    /// Whether this table serves these numbers and this source size.
    pub fn fits(&self, geometry: &ViewGeometry, mount: &Mount, source: (usize, usize)) -> bool {
        self.geometry == *geometry && self.mount == *mount && self.source == source
    }

    /// The source pixel (column, row) the luma of output pixel (`x`, `y`) starts from.
    pub fn source_of(&self, x: usize, y: usize) -> Option<(usize, usize)> {
        let offset = self.luma.offsets.get(y * self.luma.width + x)?;
        let i = (offset & INDEX) as usize;
        Some((i % self.source.0, i / self.source.0))
    }

    /// The view of `src` (which must be of the table's source size) into `out`.
    pub fn apply(&self, src: &Planes, out: &mut Planes) {
        out.width = self.luma.width;
        out.height = self.luma.height;
        self.luma.apply(&src.y, &mut out.y);
        self.chroma.apply(&src.cb, &mut out.cb);
        self.chroma.apply(&src.cr, &mut out.cr);
    }
}

/// Why a camera frame gave no view.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DecodeError {
    /// Larger than any camera's preview: not decoded.
    TooLarge {
        width: usize,
        height: usize,
    },
    Unreadable(String),
}

impl std::fmt::Display for DecodeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DecodeError::TooLarge { width, height } => write!(
                f,
                "the frame claims {width}×{height}, more than the {MAX_SOURCE_WIDTH}×{MAX_SOURCE_HEIGHT} a camera sends"
            ),
            DecodeError::Unreadable(why) => write!(f, "the frame does not decode ({why})"),
        }
    }
}

/// Decodes a camera JPEG into planes, reusing `into`'s buffers; only the MCUs `need`
/// marks are sure to be there (all without it). Sizes are checked from the header
/// before anything is allocated. Baseline 4:2:0 colour, what cameras send, is ours;
/// any other layout goes through zune-jpeg and is brought to planes.
pub fn decode_needed(
    jpeg: &[u8],
    into: &mut Planes,
    scratch: &mut Vec<u8>,
    need: Option<&McuMask>,
) -> Result<(), DecodeError> {
    match decode::decode(jpeg, into, need)? {
        decode::Outcome::Decoded => Ok(()),
        decode::Outcome::NotOurs => decode_other(jpeg, into, scratch),
    }
}

/// Decodes a whole camera JPEG into planes (see [`decode_needed`]).
pub fn decode(jpeg: &[u8], into: &mut Planes, scratch: &mut Vec<u8>) -> Result<(), DecodeError> {
    decode_needed(jpeg, into, scratch, None)
}

/// Any JPEG zune-jpeg reads, into planes: chroma averaged down to 4:2:0.
fn decode_other(jpeg: &[u8], into: &mut Planes, scratch: &mut Vec<u8>) -> Result<(), DecodeError> {
    let options = DecoderOptions::default()
        .jpeg_set_out_colorspace(ColorSpace::YCbCr)
        .set_max_width(MAX_SOURCE_WIDTH)
        .set_max_height(MAX_SOURCE_HEIGHT);
    let mut decoder = JpegDecoder::new_with_options(ZCursor::new(jpeg), options);
    decoder
        .decode_headers()
        .map_err(|e| DecodeError::Unreadable(e.to_string()))?;
    let (width, height) = decoder
        .dimensions()
        .ok_or_else(|| DecodeError::Unreadable("no frame header".into()))?;
    if width > MAX_SOURCE_WIDTH || height > MAX_SOURCE_HEIGHT || width < 2 || height < 2 {
        return Err(DecodeError::TooLarge { width, height });
    }
    if decoder.input_colorspace() == Some(ColorSpace::Luma) {
        // A grey picture: its luma as it is, chroma neutral.
        decoder.set_options(options.jpeg_set_out_colorspace(ColorSpace::Luma));
        scratch.resize(width * height, 0);
        decoder
            .decode_into(scratch)
            .map_err(|e| DecodeError::Unreadable(e.to_string()))?;
        into.width = width;
        into.height = height;
        into.y.clear();
        into.y.extend_from_slice(scratch);
        let chroma = width.div_ceil(2) * height.div_ceil(2);
        into.cb.clear();
        into.cb.resize(chroma, 128);
        into.cr.clear();
        into.cr.resize(chroma, 128);
        return Ok(());
    }
    scratch.resize(width * height * 3, 0);
    decoder
        .decode_into(scratch)
        .map_err(|e| DecodeError::Unreadable(e.to_string()))?;
    split_planes(scratch, width, height, into);
    Ok(())
}

/// Interleaved YCbCr (as the decoder gives it) into planes, chroma averaged 2×2.
fn split_planes(ycc: &[u8], width: usize, height: usize, into: &mut Planes) {
    into.width = width;
    into.height = height;
    into.y.clear();
    into.y.extend(ycc.chunks_exact(3).map(|p| p[0]));
    let (cw, ch) = into.chroma_size();
    into.cb.clear();
    into.cr.clear();
    for cy in 0..ch {
        let rows = [2 * cy, (2 * cy + 1).min(height - 1)];
        for cx in 0..cw {
            let cols = [2 * cx, (2 * cx + 1).min(width - 1)];
            let (mut cb, mut cr) = (0u32, 0u32);
            for r in rows {
                for c in cols {
                    let p = (r * width + c) * 3;
                    cb += u32::from(ycc[p + 1]);
                    cr += u32::from(ycc[p + 2]);
                }
            }
            into.cb.push(((cb + 2) / 4) as u8);
            into.cr.push(((cr + 2) / 4) as u8);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn geometry(yaw: f64, pitch: f64) -> ViewGeometry {
        ViewGeometry {
            yaw,
            pitch,
            roll: 0.0,
            fov: 90.0,
            width: 64,
            height: 36,
        }
    }

    #[test]
    fn the_centre_of_a_view_looks_where_yaw_and_pitch_say() {
        // A 360×180 source: column = longitude + 180, row = 90 - latitude.
        let centre = |g: ViewGeometry| {
            let remap = Remap::new(g, Mount::default(), (360, 180));
            remap.source_of(32, 18).unwrap()
        };
        let (x, y) = centre(geometry(0.0, 0.0));
        assert!(
            (179..=181).contains(&x) && (89..=91).contains(&y),
            "{x},{y}"
        );
        let (x, _) = centre(geometry(90.0, 0.0));
        assert!((269..=271).contains(&x), "yaw 90 looks right: {x}");
        let (_, y) = centre(geometry(0.0, 45.0));
        assert!((44..=46).contains(&y), "pitch 45 looks up: {y}");
    }

    #[test]
    fn the_mount_turns_every_view_before_its_own_numbers() {
        let mounted = Remap::new(
            geometry(0.0, 10.0),
            Mount {
                yaw: 90.0,
                ..Mount::default()
            },
            (360, 180),
        );
        let turned = Remap::new(geometry(90.0, 10.0), Mount::default(), (360, 180));
        for (x, y) in [(0, 0), (32, 18), (63, 35), (10, 30)] {
            assert_eq!(mounted.source_of(x, y), turned.source_of(x, y), "({x},{y})");
        }
        // Upside down: the view's top is the sphere's bottom.
        let hung = Remap::new(
            geometry(0.0, 0.0),
            Mount {
                roll: 180.0,
                ..Mount::default()
            },
            (360, 180),
        );
        let (_, top_row) = hung.source_of(32, 0).unwrap();
        assert!(top_row > 90, "{top_row}");
    }

    #[test]
    fn a_uniform_picture_stays_uniform_and_encodes_at_its_size() {
        let src = Planes {
            width: 64,
            height: 32,
            y: vec![200; 64 * 32],
            cb: vec![90; 32 * 16],
            cr: vec![160; 32 * 16],
        };
        let remap = Remap::new(geometry(30.0, -10.0), Mount::default(), (64, 32));
        let mut out = Planes::default();
        remap.apply(&src, &mut out);
        assert!(out.y.iter().all(|&v| v == 200));
        assert!(out.cb.iter().all(|&v| v == 90) && out.cr.iter().all(|&v| v == 160));
        let jpeg = encode(&out, VIEW_QUALITY).unwrap();
        let mut back = Planes::default();
        decode(&jpeg, &mut back, &mut Vec::new()).unwrap();
        assert_eq!((back.width, back.height), (64, 36));
    }

    /// Peak signal to noise ratio of `b` against `a`, in dB.
    fn psnr(a: &[u8], b: &[u8]) -> f64 {
        assert_eq!(a.len(), b.len());
        let mse = a
            .iter()
            .zip(b)
            .map(|(&x, &y)| (f64::from(x) - f64::from(y)).powi(2))
            .sum::<f64>()
            / a.len() as f64;
        10.0 * (255.0 * 255.0 / mse.max(1e-9)).log10()
    }

    /// A camera-like test picture: gradients, edges and texture in every plane.
    fn test_planes(width: usize, height: usize) -> Planes {
        let plane = |w: usize, h: usize, k: usize| -> Vec<u8> {
            (0..w * h)
                .map(|i| {
                    let (x, y) = (i % w, i / w);
                    let texture = (x * 7 + y * 13 + k * 5) % 23;
                    let edge = if (x / 9 + y / 7) % 2 == 0 { 40 } else { 0 };
                    ((x * 160 / w + y * 60 / h) + texture + edge + k * 10).min(255) as u8
                })
                .collect()
        };
        let (cw, ch) = (width.div_ceil(2), height.div_ceil(2));
        Planes {
            width,
            height,
            y: plane(width, height, 0),
            cb: plane(cw, ch, 1),
            cr: plane(cw, ch, 2),
        }
    }

    #[test]
    fn our_encoding_decodes_close_to_its_planes_at_any_size() {
        for (w, h) in [(64, 36), (1280, 720), (50, 34), (16, 16)] {
            let planes = test_planes(w, h);
            let jpeg = encode(&planes, VIEW_QUALITY).unwrap();
            let mut back = Planes::default();
            decode(&jpeg, &mut back, &mut Vec::new()).unwrap();
            assert_eq!((back.width, back.height), (w, h));
            let y = psnr(&planes.y, &back.y);
            eprintln!("{w}x{h}: Y {y:.1} dB, {} bytes", jpeg.len());
            assert!(y > 30.0, "{w}x{h}: Y {y:.1} dB");
        }
        let big = test_planes(1280, 720);
        let jpeg = encode(&big, VIEW_QUALITY).unwrap();
        assert!(jpeg.len() < 1280 * 720 / 2, "{} bytes", jpeg.len());
    }

    /// The test picture with colours mild enough to survive a trip through RGB.
    fn mild_planes(width: usize, height: usize) -> Planes {
        let mut p = test_planes(width, height);
        for c in p.cb.iter_mut().chain(p.cr.iter_mut()) {
            *c = 128 + (*c / 4);
        }
        p
    }

    /// A 4:2:0 JPEG of the mild test picture made by another encoder.
    fn their_jpeg(width: usize, height: usize) -> Vec<u8> {
        let p = mild_planes(width, height);
        let rgb: Vec<u8> = (0..width * height)
            .flat_map(|i| {
                let c = (i % width) / 2 + (i / width) / 2 * width.div_ceil(2);
                let (y, cb, cr) = (
                    f32::from(p.y[i]),
                    f32::from(p.cb[c]) - 128.0,
                    f32::from(p.cr[c]) - 128.0,
                );
                [
                    y + 1.402 * cr,
                    y - 0.344_136 * cb - 0.714_136 * cr,
                    y + 1.772 * cb,
                ]
                .map(|v| v.round().clamp(0.0, 255.0) as u8)
            })
            .collect();
        let mut jpeg = Vec::new();
        let mut encoder = jpeg_encoder::Encoder::new(&mut jpeg, 85);
        encoder.set_sampling_factor(jpeg_encoder::SamplingFactor::F_2_2);
        encoder
            .encode(
                &rgb,
                width as u16,
                height as u16,
                jpeg_encoder::ColorType::Rgb,
            )
            .unwrap();
        jpeg
    }

    #[test]
    fn our_decoder_gives_zunes_luma_and_the_planes_chroma() {
        for (w, h) in [(1024, 512), (50, 34)] {
            let jpeg = their_jpeg(w, h);
            let (mut ours, mut theirs) = (Planes::default(), Planes::default());
            assert!(matches!(
                decode::decode(&jpeg, &mut ours, None).unwrap(),
                decode::Outcome::Decoded
            ));
            decode_other(&jpeg, &mut theirs, &mut Vec::new()).unwrap();
            assert_eq!((ours.width, ours.height), (w, h));
            let y = psnr(&theirs.y, &ours.y);
            assert!(y > 45.0, "{w}x{h}: Y {y:.1} dB against zune-jpeg");
            // Chroma straight from the file; through 4:4:4 it is upsampled and averaged
            // back, close but not the same (the suite holds ours to ffmpeg's planes).
            let (cb, cr) = (psnr(&theirs.cb, &ours.cb), psnr(&theirs.cr, &ours.cr));
            assert!(cb > 30.0 && cr > 30.0, "{w}x{h}: {cb:.1}/{cr:.1} dB");
        }
    }

    #[test]
    fn a_partial_decode_gives_the_needed_mcus_exactly() {
        let jpeg = their_jpeg(1024, 512);
        let mut whole = Planes::default();
        decode(&jpeg, &mut whole, &mut Vec::new()).unwrap();
        let remap = Remap::new(geometry(30.0, -10.0), Mount::default(), (1024, 512));
        let need = remap.mcus();
        assert!(
            need.share() > 0.01 && need.share() < 0.5,
            "{}",
            need.share()
        );
        let mut part = Planes::default();
        decode_needed(&jpeg, &mut part, &mut Vec::new(), Some(need)).unwrap();
        let (mut a, mut b) = (Planes::default(), Planes::default());
        remap.apply(&whole, &mut a);
        remap.apply(&part, &mut b);
        assert_eq!((a.y, a.cb, a.cr), (b.y, b.cb, b.cr));
    }

    #[test]
    fn broken_and_cut_jpegs_are_refused_or_decoded_without_a_panic() {
        let jpeg = their_jpeg(64, 32);
        let mut planes = Planes::default();
        for cut in [10, 100, 200, jpeg.len() / 2, jpeg.len() - 3] {
            let _ = decode(&jpeg[..cut], &mut planes, &mut Vec::new());
        }
        let mut noisy = jpeg.clone();
        for i in (jpeg.len() / 3..jpeg.len() - 2).step_by(7) {
            noisy[i] ^= 0x5A;
            let _ = decode(&noisy, &mut planes, &mut Vec::new());
        }
    }

    #[test]
    fn a_grey_camera_frame_decodes_with_neutral_chroma() {
        let mut jpeg = Vec::new();
        jpeg_encoder::Encoder::new(&mut jpeg, 90)
            .encode(&[90u8; 64 * 32], 64, 32, jpeg_encoder::ColorType::Luma)
            .unwrap();
        let mut planes = Planes::default();
        decode(&jpeg, &mut planes, &mut Vec::new()).unwrap();
        assert_eq!((planes.width, planes.height), (64, 32));
        assert!(planes.y.iter().all(|&v| (88..=92).contains(&v)));
        assert_eq!(planes.cb.len(), 32 * 16);
        assert!(planes.cb.iter().chain(&planes.cr).all(|&v| v == 128));
    }

    #[test]
    fn frames_that_do_not_decode_or_claim_too_much_are_refused() {
        let mut planes = Planes::default();
        let mut scratch = Vec::new();
        assert!(decode(b"\xff\xd8garbage\xff\xd9", &mut planes, &mut scratch).is_err());
        let mut giant = Vec::new();
        jpeg_encoder::Encoder::new(&mut giant, 80)
            .encode(&[0u8; 16 * 16 * 3], 16, 16, jpeg_encoder::ColorType::Rgb)
            .unwrap();
        // Rewrite the start-of-frame size to 65535×65535.
        let sof = giant.windows(2).position(|w| w == [0xFF, 0xC0]).unwrap();
        giant[sof + 5..sof + 9].copy_from_slice(&[0xFF, 0xFF, 0xFF, 0xFF]);
        assert!(decode(&giant, &mut planes, &mut scratch).is_err());
        assert!(scratch.len() < 1 << 20, "nothing large allocated");
    }
}
