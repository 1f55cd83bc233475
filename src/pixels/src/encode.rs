//! Our baseline JPEG encoder for planes: Y at full size, Cb and Cr at half, encoded as
//! they are (4:2:0, one MCU of four luma blocks and one block of each chroma), with the
//! typical tables of Annex K. Views are made as planes; an encoder that wants rows of
//! interleaved pixels would have us widen the chroma only to average it again.
//!
//! Per block: the float AAN forward DCT (libjpeg's `jfdctflt`) with the quantiser
//! folded into one multiply per coefficient, then Huffman coding driven by a mask of
//! the nonzero coefficients, so runs of zeros cost one `trailing_zeros`, not a loop.

use crate::planes::Planes;
use crate::tables::{self, HuffmanSpec, ZIGZAG};
use crate::{dct, lanes};

/// A Huffman table turned around for encoding: each symbol's code and its length.
struct CodeTable {
    code: [u16; 256],
    length: [u8; 256],
}

impl CodeTable {
    fn new(spec: &HuffmanSpec) -> CodeTable {
        let mut table = CodeTable {
            code: [0; 256],
            length: [0; 256],
        };
        let (mut code, mut symbols) = (0u16, spec.symbols.iter());
        for (bits, &count) in (1u8..).zip(&spec.counts) {
            for _ in 0..count {
                let symbol = usize::from(*symbols.next().unwrap_or(&0));
                table.code[symbol] = code;
                table.length[symbol] = bits;
                code += 1;
            }
            code <<= 1;
        }
        table
    }
}

/// Bits into bytes, with a zero stuffed after every 0xFF as JPEG's entropy data wants.
struct BitWriter<'a> {
    out: &'a mut Vec<u8>,
    bits: u64,
    count: u32,
}

impl BitWriter<'_> {
    /// `length` (at most 32) low bits of `value`.
    #[inline(always)]
    fn put(&mut self, value: u32, length: u32) {
        self.bits = (self.bits << length) | u64::from(value);
        self.count += length;
        if self.count >= 32 {
            self.count -= 32;
            let word = (self.bits >> self.count) as u32;
            let bytes = word.to_be_bytes();
            // Whether a byte is 0xFF: the classic zero-byte test on the word's complement.
            if (!word).wrapping_sub(0x0101_0101) & word & 0x8080_8080 != 0 {
                for b in bytes {
                    self.out.push(b);
                    if b == 0xFF {
                        self.out.push(0);
                    }
                }
            } else {
                self.out.extend_from_slice(&bytes);
            }
        }
    }

    /// The last byte filled with ones, as the standard asks.
    fn finish(mut self) {
        let pad = (8 - self.count % 8) % 8;
        self.put((1 << pad) - 1, pad);
        while self.count >= 8 {
            self.count -= 8;
            let b = (self.bits >> self.count) as u8;
            self.out.push(b);
            if b == 0xFF {
                self.out.push(0);
            }
        }
    }
}

/// The bits of a coefficient as JPEG codes it: its size category and its low bits (one
/// less for negatives, so the top bit tells the sign).
#[inline(always)]
fn magnitude(value: i32) -> (u32, u32) {
    let size = 32 - value.unsigned_abs().leading_zeros();
    let bits = if value < 0 { value - 1 } else { value } as u32 & ((1u32 << size) - 1);
    (size, bits)
}

/// One component's coding state: its tables and its DC predictor.
struct Component<'a> {
    divisors: [f32; 64],
    dc: &'a CodeTable,
    ac: &'a CodeTable,
    previous_dc: i32,
}

impl Component<'_> {
    /// Quantises the block whose rows start `rows[0..8]` and codes it.
    fn code_block(&mut self, rows: [&[u8]; 8], writer: &mut BitWriter) {
        let mut natural = [0i32; 64];
        dct::forward(rows, &self.divisors, &mut natural);
        // Only the nonzero coefficients are visited, in scan order.
        let nonzero = tables::in_scan_order(lanes::nonzero_mask(&natural));
        let diff = natural[0] - self.previous_dc;
        self.previous_dc = natural[0];
        let (size, bits) = magnitude(diff);
        let symbol = size as usize;
        writer.put(
            (u32::from(self.dc.code[symbol]) << size) | bits,
            u32::from(self.dc.length[symbol]) + size,
        );
        let mut rest = nonzero & !1;
        let mut last = 0u32;
        while rest != 0 {
            let k = rest.trailing_zeros();
            rest &= rest - 1;
            let mut run = k - last - 1;
            while run > 15 {
                writer.put(
                    u32::from(self.ac.code[0xF0]),
                    u32::from(self.ac.length[0xF0]),
                );
                run -= 16;
            }
            let (size, bits) = magnitude(natural[usize::from(ZIGZAG[k as usize])]);
            let symbol = ((run << 4) | size) as usize;
            writer.put(
                (u32::from(self.ac.code[symbol]) << size) | bits,
                u32::from(self.ac.length[symbol]) + size,
            );
            last = k;
        }
        if last != 63 {
            writer.put(u32::from(self.ac.code[0]), u32::from(self.ac.length[0]));
        }
    }
}

/// Codes the 8×8 block of `plane` (`width`×`height`) whose top-left is (`x`, `y`):
/// straight from the plane's rows, or past its edge from a copy whose last column and
/// row repeat.
fn code_block_at(
    component: &mut Component,
    writer: &mut BitWriter,
    plane: &[u8],
    (width, height): (usize, usize),
    (x, y): (usize, usize),
) {
    if x + 8 <= width && y + 8 <= height {
        let rows = std::array::from_fn(|r| &plane[(y + r) * width + x..][..8]);
        return component.code_block(rows, writer);
    }
    let mut copy = [0u8; 64];
    for (r, row) in copy.chunks_exact_mut(8).enumerate() {
        let line = &plane[(y + r).min(height - 1) * width..][..width];
        for (c, out) in row.iter_mut().enumerate() {
            *out = line[(x + c).min(width - 1)];
        }
    }
    component.code_block(std::array::from_fn(|r| &copy[r * 8..r * 8 + 8]), writer);
}

/// A big-endian marker segment: its marker, its length, its body.
fn segment(out: &mut Vec<u8>, marker: u8, body: &[u8]) {
    out.extend_from_slice(&[0xFF, marker]);
    out.extend_from_slice(&((body.len() + 2) as u16).to_be_bytes());
    out.extend_from_slice(body);
}

fn headers(out: &mut Vec<u8>, (width, height): (u16, u16), quants: [&[u16; 64]; 2]) {
    out.extend_from_slice(&[0xFF, 0xD8]);
    segment(out, 0xE0, b"JFIF\0\x01\x01\0\0\x01\0\x01\0\0");
    let mut dqt = Vec::with_capacity(130);
    for (id, quant) in quants.iter().enumerate() {
        dqt.push(id as u8);
        dqt.extend(ZIGZAG.iter().map(|&i| quant[usize::from(i)] as u8));
    }
    segment(out, 0xDB, &dqt);
    let [h1, h0] = height.to_be_bytes();
    let [w1, w0] = width.to_be_bytes();
    segment(
        out,
        0xC0,
        &[8, h1, h0, w1, w0, 3, 1, 0x22, 0, 2, 0x11, 1, 3, 0x11, 1],
    );
    let mut dht = Vec::with_capacity(432);
    for (class_id, spec) in [
        (0x00, &tables::LUMA_DC),
        (0x10, &tables::LUMA_AC),
        (0x01, &tables::CHROMA_DC),
        (0x11, &tables::CHROMA_AC),
    ] {
        dht.push(class_id);
        dht.extend_from_slice(&spec.counts);
        dht.extend_from_slice(spec.symbols);
    }
    segment(out, 0xC4, &dht);
    segment(out, 0xDA, &[3, 1, 0x00, 2, 0x11, 3, 0x11, 0, 63, 0]);
}

/// Encodes planes as a baseline 4:2:0 JPEG at `quality` (1 to 100, as libjpeg's); `None`
/// for a size JPEG cannot carry or planes shorter than their size says.
pub fn encode(planes: &Planes, quality: u8) -> Option<Vec<u8>> {
    let (width, height) = (planes.width, planes.height);
    let (cw, ch) = planes.chroma_size();
    let sides = (u16::try_from(width).ok()?, u16::try_from(height).ok()?);
    if width == 0
        || height == 0
        || planes.y.len() < width * height
        || planes.cb.len() < cw * ch
        || planes.cr.len() < cw * ch
    {
        return None;
    }
    let luma_quant = tables::scaled_quant(&tables::LUMA_QUANT, quality);
    let chroma_quant = tables::scaled_quant(&tables::CHROMA_QUANT, quality);
    let mut out = Vec::with_capacity(width * height / 4 + 1024);
    headers(&mut out, sides, [&luma_quant, &chroma_quant]);
    let codes = [
        CodeTable::new(&tables::LUMA_DC),
        CodeTable::new(&tables::LUMA_AC),
        CodeTable::new(&tables::CHROMA_DC),
        CodeTable::new(&tables::CHROMA_AC),
    ];
    let component = |quant: &[u16; 64], dc, ac| Component {
        divisors: dct::forward_divisors(quant),
        dc,
        ac,
        previous_dc: 0,
    };
    let mut luma = component(&luma_quant, &codes[0], &codes[1]);
    let mut cb = component(&chroma_quant, &codes[2], &codes[3]);
    let mut cr = component(&chroma_quant, &codes[2], &codes[3]);
    let mut writer = BitWriter {
        out: &mut out,
        bits: 0,
        count: 0,
    };
    for my in 0..height.div_ceil(16) {
        for mx in 0..width.div_ceil(16) {
            for (bx, by) in [(0, 0), (8, 0), (0, 8), (8, 8)] {
                let at = (mx * 16 + bx, my * 16 + by);
                code_block_at(&mut luma, &mut writer, &planes.y, (width, height), at);
            }
            let at = (mx * 8, my * 8);
            code_block_at(&mut cb, &mut writer, &planes.cb, (cw, ch), at);
            code_block_at(&mut cr, &mut writer, &planes.cr, (cw, ch), at);
        }
    }
    writer.finish();
    out.extend_from_slice(&[0xFF, 0xD9]);
    Some(out)
}
