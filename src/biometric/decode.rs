//! Bounded image decoding: JPEG, PNG, WebP and TIFF, EXIF orientation applied, byte and pixel limits
//! checked from the header before any pixel buffer is allocated.

use std::io::Cursor;

use image::{DynamicImage, ImageDecoder, ImageFormat, ImageReader, Limits};
use serde::{Deserialize, Serialize};

use super::error::BiometricError;
use super::imageops::Rgb8;

/// Input bounds. Anything beyond them is refused before decoding.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct ImageLimits {
    /// Largest accepted encoded size in bytes.
    pub max_bytes: usize,
    /// Largest accepted width x height.
    pub max_pixels: u64,
    /// Largest accepted width or height.
    pub max_side: u32,
    /// JPEG pictures up to this many pixels (phone photos) are decoded at a reduced scale
    /// (1/2, 1/4 or 1/8, by libjpeg-turbo's DCT scaling) to fit `max_pixels` and `max_side`:
    /// the decoded picture, and so the memory, stays within those bounds.
    pub max_jpeg_pixels: u64,
    /// A face picture has at least this many pixels per side...
    pub min_side: u32,
    /// ...and its longer side is at most this many times its shorter one.
    pub max_aspect: f32,
}

impl Default for ImageLimits {
    fn default() -> Self {
        Self {
            max_bytes: 20 * 1024 * 1024,
            max_pixels: 25_000_000,
            max_side: 10_000,
            max_jpeg_pixels: 120_000_000,
            min_side: 32,
            max_aspect: 8.0,
        }
    }
}

/// A decoded picture in RGB, upright.
#[derive(Debug, Clone)]
pub struct DecodedImage {
    pub image: Rgb8,
    /// Container format as detected from the bytes.
    pub format: &'static str,
    /// The source had no colour channels (or every pixel has R = G = B).
    pub greyscale: bool,
    /// EXIF orientation tag that was applied (1 = none).
    pub exif_orientation: u8,
}

/// Decodes `bytes` within `limits`.
pub fn decode(bytes: &[u8], limits: &ImageLimits) -> Result<DecodedImage, BiometricError> {
    if bytes.is_empty() {
        return Err(BiometricError::EmptyImage);
    }
    if bytes.len() > limits.max_bytes {
        return Err(BiometricError::ImageTooLarge {
            size: bytes.len(),
            max: limits.max_bytes,
        });
    }
    let format = image::guess_format(bytes).map_err(|_| BiometricError::UnsupportedFormat)?;
    let format_name = match format {
        ImageFormat::Jpeg => return decode_jpeg(bytes, limits),
        ImageFormat::Png => "png",
        ImageFormat::WebP => "webp",
        ImageFormat::Tiff => "tiff",
        _ => return Err(BiometricError::UnsupportedFormat),
    };
    let mut reader = ImageReader::with_format(Cursor::new(bytes), format);
    let mut decoder_limits = Limits::default();
    decoder_limits.max_image_width = Some(limits.max_side);
    decoder_limits.max_image_height = Some(limits.max_side);
    // Room for the decoded RGBA buffer plus the decoder's own working memory.
    decoder_limits.max_alloc = Some(limits.max_pixels.saturating_mul(8).max(1 << 20));
    reader.limits(decoder_limits);
    let mut decoder = reader
        .into_decoder()
        .map_err(|e| map_image_error(e, limits, bytes, format))?;
    let (w, h) = decoder.dimensions();
    check_pixels(w, h, limits)?;
    let orientation = decoder
        .orientation()
        .map_err(|e| BiometricError::Decode(e.to_string()))?;
    let colour = decoder.color_type();
    let mut img = DynamicImage::from_decoder(decoder)
        .map_err(|e| map_image_error(e, limits, bytes, format))?;
    img.apply_orientation(orientation);
    let source_grey = !colour.has_color();
    let rgb = img.into_rgb8();
    let (width, height) = (rgb.width() as usize, rgb.height() as usize);
    let image = Rgb8::from_raw(width, height, rgb.into_raw())
        .ok_or_else(|| BiometricError::Decode("decoder returned a short buffer".into()))?;
    let greyscale = source_grey || image.is_grey();
    Ok(DecodedImage {
        image,
        format: format_name,
        greyscale,
        exif_orientation: orientation_tag(orientation),
    })
}

/// JPEG: headers (size, EXIF, colour space) read by zune-jpeg in strict mode, pixels decoded by
/// libjpeg-turbo (accurate integer IDCT, smooth chroma upsampling), the decoder the models' own
/// pipelines use: the liveness models react to one-grey-level differences. Truncated or corrupt
/// data is an error, never a partly grey picture.
fn decode_jpeg(bytes: &[u8], limits: &ImageLimits) -> Result<DecodedImage, BiometricError> {
    use zune_core::bytestream::ZCursor;
    use zune_core::colorspace::ColorSpace;
    use zune_core::options::DecoderOptions;
    // Headers of pictures up to JPEG's own limit are read; `scale_for` decides what is decoded.
    let options = DecoderOptions::default()
        .set_strict_mode(true)
        .set_max_width(usize::from(u16::MAX))
        .set_max_height(usize::from(u16::MAX));
    let mut headers = zune_jpeg::JpegDecoder::new_with_options(ZCursor::new(bytes), options);
    headers
        .decode_headers()
        .map_err(|e| jpeg_error(&e.to_string(), limits))?;
    let (w, h) = headers
        .dimensions()
        .ok_or_else(|| BiometricError::Decode("JPEG header without dimensions".into()))?;
    let scale = scale_for(w as u32, h as u32, limits)?;
    let (w, h) = (scale.scale(w), scale.scale(h));
    let source_grey = matches!(
        headers.input_colorspace(),
        Some(ColorSpace::Luma | ColorSpace::LumaA)
    );
    let orientation = headers
        .exif()
        .and_then(|e| image::metadata::Orientation::from_exif_chunk(e))
        .unwrap_or(image::metadata::Orientation::NoTransforms);
    let mut pixels = vec![0u8; w * h * 3];
    let mut turbo = turbojpeg::Decompressor::new()
        .map_err(|e| BiometricError::Runtime(format!("libjpeg-turbo: {e}")))?;
    turbo
        .set_scaling_factor(scale)
        .map_err(|e| BiometricError::Runtime(format!("libjpeg-turbo: {e}")))?;
    turbo
        .decompress(
            bytes,
            turbojpeg::Image {
                pixels: pixels.as_mut_slice(),
                width: w,
                pitch: w * 3,
                height: h,
                format: turbojpeg::PixelFormat::RGB,
            },
        )
        .map_err(|e| BiometricError::Decode(format!("JPEG: {e}")))?;
    let mut image = Rgb8::from_raw(w, h, pixels)
        .ok_or_else(|| BiometricError::Decode("JPEG decoder returned a short buffer".into()))?;
    if orientation != image::metadata::Orientation::NoTransforms {
        let buf = image::RgbImage::from_raw(w as u32, h as u32, image.data)
            .ok_or_else(|| BiometricError::Decode("bad buffer".into()))?;
        let mut dynamic = DynamicImage::ImageRgb8(buf);
        dynamic.apply_orientation(orientation);
        let rgb = dynamic.into_rgb8();
        let (nw, nh) = (rgb.width() as usize, rgb.height() as usize);
        image = Rgb8::from_raw(nw, nh, rgb.into_raw())
            .ok_or_else(|| BiometricError::Decode("bad buffer".into()))?;
    }
    let greyscale = source_grey || image.is_grey();
    Ok(DecodedImage {
        image,
        format: "jpeg",
        greyscale,
        exif_orientation: orientation_tag(orientation),
    })
}

fn jpeg_error(msg: &str, limits: &ImageLimits) -> BiometricError {
    if msg.contains("greater than") || msg.contains("too large") || msg.contains("larger than") {
        BiometricError::TooManyPixels {
            width: 0,
            height: 0,
            max_pixels: limits.max_pixels,
            max_side: limits.max_side,
        }
    } else {
        BiometricError::Decode(format!("JPEG: {msg}"))
    }
}

fn check_pixels(w: u32, h: u32, limits: &ImageLimits) -> Result<(), BiometricError> {
    let pixels = u64::from(w) * u64::from(h);
    if w == 0 || h == 0 {
        return Err(BiometricError::Decode(format!(
            "the image claims {w}x{h} pixels"
        )));
    }
    if pixels > limits.max_pixels || w > limits.max_side || h > limits.max_side {
        return Err(BiometricError::TooManyPixels {
            width: u64::from(w),
            height: u64::from(h),
            max_pixels: limits.max_pixels,
            max_side: limits.max_side,
        });
    }
    check_shape(w, h, limits)
}

/// A picture too thin or too narrow to hold a face (a banner, a line of pixels) is refused
/// with its own code before any model sees it.
fn check_shape(w: u32, h: u32, limits: &ImageLimits) -> Result<(), BiometricError> {
    let (short, long) = (w.min(h), w.max(h));
    if short < limits.min_side || long as f32 > short as f32 * limits.max_aspect {
        return Err(BiometricError::BadShape {
            width: u64::from(w),
            height: u64::from(h),
            min_side: limits.min_side,
            max_aspect: limits.max_aspect,
        });
    }
    Ok(())
}

/// The DCT scale a JPEG of `w` x `h` is decoded at: 1 when it fits the limits, else the largest
/// of 1/2, 1/4, 1/8 that fits, for pictures up to `max_jpeg_pixels`.
fn scale_for(
    w: u32,
    h: u32,
    limits: &ImageLimits,
) -> Result<turbojpeg::ScalingFactor, BiometricError> {
    use turbojpeg::ScalingFactor;
    if check_pixels(w, h, limits).is_ok() {
        return Ok(ScalingFactor::ONE);
    }
    if u64::from(w) * u64::from(h) <= limits.max_jpeg_pixels {
        for s in [
            ScalingFactor::ONE_HALF,
            ScalingFactor::ONE_QUARTER,
            ScalingFactor::ONE_EIGHTH,
        ] {
            let (sw, sh) = (s.scale(w as usize) as u32, s.scale(h as usize) as u32);
            if check_pixels(sw, sh, limits).is_ok() {
                return Ok(s);
            }
        }
    }
    // Too large even at 1/8, or the shape is wrong: say what the picture is.
    check_shape(w, h, limits)?;
    Err(BiometricError::TooManyPixels {
        width: u64::from(w),
        height: u64::from(h),
        max_pixels: limits.max_pixels,
        max_side: limits.max_side,
    })
}

fn map_image_error(
    e: image::ImageError,
    limits: &ImageLimits,
    bytes: &[u8],
    format: ImageFormat,
) -> BiometricError {
    match e {
        image::ImageError::Limits(l) => match l.kind() {
            image::error::LimitErrorKind::DimensionError => {
                // Read only the header again, without limits, to say what the image claims.
                let mut r = ImageReader::with_format(Cursor::new(bytes), format);
                r.no_limits();
                let (width, height) = r.into_dimensions().unwrap_or((0, 0));
                BiometricError::TooManyPixels {
                    width: u64::from(width),
                    height: u64::from(height),
                    max_pixels: limits.max_pixels,
                    max_side: limits.max_side,
                }
            }
            _ => BiometricError::Decode(format!("the decoder's memory limit was reached ({l})")),
        },
        image::ImageError::Unsupported(u) => BiometricError::Decode(format!("unsupported: {u}")),
        other => BiometricError::Decode(other.to_string()),
    }
}

fn orientation_tag(o: image::metadata::Orientation) -> u8 {
    use image::metadata::Orientation::*;
    match o {
        NoTransforms => 1,
        FlipHorizontal => 2,
        Rotate180 => 3,
        FlipVertical => 4,
        Rotate90FlipH => 5,
        Rotate90 => 6,
        Rotate270FlipH => 7,
        Rotate270 => 8,
    }
}

/// Encodes an RGB image as JPEG (the benchmark builds camera-like frames with it).
pub fn encode_jpeg(img: &Rgb8, quality: u8) -> Result<Vec<u8>, BiometricError> {
    let mut out = Vec::new();
    encode(
        image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, quality),
        img,
    )?;
    Ok(out)
}

/// Encodes an RGB image as PNG.
pub fn encode_png(img: &Rgb8) -> Result<Vec<u8>, BiometricError> {
    let mut out = Vec::new();
    encode(image::codecs::png::PngEncoder::new(&mut out), img)?;
    Ok(out)
}

fn encode(enc: impl image::ImageEncoder, img: &Rgb8) -> Result<(), BiometricError> {
    enc.write_image(
        &img.data,
        img.width as u32,
        img.height as u32,
        image::ExtendedColorType::Rgb8,
    )
    .map_err(|e| BiometricError::Decode(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn png_bytes(w: usize, h: usize) -> Vec<u8> {
        let mut img = Rgb8::new(w, h);
        img.data
            .iter_mut()
            .enumerate()
            .for_each(|(i, v)| *v = (i % 251) as u8);
        encode_png(&img).unwrap()
    }

    #[test]
    fn empty_input_is_refused() {
        assert!(matches!(
            decode(&[], &ImageLimits::default()),
            Err(BiometricError::EmptyImage)
        ));
    }

    #[test]
    fn oversized_input_is_refused_before_decoding() {
        let limits = ImageLimits {
            max_bytes: 10,
            ..Default::default()
        };
        assert!(matches!(
            decode(&png_bytes(8, 8), &limits),
            Err(BiometricError::ImageTooLarge { max: 10, .. })
        ));
    }

    #[test]
    fn text_is_not_an_image() {
        let err = decode(b"hello, this is not a picture\n", &ImageLimits::default()).unwrap_err();
        assert_eq!(err.code(), "UNSUPPORTED_IMAGE_FORMAT");
    }

    #[test]
    fn round_trips_a_png() {
        let d = decode(&png_bytes(40, 35), &ImageLimits::default()).unwrap();
        assert_eq!((d.image.width, d.image.height, d.format), (40, 35, "png"));
        assert!(!d.greyscale);
        // Too thin or too narrow to hold a face: its own code, before any decoding work.
        for (w, h) in [(9, 7), (400, 40), (40, 400)] {
            let e = decode(&png_bytes(w, h), &ImageLimits::default()).unwrap_err();
            assert_eq!(e.code(), "IMAGE_SHAPE_UNSUPPORTED", "{w}x{h}");
        }
    }

    #[test]
    fn round_trips_a_tiff_within_the_same_limits() {
        let img =
            image::RgbImage::from_fn(40, 35, |x, y| image::Rgb([x as u8 * 5, y as u8 * 6, 7]));
        let mut tiff = Vec::new();
        image::DynamicImage::ImageRgb8(img)
            .write_to(&mut Cursor::new(&mut tiff), ImageFormat::Tiff)
            .unwrap();
        let d = decode(&tiff, &ImageLimits::default()).unwrap();
        assert_eq!((d.image.width, d.image.height, d.format), (40, 35, "tiff"));
        assert_eq!(&d.image.data[..3], &[0, 0, 7]);
        let limits = ImageLimits {
            max_pixels: 40 * 35 - 1,
            ..ImageLimits::default()
        };
        assert!(matches!(
            decode(&tiff, &limits),
            Err(BiometricError::TooManyPixels { .. })
        ));
    }

    #[test]
    fn pixel_limit_applies() {
        let limits = ImageLimits {
            max_pixels: 1000,
            ..Default::default()
        };
        let err = decode(&png_bytes(40, 35), &limits).unwrap_err();
        assert!(matches!(
            err,
            BiometricError::TooManyPixels {
                width: 40,
                height: 35,
                ..
            }
        ));
    }
}
