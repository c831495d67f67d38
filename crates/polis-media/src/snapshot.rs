//! Still pictures of a stream: decode a key frame, black out the privacy zones, encode a JPEG.

use crate::codec::{decode_key_frame, Rgb};
use crate::session::Frame;
use polis_base::{Error, Result};

/// JPEG quality of snapshots.
pub const SNAPSHOT_QUALITY: u8 = 80;

/// Fills every pixel whose centre lies inside one of the `zones` with black.
///
/// A zone is a polygon with vertices in normalised image coordinates: x and y in 0..=1 of the
/// width and height, origin at the top left. Polygons may be concave or self-intersecting (the
/// even-odd rule decides what is inside) and may reach outside the picture (they are clipped).
/// Zones with fewer than three vertices or with a coordinate that is not a finite number cover
/// nothing.
pub fn mask_privacy_zones(img: &mut Rgb, zones: &[Vec<(f64, f64)>]) {
    let (w, h) = (f64::from(img.width), f64::from(img.height));
    for zone in zones {
        let points: Vec<(f64, f64)> = zone.iter().map(|&(x, y)| (x * w, y * h)).collect();
        if points.len() < 3 || points.iter().any(|(x, y)| !x.is_finite() || !y.is_finite()) {
            continue;
        }
        fill_polygon(img, &points);
    }
}

/// Scanline fill of a polygon in pixel coordinates (all finite), even-odd rule, sampled at pixel
/// centres.
fn fill_polygon(img: &mut Rgb, points: &[(f64, f64)]) {
    let (min_y, max_y) =
        points.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), p| (lo.min(p.1), hi.max(p.1)));
    // Rows whose centre (row + 0.5) can lie within min_y..max_y, clipped to the picture.
    let first = (min_y - 0.5).ceil().max(0.0);
    let last = (max_y - 0.5).floor().min(f64::from(img.height) - 1.0);
    if first > last {
        return;
    }
    let mut crossings: Vec<f64> = Vec::with_capacity(points.len());
    for row in first as u32..=last as u32 {
        let yc = f64::from(row) + 0.5;
        crossings.clear();
        for (i, &(x0, y0)) in points.iter().enumerate() {
            let (x1, y1) = points[(i + 1) % points.len()];
            // Half-open in y, so a vertex on the scanline counts once and horizontal edges never.
            if (y0 <= yc) != (y1 <= yc) {
                crossings.push(x0 + (yc - y0) / (y1 - y0) * (x1 - x0));
            }
        }
        crossings.sort_by(f64::total_cmp);
        for pair in crossings.chunks_exact(2) {
            // Pixels whose centre x + 0.5 is in [a, b).
            let from = (pair[0] - 0.5).ceil().clamp(0.0, f64::from(img.width));
            let to = (pair[1] - 0.5).ceil().clamp(0.0, f64::from(img.width));
            img.fill_row(row, from as u32, to as u32, [0, 0, 0]);
        }
    }
}

/// Encodes a picture as a baseline JPEG; `quality` is clamped to 1..=100.
pub fn encode_jpeg(img: &Rgb, quality: u8) -> Result<Vec<u8>> {
    if !img.is_consistent() {
        return Err(Error::invalid("picture", "the picture's data does not match its size"));
    }
    let too_big = || Error::invalid("picture", "a JPEG picture is at most 65535 pixels on each side");
    let w = u16::try_from(img.width).map_err(|_| too_big())?;
    let h = u16::try_from(img.height).map_err(|_| too_big())?;
    if w == 0 || h == 0 {
        return Err(Error::invalid("picture", "the picture is empty"));
    }
    let mut out = Vec::with_capacity(img.data.len() / 8);
    jpeg_encoder::Encoder::new(&mut out, quality.clamp(1, 100))
        .encode(&img.data, w, h, jpeg_encoder::ColorType::Rgb)
        .map_err(|e| Error::internal(format!("JPEG encoding failed: {e}")))?;
    Ok(out)
}

/// A JPEG snapshot of a key frame with the privacy zones blacked out.
pub fn snapshot_jpeg(frame: &Frame, zones: &[Vec<(f64, f64)>]) -> Result<Vec<u8>> {
    let mut img = decode_key_frame(frame)?;
    mask_privacy_zones(&mut img, zones);
    encode_jpeg(&img, SNAPSHOT_QUALITY)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::{EncoderSettings, H264Encoder};

    const WHITE: [u8; 3] = [255, 255, 255];
    const BLACK: [u8; 3] = [0, 0, 0];

    fn white(w: u32, h: u32) -> Rgb {
        let mut img = Rgb::new(w, h);
        img.fill_rect(0, 0, i64::from(w), i64::from(h), WHITE);
        img
    }

    /// The black pixels, row by row.
    fn black_pixels(img: &Rgb) -> Vec<(u32, u32)> {
        let mut out = Vec::new();
        for y in 0..img.height {
            for x in 0..img.width {
                if img.pixel(x, y) == Some(BLACK) {
                    out.push((x, y));
                }
            }
        }
        out
    }

    #[test]
    fn a_square_zone_blackens_exactly_the_pixels_inside() {
        let mut img = white(100, 50);
        // x from 10 to 30 px, y from 10 to 20 px.
        mask_privacy_zones(&mut img, &[vec![(0.1, 0.2), (0.3, 0.2), (0.3, 0.4), (0.1, 0.4)]]);
        let mut want = Vec::new();
        for y in 10..20 {
            for x in 10..30 {
                want.push((x, y));
            }
        }
        assert_eq!(black_pixels(&img), want);
        assert_eq!(img.pixel(10, 10), Some(BLACK));
        assert_eq!(img.pixel(29, 19), Some(BLACK));
        assert_eq!(img.pixel(9, 10), Some(WHITE));
        assert_eq!(img.pixel(30, 19), Some(WHITE));
        assert_eq!(img.pixel(10, 9), Some(WHITE));
        assert_eq!(img.pixel(29, 20), Some(WHITE));
    }

    #[test]
    fn a_concave_zone_leaves_its_notch_alone() {
        // An L: the left column x 0..40, y 0..100, plus the bottom bar x 0..100, y 60..100 (in a
        // 100 x 100 picture); the notch x 40..100, y 0..60 stays white.
        let mut img = white(100, 100);
        let l = vec![(0.0, 0.0), (0.4, 0.0), (0.4, 0.6), (1.0, 0.6), (1.0, 1.0), (0.0, 1.0)];
        mask_privacy_zones(&mut img, &[l]);
        for y in 0..100 {
            for x in 0..100 {
                let inside = x < 40 || y >= 60;
                let want = if inside { BLACK } else { WHITE };
                assert_eq!(img.pixel(x, y), Some(want), "pixel ({x}, {y})");
            }
        }
        // The inner corner and its neighbours.
        assert_eq!(img.pixel(39, 59), Some(BLACK));
        assert_eq!(img.pixel(40, 59), Some(WHITE));
        assert_eq!(img.pixel(40, 60), Some(BLACK));
    }

    #[test]
    fn a_triangle_follows_the_pixel_centre_rule() {
        let mut img = white(10, 10);
        // The lower-left half below the diagonal from (0,0) to (10,10): centre (x+.5, y+.5) is inside
        // when x < y (on the diagonal itself the centre is on the edge, and half-open rules leave it out).
        mask_privacy_zones(&mut img, &[vec![(0.0, 0.0), (1.0, 1.0), (0.0, 1.0)]]);
        for y in 0..10 {
            for x in 0..10 {
                let black = img.pixel(x, y) == Some(BLACK);
                if x < y {
                    assert!(black, "({x}, {y}) should be black");
                } else if x > y {
                    assert!(!black, "({x}, {y}) should be white");
                }
            }
        }
    }

    #[test]
    fn zones_reaching_outside_are_clipped() {
        let mut img = white(40, 20);
        mask_privacy_zones(
            &mut img,
            &[
                // Covers the right half and beyond on three sides.
                vec![(0.5, -3.0), (7.0, -3.0), (7.0, 9.0), (0.5, 9.0)],
                // Entirely outside.
                vec![(-2.0, -2.0), (-1.0, -2.0), (-1.0, -1.0)],
                vec![(1.5, 1.5), (2.0, 1.5), (2.0, 2.0)],
                // Degenerate and nonsense zones.
                vec![(0.0, 0.0), (1.0, 1.0)],
                vec![],
                vec![(f64::NAN, 0.0), (1.0, 0.0), (1.0, 1.0)],
                vec![(f64::INFINITY, 0.0), (1.0, f64::NEG_INFINITY), (0.0, 1.0)],
                vec![(1e300, 1e300), (-1e300, 1e300), (0.0, -1e300)],
            ],
        );
        for y in 0..20 {
            for x in 0..40 {
                // The huge triangle covers everything, so check the rest with a fresh picture below.
                assert_eq!(img.pixel(x, y), Some(BLACK));
            }
        }
        let mut img = white(40, 20);
        mask_privacy_zones(&mut img, &[vec![(0.5, -3.0), (7.0, -3.0), (7.0, 9.0), (0.5, 9.0)]]);
        assert_eq!(img.pixel(19, 0), Some(WHITE));
        assert_eq!(img.pixel(20, 0), Some(BLACK));
        assert_eq!(img.pixel(39, 19), Some(BLACK));
        assert_eq!(img.pixel(19, 19), Some(WHITE));
        // A picture whose data is too short is masked where it has whole pixels, without panicking.
        let mut broken = white(40, 20);
        broken.data.truncate(100);
        mask_privacy_zones(&mut broken, &[vec![(0.0, 0.0), (1.0, 0.0), (1.0, 1.0), (0.0, 1.0)]]);
        assert!(broken.data[..99].iter().all(|&b| b == 0));
        assert_eq!(broken.data[99], 255);
    }

    fn decode(jpeg: &[u8]) -> (u16, u16, Vec<u8>) {
        let mut d = jpeg_decoder::Decoder::new(jpeg);
        let pixels = d.decode().unwrap();
        let info = d.info().unwrap();
        assert_eq!(info.pixel_format, jpeg_decoder::PixelFormat::RGB24);
        (info.width, info.height, pixels)
    }

    #[test]
    fn jpeg_round_trip_keeps_size_and_the_masked_zone_dark() {
        let mut img = white(160, 90);
        img.fill_rect(0, 0, 80, 90, [220, 40, 40]);
        mask_privacy_zones(&mut img, &[vec![(0.5, 0.0), (1.0, 0.0), (1.0, 0.5), (0.5, 0.5)]]);
        let jpeg = encode_jpeg(&img, 80).unwrap();
        assert_eq!(&jpeg[..2], &[0xff, 0xd8]);
        assert_eq!(&jpeg[jpeg.len() - 2..], &[0xff, 0xd9]);
        let (w, h, px) = decode(&jpeg);
        assert_eq!((w, h), (160, 90));
        let at = |x: usize, y: usize| &px[(y * 160 + x) * 3..(y * 160 + x) * 3 + 3];
        assert!(at(120, 20).iter().all(|&c| c < 20), "masked: {:?}", at(120, 20));
        assert!(at(120, 70).iter().all(|&c| c > 235), "white: {:?}", at(120, 70));
        assert!(at(40, 45)[0] > 190 && at(40, 45)[1] < 70, "red: {:?}", at(40, 45));

        assert!(encode_jpeg(&Rgb::new(0, 0), 80).is_err());
        let mut short = white(10, 10);
        short.data.pop();
        assert!(encode_jpeg(&short, 80).is_err());
    }

    #[test]
    fn snapshot_of_an_encoded_frame() {
        let mut enc = H264Encoder::new(EncoderSettings::new(128, 96, 10)).unwrap();
        let frame = enc.encode(&white(128, 96)).unwrap().unwrap();
        let jpeg = snapshot_jpeg(&frame, &[vec![(0.0, 0.0), (0.5, 0.0), (0.5, 0.5), (0.0, 0.5)]]).unwrap();
        let (w, h, px) = decode(&jpeg);
        assert_eq!((w, h), (128, 96));
        let at = |x: usize, y: usize| &px[(y * 128 + x) * 3..(y * 128 + x) * 3 + 3];
        assert!(at(20, 20).iter().all(|&c| c < 24), "masked: {:?}", at(20, 20));
        assert!(at(100, 70).iter().all(|&c| c > 220), "white: {:?}", at(100, 70));
    }
}
