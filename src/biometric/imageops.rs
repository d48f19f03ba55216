//! Pixel operations on 8-bit RGB images: area and bilinear resizing, cropping, affine warping and
//! tensor packing.
//!
//! The resamplers follow OpenCV's integer arithmetic (`INTER_AREA`, `INTER_LINEAR` with 11-bit
//! fixed-point coefficients, `warpAffine` with 1/32-pixel positions and 15-bit weights), because the
//! models were validated on inputs produced that way; see `docs/biometrics.md`.

/// An 8-bit RGB image, rows top to bottom, pixels interleaved `R, G, B`.
#[derive(Clone, PartialEq, Eq)]
pub struct Rgb8 {
    pub width: usize,
    pub height: usize,
    pub data: Vec<u8>,
}

impl std::fmt::Debug for Rgb8 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Rgb8({}x{})", self.width, self.height)
    }
}

impl Rgb8 {
    /// A black image.
    pub fn new(width: usize, height: usize) -> Self {
        Self {
            width,
            height,
            data: vec![0; width * height * 3],
        }
    }

    /// Wraps interleaved RGB bytes; `None` if the length does not match.
    pub fn from_raw(width: usize, height: usize, data: Vec<u8>) -> Option<Self> {
        (data.len() == width * height * 3).then_some(Self {
            width,
            height,
            data,
        })
    }

    #[inline]
    pub fn pixel(&self, x: usize, y: usize) -> [u8; 3] {
        let i = (y * self.width + x) * 3;
        [self.data[i], self.data[i + 1], self.data[i + 2]]
    }

    /// Copies the rectangle with top-left corner `(x, y)`; the rectangle must lie inside.
    pub fn crop(&self, x: usize, y: usize, w: usize, h: usize) -> Rgb8 {
        debug_assert!(x + w <= self.width && y + h <= self.height);
        let mut out = Vec::with_capacity(w * h * 3);
        for row in y..y + h {
            let start = (row * self.width + x) * 3;
            out.extend_from_slice(&self.data[start..start + w * 3]);
        }
        Rgb8 {
            width: w,
            height: h,
            data: out,
        }
    }

    /// Mirror image (left and right swapped).
    pub fn flip_horizontal(&self) -> Rgb8 {
        let mut out = Vec::with_capacity(self.data.len());
        for row in self.data.chunks_exact(self.width * 3) {
            for px in row.chunks_exact(3).rev() {
                out.extend_from_slice(px);
            }
        }
        Rgb8 {
            width: self.width,
            height: self.height,
            data: out,
        }
    }

    /// True when every pixel has R = G = B (a greyscale picture stored as colour).
    pub fn is_grey(&self) -> bool {
        self.data
            .chunks_exact(3)
            .all(|p| p[0] == p[1] && p[1] == p[2])
    }
}

/// Rounds like OpenCV's `cvRound` (to nearest, ties to even) and saturates to `u8`.
#[inline]
fn sat_u8(v: f32) -> u8 {
    v.round_ties_even().clamp(0.0, 255.0) as u8
}

/// One source index and its weight, for separable resampling.
#[derive(Clone, Copy)]
struct Tap {
    dst: usize,
    src: usize,
    w: f32,
}

/// OpenCV `computeResizeAreaTab`: the source cells that each destination cell covers.
fn area_taps(src: usize, dst: usize) -> Vec<Tap> {
    let scale = src as f64 / dst as f64;
    let mut taps = Vec::with_capacity(src + dst * 2);
    for dx in 0..dst {
        let fsx1 = dx as f64 * scale;
        let fsx2 = fsx1 + scale;
        let cell = scale.min(src as f64 - fsx1);
        let mut sx1 = fsx1.ceil() as usize;
        let sx2 = (fsx2.floor() as usize).min(src - 1);
        sx1 = sx1.min(sx2);
        if sx1 as f64 - fsx1 > 1e-3 {
            taps.push(Tap {
                dst: dx,
                src: sx1 - 1,
                w: ((sx1 as f64 - fsx1) / cell) as f32,
            });
        }
        for sx in sx1..sx2 {
            taps.push(Tap {
                dst: dx,
                src: sx,
                w: (1.0 / cell) as f32,
            });
        }
        if fsx2 - sx2 as f64 > 1e-3 {
            taps.push(Tap {
                dst: dx,
                src: sx2,
                w: ((fsx2 - sx2 as f64).min(1.0).min(cell) / cell) as f32,
            });
        }
    }
    taps
}

/// Shrinks with pixel-area averaging (OpenCV `INTER_AREA`); `dw <= width`, `dh <= height`.
pub fn resize_area(src: &Rgb8, dw: usize, dh: usize) -> Rgb8 {
    assert!(dw >= 1 && dh >= 1 && dw <= src.width && dh <= src.height);
    if dw == src.width && dh == src.height {
        return src.clone();
    }
    if src.width.is_multiple_of(dw) && src.height.is_multiple_of(dh) {
        return resize_area_integer(src, src.width / dw, src.height / dh);
    }
    let xt = area_taps(src.width, dw);
    let yt = area_taps(src.height, dh);
    let mut row_buf = vec![0f32; dw * 3];
    let mut acc = vec![0f32; dw * 3];
    let mut out = Rgb8::new(dw, dh);
    let mut yi = 0;
    for dy in 0..dh {
        acc.iter_mut().for_each(|v| *v = 0.0);
        while yi < yt.len() && yt[yi].dst == dy {
            let Tap { src: sy, w: wy, .. } = yt[yi];
            row_buf.iter_mut().for_each(|v| *v = 0.0);
            let row = &src.data[sy * src.width * 3..(sy + 1) * src.width * 3];
            for t in &xt {
                let s = t.src * 3;
                let d = t.dst * 3;
                row_buf[d] += row[s] as f32 * t.w;
                row_buf[d + 1] += row[s + 1] as f32 * t.w;
                row_buf[d + 2] += row[s + 2] as f32 * t.w;
            }
            for (a, r) in acc.iter_mut().zip(&row_buf) {
                *a += r * wy;
            }
            yi += 1;
        }
        let o = &mut out.data[dy * dw * 3..(dy + 1) * dw * 3];
        for (d, a) in o.iter_mut().zip(&acc) {
            *d = sat_u8(*a);
        }
    }
    out
}

/// Box-filter shrink by integer factors (OpenCV's fast `INTER_AREA` path).
pub fn resize_area_integer(src: &Rgb8, kx: usize, ky: usize) -> Rgb8 {
    resize_area_integer_region(src, 0, 0, src.width, src.height, kx, ky)
}

/// [`resize_area_integer`] of the `rw` x `rh` rectangle at `(rx, ry)`, without copying it.
pub fn resize_area_integer_region(
    src: &Rgb8,
    rx: usize,
    ry: usize,
    rw: usize,
    rh: usize,
    kx: usize,
    ky: usize,
) -> Rgb8 {
    assert!(kx >= 1 && ky >= 1 && rx + rw <= src.width && ry + rh <= src.height);
    let dw = rw / kx;
    let dh = rh / ky;
    let mut data = Vec::with_capacity(dw * dh * 3);
    if kx == 2 && ky == 2 {
        // The common case (a 640x480 frame to 320x240), as a tight loop.
        for dy in 0..dh {
            let s0 = ((ry + 2 * dy) * src.width + rx) * 3;
            let s1 = s0 + src.width * 3;
            let r0 = &src.data[s0..s0 + dw * 6];
            let r1 = &src.data[s1..s1 + dw * 6];
            for (a, b) in r0.chunks_exact(6).zip(r1.chunks_exact(6)) {
                for c in 0..3 {
                    let sum = u16::from(a[c])
                        + u16::from(a[c + 3])
                        + u16::from(b[c])
                        + u16::from(b[c + 3]);
                    data.push(((sum + 2) >> 2) as u8);
                }
            }
        }
        return Rgb8 {
            width: dw,
            height: dh,
            data,
        };
    }
    let area = (kx * ky) as u32;
    let mut acc = vec![0u32; dw * 3];
    for dy in 0..dh {
        acc.iter_mut().for_each(|v| *v = 0);
        for sy in ry + dy * ky..ry + (dy + 1) * ky {
            let start = (sy * src.width + rx) * 3;
            let row = &src.data[start..start + dw * kx * 3];
            for (a, block) in acc.chunks_exact_mut(3).zip(row.chunks_exact(kx * 3)) {
                let (mut r, mut g, mut b) = (0u32, 0u32, 0u32);
                for px in block.chunks_exact(3) {
                    r += u32::from(px[0]);
                    g += u32::from(px[1]);
                    b += u32::from(px[2]);
                }
                a[0] += r;
                a[1] += g;
                a[2] += b;
            }
        }
        data.extend(acc.iter().map(|a| ((a + area / 2) / area) as u8));
    }
    Rgb8 {
        width: dw,
        height: dh,
        data,
    }
}

/// OpenCV `INTER_LINEAR` coefficients for one axis: source index and 11-bit fixed-point weights.
fn linear_taps(src: usize, dst: usize) -> Vec<(usize, i32, i32)> {
    let scale = src as f64 / dst as f64;
    (0..dst)
        .map(|d| {
            let mut f = ((d as f64 + 0.5) * scale - 0.5) as f32;
            let mut s = f.floor() as i64;
            f -= s as f32;
            if s < 0 {
                f = 0.0;
                s = 0;
            }
            if s >= src as i64 - 1 {
                f = 0.0;
                s = src as i64 - 1;
            }
            let a0 = ((1.0 - f) * 2048.0).round_ties_even() as i32;
            let a1 = (f * 2048.0).round_ties_even() as i32;
            (s as usize, a0, a1)
        })
        .collect()
}

/// Bilinear resize with OpenCV `INTER_LINEAR` semantics (half-pixel centres, no anti-aliasing,
/// 11-bit fixed-point weights). An exact 2x shrink uses area averaging, as OpenCV does.
pub fn resize_linear(src: &Rgb8, dw: usize, dh: usize) -> Rgb8 {
    resize_linear_region(src, 0, 0, src.width, src.height, dw, dh)
}

/// [`resize_linear`] of the `rw` x `rh` rectangle at `(rx, ry)`, without copying it first.
pub fn resize_linear_region(
    src: &Rgb8,
    rx: usize,
    ry: usize,
    rw: usize,
    rh: usize,
    dw: usize,
    dh: usize,
) -> Rgb8 {
    assert!(rw >= 1 && rh >= 1 && dw >= 1 && dh >= 1);
    assert!(rx + rw <= src.width && ry + rh <= src.height);
    if rw == dw * 2 && rh == dh * 2 {
        return resize_area_integer_region(src, rx, ry, rw, rh, 2, 2);
    }
    let xt = linear_taps(rw, dw);
    let yt = linear_taps(rh, dh);
    let last_x = rw - 1;
    let hrow = |sy: usize, buf: &mut Vec<i32>| {
        buf.clear();
        let start = ((ry + sy) * src.width + rx) * 3;
        let row = &src.data[start..start + rw * 3];
        for &(sx, a0, a1) in &xt {
            let s0 = sx * 3;
            if sx < last_x {
                for c in 0..3 {
                    buf.push(row[s0 + c] as i32 * a0 + row[s0 + 3 + c] as i32 * a1);
                }
            } else {
                for c in 0..3 {
                    buf.push(row[s0 + c] as i32 * 2048);
                }
            }
        }
    };
    let mut data = Vec::with_capacity(dw * dh * 3);
    let (mut r0, mut r1) = (Vec::with_capacity(dw * 3), Vec::with_capacity(dw * 3));
    for &(sy, b0, b1) in &yt {
        hrow(sy, &mut r0);
        hrow((sy + 1).min(rh - 1), &mut r1);
        // OpenCV's vectorised vertical pass (VResizeLinearVec_32s8u), which it uses for whole
        // rows: 16-bit products keeping the high half, then a rounding shift by 2.
        data.extend(r0.iter().zip(&r1).map(|(&a, &b)| {
            let v = (((a >> 4) * b0) >> 16) + (((b >> 4) * b1) >> 16);
            ((v + 2) >> 2).clamp(0, 255) as u8
        }));
    }
    Rgb8 {
        width: dw,
        height: dh,
        data,
    }
}

/// Bilinear 2x3 affine warp with OpenCV `warpAffine` semantics: `inverse` maps destination pixel
/// centres to source coordinates; positions are quantised to 1/32 pixel, weights are 15-bit fixed
/// point, and samples outside the source read as black (`BORDER_CONSTANT`, value 0).
pub fn warp_affine(src: &Rgb8, inverse: &[f64; 6], dw: usize, dh: usize) -> Rgb8 {
    const AB_BITS: i32 = 10;
    const AB_SCALE: f64 = (1 << AB_BITS) as f64;
    const INTER_BITS: i32 = 5;
    const TAB: i32 = 1 << INTER_BITS;
    let round_delta = (AB_SCALE as i32) / TAB / 2;
    let m = inverse;
    let (w, h) = (src.width as i32, src.height as i32);
    let mut out = Rgb8::new(dw, dh);
    let adelta: Vec<i32> = (0..dw)
        .map(|x| (m[0] * x as f64 * AB_SCALE).round_ties_even() as i32)
        .collect();
    let bdelta: Vec<i32> = (0..dw)
        .map(|x| (m[3] * x as f64 * AB_SCALE).round_ties_even() as i32)
        .collect();
    let stride = src.width * 3;
    for y in 0..dh {
        let x0 = (((m[1] * y as f64) + m[2]) * AB_SCALE).round_ties_even() as i32 + round_delta;
        let y0 = (((m[4] * y as f64) + m[5]) * AB_SCALE).round_ties_even() as i32 + round_delta;
        let row = &mut out.data[y * dw * 3..(y + 1) * dw * 3];
        for x in 0..dw {
            let xx = (x0 + adelta[x]) >> (AB_BITS - INTER_BITS);
            let yy = (y0 + bdelta[x]) >> (AB_BITS - INTER_BITS);
            let sx = xx >> INTER_BITS;
            let sy = yy >> INTER_BITS;
            let fx = xx & (TAB - 1);
            let fy = yy & (TAB - 1);
            // Weights (1-fx)(1-fy), fx(1-fy), (1-fx)fy, fx fy in units of 1/32768: exact products.
            let w00 = (TAB - fx) * (TAB - fy) * 32;
            let w01 = fx * (TAB - fy) * 32;
            let w10 = (TAB - fx) * fy * 32;
            let w11 = fx * fy * 32;
            let o = &mut row[x * 3..x * 3 + 3];
            if sx >= 0 && sy >= 0 && sx + 1 < w && sy + 1 < h {
                let i0 = sy as usize * stride + sx as usize * 3;
                let r0 = &src.data[i0..i0 + 6];
                let r1 = &src.data[i0 + stride..i0 + stride + 6];
                for c in 0..3 {
                    let v = i32::from(r0[c]) * w00
                        + i32::from(r0[c + 3]) * w01
                        + i32::from(r1[c]) * w10
                        + i32::from(r1[c + 3]) * w11;
                    o[c] = ((v + (1 << 14)) >> 15).clamp(0, 255) as u8;
                }
                continue;
            }
            if sx >= w || sx + 1 < 0 || sy >= h || sy + 1 < 0 {
                continue; // entirely outside: border value 0
            }
            let get = |px: i32, py: i32, c: usize| -> i32 {
                if px >= 0 && px < w && py >= 0 && py < h {
                    i32::from(src.data[py as usize * stride + px as usize * 3 + c])
                } else {
                    0
                }
            };
            for (c, oc) in o.iter_mut().enumerate() {
                let v = get(sx, sy, c) * w00
                    + get(sx + 1, sy, c) * w01
                    + get(sx, sy + 1, c) * w10
                    + get(sx + 1, sy + 1, c) * w11;
                *oc = ((v + (1 << 14)) >> 15).clamp(0, 255) as u8;
            }
        }
    }
    out
}

/// Resizes to exactly `w` x `h` (area averaging when shrinking, bilinear otherwise).
pub fn resize_to(img: &Rgb8, w: usize, h: usize) -> Rgb8 {
    if img.width >= w && img.height >= h {
        resize_area(img, w, h)
    } else {
        resize_linear(img, w, h)
    }
}

/// Scales `img` to fit inside `w` x `h` keeping its aspect ratio and centres it on a black
/// canvas (a camera-like frame around a photo).
pub fn letterbox(img: &Rgb8, w: usize, h: usize) -> Rgb8 {
    let s = (w as f64 / img.width as f64).min(h as f64 / img.height as f64);
    let nw = ((img.width as f64 * s).round() as usize).clamp(1, w);
    let nh = ((img.height as f64 * s).round() as usize).clamp(1, h);
    let scaled = resize_to(img, nw, nh);
    let mut out = Rgb8::new(w, h);
    let (ox, oy) = ((w - nw) / 2, (h - nh) / 2);
    for y in 0..nh {
        let d = ((oy + y) * w + ox) * 3;
        out.data[d..d + nw * 3].copy_from_slice(&scaled.data[y * nw * 3..(y + 1) * nw * 3]);
    }
    out
}

/// Channel order of a packed tensor.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChannelOrder {
    Rgb,
    Bgr,
}

/// Packs an image as float32 NCHW (one batch item) with raw 0..255 values, zero-padded on the
/// right and bottom to `pad_w` x `pad_h`, appending to `out`.
pub fn pack_nchw(img: &Rgb8, order: ChannelOrder, pad_w: usize, pad_h: usize, out: &mut Vec<f32>) {
    assert!(pad_w >= img.width && pad_h >= img.height);
    out.reserve(pad_w * pad_h * 3);
    let channels = match order {
        ChannelOrder::Rgb => [0, 1, 2],
        ChannelOrder::Bgr => [2, 1, 0],
    };
    let w = img.width;
    for c in channels {
        for y in 0..img.height {
            let row = &img.data[y * w * 3..(y + 1) * w * 3];
            out.extend(row.chunks_exact(3).map(|px| f32::from(px[c])));
            out.resize(out.len() + (pad_w - w), 0.0);
        }
        out.resize(out.len() + (pad_h - img.height) * pad_w, 0.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gradient(w: usize, h: usize) -> Rgb8 {
        let mut img = Rgb8::new(w, h);
        for y in 0..h {
            for x in 0..w {
                let i = (y * w + x) * 3;
                img.data[i] = (x * 255 / (w - 1).max(1)) as u8;
                img.data[i + 1] = (y * 255 / (h - 1).max(1)) as u8;
                img.data[i + 2] = 77;
            }
        }
        img
    }

    #[test]
    fn area_resize_of_constant_image_is_constant() {
        let mut img = Rgb8::new(37, 23);
        img.data.iter_mut().for_each(|v| *v = 91);
        let out = resize_area(&img, 15, 10);
        assert!(out.data.iter().all(|&v| v == 91));
    }

    #[test]
    fn integer_area_resize_averages_blocks() {
        let img = Rgb8::from_raw(2, 2, vec![0, 0, 0, 10, 10, 10, 20, 20, 20, 31, 31, 31]).unwrap();
        let out = resize_area(&img, 1, 1);
        assert_eq!(out.data, vec![15, 15, 15]); // (61 + 2) / 4 = 15
    }

    #[test]
    fn fractional_area_weights_sum_to_one() {
        for (s, d) in [(1000, 640), (7, 3), (1280, 1279), (4600, 1280)] {
            let taps = area_taps(s, d);
            for dx in 0..d {
                let sum: f32 = taps.iter().filter(|t| t.dst == dx).map(|t| t.w).sum();
                // OpenCV drops slivers under 1e-3 of a pixel without renormalising.
                assert!((sum - 1.0).abs() < 2e-3, "{s}->{d} at {dx}: {sum}");
            }
        }
    }

    #[test]
    fn linear_resize_identity_and_constant() {
        let img = gradient(31, 17);
        assert_eq!(resize_linear(&img, 31, 17), img);
        let mut c = Rgb8::new(50, 40);
        c.data.iter_mut().for_each(|v| *v = 200);
        assert!(resize_linear(&c, 80, 80).data.iter().all(|&v| v == 200));
        assert!(resize_linear(&c, 13, 7).data.iter().all(|&v| v == 200));
    }

    #[test]
    fn linear_resize_keeps_gradient_monotone() {
        let img = gradient(200, 100);
        let out = resize_linear(&img, 80, 80);
        for x in 1..80 {
            assert!(out.pixel(x, 40)[0] >= out.pixel(x - 1, 40)[0]);
        }
    }

    #[test]
    fn region_resize_equals_crop_then_resize() {
        let img = gradient(64, 48);
        let a = resize_linear_region(&img, 5, 7, 40, 30, 17, 13);
        let b = resize_linear(&img.crop(5, 7, 40, 30), 17, 13);
        assert_eq!(a, b);
    }

    #[test]
    fn letterbox_keeps_aspect_and_centres() {
        let mut img = Rgb8::new(100, 50);
        img.data.iter_mut().for_each(|v| *v = 200);
        let out = letterbox(&img, 64, 48);
        // 100x50 scales to 64x32, centred vertically: rows 8..40 are content.
        assert_eq!(out.pixel(32, 7), [0, 0, 0]);
        assert_eq!(out.pixel(32, 8), [200, 200, 200]);
        assert_eq!(out.pixel(32, 39), [200, 200, 200]);
        assert_eq!(out.pixel(32, 40), [0, 0, 0]);
    }

    #[test]
    fn identity_warp_copies_pixels() {
        let img = gradient(20, 10);
        let out = warp_affine(&img, &[1.0, 0.0, 0.0, 0.0, 1.0, 0.0], 20, 10);
        assert_eq!(out, img);
    }

    #[test]
    fn warp_outside_source_is_black() {
        let mut img = Rgb8::new(4, 4);
        img.data.iter_mut().for_each(|v| *v = 255);
        let out = warp_affine(&img, &[1.0, 0.0, 100.0, 0.0, 1.0, 100.0], 4, 4);
        assert!(out.data.iter().all(|&v| v == 0));
    }

    #[test]
    fn half_pixel_shift_averages_neighbours() {
        let img = Rgb8::from_raw(2, 1, vec![0, 0, 0, 100, 100, 100]).unwrap();
        let out = warp_affine(&img, &[1.0, 0.0, 0.5, 0.0, 1.0, 0.0], 1, 1);
        assert_eq!(out.data, vec![50, 50, 50]);
    }

    #[test]
    fn pack_nchw_orders_channels_and_pads() {
        let img = Rgb8::from_raw(1, 1, vec![1, 2, 3]).unwrap();
        let mut v = Vec::new();
        pack_nchw(&img, ChannelOrder::Bgr, 2, 1, &mut v);
        assert_eq!(v, vec![3.0, 0.0, 2.0, 0.0, 1.0, 0.0]);
        v.clear();
        pack_nchw(&img, ChannelOrder::Rgb, 1, 1, &mut v);
        assert_eq!(v, vec![1.0, 2.0, 3.0]);
    }

    #[test]
    fn flip_and_grey() {
        let img = Rgb8::from_raw(2, 1, vec![1, 1, 1, 9, 9, 9]).unwrap();
        assert!(img.is_grey());
        assert_eq!(img.flip_horizontal().data, vec![9, 9, 9, 1, 1, 1]);
        assert!(!gradient(3, 3).is_grey());
    }
}
