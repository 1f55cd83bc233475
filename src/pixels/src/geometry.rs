//! Where a view looks, in ffmpeg `v360`'s numbers and signs, and how a camera hangs:
//! the rotations the remap tables are built from.

/// Where a view looks and how much it sees, in ffmpeg `v360`'s words and signs.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ViewGeometry {
    /// Degrees; positive turns right.
    pub yaw: f64,
    /// Degrees; positive looks up.
    pub pitch: f64,
    /// Degrees; positive tilts the picture clockwise.
    pub roll: f64,
    /// Horizontal field of view in degrees, 1 to 179; the vertical one follows from the
    /// size, for square pixels.
    pub fov: f64,
    pub width: u16,
    pub height: u16,
}

/// How the camera hangs: applied before every view's own rotation, so yaw 0 is the
/// direction the user calls ahead (`roll_offset = 180` for a camera upside down).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Mount {
    pub yaw: f64,
    pub pitch: f64,
    pub roll: f64,
}

impl ViewGeometry {
    /// The vertical field of view that keeps pixels square, as ffmpeg is told it.
    pub fn v_fov(&self) -> f64 {
        let half =
            (self.fov.to_radians() / 2.0).tan() * f64::from(self.height) / f64::from(self.width);
        2.0 * half.atan().to_degrees()
    }
}

pub(crate) type Matrix = [[f64; 3]; 3];

pub(crate) fn multiply(a: &Matrix, b: &Matrix) -> Matrix {
    let mut c = [[0.0; 3]; 3];
    for (i, row) in c.iter_mut().enumerate() {
        for (j, cell) in row.iter_mut().enumerate() {
            *cell = (0..3).map(|k| a[i][k] * b[k][j]).sum();
        }
    }
    c
}

/// ffmpeg's rotation for yaw, pitch and roll in its default order (`rorder=ypr`).
pub(crate) fn rotation(yaw: f64, pitch: f64, roll: f64) -> Matrix {
    let (sy, cy) = yaw.to_radians().sin_cos();
    let (sp, cp) = pitch.to_radians().sin_cos();
    let (sr, cr) = roll.to_radians().sin_cos();
    let yaw_m = [[cy, 0.0, sy], [0.0, 1.0, 0.0], [-sy, 0.0, cy]];
    let pitch_m = [[1.0, 0.0, 0.0], [0.0, cp, -sp], [0.0, sp, cp]];
    let roll_m = [[cr, -sr, 0.0], [sr, cr, 0.0], [0.0, 0.0, 1.0]];
    multiply(&multiply(&yaw_m, &pitch_m), &roll_m)
}
