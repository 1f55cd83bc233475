//! A view's remap table: for each pixel of the view, where in the equirectangular source
//! it comes from, as one fixed-point bilinear tap per plane. The table is built once per
//! view and source size (the trigonometry happens there); each frame is then a table
//! walk over the [`Source`]'s padded planes (see [`crate::lerp`]).

use crate::decode::McuMask;
use crate::geometry::{Matrix, Mount, ViewGeometry, multiply, rotation};
use crate::lerp;
use crate::planes::{Plane, Planes, Source};

/// Bytes of table per output pixel, at most: a whole offset and two weights. Most of a
/// table keeps its offsets in two bytes (see `PlaneMap`): four bytes a pixel.
pub const TABLE_BYTES_PER_PIXEL: usize = 6;

/// Taps per group that share a base offset (the remap's chunk, so a group's offsets
/// are widened once into the cache and read there).
const GROUP: usize = lerp::CHUNK;

/// A group's base that says its taps are far apart (near a pole): their offsets are
/// kept whole in `far`. No offset is this large (a 3840×1920 source's are below 2²³).
const FAR: u32 = u32::MAX;

/// The remap of one plane: for each output pixel the index, in the padded source plane,
/// of the top-left of the four source pixels around it, and the weights (0..256) of the
/// right and lower ones. The index is kept in two bytes, from a base per group of
/// [`GROUP`] taps (consecutive taps read nearby source pixels), so a table is four bytes
/// a pixel — what every frame reads from memory, for each view — and only groups whose
/// taps lie further apart (looking at a pole) keep whole offsets.
struct PlaneMap {
    width: usize,
    height: usize,
    /// The source plane's picture size (its buffer has one more column and row).
    source: (usize, usize),
    /// Per group: its smallest offset and where its taps start in `near`, or [`FAR`] and
    /// where its offsets start in `far`.
    bases: Vec<(u32, u32)>,
    near: Vec<u16>,
    far: Vec<u32>,
    /// The largest offset: with it, one check covers every tap of a frame.
    furthest: u32,
    weights: Vec<[u8; 2]>,
}

impl PlaneMap {
    fn new(
        rot: &Matrix,
        ranges: (f64, f64),
        (width, height): (usize, usize),
        source: (usize, usize),
    ) -> PlaneMap {
        let mut offsets = Vec::with_capacity(width * height);
        let mut weights = Vec::with_capacity(width * height);
        let (src_width, src_height) = (source.0 as f64, source.1 as f64);
        for j in 0..height {
            for i in 0..width {
                let lx = ranges.0 * ((2 * i + 1) as f64 / width as f64 - 1.0);
                let ly = ranges.1 * ((2 * j + 1) as f64 / height as f64 - 1.0);
                let norm = (lx * lx + ly * ly + 1.0).sqrt();
                let v = [lx / norm, ly / norm, 1.0 / norm];
                let r = [0, 1, 2].map(|k| rot[k][0] * v[0] + rot[k][1] * v[1] + rot[k][2] * v[2]);
                let phi = r[0].atan2(r[2]);
                let theta = r[1].clamp(-1.0, 1.0).asin();
                let uf = (phi / std::f64::consts::PI + 1.0) * src_width / 2.0 - 0.5;
                let vf = (theta / std::f64::consts::FRAC_PI_2 + 1.0) * src_height / 2.0 - 0.5;
                let (offset, weight) = tap(uf, vf, source);
                offsets.push(offset);
                weights.push(weight);
            }
        }
        let mut map = PlaneMap {
            width,
            height,
            source,
            bases: Vec::with_capacity(offsets.len().div_ceil(GROUP)),
            near: Vec::with_capacity(offsets.len()),
            far: Vec::new(),
            furthest: offsets.iter().copied().max().unwrap_or(0),
            weights,
        };
        for group in offsets.chunks(GROUP) {
            let base = group.iter().copied().min().unwrap_or(0);
            if group.iter().all(|&o| o - base <= u32::from(u16::MAX)) {
                map.bases.push((base, map.near.len() as u32));
                map.near.extend(group.iter().map(|&o| (o - base) as u16));
            } else {
                map.bases.push((FAR, map.far.len() as u32));
                map.far.extend_from_slice(group);
            }
        }
        map
    }

    /// The offsets of group `g`, into `out` (as long as the group).
    fn group_offsets(&self, g: usize, out: &mut [u32]) {
        let ((base, at), n) = (self.bases[g], out.len());
        let at = at as usize;
        if base == FAR {
            out.copy_from_slice(&self.far[at..at + n]);
        } else {
            lerp::widen(base, &self.near[at..at + n], out);
        }
    }

    /// Bytes the table holds.
    #[cfg(test)]
    fn bytes(&self) -> usize {
        self.bases.len() * 8 + self.near.len() * 2 + self.far.len() * 4 + self.weights.len() * 2
    }

    /// Every tap's offset, group by group.
    fn for_each_offset(&self, mut each: impl FnMut(u32)) {
        let mut buffer = [0u32; GROUP];
        for g in 0..self.bases.len() {
            let n = GROUP.min(self.width * self.height - g * GROUP);
            self.group_offsets(g, &mut buffer[..n]);
            buffer[..n].iter().for_each(|&o| each(o));
        }
    }

    /// Calls `mark` with every source pixel a tap reads (the four around each; the wrap
    /// column is the first one again, the spare row the last).
    fn mark_reads(&self, mut mark: impl FnMut(usize, usize)) {
        let (w, h) = self.source;
        self.for_each_offset(|offset| {
            let (x, y) = (offset as usize % (w + 1), offset as usize / (w + 1));
            let (right, down) = ((x + 1) % w, (y + 1).min(h - 1));
            for (x, y) in [(x, y), (right, y), (x, down), (right, down)] {
                mark(x, y);
            }
        });
    }

    /// The planes `which` of `src` (of this table's size) into `outs`, group by group:
    /// a group's offsets are widened once and serve each plane from the cache.
    fn apply(&self, src: &Source, which: &[Plane], outs: [&mut Vec<u8>; 2]) {
        let mut planes: Vec<(&[u8], &mut [u8])> = Vec::with_capacity(2);
        for (&plane, out) in which.iter().zip(outs) {
            // Every pixel is written: the buffer is only sized (zeroed once), not cleared.
            out.resize(self.width * self.height, 0);
            planes.push((src.plane(plane).0, out));
        }
        let stride = src.stride(which[0]);
        let mut offsets = [0u32; GROUP];
        for (g, weights) in self.weights.chunks(GROUP).enumerate() {
            let (start, n) = (g * GROUP, weights.len());
            self.group_offsets(g, &mut offsets[..n]);
            for (src, out) in planes.iter_mut() {
                let taps = (&offsets[..n], self.furthest);
                lerp::remap(src, stride, taps, weights, &mut out[start..start + n]);
            }
        }
    }
}

/// The tap around source position (`uf`, `vf`) of a `width`×`height` plane: columns
/// wrap around the sphere (the padding's column holds the first again), rows stop at the
/// poles. The offset is into the padded plane, one column wider than the picture.
fn tap(uf: f64, vf: f64, (width, height): (usize, usize)) -> (u32, [u8; 2]) {
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
    ((v0 * (w + 1) + x0) as u32, [wx as u8, wy as u8])
}

/// A view's remap: built once for its geometry and a source size.
pub struct Remap {
    geometry: ViewGeometry,
    mount: Mount,
    source: (usize, usize),
    luma: PlaneMap,
    chroma: PlaneMap,
    /// The source's MCUs this view reads.
    mcus: McuMask,
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
        let luma = PlaneMap::new(&rot, ranges, (w, h), source);
        let chroma = PlaneMap::new(&rot, ranges, half((w, h)), half(source));
        let mut mcus = McuMask::none(source.0, source.1);
        luma.mark_reads(|x, y| mcus.mark_luma(x, y));
        chroma.mark_reads(|x, y| mcus.mark_chroma(x, y));
        Remap {
            geometry,
            mount,
            source,
            luma,
            chroma,
            mcus,
        }
    }

    /// The source MCUs the view reads: all a decode for it has to transform.
    pub fn mcus(&self) -> &McuMask {
        &self.mcus
    }

    /// Whether this table serves these numbers and this source size.
    pub fn fits(&self, geometry: &ViewGeometry, mount: &Mount, source: (usize, usize)) -> bool {
        self.geometry == *geometry && self.mount == *mount && self.source == source
    }

    /// The source pixel (column, row) the luma of output pixel (`x`, `y`) starts from.
    pub fn source_of(&self, x: usize, y: usize) -> Option<(usize, usize)> {
        if x >= self.luma.width || y >= self.luma.height {
            return None;
        }
        let i = y * self.luma.width + x;
        let (g, n) = (
            i / GROUP,
            GROUP.min(self.luma.width * self.luma.height - i / GROUP * GROUP),
        );
        let mut offsets = [0u32; GROUP];
        self.luma.group_offsets(g, &mut offsets[..n]);
        let (offset, stride) = (offsets[i % GROUP] as usize, self.source.0 + 1);
        Some((offset % stride, offset / stride))
    }

    /// The view of `src` into `out`; a source of another size than the table's gives
    /// nothing (the caller builds a table for it first).
    pub fn apply(&self, src: &Source, out: &mut Planes) {
        out.width = self.luma.width;
        out.height = self.luma.height;
        if (src.width, src.height) != self.source {
            return;
        }
        self.luma
            .apply(src, &[Plane::Y], [&mut out.y, &mut Vec::new()]);
        self.chroma
            .apply(src, &[Plane::Cb, Plane::Cr], [&mut out.cb, &mut out.cr]);
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A 64×36 view at fov 90 looking at `yaw`, `pitch`.
    pub fn geometry(yaw: f64, pitch: f64) -> ViewGeometry {
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
    fn looking_at_a_pole_some_groups_keep_whole_offsets_and_all_stay_inside() {
        let g = ViewGeometry {
            yaw: 0.0,
            pitch: 90.0,
            roll: 0.0,
            fov: 170.0,
            width: 1280,
            height: 720,
        };
        let remap = Remap::new(g, Mount::default(), (1920, 960));
        assert!(!remap.luma.far.is_empty(), "a pole view has far groups");
        let pixels = 1280 * 720;
        assert!(
            remap.luma.bytes() <= TABLE_BYTES_PER_PIXEL * pixels,
            "{} bytes",
            remap.luma.bytes()
        );
        let mut count = 0;
        remap.luma.for_each_offset(|o| {
            assert!(o <= remap.luma.furthest);
            count += 1;
        });
        assert_eq!(count, 1280 * 720);
        // The view's centre looks straight up: the top rows of the picture.
        let (_, y) = remap.source_of(640, 360).unwrap();
        assert!(y <= 4, "{y}");
    }

    #[test]
    fn a_view_across_the_seam_blends_the_last_column_with_the_first() {
        // Left half dark, right half bright; looking behind (yaw 180) sees the seam,
        // where the last column (bright) meets the first (dark) again.
        let mut src = Source::default();
        src.prepare(64, 32);
        for plane in [Plane::Y, Plane::Cb, Plane::Cr] {
            let ((w, _), (pixels, stride)) = (src.size_of(plane), src.plane_mut(plane));
            for (i, p) in pixels.iter_mut().enumerate() {
                *p = if i % stride < w / 2 { 20 } else { 220 };
            }
        }
        src.pad();
        let remap = Remap::new(geometry(180.0, 0.0), Mount::default(), (64, 32));
        let mut out = Planes::default();
        remap.apply(&src, &mut out);
        let middle = &out.y[18 * 64..19 * 64];
        assert!(middle[..28].iter().all(|&v| v == 220), "{middle:?}");
        assert!(middle[36..].iter().all(|&v| v == 20), "{middle:?}");
        assert!(
            middle[28..36].iter().any(|&v| v > 20 && v < 220),
            "{middle:?}"
        );
    }
}
