//! Flat views of an equirectangular picture, for oscstream: the geometry of ffmpeg's
//! `v360=e:flat:yaw=..:pitch=..:roll=..:h_fov=..:v_fov=..:w=..:h=..:interp=line`, a
//! lookup table that turns it into one fixed-point bilinear remap per plane, and the
//! JPEG decode and encode on either side of it.
//!
//! The table is built once per view and source size (the trigonometry happens there);
//! each frame is then a table walk over planar YCbCr: Y at full resolution, Cb and Cr at
//! half (4:2:0), the way the camera's JPEGs and our encoder both keep them.

use jpeg_encoder::{Encoder, ImageBuffer, JpegColorType, SamplingFactor};
use std::ops::RangeInclusive;
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
    fn chroma_size(&self) -> (usize, usize) {
        (self.width.div_ceil(2), self.height.div_ceil(2))
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
        Remap {
            geometry,
            mount,
            source,
            luma: PlaneMap::new(&rot, ranges, (w, h), source),
            chroma: PlaneMap::new(&rot, ranges, half((w, h)), half(source)),
        }
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

/// Decodes a camera JPEG into planes, reusing `into`'s buffers. Sizes are checked from
/// the header before anything is allocated.
pub fn decode(jpeg: &[u8], into: &mut Planes, scratch: &mut Vec<u8>) -> Result<(), DecodeError> {
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

/// Planes as an encoder row source: chroma rows widened back to full size, which the
/// encoder's 4:2:0 sampling averages again.
struct PlanarSource<'a>(&'a Planes);

impl ImageBuffer for PlanarSource<'_> {
    fn get_jpeg_color_type(&self) -> JpegColorType {
        JpegColorType::Ycbcr
    }

    fn width(&self) -> u16 {
        self.0.width as u16
    }

    fn height(&self) -> u16 {
        self.0.height as u16
    }

    fn fill_buffers(&self, y: u16, buffers: &mut [Vec<u8>; 4]) {
        let p = self.0;
        let (y, cw) = (usize::from(y), p.chroma_size().0);
        buffers[0].extend_from_slice(&p.y[y * p.width..(y + 1) * p.width]);
        let row = (y / 2) * cw..(y / 2 + 1) * cw;
        buffers[1].extend(widened(&p.cb[row.clone()], p.width));
        buffers[2].extend(widened(&p.cr[row], p.width));
    }
}

/// A half-width chroma row at full width, each sample twice.
fn widened(row: &[u8], width: usize) -> impl Iterator<Item = u8> + '_ {
    row.iter().flat_map(|&c| [c, c]).take(width)
}

/// Encodes planes as a baseline 4:2:0 JPEG; `None` if the encoder refuses them (only a
/// size no view has), so a half-written JPEG never goes out.
pub fn encode(planes: &Planes, quality: u8) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(planes.width * planes.height / 4);
    let mut encoder = Encoder::new(&mut out, quality);
    encoder.set_sampling_factor(SamplingFactor::F_2_2);
    encoder.encode_image(PlanarSource(planes)).ok()?;
    Some(out)
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
