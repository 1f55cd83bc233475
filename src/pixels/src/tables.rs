//! The numbers baseline JPEG is made of, shared by our decoder and encoder: the zig-zag
//! order of a block's coefficients and the typical tables of ITU-T T.81 Annex K
//! (quantisation, K.1 and K.2; Huffman, K.3), which ffmpeg and libjpeg use too.

/// `ZIGZAG[k]` is the row-major index of the `k`th coefficient in a block's scan order.
pub const ZIGZAG: [u8; 64] = [
    0, 1, 8, 16, 9, 2, 3, 10, 17, 24, 32, 25, 18, 11, 4, 5, 12, 19, 26, 33, 40, 48, 41, 34, 27, 20,
    13, 6, 7, 14, 21, 28, 35, 42, 49, 56, 57, 50, 43, 36, 29, 22, 15, 23, 30, 37, 44, 51, 58, 59,
    52, 45, 38, 31, 39, 46, 53, 60, 61, 54, 47, 55, 62, 63,
];

/// `IN_SCAN[i]`: where the coefficient at row-major index `i` comes in scan order.
const IN_SCAN: [u8; 64] = {
    let mut at = [0u8; 64];
    let mut k = 0;
    while k < 64 {
        at[ZIGZAG[k] as usize] = k as u8;
        k += 1;
    }
    at
};

/// `SCAN_BITS[r][b]`: the bits, in scan order, of the coefficients of row `r` that the
/// bits of `b` mark (bit c for column c): eight lookups turn a row-major mask of the
/// nonzero coefficients into a scan-order one.
pub static SCAN_BITS: [[u64; 256]; 8] = {
    let mut table = [[0u64; 256]; 8];
    let mut r = 0;
    while r < 8 {
        let mut b = 0;
        while b < 256 {
            let mut bits = 0u64;
            let mut c = 0;
            while c < 8 {
                if b & (1 << c) != 0 {
                    bits |= 1 << IN_SCAN[r * 8 + c];
                }
                c += 1;
            }
            table[r][b] = bits;
            b += 1;
        }
        r += 1;
    }
    table
};

/// A row-major mask of coefficients as a scan-order one.
#[inline(always)]
pub fn in_scan_order(mask: u64) -> u64 {
    let mut bits = 0;
    for (r, row) in SCAN_BITS.iter().enumerate() {
        bits |= row[((mask >> (r * 8)) & 0xFF) as usize];
    }
    bits
}

/// Annex K.1: luminance quantisation at quality 50, row-major.
pub const LUMA_QUANT: [u8; 64] = [
    16, 11, 10, 16, 24, 40, 51, 61, 12, 12, 14, 19, 26, 58, 60, 55, 14, 13, 16, 24, 40, 57, 69, 56,
    14, 17, 22, 29, 51, 87, 80, 62, 18, 22, 37, 56, 68, 109, 103, 77, 24, 35, 55, 64, 81, 104, 113,
    92, 49, 64, 78, 87, 103, 121, 120, 101, 72, 92, 95, 98, 112, 100, 103, 99,
];

/// Annex K.2: chrominance quantisation at quality 50, row-major.
pub const CHROMA_QUANT: [u8; 64] = [
    17, 18, 24, 47, 99, 99, 99, 99, 18, 21, 26, 66, 99, 99, 99, 99, 24, 26, 56, 99, 99, 99, 99, 99,
    47, 66, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99,
    99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99,
];

/// A Huffman table as JPEG's DHT segment carries it: how many codes of each length
/// 1 to 16, then the symbols in code order.
pub struct HuffmanSpec {
    pub counts: [u8; 16],
    pub symbols: &'static [u8],
}

pub const LUMA_DC: HuffmanSpec = HuffmanSpec {
    counts: [0, 1, 5, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0],
    symbols: &[0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11],
};

pub const CHROMA_DC: HuffmanSpec = HuffmanSpec {
    counts: [0, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0],
    symbols: &[0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11],
};

pub const LUMA_AC: HuffmanSpec = HuffmanSpec {
    counts: [0, 2, 1, 3, 3, 2, 4, 3, 5, 5, 4, 4, 0, 0, 1, 125],
    symbols: &[
        1, 2, 3, 0, 4, 17, 5, 18, 33, 49, 65, 6, 19, 81, 97, 7, 34, 113, 20, 50, 129, 145, 161, 8,
        35, 66, 177, 193, 21, 82, 209, 240, 36, 51, 98, 114, 130, 9, 10, 22, 23, 24, 25, 26, 37,
        38, 39, 40, 41, 42, 52, 53, 54, 55, 56, 57, 58, 67, 68, 69, 70, 71, 72, 73, 74, 83, 84, 85,
        86, 87, 88, 89, 90, 99, 100, 101, 102, 103, 104, 105, 106, 115, 116, 117, 118, 119, 120,
        121, 122, 131, 132, 133, 134, 135, 136, 137, 138, 146, 147, 148, 149, 150, 151, 152, 153,
        154, 162, 163, 164, 165, 166, 167, 168, 169, 170, 178, 179, 180, 181, 182, 183, 184, 185,
        186, 194, 195, 196, 197, 198, 199, 200, 201, 202, 210, 211, 212, 213, 214, 215, 216, 217,
        218, 225, 226, 227, 228, 229, 230, 231, 232, 233, 234, 241, 242, 243, 244, 245, 246, 247,
        248, 249, 250,
    ],
};

pub const CHROMA_AC: HuffmanSpec = HuffmanSpec {
    counts: [0, 2, 1, 2, 4, 4, 3, 4, 7, 5, 4, 4, 0, 1, 2, 119],
    symbols: &[
        0, 1, 2, 3, 17, 4, 5, 33, 49, 6, 18, 65, 81, 7, 97, 113, 19, 34, 50, 129, 8, 20, 66, 145,
        161, 177, 193, 9, 35, 51, 82, 240, 21, 98, 114, 209, 10, 22, 36, 52, 225, 37, 241, 23, 24,
        25, 26, 38, 39, 40, 41, 42, 53, 54, 55, 56, 57, 58, 67, 68, 69, 70, 71, 72, 73, 74, 83, 84,
        85, 86, 87, 88, 89, 90, 99, 100, 101, 102, 103, 104, 105, 106, 115, 116, 117, 118, 119,
        120, 121, 122, 130, 131, 132, 133, 134, 135, 136, 137, 138, 146, 147, 148, 149, 150, 151,
        152, 153, 154, 162, 163, 164, 165, 166, 167, 168, 169, 170, 178, 179, 180, 181, 182, 183,
        184, 185, 186, 194, 195, 196, 197, 198, 199, 200, 201, 202, 210, 211, 212, 213, 214, 215,
        216, 217, 218, 226, 227, 228, 229, 230, 231, 232, 233, 234, 242, 243, 244, 245, 246, 247,
        248, 249, 250,
    ],
};

/// A quantisation table for `quality` (1 to 100), scaled as libjpeg and ffmpeg's `-q:v`
/// tools do: 50 is the table itself, 100 all ones.
pub fn scaled_quant(base: &[u8; 64], quality: u8) -> [u16; 64] {
    let quality = u32::from(quality.clamp(1, 100));
    let scale = if quality < 50 {
        5000 / quality
    } else {
        200 - 2 * quality
    };
    base.map(|q| ((u32::from(q) * scale + 50) / 100).clamp(1, 255) as u16)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_row_major_mask_turns_into_scan_order() {
        for i in 0..64 {
            let k = ZIGZAG.iter().position(|&z| usize::from(z) == i).unwrap();
            assert_eq!(in_scan_order(1 << i), 1 << k);
        }
        assert_eq!(in_scan_order(u64::MAX), u64::MAX);
    }

    #[test]
    fn the_tables_hold_as_many_symbols_as_they_count_codes() {
        for spec in [&LUMA_DC, &CHROMA_DC, &LUMA_AC, &CHROMA_AC] {
            let codes: usize = spec.counts.iter().map(|&c| usize::from(c)).sum();
            assert_eq!(codes, spec.symbols.len());
        }
        let mut seen = [false; 64];
        ZIGZAG.iter().for_each(|&i| seen[usize::from(i)] = true);
        assert!(seen.iter().all(|&s| s));
    }
}
