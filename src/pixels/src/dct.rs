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

/// The 8-point forward butterfly over eight values with the given lane-wise add,
/// subtract and multiply-by-a-constant: one text for every kind of lanes, so they all
/// do the same operations in the same order.
macro_rules! forward_butterfly {
    ($v:expr, $add:expr, $sub:expr, $mul:expr) => {{
        let (add, sub, mul) = ($add, $sub, $mul);
        let v = $v;
        let (tmp0, tmp7) = (add(v[0], v[7]), sub(v[0], v[7]));
        let (tmp1, tmp6) = (add(v[1], v[6]), sub(v[1], v[6]));
        let (tmp2, tmp5) = (add(v[2], v[5]), sub(v[2], v[5]));
        let (tmp3, tmp4) = (add(v[3], v[4]), sub(v[3], v[4]));
        let (tmp10, tmp13) = (add(tmp0, tmp3), sub(tmp0, tmp3));
        let (tmp11, tmp12) = (add(tmp1, tmp2), sub(tmp1, tmp2));
        let z1 = mul(add(tmp12, tmp13), std::f32::consts::FRAC_1_SQRT_2);
        let (tmp10o, tmp11o, tmp12o) = (add(tmp4, tmp5), add(tmp5, tmp6), add(tmp6, tmp7));
        let z5 = mul(sub(tmp10o, tmp12o), 0.382_683_43);
        let z2 = add(mul(tmp10o, 0.541_196_1), z5);
        let z4 = add(mul(tmp12o, 1.306_563), z5);
        let z3 = mul(tmp11o, std::f32::consts::FRAC_1_SQRT_2);
        let (z11, z13) = (add(tmp7, z3), sub(tmp7, z3));
        [
            add(tmp10, tmp11),
            add(z11, z4),
            add(tmp13, z1),
            sub(z13, z2),
            sub(tmp10, tmp11),
            add(z13, z2),
            sub(tmp13, z1),
            sub(z11, z4),
        ]
    }};
}

/// One 8-point forward transform, of each lane of `v` (a lane is one line of a block).
#[inline(always)]
fn forward_1d<L: Arith>(v: [L; 8]) -> [L; 8] {
    forward_butterfly!(v, |a: L, b: L| a + b, |a: L, b: L| a - b, |a: L, k: f32| a
        * k)
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

/// [`forward_quantised`] on the lanes of this machine: one AVX register a row where the
/// CPU has AVX2, else two SSE2 (or NEON) ones.
pub fn forward(rows: [&[u8]; 8], divisors: &[f32; 64], out: &mut [i32; 64]) {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU has AVX2.
        unsafe { avx2::forward(rows, divisors, out) };
        return;
    }
    forward_quantised::<F8>(rows, divisors, out);
}

/// The forward transform in AVX registers, one a row: written with the intrinsics
/// directly (and the same butterfly text), as they inline only into functions compiled
/// for AVX2.
#[cfg(target_arch = "x86_64")]
mod avx2 {
    use std::arch::x86_64::*;

    /// Rows to columns.
    #[target_feature(enable = "avx2")]
    #[inline]
    fn transpose(r: [__m256; 8]) -> [__m256; 8] {
        let t: [__m256; 8] = std::array::from_fn(|i| {
            let (a, b) = (r[i / 2 * 2], r[i / 2 * 2 + 1]);
            if i % 2 == 0 {
                _mm256_unpacklo_ps(a, b)
            } else {
                _mm256_unpackhi_ps(a, b)
            }
        });
        let q = [
            _mm256_shuffle_ps::<0x44>(t[0], t[2]),
            _mm256_shuffle_ps::<0xEE>(t[0], t[2]),
            _mm256_shuffle_ps::<0x44>(t[1], t[3]),
            _mm256_shuffle_ps::<0xEE>(t[1], t[3]),
            _mm256_shuffle_ps::<0x44>(t[4], t[6]),
            _mm256_shuffle_ps::<0xEE>(t[4], t[6]),
            _mm256_shuffle_ps::<0x44>(t[5], t[7]),
            _mm256_shuffle_ps::<0xEE>(t[5], t[7]),
        ];
        std::array::from_fn(|i| {
            let (a, b) = (q[i % 4], q[i % 4 + 4]);
            if i < 4 {
                _mm256_permute2f128_ps::<0x20>(a, b)
            } else {
                _mm256_permute2f128_ps::<0x31>(a, b)
            }
        })
    }

    #[target_feature(enable = "avx2")]
    #[inline]
    fn pass(v: [__m256; 8]) -> [__m256; 8] {
        forward_butterfly!(
            v,
            |a, b| _mm256_add_ps(a, b),
            |a, b| _mm256_sub_ps(a, b),
            |a, k: f32| _mm256_mul_ps(a, _mm256_set1_ps(k))
        )
    }

    /// `super::forward_quantised` for one AVX register a row.
    ///
    /// # Safety
    /// The CPU must have AVX2.
    #[target_feature(enable = "avx2")]
    pub unsafe fn forward(rows: [&[u8]; 8], divisors: &[f32; 64], out: &mut [i32; 64]) {
        let shift = _mm256_set1_ps(128.0);
        let samples = rows.map(|row| {
            let row = &row[..8];
            // SAFETY: the row holds eight samples.
            let bytes = unsafe { _mm_loadl_epi64(row.as_ptr().cast()) };
            _mm256_sub_ps(_mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(bytes)), shift)
        });
        let coefficients = pass(transpose(pass(transpose(samples))));
        let magic = _mm256_set1_ps(crate::lanes::MAGIC);
        for (r, c) in coefficients.into_iter().enumerate() {
            // SAFETY: row r of the divisors and of the output hold eight.
            unsafe {
                let d = _mm256_loadu_ps(divisors[r * 8..r * 8 + 8].as_ptr());
                let q = _mm256_sub_ps(_mm256_add_ps(_mm256_mul_ps(c, d), magic), magic);
                _mm256_storeu_si256(
                    out[r * 8..r * 8 + 8].as_mut_ptr().cast(),
                    _mm256_cvttps_epi32(q),
                );
            }
        }
    }
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
            let mut chosen = [0i32; 64];
            forward(rows_of(&block), &divisors, &mut chosen);
            assert_eq!(chosen, scalar, "the path this CPU takes");
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
