//! The 8×8 discrete cosine transforms of baseline JPEG, in floating point after Arai,
//! Agui and Nakajima (libjpeg's `jfdctflt` and `jidctflt`): five multiplies per eight
//! samples, with the AAN scale factors folded into the quantiser on either side, so a
//! coefficient costs one multiply to quantise or dequantise. Written once over
//! [`Lanes`], so the SIMD path and the scalar one are the same code.

use crate::lanes::{Arith, F8, Lanes, Scalar8};

/// `AAN[k]` = cos(kπ/16)·√2 for k > 0, and 1: what the fast transforms leave on row
/// and column `k`.
const AAN: [f32; 8] = [
    1.0,
    1.387_039_8,
    1.306_563,
    1.175_875_6,
    1.0,
    0.785_694_96,
    0.541_196_1,
    0.275_899_38,
];

/// Per row-major coefficient, the multiplier that quantises the output of [`forward`]
/// with `quant`: 1 / (q · AAN[row] · AAN[column] · 8).
pub fn forward_divisors(quant: &[u16; 64]) -> [f32; 64] {
    std::array::from_fn(|i| 1.0 / (f32::from(quant[i]) * AAN[i / 8] * AAN[i % 8] * 8.0))
}

/// Per row-major coefficient, the multiplier that dequantises into [`inverse`]'s input:
/// q · AAN[row] · AAN[column] / 8 (the last pass's division by 8 folded in).
pub fn inverse_multipliers(quant: &[u16; 64]) -> [f32; 64] {
    std::array::from_fn(|i| f32::from(quant[i]) * AAN[i / 8] * AAN[i % 8] / 8.0)
}

/// One 8-point forward transform, of each lane of `v` (a lane is one line of a block).
#[inline(always)]
fn forward_1d<L: Arith>(v: [L; 8]) -> [L; 8] {
    let (tmp0, tmp7) = (v[0] + v[7], v[0] - v[7]);
    let (tmp1, tmp6) = (v[1] + v[6], v[1] - v[6]);
    let (tmp2, tmp5) = (v[2] + v[5], v[2] - v[5]);
    let (tmp3, tmp4) = (v[3] + v[4], v[3] - v[4]);
    let (tmp10, tmp13) = (tmp0 + tmp3, tmp0 - tmp3);
    let (tmp11, tmp12) = (tmp1 + tmp2, tmp1 - tmp2);
    let z1 = (tmp12 + tmp13) * std::f32::consts::FRAC_1_SQRT_2;
    let (tmp10o, tmp11o, tmp12o) = (tmp4 + tmp5, tmp5 + tmp6, tmp6 + tmp7);
    let z5 = (tmp10o - tmp12o) * 0.382_683_43;
    let z2 = tmp10o * 0.541_196_1 + z5;
    let z4 = tmp12o * 1.306_563 + z5;
    let z3 = tmp11o * std::f32::consts::FRAC_1_SQRT_2;
    let (z11, z13) = (tmp7 + z3, tmp7 - z3);
    [
        tmp10 + tmp11,
        z11 + z4,
        tmp13 + z1,
        z13 - z2,
        tmp10 - tmp11,
        z13 + z2,
        tmp13 - z1,
        z11 - z4,
    ]
}

/// One 8-point inverse transform, of each lane of `v`.
#[inline(always)]
fn inverse_1d<L: Arith>(v: [L; 8]) -> [L; 8] {
    let (tmp10, tmp11) = (v[0] + v[4], v[0] - v[4]);
    let tmp13 = v[2] + v[6];
    let tmp12 = (v[2] - v[6]) * std::f32::consts::SQRT_2 - tmp13;
    let (tmp0, tmp3) = (tmp10 + tmp13, tmp10 - tmp13);
    let (tmp1, tmp2) = (tmp11 + tmp12, tmp11 - tmp12);
    let (z13, z10) = (v[5] + v[3], v[5] - v[3]);
    let (z11, z12) = (v[1] + v[7], v[1] - v[7]);
    let tmp7 = z11 + z13;
    let tmp11 = (z11 - z13) * std::f32::consts::SQRT_2;
    let z5 = (z10 + z12) * 1.847_759;
    let tmp10 = z12 * 1.082_392_2 - z5;
    let tmp12 = z5 - z10 * 2.613_126;
    let tmp6 = tmp12 - tmp7;
    let tmp5 = tmp11 - tmp6;
    let tmp4 = tmp10 + tmp5;
    [
        tmp0 + tmp7,
        tmp1 + tmp6,
        tmp2 + tmp5,
        tmp3 - tmp4,
        tmp3 + tmp4,
        tmp2 - tmp5,
        tmp1 - tmp6,
        tmp0 - tmp7,
    ]
}

/// `pass` over each half of the lanes in turn: the same arithmetic, lane by lane, in
/// half the registers.
#[inline(always)]
fn in_halves<L: Lanes>(v: [L; 8], pass: impl Fn([L::Half; 8]) -> [L::Half; 8]) -> [L; 8] {
    let low = pass(v.map(|x| x.halves().0));
    let high = pass(v.map(|x| x.halves().1));
    std::array::from_fn(|i| L::from_halves(low[i], high[i]))
}

fn rows<L: Lanes>(block: &[f32; 64]) -> [L; 8] {
    std::array::from_fn(|r| L::load(&block[r * 8..]))
}

/// The forward transform of the 8×8 block whose rows start `rows[0..8]` (samples),
/// quantised with `divisors` (from [`forward_divisors`]) and rounded, row-major.
#[inline(always)]
pub fn forward_quantised<L: Lanes>(rows: [&[u8]; 8], divisors: &[f32; 64], out: &mut [i32; 64]) {
    // Each lane of a transposed row is a row: the first pass transforms rows.
    let by_rows = in_halves(L::transpose(rows.map(L::from_samples)), forward_1d);
    let coefficients = in_halves(L::transpose(by_rows), forward_1d);
    for (r, c) in coefficients.into_iter().enumerate() {
        c.times(L::load(&divisors[r * 8..]))
            .round(&mut out[r * 8..]);
    }
}

/// The inverse transform of dequantised coefficients (row-major, from
/// [`inverse_multipliers`]) into 8×8 samples, level shifted back and clamped, written
/// into `out` rows `stride` apart.
#[inline(always)]
pub fn inverse_with<L: Lanes>(block: &[f32; 64], out: &mut [u8], stride: usize) {
    // Each lane of a row is a column: the first pass transforms columns.
    let by_columns = in_halves(rows::<L>(block), inverse_1d);
    let samples = L::transpose(in_halves(L::transpose(by_columns), inverse_1d));
    for (r, row) in samples.into_iter().enumerate() {
        row.samples(&mut out[r * stride..]);
    }
}

/// [`inverse_with`] on the lanes of this machine.
pub fn inverse(block: &[f32; 64], out: &mut [u8], stride: usize) {
    inverse_with::<F8>(block, out, stride);
}

/// [`forward_quantised`] on the lanes of this machine.
pub fn forward(rows: [&[u8]; 8], divisors: &[f32; 64], out: &mut [i32; 64]) {
    forward_quantised::<F8>(rows, divisors, out);
}

/// A constant block's samples, exactly as [`inverse`] gives them.
pub fn constant_sample(dc: f32) -> u8 {
    let mut out = [0u8; 8];
    Scalar8::load(&[dc; 8]).samples(&mut out);
    out[0]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn test_block(seed: usize) -> [u8; 64] {
        std::array::from_fn(|i| ((i * 37 + i / 8 * 11 + seed * 101) % 200) as u8)
    }

    fn rows_of(block: &[u8; 64]) -> [&[u8]; 8] {
        std::array::from_fn(|r| &block[r * 8..r * 8 + 8])
    }

    #[test]
    fn the_inverse_undoes_the_forward_transform() {
        let block = test_block(0);
        // Quantisers of one: the inverse's multipliers undo the forward divisors.
        let ones = [1u16; 64];
        let mut q = [0i32; 64];
        forward(rows_of(&block), &forward_divisors(&ones), &mut q);
        let m = inverse_multipliers(&ones);
        let coefficients: [f32; 64] = std::array::from_fn(|i| q[i] as f32 * m[i]);
        let mut out = [0u8; 64];
        inverse(&coefficients, &mut out, 8);
        for (o, s) in out.iter().zip(block) {
            assert!(o.abs_diff(s) <= 1, "{o} vs {s}");
        }
    }

    #[test]
    fn simd_and_scalar_transforms_give_the_same_bits() {
        let divisors =
            forward_divisors(&crate::tables::scaled_quant(&crate::tables::LUMA_QUANT, 80));
        let multipliers = inverse_multipliers(&[3u16; 64]);
        for seed in 0..50 {
            let block = test_block(seed);
            let (mut simd, mut scalar) = ([0i32; 64], [0i32; 64]);
            forward_quantised::<F8>(rows_of(&block), &divisors, &mut simd);
            forward_quantised::<Scalar8>(rows_of(&block), &divisors, &mut scalar);
            assert_eq!(simd, scalar);
            let coefficients: [f32; 64] = std::array::from_fn(|i| {
                (f32::from(block[i]) * (seed as f32 - 25.0)) * multipliers[i]
            });
            let (mut simd, mut scalar) = ([0u8; 64], [0u8; 64]);
            inverse_with::<F8>(&coefficients, &mut simd, 8);
            inverse_with::<Scalar8>(&coefficients, &mut scalar, 8);
            assert_eq!(simd, scalar, "seed {seed}");
        }
    }
}
