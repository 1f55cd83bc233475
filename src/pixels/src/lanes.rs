//! Eight `f32` lanes for the transforms, as explicit SIMD: two SSE2 registers on x86-64
//! (SSE2 is part of its baseline), two NEON registers on aarch64, a plain array
//! elsewhere. The release build optimises the binary for size, which stops the compiler
//! from vectorising loops by itself, so the hot loops say what they want.
//!
//! Every operation is the same IEEE operation on each lane (no fused multiply-add, no
//! reordering), so [`Scalar8`], the plain array the tests run beside it, gives the very
//! same bits.

use std::ops::{Add, Mul, Sub};

/// Lane-wise arithmetic: what a butterfly of the transforms needs.
pub trait Arith: Copy + Add<Output = Self> + Sub<Output = Self> + Mul<f32, Output = Self> {}

impl<T: Copy + Add<Output = T> + Sub<Output = T> + Mul<f32, Output = T>> Arith for T {}

/// What the transforms need of eight lanes.
pub trait Lanes: Arith {
    /// Four of the lanes: a butterfly over eight of these needs eight registers, not
    /// sixteen, so it runs without spilling to the stack.
    type Half: Arith;
    fn halves(self) -> (Self::Half, Self::Half);
    fn from_halves(low: Self::Half, high: Self::Half) -> Self;
    fn load(values: &[f32]) -> Self;
    /// Eight samples, level shifted (minus 128).
    fn from_samples(samples: &[u8]) -> Self;
    /// Lane by lane product.
    fn times(self, other: Self) -> Self;
    /// Rows to columns.
    fn transpose(rows: [Self; 8]) -> [Self; 8];
    /// Each lane rounded to the nearest whole number, halves to even (|x| < 2²²).
    fn round(self, out: &mut [i32]);
    /// Each lane plus 128.5, kept within 0..=255 and truncated: a sample.
    fn samples(self, out: &mut [u8]);
}

pub const MAGIC: f32 = 12_582_912.0; // 1.5 · 2²³: adding it leaves a whole number

/// The reference: eight lanes as a plain array, one lane at a time.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Scalar8([f32; 8]);

impl Add for Scalar8 {
    type Output = Self;
    #[inline(always)]
    fn add(self, o: Self) -> Self {
        Scalar8(std::array::from_fn(|i| self.0[i] + o.0[i]))
    }
}

impl Sub for Scalar8 {
    type Output = Self;
    #[inline(always)]
    fn sub(self, o: Self) -> Self {
        Scalar8(std::array::from_fn(|i| self.0[i] - o.0[i]))
    }
}

impl Mul<f32> for Scalar8 {
    type Output = Self;
    #[inline(always)]
    fn mul(self, k: f32) -> Self {
        Scalar8(self.0.map(|v| v * k))
    }
}

/// Four lanes of the reference.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Scalar4([f32; 4]);

impl Add for Scalar4 {
    type Output = Self;
    #[inline(always)]
    fn add(self, o: Self) -> Self {
        Scalar4(std::array::from_fn(|i| self.0[i] + o.0[i]))
    }
}

impl Sub for Scalar4 {
    type Output = Self;
    #[inline(always)]
    fn sub(self, o: Self) -> Self {
        Scalar4(std::array::from_fn(|i| self.0[i] - o.0[i]))
    }
}

impl Mul<f32> for Scalar4 {
    type Output = Self;
    #[inline(always)]
    fn mul(self, k: f32) -> Self {
        Scalar4(self.0.map(|v| v * k))
    }
}

impl Lanes for Scalar8 {
    type Half = Scalar4;

    #[inline(always)]
    fn halves(self) -> (Scalar4, Scalar4) {
        let v = self.0;
        (
            Scalar4([v[0], v[1], v[2], v[3]]),
            Scalar4([v[4], v[5], v[6], v[7]]),
        )
    }

    #[inline(always)]
    fn from_halves(low: Scalar4, high: Scalar4) -> Self {
        Scalar8(std::array::from_fn(|i| {
            if i < 4 { low.0[i] } else { high.0[i - 4] }
        }))
    }

    #[inline(always)]
    fn load(values: &[f32]) -> Self {
        Scalar8(std::array::from_fn(|i| values[i]))
    }

    #[inline(always)]
    fn from_samples(samples: &[u8]) -> Self {
        Scalar8(std::array::from_fn(|i| f32::from(samples[i]) - 128.0))
    }

    #[inline(always)]
    fn times(self, o: Self) -> Self {
        Scalar8(std::array::from_fn(|i| self.0[i] * o.0[i]))
    }

    #[inline(always)]
    fn transpose(rows: [Self; 8]) -> [Self; 8] {
        std::array::from_fn(|c| Scalar8(std::array::from_fn(|r| rows[r].0[c])))
    }

    #[inline(always)]
    fn round(self, out: &mut [i32]) {
        for (o, v) in out.iter_mut().zip(self.0) {
            *o = ((v + MAGIC) - MAGIC) as i32;
        }
    }

    #[inline(always)]
    fn samples(self, out: &mut [u8]) {
        for (o, v) in out.iter_mut().zip(self.0) {
            *o = (v + 128.5).clamp(0.0, 255.0) as u8;
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod simd {
    use super::{Lanes, MAGIC};
    use std::arch::x86_64::*;
    use std::ops::{Add, Mul, Sub};

    /// Two SSE2 registers.
    #[derive(Clone, Copy)]
    pub struct F8(__m128, __m128);

    /// One SSE register.
    #[derive(Clone, Copy)]
    pub struct F4(__m128);

    // SAFETY (the three below): SSE is part of the x86-64 baseline.
    impl Add for F4 {
        type Output = Self;
        #[inline(always)]
        fn add(self, o: Self) -> Self {
            unsafe { F4(_mm_add_ps(self.0, o.0)) }
        }
    }

    impl Sub for F4 {
        type Output = Self;
        #[inline(always)]
        fn sub(self, o: Self) -> Self {
            unsafe { F4(_mm_sub_ps(self.0, o.0)) }
        }
    }

    impl Mul<f32> for F4 {
        type Output = Self;
        #[inline(always)]
        fn mul(self, k: f32) -> Self {
            unsafe { F4(_mm_mul_ps(self.0, _mm_set1_ps(k))) }
        }
    }

    // SAFETY (every block below): SSE2 is part of the x86-64 baseline, and the loads
    // and stores are unaligned ones within slices checked to hold eight lanes.
    impl Add for F8 {
        type Output = Self;
        #[inline(always)]
        fn add(self, o: Self) -> Self {
            unsafe { F8(_mm_add_ps(self.0, o.0), _mm_add_ps(self.1, o.1)) }
        }
    }

    impl Sub for F8 {
        type Output = Self;
        #[inline(always)]
        fn sub(self, o: Self) -> Self {
            unsafe { F8(_mm_sub_ps(self.0, o.0), _mm_sub_ps(self.1, o.1)) }
        }
    }

    impl Mul<f32> for F8 {
        type Output = Self;
        #[inline(always)]
        fn mul(self, k: f32) -> Self {
            unsafe {
                let k = _mm_set1_ps(k);
                F8(_mm_mul_ps(self.0, k), _mm_mul_ps(self.1, k))
            }
        }
    }

    /// The 4×4 transpose of four registers (`_MM_TRANSPOSE4_PS`).
    #[inline(always)]
    unsafe fn transpose4(a: __m128, b: __m128, c: __m128, d: __m128) -> [__m128; 4] {
        unsafe {
            let t0 = _mm_unpacklo_ps(a, b);
            let t1 = _mm_unpacklo_ps(c, d);
            let t2 = _mm_unpackhi_ps(a, b);
            let t3 = _mm_unpackhi_ps(c, d);
            [
                _mm_movelh_ps(t0, t1),
                _mm_movehl_ps(t1, t0),
                _mm_movelh_ps(t2, t3),
                _mm_movehl_ps(t3, t2),
            ]
        }
    }

    impl Lanes for F8 {
        type Half = F4;

        #[inline(always)]
        fn halves(self) -> (F4, F4) {
            (F4(self.0), F4(self.1))
        }

        #[inline(always)]
        fn from_halves(low: F4, high: F4) -> Self {
            F8(low.0, high.0)
        }

        #[inline(always)]
        fn load(values: &[f32]) -> Self {
            let v = &values[..8];
            unsafe { F8(_mm_loadu_ps(v.as_ptr()), _mm_loadu_ps(v.as_ptr().add(4))) }
        }

        #[inline(always)]
        fn from_samples(samples: &[u8]) -> Self {
            let s = &samples[..8];
            unsafe {
                let zero = _mm_setzero_si128();
                let words = _mm_unpacklo_epi8(_mm_loadl_epi64(s.as_ptr().cast()), zero);
                let shift = _mm_set1_ps(128.0);
                let lo = _mm_cvtepi32_ps(_mm_unpacklo_epi16(words, zero));
                let hi = _mm_cvtepi32_ps(_mm_unpackhi_epi16(words, zero));
                F8(_mm_sub_ps(lo, shift), _mm_sub_ps(hi, shift))
            }
        }

        #[inline(always)]
        fn times(self, o: Self) -> Self {
            unsafe { F8(_mm_mul_ps(self.0, o.0), _mm_mul_ps(self.1, o.1)) }
        }

        #[inline(always)]
        fn transpose(r: [Self; 8]) -> [Self; 8] {
            unsafe {
                let [a0, a1, a2, a3] = transpose4(r[0].0, r[1].0, r[2].0, r[3].0);
                let [b0, b1, b2, b3] = transpose4(r[0].1, r[1].1, r[2].1, r[3].1);
                let [c0, c1, c2, c3] = transpose4(r[4].0, r[5].0, r[6].0, r[7].0);
                let [d0, d1, d2, d3] = transpose4(r[4].1, r[5].1, r[6].1, r[7].1);
                [
                    F8(a0, c0),
                    F8(a1, c1),
                    F8(a2, c2),
                    F8(a3, c3),
                    F8(b0, d0),
                    F8(b1, d1),
                    F8(b2, d2),
                    F8(b3, d3),
                ]
            }
        }

        #[inline(always)]
        fn round(self, out: &mut [i32]) {
            let out = &mut out[..8];
            unsafe {
                let m = _mm_set1_ps(MAGIC);
                let lo = _mm_cvttps_epi32(_mm_sub_ps(_mm_add_ps(self.0, m), m));
                let hi = _mm_cvttps_epi32(_mm_sub_ps(_mm_add_ps(self.1, m), m));
                _mm_storeu_si128(out.as_mut_ptr().cast(), lo);
                _mm_storeu_si128(out.as_mut_ptr().add(4).cast(), hi);
            }
        }

        #[inline(always)]
        fn samples(self, out: &mut [u8]) {
            let out = &mut out[..8];
            unsafe {
                let (half, zero, top) = (_mm_set1_ps(128.5), _mm_setzero_ps(), _mm_set1_ps(255.0));
                let clamp = |v| _mm_min_ps(_mm_max_ps(_mm_add_ps(v, half), zero), top);
                let lo = _mm_cvttps_epi32(clamp(self.0));
                let hi = _mm_cvttps_epi32(clamp(self.1));
                let words = _mm_packs_epi32(lo, hi);
                let bytes = _mm_packus_epi16(words, words);
                _mm_storel_epi64(out.as_mut_ptr().cast(), bytes);
            }
        }
    }
}

#[cfg(target_arch = "aarch64")]
mod simd {
    use super::{Lanes, MAGIC};
    use std::arch::aarch64::*;
    use std::ops::{Add, Mul, Sub};

    /// Two NEON registers.
    #[derive(Clone, Copy)]
    pub struct F8(float32x4_t, float32x4_t);

    /// One NEON register.
    #[derive(Clone, Copy)]
    pub struct F4(float32x4_t);

    // SAFETY (the three below): NEON is part of the aarch64 baseline.
    impl Add for F4 {
        type Output = Self;
        #[inline(always)]
        fn add(self, o: Self) -> Self {
            unsafe { F4(vaddq_f32(self.0, o.0)) }
        }
    }

    impl Sub for F4 {
        type Output = Self;
        #[inline(always)]
        fn sub(self, o: Self) -> Self {
            unsafe { F4(vsubq_f32(self.0, o.0)) }
        }
    }

    impl Mul<f32> for F4 {
        type Output = Self;
        #[inline(always)]
        fn mul(self, k: f32) -> Self {
            unsafe { F4(vmulq_n_f32(self.0, k)) }
        }
    }

    // SAFETY (every block below): NEON is part of the aarch64 baseline, and the loads
    // and stores stay within slices checked to hold eight lanes.
    impl Add for F8 {
        type Output = Self;
        #[inline(always)]
        fn add(self, o: Self) -> Self {
            unsafe { F8(vaddq_f32(self.0, o.0), vaddq_f32(self.1, o.1)) }
        }
    }

    impl Sub for F8 {
        type Output = Self;
        #[inline(always)]
        fn sub(self, o: Self) -> Self {
            unsafe { F8(vsubq_f32(self.0, o.0), vsubq_f32(self.1, o.1)) }
        }
    }

    impl Mul<f32> for F8 {
        type Output = Self;
        #[inline(always)]
        fn mul(self, k: f32) -> Self {
            unsafe { F8(vmulq_n_f32(self.0, k), vmulq_n_f32(self.1, k)) }
        }
    }

    impl F8 {
        #[inline(always)]
        fn store(self, out: &mut [f32]) {
            let out = &mut out[..8];
            unsafe {
                vst1q_f32(out.as_mut_ptr(), self.0);
                vst1q_f32(out.as_mut_ptr().add(4), self.1);
            }
        }
    }

    impl Lanes for F8 {
        type Half = F4;

        #[inline(always)]
        fn halves(self) -> (F4, F4) {
            (F4(self.0), F4(self.1))
        }

        #[inline(always)]
        fn from_halves(low: F4, high: F4) -> Self {
            F8(low.0, high.0)
        }

        #[inline(always)]
        fn load(values: &[f32]) -> Self {
            let v = &values[..8];
            unsafe { F8(vld1q_f32(v.as_ptr()), vld1q_f32(v.as_ptr().add(4))) }
        }

        #[inline(always)]
        fn from_samples(samples: &[u8]) -> Self {
            let s = &samples[..8];
            unsafe {
                let words = vmovl_u8(vld1_u8(s.as_ptr()));
                let shift = vdupq_n_f32(128.0);
                let lo = vcvtq_f32_u32(vmovl_u16(vget_low_u16(words)));
                let hi = vcvtq_f32_u32(vmovl_u16(vget_high_u16(words)));
                F8(vsubq_f32(lo, shift), vsubq_f32(hi, shift))
            }
        }

        #[inline(always)]
        fn times(self, o: Self) -> Self {
            unsafe { F8(vmulq_f32(self.0, o.0), vmulq_f32(self.1, o.1)) }
        }

        #[inline(always)]
        fn transpose(rows: [Self; 8]) -> [Self; 8] {
            // Through memory: the transposes are a small part of a block's work.
            let mut m = [0f32; 64];
            for (r, row) in rows.iter().enumerate() {
                row.store(&mut m[r * 8..]);
            }
            let t: [f32; 64] = std::array::from_fn(|i| m[(i % 8) * 8 + i / 8]);
            std::array::from_fn(|c| F8::load(&t[c * 8..]))
        }

        #[inline(always)]
        fn round(self, out: &mut [i32]) {
            let out = &mut out[..8];
            unsafe {
                let m = vdupq_n_f32(MAGIC);
                let lo = vcvtq_s32_f32(vsubq_f32(vaddq_f32(self.0, m), m));
                let hi = vcvtq_s32_f32(vsubq_f32(vaddq_f32(self.1, m), m));
                vst1q_s32(out.as_mut_ptr(), lo);
                vst1q_s32(out.as_mut_ptr().add(4), hi);
            }
        }

        #[inline(always)]
        fn samples(self, out: &mut [u8]) {
            let out = &mut out[..8];
            unsafe {
                let (half, zero, top) = (vdupq_n_f32(128.5), vdupq_n_f32(0.0), vdupq_n_f32(255.0));
                let clamp = |v| vminq_f32(vmaxq_f32(vaddq_f32(v, half), zero), top);
                let lo = vcvtq_s32_f32(clamp(self.0));
                let hi = vcvtq_s32_f32(clamp(self.1));
                let words = vcombine_s16(vqmovn_s32(lo), vqmovn_s32(hi));
                vst1_u8(out.as_mut_ptr(), vqmovun_s16(words));
            }
        }
    }
}

/// The lanes the transforms run on here.
#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
pub type F8 = simd::F8;
#[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
pub type F8 = Scalar8;

/// Which of 64 coefficients (row-major) are not zero, one bit each (bit i for the
/// i-th): 64 compares in a handful of instructions.
#[inline(always)]
pub fn nonzero_mask(coefficients: &[i32; 64]) -> u64 {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::*;
        let mut zero_bits = 0u64;
        // SAFETY: SSE2 is part of x86-64; each load reads 4 of the 64 values.
        unsafe {
            let zero = _mm_setzero_si128();
            for sixteen in 0..4 {
                let p = coefficients.as_ptr().add(sixteen * 16).cast::<__m128i>();
                let load = |i: usize| _mm_loadu_si128(p.add(i));
                let low = _mm_packs_epi32(load(0), load(1));
                let high = _mm_packs_epi32(load(2), load(3));
                let zeros =
                    _mm_packs_epi16(_mm_cmpeq_epi16(low, zero), _mm_cmpeq_epi16(high, zero));
                zero_bits |= (_mm_movemask_epi8(zeros) as u32 as u64) << (sixteen * 16);
            }
        }
        !zero_bits
    }
    #[cfg(not(target_arch = "x86_64"))]
    nonzero_mask_scalar(coefficients)
}

/// [`nonzero_mask`], one coefficient at a time.
#[cfg(any(test, not(target_arch = "x86_64")))]
pub fn nonzero_mask_scalar(coefficients: &[i32; 64]) -> u64 {
    coefficients
        .iter()
        .enumerate()
        .fold(0, |mask, (i, &c)| mask | (u64::from(c != 0) << i))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_nonzero_mask_and_the_samples_are_the_same_on_every_path() {
        for seed in 0..200u64 {
            let c: [i32; 64] = std::array::from_fn(|k| {
                let x = (seed * 2_654_435_761 + k as u64 * 40_503) % 7;
                if x < 4 {
                    0
                } else {
                    (x as i32 - 5) * (k as i32 + 1)
                }
            });
            assert_eq!(nonzero_mask(&c), nonzero_mask_scalar(&c), "{c:?}");
            let samples: [u8; 8] = std::array::from_fn(|i| (seed as usize * 31 + i * 97) as u8);
            let (mut a, mut b) = ([0i32; 8], [0i32; 8]);
            F8::from_samples(&samples).round(&mut a);
            Scalar8::from_samples(&samples).round(&mut b);
            assert_eq!(a, b);
        }
    }
}
