//! Localisation on the real pretrained network: a studio sneaker photo pasted small into a large
//! cluttered canvas must be found, cropped around, and classified as footwear more surely than
//! the whole canvas.

use image::RgbImage;
use sneaker_model::assets::Assets;
use sneaker_model::localise::{Decision, LocaliseConfig, Localiser, Whole};
use sneaker_vision::{DecodeLimits, Rect, crop, decode_file};
/// A wooden floor: planks 60 px high, each its own shade, with a faint grain. Nothing shoe-like.
fn canvas(width: u32, height: u32) -> RgbImage {
    RgbImage::from_fn(width, height, |x, y| {
        let plank = y / 60;
        let shade = ((plank * 37) % 30) as u8;
        let grain = ((x / 3 + plank * 11) % 7) as u8;
        let seam = if y % 60 == 0 { 40 } else { 0 };
        image::Rgb([150 + shade + grain - seam, 105 + shade / 2 + grain - seam, 60 + grain - seam / 2])
    })
}

fn overlap(a: Rect, b: Rect) -> f64 {
    let x = (a.x + a.width).min(b.x + b.width).saturating_sub(a.x.max(b.x));
    let y = (a.y + a.height).min(b.y + b.height).saturating_sub(a.y.max(b.y));
    let inter = f64::from(x) * f64::from(y);
    inter / (a.area() as f64 + b.area() as f64 - inter)
}

#[test]
fn a_small_shoe_in_a_large_photo_is_found_and_cropped() {
    let Some(shared) = sneaker_test_support::shared("") else { return };
    let assets = Assets::locate().expect("assets present (run `make assets`)");
    let mut localiser = Localiser::load(&assets, LocaliseConfig::default()).expect("localiser loads");
    let path = shared.join("datasets/sneakers50/nike_air_force_1_low/nikecom_air-force-1-07-lv8-mens-shoes-7bCM7s.jpg");
    let shoe = decode_file(&path, &DecodeLimits::default()).expect("the studio photo decodes");
    let shoe =
        image::imageops::resize(&shoe, 450, 450 * shoe.height() / shoe.width(), image::imageops::FilterType::Triangle);
    let mut photo = canvas(1200, 900);
    let placed = Rect { x: 700, y: 480, width: shoe.width(), height: shoe.height() };
    image::imageops::overlay(&mut photo, &shoe, i64::from(placed.x), i64::from(placed.y));

    let located = localiser.locate(&photo).expect("localises");
    let Decision::Crop { crop: region, shoe: found } = located.decision else {
        panic!("expected a crop, got {:?} (footwear {})", located.decision, located.footwear);
    };
    assert!(region.fits_in(1200, 900) && !region.is_empty());
    let (cx, cy) = (placed.x + placed.width / 2, placed.y + placed.height / 2);
    assert!(
        (region.x..region.x + region.width).contains(&cx) && (region.y..region.y + region.height).contains(&cy),
        "{region:?} misses the shoe at {placed:?}"
    );
    assert!(overlap(found, placed) > 0.2, "found {found:?}, placed {placed:?}");
    assert!(region.area() < 1200 * 900 / 2, "the crop should be much smaller than the photo: {region:?}");

    // Seen up close, the shoe is more clearly footwear than in the whole canvas.
    let close = localiser.locate(&crop(&photo, region)).expect("localises the crop");
    assert!(close.footwear > located.footwear, "footwear {} whole vs {} cropped", located.footwear, close.footwear);
}

#[test]
fn a_photo_without_a_shoe_is_not_cropped() {
    let assets = Assets::locate().expect("assets present (run `make assets`)");
    let mut localiser = Localiser::load(&assets, LocaliseConfig::default()).expect("localiser loads");
    let located = localiser.locate(&canvas(640, 480)).expect("localises");
    assert_eq!(located.decision, Decision::Whole(Whole::NoFootwear), "footwear {}", located.footwear);
}
