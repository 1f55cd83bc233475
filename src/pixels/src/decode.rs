//! Our baseline JPEG decoder for what cameras send: 8-bit, Huffman-coded, sequential,
//! Y at 2×2 and Cb, Cr at 1×1 (4:2:0), decoded straight into planes at their own
//! resolutions — no chroma upsampled only to be averaged down again. Anything else
//! (progressive, 4:2:2, grey, …) is said to be "not ours" and left to zune-jpeg.
//!
//! A decode can be told which MCUs its readers need ([`McuMask`]): the others are only
//! entropy-decoded (their DC predicts the next), never dequantised or transformed, and
//! decoding stops after the last needed MCU row. One flat view reads a tenth of a frame.

use crate::dct;
use crate::planes::{Plane, Source};
use crate::tables::ZIGZAG;
use crate::{DecodeError, MAX_SOURCE_HEIGHT, MAX_SOURCE_WIDTH};

/// Which 16×16 MCUs of a source some reader needs, one bit each, row by row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct McuMask {
    width: usize,
    height: usize,
    columns: usize,
    rows: usize,
    bits: Vec<u64>,
}

impl McuMask {
    /// No MCU of a `width`×`height` source.
    pub fn none(width: usize, height: usize) -> McuMask {
        let (columns, rows) = (width.div_ceil(16), height.div_ceil(16));
        McuMask {
            width,
            height,
            columns,
            rows,
            bits: vec![0; (columns * rows).div_ceil(64)],
        }
    }

    /// Every MCU of a `width`×`height` source.
    pub fn all(width: usize, height: usize) -> McuMask {
        let mut mask = McuMask::none(width, height);
        mask.bits.iter_mut().for_each(|b| *b = u64::MAX);
        mask
    }

    /// The source size the mask is for.
    pub fn size(&self) -> (usize, usize) {
        (self.width, self.height)
    }

    /// Marks the MCU holding luma pixel (`x`, `y`).
    pub fn mark_luma(&mut self, x: usize, y: usize) {
        self.mark(x / 16, y / 16);
    }

    /// Marks the MCU holding chroma pixel (`x`, `y`).
    pub fn mark_chroma(&mut self, x: usize, y: usize) {
        self.mark(x / 8, y / 8);
    }

    fn mark(&mut self, column: usize, row: usize) {
        if column < self.columns && row < self.rows {
            let i = row * self.columns + column;
            self.bits[i / 64] |= 1 << (i % 64);
        }
    }

    fn has(&self, i: usize) -> bool {
        self.bits
            .get(i / 64)
            .is_some_and(|b| b & (1 << (i % 64)) != 0)
    }

    /// Adds `other`'s MCUs (of the same source size) to these.
    pub fn add(&mut self, other: &McuMask) {
        if (self.columns, self.rows) == (other.columns, other.rows) {
            self.bits
                .iter_mut()
                .zip(&other.bits)
                .for_each(|(a, b)| *a |= b);
        } else {
            *self = McuMask::all(self.columns * 16, self.rows * 16);
        }
    }

    /// Whether every MCU of `other` is one of these.
    pub fn covers(&self, other: &McuMask) -> bool {
        self.size() == other.size() && self.bits.iter().zip(&other.bits).all(|(a, b)| b & !a == 0)
    }

    /// The fraction of MCUs marked.
    pub fn share(&self) -> f64 {
        let marked: u32 = self.bits.iter().map(|b| b.count_ones()).sum();
        f64::from(marked) / (self.columns * self.rows).max(1) as f64
    }

    /// One past the last MCU row with a marked MCU.
    fn rows_needed(&self) -> usize {
        (0..self.rows)
            .rev()
            .find(|&r| (0..self.columns).any(|c| self.has(r * self.columns + c)))
            .map_or(0, |r| r + 1)
    }
}

/// What the decoder made of a JPEG.
pub enum Outcome {
    Decoded,
    /// A layout this decoder leaves to another (not baseline 4:2:0 colour).
    NotOurs,
}

fn bad(why: &str) -> DecodeError {
    DecodeError::Unreadable(why.to_string())
}

/// A Huffman table for decoding: a 9-bit lookup for the common short codes, and per
/// length the largest code and where its symbols start for the rest.
struct HuffmanTable {
    /// (symbol, length) of the code starting with these 9 bits; length 0 if longer.
    fast: [(u8, u8); 512],
    /// For each length 1..=16, the largest code of that length (-1 if none).
    max_code: [i32; 18],
    /// For each length, `symbols` index minus the first code of that length.
    offset: [i32; 17],
    symbols: Vec<u8>,
}

impl HuffmanTable {
    fn new(counts: &[u8; 16], symbols: &[u8]) -> Result<HuffmanTable, DecodeError> {
        let mut table = HuffmanTable {
            fast: [(0, 0); 512],
            max_code: [-1; 18],
            offset: [0; 17],
            symbols: symbols.to_vec(),
        };
        let (mut code, mut k) = (0i32, 0usize);
        for length in 1..=16 {
            let count = usize::from(counts[length - 1]);
            table.offset[length] = k as i32 - code;
            for _ in 0..count {
                if code >= 1 << length {
                    return Err(bad("a Huffman table has more codes than bits for them"));
                }
                if length <= 9 {
                    let first = (code << (9 - length)) as usize;
                    for entry in &mut table.fast[first..first + (1 << (9 - length))] {
                        *entry = (symbols[k], length as u8);
                    }
                }
                code += 1;
                k += 1;
            }
            if count > 0 {
                table.max_code[length] = code - 1;
            }
            code <<= 1;
        }
        table.max_code[17] = i32::MAX;
        Ok(table)
    }
}

/// The entropy-coded bits, most significant first, with stuffed zeros taken out; at a
/// marker (or the end) zeros come instead, and `marker` says so.
struct Bits<'a> {
    data: &'a [u8],
    pos: usize,
    acc: u64,
    count: u32,
    marker: bool,
}

impl Bits<'_> {
    #[inline(always)]
    fn refill(&mut self) {
        while self.count <= 56 {
            let mut byte = 0;
            if !self.marker {
                match self.data.get(self.pos) {
                    Some(&0xFF) if self.data.get(self.pos + 1) == Some(&0x00) => {
                        byte = 0xFF;
                        self.pos += 2;
                    }
                    Some(&0xFF) | None => self.marker = true,
                    Some(&b) => {
                        byte = b;
                        self.pos += 1;
                    }
                }
            }
            self.acc |= u64::from(byte) << (56 - self.count);
            self.count += 8;
        }
    }

    #[inline(always)]
    fn consume(&mut self, n: u32) {
        self.acc <<= n;
        self.count -= n;
    }

    #[inline(always)]
    fn symbol(&mut self, table: &HuffmanTable) -> Result<u8, DecodeError> {
        if self.count < 16 {
            self.refill();
        }
        let (symbol, length) = table.fast[(self.acc >> 55) as usize];
        if length > 0 {
            self.consume(u32::from(length));
            return Ok(symbol);
        }
        for length in 10..=16usize {
            let code = (self.acc >> (64 - length)) as i32;
            if code <= table.max_code[length] {
                self.consume(length as u32);
                let k = (table.offset[length] + code) as usize;
                return table
                    .symbols
                    .get(k)
                    .copied()
                    .ok_or_else(|| bad("a Huffman code past its table"));
            }
        }
        Err(bad("a Huffman code no table holds"))
    }

    /// `size` bits as a signed coefficient (JPEG's EXTEND).
    #[inline(always)]
    fn value(&mut self, size: u8) -> i32 {
        if size == 0 {
            return 0;
        }
        if self.count < 16 {
            self.refill();
        }
        let size = u32::from(size.min(16));
        let v = (self.acc >> (64 - size)) as i32;
        self.consume(size);
        if v < 1 << (size - 1) {
            v - (1 << size) + 1
        } else {
            v
        }
    }

    /// Past a restart marker: bits start again on a byte.
    fn restart(&mut self) -> Result<(), DecodeError> {
        self.acc = 0;
        self.count = 0;
        self.marker = false;
        while let Some(&b) = self.data.get(self.pos) {
            if b == 0xFF && matches!(self.data.get(self.pos + 1), Some(0xD0..=0xD7)) {
                self.pos += 2;
                return Ok(());
            }
            self.pos += 1;
        }
        Err(bad("a restart marker is missing"))
    }
}

/// One component of the frame and the scan.
#[derive(Clone, Copy, Default)]
struct Component {
    id: u8,
    sampling: u8,
    quant: usize,
    dc_table: usize,
    ac_table: usize,
}

/// What the headers say, read up to the start of the scan.
struct Headers {
    width: usize,
    height: usize,
    components: [Component; 3],
    quants: [Option<[u16; 64]>; 4],
    dc_tables: [Option<HuffmanTable>; 4],
    ac_tables: [Option<HuffmanTable>; 4],
    restart_interval: usize,
    /// Where the entropy-coded data starts.
    scan: usize,
}

fn u16_at(data: &[u8], at: usize) -> Result<usize, DecodeError> {
    data.get(at..at + 2)
        .map(|b| usize::from(u16::from_be_bytes([b[0], b[1]])))
        .ok_or_else(|| bad("the JPEG ends inside a header"))
}

fn read_quant(body: &[u8], quants: &mut [Option<[u16; 64]>; 4]) -> Result<(), DecodeError> {
    let mut rest = body;
    while let Some((&pq_tq, tail)) = rest.split_first() {
        let (wide, id) = (pq_tq >> 4 != 0, usize::from(pq_tq & 3));
        let bytes = if wide { 128 } else { 64 };
        let values = tail.get(..bytes).ok_or_else(|| bad("a short DQT"))?;
        let mut table = [0u16; 64];
        for (k, &at) in ZIGZAG.iter().enumerate() {
            table[usize::from(at)] = if wide {
                u16::from_be_bytes([values[2 * k], values[2 * k + 1]])
            } else {
                u16::from(values[k])
            };
        }
        quants[id] = Some(table);
        rest = &tail[bytes..];
    }
    Ok(())
}

fn read_huffman(body: &[u8], headers: &mut Headers) -> Result<(), DecodeError> {
    let mut rest = body;
    while let Some((&tc_th, tail)) = rest.split_first() {
        let counts: [u8; 16] = tail
            .get(..16)
            .and_then(|c| c.try_into().ok())
            .ok_or_else(|| bad("a short DHT"))?;
        let n: usize = counts.iter().map(|&c| usize::from(c)).sum();
        let symbols = tail.get(16..16 + n).ok_or_else(|| bad("a short DHT"))?;
        let table = HuffmanTable::new(&counts, symbols)?;
        let id = usize::from(tc_th & 3);
        if tc_th >> 4 == 0 {
            headers.dc_tables[id] = Some(table);
        } else {
            headers.ac_tables[id] = Some(table);
        }
        rest = &tail[16 + n..];
    }
    Ok(())
}

/// Reads the start of frame; `false` when the frame is not baseline 4:2:0 colour.
fn read_frame(body: &[u8], headers: &mut Headers) -> Result<bool, DecodeError> {
    if body.len() < 6 {
        return Err(bad("a short start of frame"));
    }
    let (height, width) = (u16_at(body, 1)?, u16_at(body, 3)?);
    if width > MAX_SOURCE_WIDTH || height > MAX_SOURCE_HEIGHT || width < 2 || height < 2 {
        return Err(DecodeError::TooLarge { width, height });
    }
    (headers.width, headers.height) = (width, height);
    if body[0] != 8 || body[5] != 3 || body.len() < 15 {
        return Ok(false);
    }
    for (i, c) in headers.components.iter_mut().enumerate() {
        let at = &body[6 + 3 * i..9 + 3 * i];
        *c = Component {
            id: at[0],
            sampling: at[1],
            quant: usize::from(at[2] & 3),
            ..Component::default()
        };
    }
    let [y, cb, cr] = headers.components.map(|c| c.sampling);
    Ok((y, cb, cr) == (0x22, 0x11, 0x11))
}

/// Reads the start of scan; `false` unless it is one interleaved scan of all three.
fn read_scan(body: &[u8], headers: &mut Headers) -> Result<bool, DecodeError> {
    if body.first() != Some(&3) || body.len() < 10 {
        return Ok(false);
    }
    for i in 0..3 {
        let (id, tables) = (body[1 + 2 * i], body[2 + 2 * i]);
        let c = headers
            .components
            .iter_mut()
            .find(|c| c.id == id)
            .ok_or_else(|| bad("the scan names a component the frame lacks"))?;
        c.dc_table = usize::from(tables >> 4 & 3);
        c.ac_table = usize::from(tables & 3);
    }
    Ok(body[7..10] == [0, 63, 0])
}

/// The headers up to the scan, or `None` for a JPEG this decoder leaves to another.
fn read_headers(jpeg: &[u8]) -> Result<Option<Headers>, DecodeError> {
    if !jpeg.starts_with(&[0xFF, 0xD8]) {
        return Err(bad("it does not start as a JPEG"));
    }
    let mut headers = Headers {
        width: 0,
        height: 0,
        components: [Component::default(); 3],
        quants: [None; 4],
        dc_tables: [None, None, None, None],
        ac_tables: [None, None, None, None],
        restart_interval: 0,
        scan: 0,
    };
    let mut at = 2;
    let mut frame = false;
    loop {
        while jpeg.get(at) == Some(&0xFF) && jpeg.get(at + 1) == Some(&0xFF) {
            at += 1;
        }
        let marker = match jpeg.get(at..at + 2) {
            Some([0xFF, m]) => *m,
            _ => return Err(bad("a header is not where the last one ended")),
        };
        let length = u16_at(jpeg, at + 2)?;
        let body = jpeg
            .get(at + 4..at + 2 + length.max(2))
            .ok_or_else(|| bad("the JPEG ends inside a header"))?;
        match marker {
            0xDB => read_quant(body, &mut headers.quants)?,
            0xC4 => read_huffman(body, &mut headers)?,
            0xDD => headers.restart_interval = u16_at(body, 0)?,
            0xC0 | 0xC1 => {
                if !read_frame(body, &mut headers)? {
                    return Ok(None);
                }
                frame = true;
            }
            // Progressive, lossless, hierarchical or arithmetic-coded: not ours.
            0xC2 | 0xC3 | 0xC5..=0xC7 | 0xC9..=0xCB | 0xCD..=0xCF => return Ok(None),
            0xDA => {
                if !frame || !read_scan(body, &mut headers)? {
                    return Ok(None);
                }
                headers.scan = at + 2 + length;
                return Ok(Some(headers));
            }
            0xD9 => return Err(bad("the picture ends before its scan")),
            _ => {}
        }
        at += 2 + length;
    }
}

/// A component's tables, ready for its blocks.
struct Coding<'a> {
    dc: &'a HuffmanTable,
    ac: &'a HuffmanTable,
    multipliers: [f32; 64],
    predictor: i32,
}

impl Coding<'_> {
    /// Decodes one block; when `out` is given, also transforms it into `out` (8×8 at
    /// rows `stride` apart).
    #[inline(always)]
    fn block(
        &mut self,
        bits: &mut Bits,
        out: Option<(&mut [u8], usize)>,
    ) -> Result<(), DecodeError> {
        let size = bits.symbol(self.dc)?;
        self.predictor = self.predictor.wrapping_add(bits.value(size));
        let mut coefficients = [0f32; 64];
        let mut k = 1;
        while k < 64 {
            let rs = bits.symbol(self.ac)?;
            let (run, size) = (usize::from(rs >> 4), rs & 15);
            if size == 0 {
                if run != 15 {
                    break;
                }
                k += 16;
                continue;
            }
            k += run;
            if k > 63 {
                return Err(bad("a block with more than 64 coefficients"));
            }
            let v = bits.value(size);
            if out.is_some() {
                let i = usize::from(ZIGZAG[k]);
                coefficients[i] = v as f32 * self.multipliers[i];
            }
            k += 1;
        }
        let Some((out, stride)) = out else {
            return Ok(());
        };
        coefficients[0] = self.predictor as f32 * self.multipliers[0];
        if k == 1 {
            // DC alone: the transform of a constant, exactly as the full one gives it.
            let v = dct::constant_sample(coefficients[0]);
            for row in out.chunks_mut(stride).take(8) {
                row[..8].fill(v);
            }
        } else {
            dct::inverse(&coefficients, out, stride);
        }
        Ok(())
    }
}

/// A plane being decoded into: its pixels, the distance between its rows, and the
/// picture's size in it (the padding's column and row lie outside).
struct Target<'a> {
    pixels: &'a mut [u8],
    stride: usize,
    size: (usize, usize),
}

impl Target<'_> {
    /// The block at (`x`, `y`): decoded, and when `wanted` also transformed into place
    /// (through `spare` where it crosses the picture's edge, only its inside copied).
    fn block(
        &mut self,
        coding: &mut Coding,
        bits: &mut Bits,
        wanted: bool,
        (x, y): (usize, usize),
        spare: &mut [u8; 64],
    ) -> Result<(), DecodeError> {
        let (width, height) = self.size;
        if !wanted {
            return coding.block(bits, None);
        }
        if x + 8 <= width && y + 8 <= height {
            return coding.block(
                bits,
                Some((&mut self.pixels[y * self.stride + x..], self.stride)),
            );
        }
        coding.block(bits, Some((spare, 8)))?;
        if x < width {
            let n = 8.min(width - x);
            for row in 0..8.min(height.saturating_sub(y)) {
                self.pixels[(y + row) * self.stride + x..][..n]
                    .copy_from_slice(&spare[row * 8..row * 8 + n]);
            }
        }
        Ok(())
    }
}

/// Decodes `jpeg` into `into`, transforming only the MCUs `need` marks (all without
/// one). `NotOurs` for a layout left to another decoder.
pub fn decode(
    jpeg: &[u8],
    into: &mut Source,
    need: Option<&McuMask>,
) -> Result<Outcome, DecodeError> {
    let Some(headers) = read_headers(jpeg)? else {
        return Ok(Outcome::NotOurs);
    };
    let (width, height) = (headers.width, headers.height);
    into.prepare(width, height);
    let mut codings = Vec::with_capacity(3);
    for c in &headers.components {
        let quant = headers.quants[c.quant]
            .as_ref()
            .ok_or_else(|| bad("a component's quantisation table is missing"))?;
        codings.push(Coding {
            dc: headers.dc_tables[c.dc_table]
                .as_ref()
                .ok_or_else(|| bad("a DC Huffman table is missing"))?,
            ac: headers.ac_tables[c.ac_table]
                .as_ref()
                .ok_or_else(|| bad("an AC Huffman table is missing"))?,
            multipliers: dct::inverse_multipliers(quant),
            predictor: 0,
        });
    }
    let (columns, rows) = (width.div_ceil(16), height.div_ceil(16));
    // A mask made for another size says nothing about this one: decode it all.
    let need = need.filter(|m| m.size() == (width, height));
    let rows_needed = need.map_or(rows, |m| m.rows_needed().min(rows));
    let mut bits = Bits {
        data: &jpeg[headers.scan..],
        pos: 0,
        acc: 0,
        count: 0,
        marker: false,
    };
    let sizes = [Plane::Y, Plane::Cb, Plane::Cr].map(|p| into.size_of(p));
    let strides = [Plane::Y, Plane::Cb, Plane::Cr].map(|p| into.stride(p));
    let [y, cb, cr] = &mut into.planes;
    let mut targets = [(y, 0), (cb, 1), (cr, 2)].map(|(pixels, i)| Target {
        pixels,
        stride: strides[i],
        size: sizes[i],
    });
    let mut spare = [0u8; 64];
    let interval = headers.restart_interval;
    for mcu in 0..rows_needed * columns {
        if interval > 0 && mcu > 0 && mcu % interval == 0 {
            bits.restart()?;
            codings.iter_mut().for_each(|c| c.predictor = 0);
        }
        let (mx, my) = (mcu % columns, mcu / columns);
        let wanted = need.is_none_or(|m| m.has(mcu));
        for (bx, by) in [(0, 0), (8, 0), (0, 8), (8, 8)] {
            let at = (mx * 16 + bx, my * 16 + by);
            targets[0].block(&mut codings[0], &mut bits, wanted, at, &mut spare)?;
        }
        for i in 1..3 {
            let at = (mx * 8, my * 8);
            targets[i].block(&mut codings[i], &mut bits, wanted, at, &mut spare)?;
        }
    }
    into.pad();
    Ok(Outcome::Decoded)
}
