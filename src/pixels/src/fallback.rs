//! Any JPEG our own decoder leaves (progressive, 4:2:2, 4:4:4, grey, 12-bit …): zune-jpeg
//! decodes it to interleaved YCbCr (or grey), brought here to a [`Source`] with chroma
//! averaged down to 4:2:0. Cameras send baseline 4:2:0, so this is the rare path.

use crate::planes::{Plane, Source};
use crate::{DecodeError, MAX_SOURCE_HEIGHT, MAX_SOURCE_WIDTH};
use zune_jpeg::JpegDecoder;
use zune_jpeg::zune_core::bytestream::ZCursor;
use zune_jpeg::zune_core::colorspace::ColorSpace;
use zune_jpeg::zune_core::options::DecoderOptions;

fn unreadable(e: impl std::fmt::Display) -> DecodeError {
    DecodeError::Unreadable(e.to_string())
}

/// Decodes `jpeg` with zune-jpeg into `into`; `scratch` keeps its interleaved output.
pub fn decode(jpeg: &[u8], into: &mut Source, scratch: &mut Vec<u8>) -> Result<(), DecodeError> {
    let options = DecoderOptions::default()
        .jpeg_set_out_colorspace(ColorSpace::YCbCr)
        .set_max_width(MAX_SOURCE_WIDTH)
        .set_max_height(MAX_SOURCE_HEIGHT);
    let mut decoder = JpegDecoder::new_with_options(ZCursor::new(jpeg), options);
    decoder.decode_headers().map_err(unreadable)?;
    let (width, height) = decoder
        .dimensions()
        .ok_or_else(|| unreadable("no frame header"))?;
    if width > MAX_SOURCE_WIDTH || height > MAX_SOURCE_HEIGHT || width < 2 || height < 2 {
        return Err(DecodeError::TooLarge { width, height });
    }
    let grey = decoder.input_colorspace() == Some(ColorSpace::Luma);
    if grey {
        decoder.set_options(options.jpeg_set_out_colorspace(ColorSpace::Luma));
    }
    scratch.resize(width * height * if grey { 1 } else { 3 }, 0);
    decoder.decode_into(scratch).map_err(unreadable)?;
    into.prepare(width, height);
    if grey {
        // A grey picture: its luma as it is, chroma neutral.
        let (y, stride) = into.plane_mut(Plane::Y);
        for (row, line) in y.chunks_exact_mut(stride).zip(scratch.chunks_exact(width)) {
            row[..width].copy_from_slice(line);
        }
        for plane in [Plane::Cb, Plane::Cr] {
            into.plane_mut(plane).0.fill(128);
        }
    } else {
        split_planes(scratch, into);
    }
    into.pad();
    Ok(())
}

/// Interleaved YCbCr (as zune-jpeg gives it) into the source's planes, chroma
/// averaged over each 2×2.
fn split_planes(ycc: &[u8], into: &mut Source) {
    let (width, height) = (into.width, into.height);
    let (y, stride) = into.plane_mut(Plane::Y);
    for (row, line) in y.chunks_exact_mut(stride).zip(ycc.chunks_exact(width * 3)) {
        for (out, pixel) in row.iter_mut().zip(line.chunks_exact(3)) {
            *out = pixel[0];
        }
    }
    let (cw, ch) = into.size_of(Plane::Cb);
    for (plane, channel) in [(Plane::Cb, 1), (Plane::Cr, 2)] {
        let (buffer, stride) = into.plane_mut(plane);
        for cy in 0..ch {
            let rows = [2 * cy, (2 * cy + 1).min(height - 1)];
            for cx in 0..cw {
                let cols = [2 * cx, (2 * cx + 1).min(width - 1)];
                let sum: u32 = rows
                    .iter()
                    .flat_map(|&r| cols.map(|c| u32::from(ycc[(r * width + c) * 3 + channel])))
                    .sum();
                buffer[cy * stride + cx] = ((sum + 2) / 4) as u8;
            }
        }
    }
}
