//! The remap's inner loop, per frame and per pixel of every view: a gather of the four
//! source pixels around each tap (two 2-byte loads, thanks to the [`Source`]'s padding),
//! then a bilinear blend in 16-bit lanes. The blend is written four times — scalar (the
//! reference, and the path elsewhere), SSE2 (x86-64's baseline), NEON (aarch64), and
//! with AVX2 (chosen at run time) fused with the gather — with one formula in integers,
//! so every path gives the same bytes; the tests hold each to the scalar one.
//!
//! The blend: `top = (a·(256−wx) + b·wx + 128) >> 8`, the same below, then between them
//! with `wy`. No intermediate passes 65,408, so 16-bit lanes hold it.
//!
//! [`Source`]: crate::planes::Source

/// Pixels gathered and blended at a time: the gather's output stays in L1.
pub const CHUNK: usize = 256;

/// The blend of one pixel: `ab` holds the top pair (a in the low byte), `cd` the bottom.
#[inline(always)]
fn blend(ab: u16, cd: u16, [wx, wy]: [u8; 2]) -> u8 {
    let (wx, wy) = (u32::from(wx), u32::from(wy));
    let side = |pair: u16| {
        let (left, right) = (u32::from(pair & 0xFF), u32::from(pair >> 8));
        (left * (256 - wx) + right * wx + 128) >> 8
    };
    let (top, bottom) = (side(ab), side(cd));
    ((top * (256 - wy) + bottom * wy + 128) >> 8) as u8
}

/// The reference blend over a chunk.
pub fn blend_scalar(ab: &[u16], cd: &[u16], weights: &[[u8; 2]], out: &mut [u8]) {
    for (((o, &ab), &cd), &w) in out.iter_mut().zip(ab).zip(cd).zip(weights) {
        *o = blend(ab, cd, w);
    }
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use std::arch::x86_64::*;

    /// One blend of eight pixels' 16-bit lanes.
    #[inline(always)]
    unsafe fn blend8(ab: __m128i, cd: __m128i, w: __m128i) -> __m128i {
        unsafe {
            let (low, k256, k128) = (
                _mm_set1_epi16(0xFF),
                _mm_set1_epi16(256),
                _mm_set1_epi16(128),
            );
            let (wx, wy) = (_mm_and_si128(w, low), _mm_srli_epi16(w, 8));
            let side = |pair: __m128i, w: __m128i| {
                let left = _mm_mullo_epi16(_mm_and_si128(pair, low), _mm_sub_epi16(k256, w));
                let right = _mm_mullo_epi16(_mm_srli_epi16(pair, 8), w);
                _mm_srli_epi16(_mm_add_epi16(_mm_add_epi16(left, right), k128), 8)
            };
            let (top, bottom) = (side(ab, wx), side(cd, wx));
            let up = _mm_mullo_epi16(top, _mm_sub_epi16(k256, wy));
            let down = _mm_mullo_epi16(bottom, wy);
            _mm_srli_epi16(_mm_add_epi16(_mm_add_epi16(up, down), k128), 8)
        }
    }

    /// SSE2: eight pixels a step, the rest through the scalar blend.
    pub fn blend_sse2(ab: &[u16], cd: &[u16], weights: &[[u8; 2]], out: &mut [u8]) {
        let n = out.len().min(ab.len()).min(cd.len()).min(weights.len());
        let whole = n / 8 * 8;
        for i in (0..whole).step_by(8) {
            // SAFETY: SSE2 is part of x86-64; i + 8 <= n bounds every load and store.
            unsafe {
                let ab = _mm_loadu_si128(ab.as_ptr().add(i).cast());
                let cd = _mm_loadu_si128(cd.as_ptr().add(i).cast());
                let w = _mm_loadu_si128(weights.as_ptr().add(i).cast());
                let px = blend8(ab, cd, w);
                _mm_storel_epi64(out.as_mut_ptr().add(i).cast(), _mm_packus_epi16(px, px));
            }
        }
        super::blend_scalar(
            &ab[whole..n],
            &cd[whole..n],
            &weights[whole..n],
            &mut out[whole..n],
        );
    }

    /// The blend of sixteen pixels' 16-bit lanes, packed to bytes.
    #[target_feature(enable = "avx2")]
    #[inline]
    fn blend16(ab: __m256i, cd: __m256i, w: __m256i) -> __m128i {
        let (low, k256, k128) = (
            _mm256_set1_epi16(0xFF),
            _mm256_set1_epi16(256),
            _mm256_set1_epi16(128),
        );
        let (wx, wy) = (_mm256_and_si256(w, low), _mm256_srli_epi16(w, 8));
        let side = |pair: __m256i| {
            let left = _mm256_mullo_epi16(_mm256_and_si256(pair, low), _mm256_sub_epi16(k256, wx));
            let right = _mm256_mullo_epi16(_mm256_srli_epi16(pair, 8), wx);
            _mm256_srli_epi16(_mm256_add_epi16(_mm256_add_epi16(left, right), k128), 8)
        };
        let (top, bottom) = (side(ab), side(cd));
        let up = _mm256_mullo_epi16(top, _mm256_sub_epi16(k256, wy));
        let down = _mm256_mullo_epi16(bottom, wy);
        let px = _mm256_srli_epi16(_mm256_add_epi16(_mm256_add_epi16(up, down), k128), 8);
        _mm_packus_epi16(_mm256_castsi256_si128(px), _mm256_extracti128_si256(px, 1))
    }

    /// Eight taps' pairs: the low two bytes of a 4-byte gather at each offset.
    #[inline(always)]
    unsafe fn pairs8(base: *const i32, offsets: __m256i) -> __m256i {
        unsafe {
            let words = _mm256_i32gather_epi32::<1>(base, offsets);
            _mm256_and_si256(words, _mm256_set1_epi32(0xFFFF))
        }
    }

    /// The gather and the blend in one pass, sixteen taps a step with AVX2's gathers;
    /// the tail through the scalar path.
    ///
    /// # Safety
    /// The CPU must have AVX2, and every offset plus `stride + 3` must be an index of
    /// `src` (a 4-byte load at the bottom-right pixel of every tap).
    #[target_feature(enable = "avx2")]
    pub unsafe fn remap_avx2(
        src: &[u8],
        stride: usize,
        offsets: &[u32],
        weights: &[[u8; 2]],
        out: &mut [u8],
    ) {
        let n = out.len().min(offsets.len()).min(weights.len());
        let whole = n / 16 * 16;
        let base = src.as_ptr().cast::<i32>();
        let down = _mm256_set1_epi32(stride as i32);
        for i in (0..whole).step_by(16) {
            // SAFETY: i + 16 <= n bounds the loads from offsets and weights and the
            // store; the caller vouches for every gathered address.
            unsafe {
                let o0 = _mm256_loadu_si256(offsets.as_ptr().add(i).cast());
                let o1 = _mm256_loadu_si256(offsets.as_ptr().add(i + 8).cast());
                // packus works per 128-bit half: put the quarters back in order.
                let ab = _mm256_permute4x64_epi64::<0xD8>(_mm256_packus_epi32(
                    pairs8(base, o0),
                    pairs8(base, o1),
                ));
                let cd = _mm256_permute4x64_epi64::<0xD8>(_mm256_packus_epi32(
                    pairs8(base, _mm256_add_epi32(o0, down)),
                    pairs8(base, _mm256_add_epi32(o1, down)),
                ));
                let w = _mm256_loadu_si256(weights.as_ptr().add(i).cast());
                _mm_storeu_si128(out.as_mut_ptr().add(i).cast(), blend16(ab, cd, w));
            }
        }
        let (mut ab, mut cd) = ([0u16; 16], [0u16; 16]);
        let tail = n - whole;
        super::gather_checked(
            src,
            stride,
            &offsets[whole..n],
            &mut ab[..tail],
            &mut cd[..tail],
        );
        super::blend_scalar(
            &ab[..tail],
            &cd[..tail],
            &weights[whole..n],
            &mut out[whole..n],
        );
    }
}

#[cfg(target_arch = "aarch64")]
mod arm {
    use std::arch::aarch64::*;

    /// NEON: eight pixels a step, the rest through the scalar blend.
    pub fn blend_neon(ab: &[u16], cd: &[u16], weights: &[[u8; 2]], out: &mut [u8]) {
        let n = out.len().min(ab.len()).min(cd.len()).min(weights.len());
        let whole = n / 8 * 8;
        for i in (0..whole).step_by(8) {
            // SAFETY: NEON is part of aarch64; i + 8 <= n bounds every load and store.
            unsafe {
                let (low, k256, k128) = (vdupq_n_u16(0xFF), vdupq_n_u16(256), vdupq_n_u16(128));
                let ab = vld1q_u16(ab.as_ptr().add(i));
                let cd = vld1q_u16(cd.as_ptr().add(i));
                let w = vld1q_u16(weights.as_ptr().add(i).cast());
                let (wx, wy) = (vandq_u16(w, low), vshrq_n_u16(w, 8));
                let side = |pair: uint16x8_t| {
                    let left = vmulq_u16(vandq_u16(pair, low), vsubq_u16(k256, wx));
                    let right = vmulq_u16(vshrq_n_u16(pair, 8), wx);
                    vshrq_n_u16(vaddq_u16(vaddq_u16(left, right), k128), 8)
                };
                let (top, bottom) = (side(ab), side(cd));
                let up = vmulq_u16(top, vsubq_u16(k256, wy));
                let down = vmulq_u16(bottom, wy);
                let px = vshrq_n_u16(vaddq_u16(vaddq_u16(up, down), k128), 8);
                vst1_u8(out.as_mut_ptr().add(i), vmovn_u16(px));
            }
        }
        super::blend_scalar(
            &ab[whole..n],
            &cd[whole..n],
            &weights[whole..n],
            &mut out[whole..n],
        );
    }
}

/// The blend of gathered pairs this machine runs best (with AVX2 the remap gathers and
/// blends in one pass instead, see [`remap`]).
fn blend_here(ab: &[u16], cd: &[u16], weights: &[[u8; 2]], out: &mut [u8]) {
    #[cfg(target_arch = "x86_64")]
    x86::blend_sse2(ab, cd, weights, out);
    #[cfg(target_arch = "aarch64")]
    arm::blend_neon(ab, cd, weights, out);
    #[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
    blend_scalar(ab, cd, weights, out);
}

/// The four source pixels of each tap as two pairs. A tap past the plane (only a table
/// built for another size has one) reads zeros instead.
fn gather_checked(src: &[u8], stride: usize, offsets: &[u32], ab: &mut [u16], cd: &mut [u16]) {
    let pair = |i: usize| match src.get(i..i + 2) {
        Some(&[a, b]) => u16::from_le_bytes([a, b]),
        _ => 0,
    };
    for ((&offset, ab), cd) in offsets.iter().zip(ab.iter_mut()).zip(cd.iter_mut()) {
        let i = offset as usize;
        *ab = pair(i);
        *cd = pair(i + stride);
    }
}

/// [`gather_checked`] for taps known to lie inside: no check per pixel.
///
/// # Safety
/// Every offset plus `stride + 1` must be an index of `src`.
unsafe fn gather(src: &[u8], stride: usize, offsets: &[u32], ab: &mut [u16], cd: &mut [u16]) {
    let base = src.as_ptr();
    for ((&offset, ab), cd) in offsets.iter().zip(ab.iter_mut()).zip(cd.iter_mut()) {
        let i = offset as usize;
        // SAFETY: the caller vouches that i + stride + 1 is within src.
        unsafe {
            *ab = u16::from_le_bytes(base.add(i).cast::<[u8; 2]>().read_unaligned());
            *cd = u16::from_le_bytes(base.add(i + stride).cast::<[u8; 2]>().read_unaligned());
        }
    }
}

/// `out[k]` = `base` + `near[k]`: a group of the remap's two-byte offsets made whole
/// (eight a step in SSE2 or NEON).
pub fn widen(base: u32, near: &[u16], out: &mut [u32]) {
    let n = near.len().min(out.len());
    let whole = n / 8 * 8;
    #[cfg(target_arch = "x86_64")]
    for i in (0..whole).step_by(8) {
        use std::arch::x86_64::*;
        // SAFETY: SSE2 is part of x86-64; i + 8 <= n bounds the load and the stores.
        unsafe {
            let words = _mm_loadu_si128(near.as_ptr().add(i).cast());
            let (zero, base) = (_mm_setzero_si128(), _mm_set1_epi32(base as i32));
            let low = _mm_add_epi32(_mm_unpacklo_epi16(words, zero), base);
            let high = _mm_add_epi32(_mm_unpackhi_epi16(words, zero), base);
            _mm_storeu_si128(out.as_mut_ptr().add(i).cast(), low);
            _mm_storeu_si128(out.as_mut_ptr().add(i + 4).cast(), high);
        }
    }
    #[cfg(target_arch = "aarch64")]
    for i in (0..whole).step_by(8) {
        use std::arch::aarch64::*;
        // SAFETY: NEON is part of aarch64; i + 8 <= n bounds the load and the stores.
        unsafe {
            let words = vld1q_u16(near.as_ptr().add(i));
            let base = vdupq_n_u32(base);
            vst1q_u32(
                out.as_mut_ptr().add(i),
                vaddw_u16(base, vget_low_u16(words)),
            );
            vst1q_u32(
                out.as_mut_ptr().add(i + 4),
                vaddw_u16(base, vget_high_u16(words)),
            );
        }
    }
    #[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
    let whole = 0;
    for (o, &d) in out[whole..n].iter_mut().zip(&near[whole..n]) {
        *o = base + u32::from(d);
    }
}

/// `out[k]` = the blend of the four pixels of the padded plane `src` around tap `k`;
/// `furthest` is the largest offset of the table, so one check covers every tap.
pub fn remap(
    src: &[u8],
    stride: usize,
    (offsets, furthest): (&[u32], u32),
    weights: &[[u8; 2]],
    out: &mut [u8],
) {
    #[cfg(target_arch = "x86_64")]
    if (furthest as usize) + stride + 3 < src.len() && std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU has AVX2, and the furthest tap's 4-byte loads are in src.
        unsafe { x86::remap_avx2(src, stride, offsets, weights, out) };
        return;
    }
    let inside = (furthest as usize) + stride + 1 < src.len();
    let (mut ab, mut cd) = ([0u16; CHUNK], [0u16; CHUNK]);
    for ((offsets, weights), out) in offsets
        .chunks(CHUNK)
        .zip(weights.chunks(CHUNK))
        .zip(out.chunks_mut(CHUNK))
    {
        let n = out.len();
        if inside {
            // SAFETY: no offset passes `furthest`, and furthest + stride + 1 is in src.
            unsafe { gather(src, stride, offsets, &mut ab[..n], &mut cd[..n]) };
        } else {
            gather_checked(src, stride, offsets, &mut ab[..n], &mut cd[..n]);
        }
        blend_here(&ab[..n], &cd[..n], weights, out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every pair, every weight the tables hold, in a deterministic mix.
    fn cases(n: usize) -> (Vec<u16>, Vec<u16>, Vec<[u8; 2]>) {
        let mut x = 0x2545_F491u32;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x
        };
        let ab = (0..n).map(|_| next() as u16).collect();
        let cd = (0..n).map(|_| next() as u16).collect();
        let w = (0..n).map(|_| [next() as u8, next() as u8]).collect();
        (ab, cd, w)
    }

    #[test]
    fn the_fused_remap_gives_the_gather_and_scalar_blends_bytes() {
        let (width, height) = (301, 97);
        let stride = width + 1;
        let src: Vec<u8> = (0..stride * (height + 1) + 3)
            .map(|i| (i * 7919 % 251) as u8)
            .collect();
        let (ab, _, weights) = cases(5003);
        let offsets: Vec<u32> = ab
            .iter()
            .map(|&r| (usize::from(r) * 97 % (stride * height - 1)) as u32)
            .collect();
        let furthest = *offsets.iter().max().unwrap();
        let mut reference = vec![0u8; offsets.len()];
        let (mut ab, mut cd) = (vec![0u16; offsets.len()], vec![0u16; offsets.len()]);
        gather_checked(&src, stride, &offsets, &mut ab, &mut cd);
        blend_scalar(&ab, &cd, &weights, &mut reference);
        let mut got = vec![0u8; offsets.len()];
        remap(&src, stride, (&offsets, furthest), &weights, &mut got);
        assert_eq!(got, reference);
    }

    #[test]
    fn widened_offsets_are_the_base_plus_each() {
        let near: Vec<u16> = (0..1003u32).map(|i| (i * 7919 % 65536) as u16).collect();
        let mut out = vec![0u32; 1003];
        widen(123_456, &near, &mut out);
        for (o, &d) in out.iter().zip(&near) {
            assert_eq!(*o, 123_456 + u32::from(d));
        }
    }

    #[test]
    fn the_blend_keeps_corners_and_a_flat_field() {
        assert_eq!(blend(0x4020, 0x8060, [0, 0]), 0x20);
        assert_eq!(blend(0x4020, 0x8060, [255, 0]), 0x40);
        assert_eq!(blend(0x7777, 0x7777, [97, 201]), 0x77);
        assert_eq!(blend(0xFFFF, 0xFFFF, [255, 255]), 0xFF);
    }

    #[test]
    fn every_simd_blend_gives_the_scalar_bytes() {
        // 1003: whole steps and a tail.
        let (ab, cd, w) = cases(1003);
        let mut reference = vec![0u8; 1003];
        blend_scalar(&ab, &cd, &w, &mut reference);
        let mut got = vec![0u8; 1003];
        blend_here(&ab, &cd, &w, &mut got);
        assert_eq!(got, reference);
        #[cfg(target_arch = "x86_64")]
        {
            got.fill(0);
            x86::blend_sse2(&ab, &cd, &w, &mut got);
            assert_eq!(got, reference, "SSE2");
        }
        #[cfg(target_arch = "aarch64")]
        {
            got.fill(0);
            arm::blend_neon(&ab, &cd, &w, &mut got);
            assert_eq!(got, reference, "NEON");
        }
    }
}
