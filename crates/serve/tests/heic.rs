//! iPhone photos: a HEIC upload (multipart, as the page sends it) is answered like the JPEG of
//! the same photo. HEICs are written by libheif's own encoder, as in the vision crate's tests.

mod common;
#[path = "../../vision/tests/common/heic.rs"]
mod heic;

use common::*;
use image::DynamicImage;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_heic_upload_gets_a_prediction() {
    let sky = image::load_from_memory(&sky_png()).expect("the sky PNG decodes");
    let bytes = heic::heic(&sky);
    let (status, json) =
        send_json(app(), post_form("/api/v1/identify?top_k=3", &[("image", "IMG_0001.HEIC", &bytes)])).await;
    assert_eq!(status, 200, "{json}");
    assert_eq!(json["predictions"].as_array().expect("predictions").len(), 3, "{json}");
    assert_eq!(json["image"]["name"], "IMG_0001.HEIC");
    assert_eq!((json["image"]["width"].as_u64(), json["image"]["height"].as_u64()), (Some(320), Some(240)), "{json}");
    assert_eq!(json["verdict"], "not_a_sneaker", "the sky is still the sky: {json}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shoe_photo_as_heic_is_the_same_shoe_as_its_jpeg() {
    let Some(jpeg) = shoe_photo() else { return };
    let photo = image::load_from_memory(&jpeg).expect("the shoe photo decodes").to_rgb8();
    let bytes = heic::heic(&DynamicImage::ImageRgb8(photo));
    let form = |name: &str, bytes: &[u8]| post_form("/api/v1/identify?top_k=1", &[("image", name, bytes)]);
    let (status, from_jpeg) = send_json(app(), form("af1.jpg", &jpeg)).await;
    assert_eq!(status, 200, "{from_jpeg}");
    let (status, from_heic) = send_json(app(), form("af1.heic", &bytes)).await;
    assert_eq!(status, 200, "{from_heic}");
    assert_eq!(from_heic["footwear"]["is_footwear"], true, "{from_heic}");
    assert_eq!(from_heic["predictions"][0]["label"], from_jpeg["predictions"][0]["label"], "{from_heic}\n{from_jpeg}");
}
