//! Five-point similarity alignment onto the embedder's template.

use super::imageops::{Rgb8, resize_area_integer_region, warp_affine};

/// A 2x3 affine map `[a, b, c, d, e, f]`: `x' = a x + b y + c`, `y' = d x + e y + f`.
pub type Affine = [f64; 6];

/// Least-squares similarity transform (rotation, uniform scale, translation) taking `src` onto
/// `dst`. This is Umeyama's estimate restricted to proper rotations, in closed form: treating
/// points as complex numbers, the scale-rotation is `sum(conj(s_i) d_i) / sum(|s_i|^2)` over
/// centred points.
pub fn similarity(src: &[[f64; 2]], dst: &[[f64; 2]]) -> Affine {
    assert_eq!(src.len(), dst.len());
    let n = src.len() as f64;
    let (msx, msy) = src
        .iter()
        .fold((0.0, 0.0), |a, p| (a.0 + p[0] / n, a.1 + p[1] / n));
    let (mdx, mdy) = dst
        .iter()
        .fold((0.0, 0.0), |a, p| (a.0 + p[0] / n, a.1 + p[1] / n));
    let (mut num_re, mut num_im, mut den) = (0.0, 0.0, 0.0);
    for (s, d) in src.iter().zip(dst) {
        let (sx, sy) = (s[0] - msx, s[1] - msy);
        let (dx, dy) = (d[0] - mdx, d[1] - mdy);
        num_re += sx * dx + sy * dy;
        num_im += sx * dy - sy * dx;
        den += sx * sx + sy * sy;
    }
    if den <= f64::EPSILON {
        return [1.0, 0.0, mdx - msx, 0.0, 1.0, mdy - msy];
    }
    let a = num_re / den;
    let b = num_im / den;
    [
        a,
        -b,
        mdx - (a * msx - b * msy),
        b,
        a,
        mdy - (b * msx + a * msy),
    ]
}

/// Inverse of an affine map.
pub fn invert(m: &Affine) -> Affine {
    let det = m[0] * m[4] - m[1] * m[3];
    let inv_det = if det.abs() > f64::EPSILON {
        1.0 / det
    } else {
        0.0
    };
    let a = m[4] * inv_det;
    let b = -m[1] * inv_det;
    let d = -m[3] * inv_det;
    let e = m[0] * inv_det;
    [a, b, -(a * m[2] + b * m[5]), d, e, -(d * m[2] + e * m[5])]
}

/// Scale factor of a similarity map (destination pixels per source pixel).
pub fn scale(m: &Affine) -> f64 {
    (m[0] * m[0] + m[3] * m[3]).sqrt()
}

/// An aligned face chip and how it was made.
#[derive(Debug, Clone)]
pub struct Chip {
    pub image: Rgb8,
    /// Source pixels per chip pixel (> 1 means the face was shrunk).
    pub shrink: f64,
    /// Integer pre-shrink factor applied with area averaging (1 = none).
    pub prefilter: usize,
}

/// Warps the face with landmarks `points` onto `template` in a `size` x `size` chip.
///
/// With `antialias_above` set, a face that the warp would shrink by more than that factor is
/// first shrunk by an integer factor with area averaging over just the face region, so the
/// bilinear warp never skips source pixels (a plain bilinear warp aliases on large faces).
/// `coarse` is the same picture already box-filtered by an integer factor (the detector's
/// coarse pass); it is reused when the pre-shrink factor allows.
pub fn align(
    img: &Rgb8,
    coarse: Option<(&Rgb8, usize)>,
    points: &[[f32; 2]; 5],
    template: &[[f64; 2]; 5],
    size: usize,
    antialias_above: Option<f64>,
) -> Chip {
    let src: Vec<[f64; 2]> = points
        .iter()
        .map(|p| [f64::from(p[0]), f64::from(p[1])])
        .collect();
    let m = similarity(&src, template);
    let shrink = 1.0 / scale(&m).max(1e-9);
    let inv = invert(&m);
    let k = match antialias_above {
        Some(t) if shrink > t => shrink.floor() as usize,
        _ => 1,
    };
    if k <= 1 {
        return Chip {
            image: warp_affine(img, &inv, size, size),
            shrink,
            prefilter: 1,
        };
    }
    // Pre-shrink source: the coarse image (already shrunk by c) when k >= c, else the original.
    let (base, c) = match coarse {
        Some((small, c)) if c >= 2 && k >= c => (small, c),
        _ => (img, 1),
    };
    let k2 = (k / c).max(1);
    let f = k2 * c;
    // Source region the chip reads from (its corners mapped back), with a margin, in `base`
    // pixels and aligned to the k2 grid so whole cells are averaged.
    let corners = [
        [0.0, 0.0],
        [size as f64, 0.0],
        [0.0, size as f64],
        [size as f64, size as f64],
    ];
    let (mut x0, mut y0, mut x1, mut y1) = (f64::MAX, f64::MAX, f64::MIN, f64::MIN);
    for p in corners {
        let x = inv[0] * p[0] + inv[1] * p[1] + inv[2];
        let y = inv[3] * p[0] + inv[4] * p[1] + inv[5];
        x0 = x0.min(x);
        y0 = y0.min(y);
        x1 = x1.max(x);
        y1 = y1.max(y);
    }
    let (cf, margin) = (c as f64, 2.0 * f as f64);
    let clamp_x = |v: f64| (v / cf).clamp(0.0, base.width as f64) as usize;
    let clamp_y = |v: f64| (v / cf).clamp(0.0, base.height as f64) as usize;
    let rx0 = clamp_x(x0 - margin) / k2 * k2;
    let ry0 = clamp_y(y0 - margin) / k2 * k2;
    let rw = clamp_x(x1 + margin).saturating_sub(rx0) / k2 * k2;
    let rh = clamp_y(y1 + margin).saturating_sub(ry0) / k2 * k2;
    if rw < k2 || rh < k2 {
        // The face lies (almost) outside the picture: warp directly, the border reads black.
        return Chip {
            image: warp_affine(img, &inv, size, size),
            shrink,
            prefilter: 1,
        };
    }
    let small = if k2 == 1 {
        base.crop(rx0, ry0, rw, rh)
    } else {
        resize_area_integer_region(base, rx0, ry0, rw, rh, k2, k2)
    };
    // Small pixel i covers original pixels [o + i f, o + (i+1) f) with o = region origin * c:
    // its centre is at o + i f + (f-1)/2, so small = (original - o - (f-1)/2) / f.
    let ff = f as f64;
    let off = (ff - 1.0) / 2.0;
    let to_small = |v: f64, origin: usize| (v - (origin * c) as f64 - off) / ff;
    let inv_small = [
        inv[0] / ff,
        inv[1] / ff,
        to_small(inv[2], rx0),
        inv[3] / ff,
        inv[4] / ff,
        to_small(inv[5], ry0),
    ];
    Chip {
        image: warp_affine(&small, &inv_small, size, size),
        shrink,
        prefilter: f,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn similarity_recovers_a_known_transform() {
        let (s, th, tx, ty) = (0.7f64, 0.3f64, 12.0, -4.0);
        let src = [
            [10.0, 20.0],
            [50.0, 22.0],
            [30.0, 40.0],
            [15.0, 60.0],
            [45.0, 61.0],
        ];
        let dst: Vec<[f64; 2]> = src
            .iter()
            .map(|p| {
                [
                    s * (th.cos() * p[0] - th.sin() * p[1]) + tx,
                    s * (th.sin() * p[0] + th.cos() * p[1]) + ty,
                ]
            })
            .collect();
        let m = similarity(&src, &dst);
        assert!((scale(&m) - s).abs() < 1e-12);
        assert!((m[2] - tx).abs() < 1e-9 && (m[5] - ty).abs() < 1e-9);
        let back = invert(&m);
        let p = dst[2];
        let x = back[0] * p[0] + back[1] * p[1] + back[2];
        let y = back[3] * p[0] + back[4] * p[1] + back[5];
        assert!((x - 30.0).abs() < 1e-9 && (y - 40.0).abs() < 1e-9);
    }

    #[test]
    fn similarity_never_reflects() {
        // dst is a mirror image of src: the best proper similarity cannot flip it.
        let src = [[0.0, 0.0], [10.0, 0.0], [0.0, 10.0]];
        let dst = [[0.0, 0.0], [-10.0, 0.0], [0.0, 10.0]];
        let m = similarity(&src, &dst);
        let det = m[0] * m[4] - m[1] * m[3];
        assert!(det >= 0.0);
    }

    fn checker(w: usize, h: usize) -> Rgb8 {
        let mut img = Rgb8::new(w, h);
        for y in 0..h {
            for x in 0..w {
                let v = if (x + y) % 2 == 0 { 255 } else { 0 };
                let i = (y * w + x) * 3;
                img.data[i..i + 3].copy_from_slice(&[v, v, v]);
            }
        }
        img
    }

    #[test]
    fn antialiasing_removes_aliasing_on_a_shrunk_checkerboard() {
        // A 1-pixel checkerboard shrunk 4x: the mean grey is ~127 and a correct filter gives
        // flat grey, while point sampling gives wild values.
        let img = checker(800, 800);
        let tpl = [
            [100.0, 100.0],
            [200.0, 100.0],
            [150.0, 150.0],
            [110.0, 200.0],
            [190.0, 200.0],
        ];
        let pts: [[f32; 2]; 5] =
            tpl.map(|p| [(p[0] * 4.0 + 3.0) as f32, (p[1] * 4.0 + 1.0) as f32]);
        let plain = align(&img, None, &pts, &tpl, 150, None);
        let aa = align(&img, None, &pts, &tpl, 150, Some(2.0));
        assert_eq!(aa.prefilter, 4);
        assert!((plain.shrink - 4.0).abs() < 1e-9);
        // Interior of the chip (its outer pixels may blend with the black border).
        let spread = |c: &Chip| {
            let mut v = Vec::new();
            for y in 2..148 {
                for x in 2..148 {
                    v.push(i32::from(c.image.pixel(x, y)[0]));
                }
            }
            v.iter().max().unwrap() - v.iter().min().unwrap()
        };
        let mean = |c: &Chip| {
            c.image.data.iter().map(|&v| f64::from(v)).sum::<f64>() / c.image.data.len() as f64
        };
        assert!(spread(&aa) <= 2, "antialiased spread {}", spread(&aa));
        assert!(
            (mean(&aa) - 127.5).abs() < 3.0,
            "antialiased mean {}",
            mean(&aa)
        );
        // Point sampling lands on one colour of the checkerboard (or alternates wildly).
        assert!(
            (mean(&plain) - 127.5).abs() > 50.0 || spread(&plain) > 100,
            "plain warp: mean {} spread {}",
            mean(&plain),
            spread(&plain)
        );
    }

    #[test]
    fn reusing_a_coarse_image_matches_prefiltering_the_original() {
        // A smooth image: filtering by 4 directly or by 2 then 2 gives the same chip (+-1).
        let mut img = Rgb8::new(800, 800);
        for y in 0..800 {
            for x in 0..800 {
                let i = (y * 800 + x) * 3;
                img.data[i] = (x / 4 % 256) as u8;
                img.data[i + 1] = (y / 4 % 256) as u8;
                img.data[i + 2] = ((x + y) / 8 % 256) as u8;
            }
        }
        let coarse = resize_area_integer_region(&img, 0, 0, 800, 800, 2, 2);
        let tpl = [
            [100.0, 100.0],
            [200.0, 100.0],
            [150.0, 150.0],
            [110.0, 200.0],
            [190.0, 200.0],
        ];
        let pts: [[f32; 2]; 5] =
            tpl.map(|p| [(p[0] * 4.0 + 3.0) as f32, (p[1] * 4.0 + 1.0) as f32]);
        let direct = align(&img, None, &pts, &tpl, 150, Some(2.0));
        let reused = align(&img, Some((&coarse, 2)), &pts, &tpl, 150, Some(2.0));
        assert_eq!((direct.prefilter, reused.prefilter), (4, 4));
        let max_diff = direct
            .image
            .data
            .iter()
            .zip(&reused.image.data)
            .map(|(a, b)| (i32::from(*a) - i32::from(*b)).abs())
            .max()
            .unwrap();
        assert!(max_diff <= 1, "{max_diff}");
    }

    #[test]
    fn small_faces_are_not_prefiltered() {
        let img = checker(100, 100);
        let tpl = [
            [10.0, 10.0],
            [20.0, 10.0],
            [15.0, 15.0],
            [11.0, 20.0],
            [19.0, 20.0],
        ];
        let pts: [[f32; 2]; 5] = tpl.map(|p| [(p[0] * 1.5) as f32, (p[1] * 1.5) as f32]);
        let c = align(&img, None, &pts, &tpl, 30, Some(2.0));
        assert_eq!(c.prefilter, 1);
    }
}
