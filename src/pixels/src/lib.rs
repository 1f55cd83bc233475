//! Flat views of an equirectangular picture, for oscstream: the geometry of ffmpeg's
//! `v360=e:flat:yaw=..:pitch=..:roll=..:h_fov=..:v_fov=..:w=..:h=..:interp=line`, a
//! lookup table that turns it into one fixed-point bilinear remap per plane, and the
//! JPEG decode and encode on either side of it — all on planar 4:2:0, the way cameras
//! send their frames, from the decode of a camera frame to the encode of a view.
//!
//! The data flows camera JPEG → [`decode_needed`] (only the MCUs the views read) →
//! [`Source`] → [`Remap::apply`] → [`Planes`] → [`encode`] → view JPEG.

use std::ops::RangeInclusive;

mod dct;
mod decode;
mod encode;
mod fallback;
mod geometry;
mod lanes;
mod lerp;
mod planes;
mod remap;
mod tables;

pub use decode::McuMask;
pub use encode::encode;
pub use geometry::{Mount, ViewGeometry};
pub use planes::{Planes, Source};
pub use remap::{Remap, TABLE_BYTES_PER_PIXEL};

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

/// Bytes a watched view keeps while it runs: its table, its output planes and its
/// encoder's output.
pub fn view_bytes(geometry: &ViewGeometry) -> usize {
    let (w, h) = (usize::from(geometry.width), usize::from(geometry.height));
    let pixels = Planes::bytes_for(w, h);
    pixels * TABLE_BYTES_PER_PIXEL + pixels + w * h / 4
}

/// Bytes the decode of a `width`×`height` camera frame keeps: the sources of the frame
/// being decoded and of the one views still read, and zune-jpeg's interleaved output
/// for a frame our decoder leaves to it.
pub fn decode_bytes(width: usize, height: usize) -> usize {
    width * height * 3 + 2 * Source::bytes_for(width, height)
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

/// Decodes a camera JPEG into `into`, reusing its buffers; only the MCUs `need` marks
/// are sure to be there (all without it). Sizes are checked from the header before
/// anything is allocated. Baseline 4:2:0 colour, what cameras send, is ours; any other
/// layout goes through zune-jpeg (`scratch` keeps its output).
pub fn decode_needed(
    jpeg: &[u8],
    into: &mut Source,
    scratch: &mut Vec<u8>,
    need: Option<&McuMask>,
) -> Result<(), DecodeError> {
    match decode::decode(jpeg, into, need)? {
        decode::Outcome::Decoded => Ok(()),
        decode::Outcome::NotOurs => fallback::decode(jpeg, into, scratch),
    }
}

/// Decodes a whole camera JPEG (see [`decode_needed`]).
pub fn decode(jpeg: &[u8], into: &mut Source, scratch: &mut Vec<u8>) -> Result<(), DecodeError> {
    decode_needed(jpeg, into, scratch, None)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::remap::tests::geometry;

    #[test]
    fn a_uniform_picture_stays_uniform_and_encodes_at_its_size() {
        let mut src = Source::default();
        src.prepare(64, 32);
        for (plane, value) in [
            (planes::Plane::Y, 200),
            (planes::Plane::Cb, 90),
            (planes::Plane::Cr, 160),
        ] {
            src.plane_mut(plane).0.fill(value);
        }
        let remap = Remap::new(geometry(30.0, -10.0), Mount::default(), (64, 32));
        let mut out = Planes::default();
        remap.apply(&src, &mut out);
        assert!(out.y.iter().all(|&v| v == 200));
        assert!(out.cb.iter().all(|&v| v == 90) && out.cr.iter().all(|&v| v == 160));
        let jpeg = encode(&out, VIEW_QUALITY).unwrap();
        let mut back = Source::default();
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
            let mut back = Source::default();
            decode(&jpeg, &mut back, &mut Vec::new()).unwrap();
            let back = back.to_planes();
            assert_eq!((back.width, back.height), (w, h));
            let y = psnr(&planes.y, &back.y);
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
            let (mut ours, mut theirs) = (Source::default(), Source::default());
            assert!(matches!(
                decode::decode(&jpeg, &mut ours, None).unwrap(),
                decode::Outcome::Decoded
            ));
            fallback::decode(&jpeg, &mut theirs, &mut Vec::new()).unwrap();
            let (ours, theirs) = (ours.to_planes(), theirs.to_planes());
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
        let mut whole = Source::default();
        decode(&jpeg, &mut whole, &mut Vec::new()).unwrap();
        let remap = Remap::new(geometry(30.0, -10.0), Mount::default(), (1024, 512));
        let need = remap.mcus();
        assert!(
            need.share() > 0.01 && need.share() < 0.5,
            "{}",
            need.share()
        );
        let mut part = Source::default();
        decode_needed(&jpeg, &mut part, &mut Vec::new(), Some(need)).unwrap();
        let (mut a, mut b) = (Planes::default(), Planes::default());
        remap.apply(&whole, &mut a);
        remap.apply(&part, &mut b);
        assert_eq!((a.y, a.cb, a.cr), (b.y, b.cb, b.cr));
    }

    #[test]
    fn broken_and_cut_jpegs_are_refused_or_decoded_without_a_panic() {
        let jpeg = their_jpeg(64, 32);
        let mut planes = Source::default();
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
        let mut source = Source::default();
        decode(&jpeg, &mut source, &mut Vec::new()).unwrap();
        let planes = source.to_planes();
        assert_eq!((planes.width, planes.height), (64, 32));
        assert!(planes.y.iter().all(|&v| (88..=92).contains(&v)));
        assert_eq!(planes.cb.len(), 32 * 16);
        assert!(planes.cb.iter().chain(&planes.cr).all(|&v| v == 128));
    }

    #[test]
    fn frames_that_do_not_decode_or_claim_too_much_are_refused() {
        let mut planes = Source::default();
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
