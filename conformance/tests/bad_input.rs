//! Bad input never panics and never allocates without bound: each case gets a clear error or
//! warning.

use inherence::biometric::FaceEngine as _;
use std::time::Instant;

use inherence::biometric::Want;
use inherence::biometric::decode::{self, encode_png};
use inherence::biometric::imageops::Rgb8;
use inherence::biometric::score::Risk;

use crate::common::{engine, shared};

fn crc32(data: &[u8]) -> u32 {
    let mut crc = 0xFFFF_FFFFu32;
    for &b in data {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

fn chunk(kind: &[u8; 4], data: &[u8]) -> Vec<u8> {
    let mut c = (data.len() as u32).to_be_bytes().to_vec();
    let mut body = kind.to_vec();
    body.extend_from_slice(data);
    c.extend_from_slice(&body);
    c.extend_from_slice(&crc32(&body).to_be_bytes());
    c
}

/// A valid PNG header that claims `w` x `h` RGB pixels, followed by a tiny data chunk.
fn png_claiming(w: u32, h: u32) -> Vec<u8> {
    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut ihdr = w.to_be_bytes().to_vec();
    ihdr.extend_from_slice(&h.to_be_bytes());
    ihdr.extend_from_slice(&[8, 2, 0, 0, 0]);
    png.extend(chunk(b"IHDR", &ihdr));
    // zlib stream of a few zero bytes (a "decompression bomb" would be a much longer stream).
    png.extend(chunk(
        b"IDAT",
        &[0x78, 0x9c, 0x63, 0x60, 0x00, 0x00, 0x00, 0x02, 0x00, 0x01],
    ));
    png.extend(chunk(b"IEND", &[]));
    png
}

#[test]
fn empty_file_is_a_clear_error() {
    let e = engine().analyze(&[], Want::ALL).unwrap_err();
    assert_eq!(e.code(), "EMPTY_IMAGE");
    assert!(e.to_string().contains("empty"), "{e}");
}

#[test]
fn text_file_is_not_an_image() {
    let e = engine()
        .analyze(b"name,score\nalice,1\n", Want::ALL)
        .unwrap_err();
    assert_eq!(e.code(), "UNSUPPORTED_IMAGE_FORMAT");
    assert!(e.to_string().contains("JPEG, PNG, WebP or TIFF"), "{e}");
}

#[test]
fn png_claiming_30000_by_30000_is_refused_before_decoding() {
    let bomb = png_claiming(30_000, 30_000);
    let t = Instant::now();
    let e = engine().analyze(&bomb, Want::ALL).unwrap_err();
    assert_eq!(e.code(), "IMAGE_TOO_MANY_PIXELS", "{e}");
    assert!(e.to_string().contains("30000x30000"), "{e}");
    // Refused from the header: no 2.7 GB buffer was filled.
    assert!(t.elapsed().as_millis() < 500, "took {:?}", t.elapsed());
}

#[test]
fn png_within_side_limit_but_over_pixel_budget_is_refused() {
    let e = engine()
        .analyze(&png_claiming(9_000, 9_000), Want::ALL)
        .unwrap_err();
    assert_eq!(e.code(), "IMAGE_TOO_MANY_PIXELS", "{e}");
}

#[test]
fn oversized_upload_is_refused() {
    let big = vec![0xFFu8; engine().settings().limits.max_bytes + 1];
    let e = engine().analyze(&big, Want::ALL).unwrap_err();
    assert_eq!(e.code(), "IMAGE_TOO_LARGE");
}

#[test]
fn truncated_jpeg_is_a_clear_error() {
    let Some(sh) = shared("eval/dev") else { return };
    let full = std::fs::read(sh.join("eval/dev/images/celeb_barack_obama/facerec_obama.jpg"))
        .expect("jpeg");
    for cut in [full.len() / 2, full.len() - 10, 600] {
        let e = engine().analyze(&full[..cut], Want::ALL).unwrap_err();
        assert_eq!(e.code(), "IMAGE_DECODE_FAILED", "cut at {cut}: {e}");
    }
    // The complete file is fine.
    assert!(engine().analyze(&full, Want::ALL).unwrap().face.is_some());
}

#[test]
fn truncated_png_is_a_clear_error() {
    let mut img = Rgb8::new(64, 48);
    img.data
        .iter_mut()
        .enumerate()
        .for_each(|(i, v)| *v = (i * 7 % 256) as u8);
    let png = encode_png(&img).unwrap();
    let e = decode::decode(&png[..png.len() / 2], &Default::default()).unwrap_err();
    assert_eq!(e.code(), "IMAGE_DECODE_FAILED", "{e}");
}

#[test]
fn picture_without_a_face_is_a_warning_not_an_error() {
    let mut img = Rgb8::new(640, 480);
    for y in 0..480 {
        for x in 0..640 {
            let i = (y * 640 + x) * 3;
            img.data[i..i + 3].copy_from_slice(&[(x / 3) as u8, (y / 2) as u8, 90]);
        }
    }
    let a = engine()
        .analyze(&encode_png(&img).unwrap(), Want::ALL)
        .unwrap();
    assert!(a.face.is_none());
    assert_eq!(a.faces_found, 0);
    assert!(a.has_risk(Risk::NoFaceDetected));
    assert!(engine().enrol(&encode_png(&img).unwrap()).is_ok());
}

#[test]
fn two_faces_are_flagged() {
    let Some(sh) = shared("eval/dev") else { return };
    let dev = sh.join("eval/dev/images");
    let a = decode::decode(
        &std::fs::read(dev.join("lfw_Tony_Blair/Tony_Blair_0001.jpg")).unwrap(),
        &Default::default(),
    )
    .unwrap()
    .image;
    let b = decode::decode(
        &std::fs::read(dev.join("lfw_Colin_Powell/Colin_Powell_0001.jpg")).unwrap(),
        &Default::default(),
    )
    .unwrap()
    .image;
    let mut both = Rgb8::new(a.width + b.width, a.height.max(b.height));
    for (img, ox) in [(&a, 0), (&b, a.width)] {
        for y in 0..img.height {
            let d = (y * both.width + ox) * 3;
            both.data[d..d + img.width * 3]
                .copy_from_slice(&img.data[y * img.width * 3..(y + 1) * img.width * 3]);
        }
    }
    let bytes = encode_png(&both).unwrap();
    let r = engine().analyze(&bytes, Want::ALL).unwrap();
    assert!(r.faces_found >= 2, "found {}", r.faces_found);
    assert!(r.has_risk(Risk::MultipleFacesDetected));
    // Enrolment refuses an ambiguous portrait.
    match engine().enrol(&bytes).unwrap().0 {
        inherence::biometric::Enrolment::Refused(risks) => {
            assert!(risks.contains(&Risk::MultipleFacesDetected))
        }
        other => panic!("enrolled an image with two faces: {other:?}"),
    }
}

#[test]
fn extreme_shapes_are_a_clear_client_error_not_a_runtime_failure() {
    for (w, h) in [(10_000usize, 31usize), (31, 10_000), (2_000, 40), (20, 20)] {
        let mut img = Rgb8::new(w, h);
        img.data
            .iter_mut()
            .enumerate()
            .for_each(|(i, v)| *v = (i % 251) as u8);
        for bytes in [
            encode_png(&img).unwrap(),
            decode::encode_jpeg(&img, 90).unwrap(),
        ] {
            let e = engine().analyze(&bytes, Want::ALL).unwrap_err();
            assert_eq!(e.code(), "IMAGE_SHAPE_UNSUPPORTED", "{w}x{h}: {e}");
            assert!(e.is_client_error(), "{w}x{h}");
            assert!(engine().enrol(&bytes).is_err());
        }
    }
}

/// A phone photo: a dev portrait scaled up to `w` x `h` and saved as JPEG.
fn phone_photo(w: usize, h: usize, quality: u8) -> Option<Vec<u8>> {
    let sh = shared("eval/dev")?;
    let src = decode::decode(
        &std::fs::read(sh.join("eval/dev/images/celeb_barack_obama/facerec_obama.jpg")).unwrap(),
        &Default::default(),
    )
    .unwrap()
    .image;
    let img = inherence::eval::camera::cover(&src, w, h);
    Some(decode::encode_jpeg(&img, quality).unwrap())
}

#[test]
fn large_phone_photos_are_decoded_at_a_reduced_scale_within_the_pixel_budget() {
    let limits = decode::ImageLimits::default();
    // 36 MP (7360 x 4912, a camera's native size) and 100 MP (11552 x 8664).
    for (w, h) in [(7360, 4912), (4912, 7360), (11552, 8664)] {
        let Some(bytes) = phone_photo(w, h, 75) else {
            return;
        };
        let d = decode::decode(&bytes, &limits).unwrap();
        assert!(
            (d.image.width * d.image.height) as u64 <= limits.max_pixels,
            "{w}x{h} decoded at {}x{}",
            d.image.width,
            d.image.height
        );
        assert!(d.image.width * 8 >= w, "at most 1/8 scale");
        // Failure to acquire: none. The face is found, enrolled, and matches the original.
        let a = engine().analyze(&bytes, Want::ALL).unwrap();
        assert_eq!(a.faces_found, 1, "{w}x{h}");
        match engine().enrol(&bytes).unwrap().0 {
            inherence::biometric::Enrolment::Enrolled(t) => {
                let e = a.face.unwrap().embedding.unwrap();
                assert!(engine().compare(&t, &e).unwrap().score > 90.0);
            }
            other => panic!("{w}x{h} not enrolled: {other:?}"),
        }
    }
    // Beyond the JPEG budget (or not a JPEG): refused from the header, as before.
    let e = decode::decode(&png_claiming(11552, 8664), &limits).unwrap_err();
    assert_eq!(e.code(), "IMAGE_TOO_MANY_PIXELS");
}
