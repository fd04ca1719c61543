//! Untrusted upload bytes → network input: decode under limits (EXIF orientation applied by
//! `sneaker-vision`), optionally cut the shoe out onto white (GrabCut), resize to the input size,
//! normalise. CPU work: callers run it on the blocking pool.

use std::io::Cursor;
use std::time::{Duration, Instant};

use base64::Engine;
use image::RgbImage;
use sneaker_vision::{
    CutoutConfig, DecodeLimits, INPUT_LEN, INPUT_SIZE, decode_bytes_for_input, normalise_into, remove_background,
    resize_exact,
};

use crate::error::{Result, ServeError};

/// What the client asked for besides the image.
#[derive(Debug, Clone, Copy, Default)]
pub struct PrepareOptions {
    /// Return the network's view of the photo as a data URL.
    pub include_image: bool,
    /// Cut the shoe out of its background (GrabCut from a centred rectangle) and put it on
    /// white before classifying. Callers check `sneaker_vision::BACKGROUND_REMOVAL_AVAILABLE`.
    pub remove_background: bool,
}

/// One photo ready for the network.
#[derive(Debug)]
pub struct Prepared {
    /// `[3, INPUT_SIZE, INPUT_SIZE]` CHW, normalised.
    pub tensor: Vec<f32>,
    /// Upright size of the decoded photo.
    pub width: u32,
    pub height: u32,
    /// `data:image/jpeg;base64,...` of what the network saw, when asked for.
    pub seen: Option<String>,
    /// True when the background was removed (asked for, and GrabCut found a shoe-sized foreground).
    pub background_removed: bool,
    pub decode: Duration,
    /// Resize and normalise, background removal included.
    pub preprocess: Duration,
    /// The background removal part of `preprocess`.
    pub background: Duration,
}

/// Decodes and preprocesses one upload. `name` appears in error messages.
pub fn prepare(bytes: &[u8], name: &str, limits: &DecodeLimits, options: PrepareOptions) -> Result<Prepared> {
    let started = Instant::now();
    let mut image = decode_bytes_for_input(bytes, name, limits, INPUT_SIZE)?;
    let decoded = Instant::now();
    let (width, height) = image.dimensions();
    let mut background_removed = false;
    if options.remove_background {
        let cut = remove_background(&image, None, name, &CutoutConfig::default())?;
        background_removed = cut.applied;
        image = cut.image;
    }
    let background = decoded.elapsed();
    // The same squash-resize as `sneaker_vision::to_input_tensor`, done here so the resized
    // image can also be shown to the user.
    let seen = resize_exact(&image, INPUT_SIZE, INPUT_SIZE);
    drop(image);
    let mut tensor = vec![0.0f32; INPUT_LEN];
    normalise_into(&seen, &mut tensor);
    let seen = if options.include_image { Some(jpeg_data_url(&seen)?) } else { None };
    Ok(Prepared {
        tensor,
        width,
        height,
        seen,
        background_removed,
        decode: decoded - started,
        preprocess: decoded.elapsed(),
        background,
    })
}

fn jpeg_data_url(image: &RgbImage) -> Result<String> {
    let mut jpeg = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(Cursor::new(&mut jpeg), 90)
        .encode_image(image)
        .map_err(|e| ServeError::Internal(format!("encoding the preview JPEG: {e}")))?;
    Ok(format!("data:image/jpeg;base64,{}", base64::engine::general_purpose::STANDARD.encode(&jpeg)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn png(width: u32, height: u32) -> Vec<u8> {
        let img = RgbImage::from_fn(width, height, |x, _| image::Rgb([(x % 256) as u8, 0, 255]));
        let mut out = Vec::new();
        img.write_to(&mut Cursor::new(&mut out), image::ImageFormat::Png).expect("encode");
        out
    }

    #[test]
    fn prepares_a_normalised_tensor_and_the_seen_image() {
        let options = PrepareOptions { include_image: true, remove_background: false };
        let p =
            prepare(&png(300, 200), "a.png", &DecodeLimits::default(), options).expect("a valid PNG should prepare");
        assert_eq!((p.width, p.height), (300, 200));
        assert_eq!(p.tensor.len(), INPUT_LEN);
        // Blue channel is 255 everywhere → (1 - 0.5) / 0.5 = 1; green 0 → -1.
        let plane = INPUT_LEN / 3;
        assert!(p.tensor[2 * plane..].iter().all(|&v| (v - 1.0).abs() < 1e-6));
        assert!(p.tensor[plane..2 * plane].iter().all(|&v| (v + 1.0).abs() < 1e-6));
        let seen = p.seen.expect("asked for the image");
        assert!(seen.starts_with("data:image/jpeg;base64,/9j/"), "{}", &seen[..40]);
    }

    #[test]
    fn background_removal_whitens_the_surroundings() {
        // A dark red ellipse on a mottled green field, as a phone photo of a shoe on grass.
        let img = RgbImage::from_fn(400, 300, |x, y| {
            let (dx, dy) = ((x as f32 - 200.0) / 120.0, (y as f32 - 150.0) / 60.0);
            if dx * dx + dy * dy < 1.0 {
                image::Rgb([150 + ((x * 7 + y * 3) % 20) as u8, 20, 30])
            } else {
                image::Rgb([60, 120 + ((x * 13 + y * 5) % 40) as u8, 50])
            }
        });
        let mut bytes = Vec::new();
        img.write_to(&mut Cursor::new(&mut bytes), image::ImageFormat::Png).expect("encode");
        let options = PrepareOptions { include_image: false, remove_background: true };
        let p = prepare(&bytes, "grass.png", &DecodeLimits::default(), options).expect("prepares");
        assert!(p.background_removed);
        assert!(p.background <= p.preprocess);
        // Top-left input pixel: white after removal, so 1.0 in every channel.
        let plane = INPUT_LEN / 3;
        assert!((0..3).all(|c| (p.tensor[c * plane] - 1.0).abs() < 1e-6));
        // Centre pixel is the red shoe: red channel high, green low.
        let centre = 112 * INPUT_SIZE as usize + 112;
        assert!(p.tensor[centre] > 0.0 && p.tensor[plane + centre] < -0.5);
    }

    #[test]
    fn bad_bytes_give_the_vision_error_naming_the_upload() {
        let err = prepare(b"hello", "note.txt", &DecodeLimits::default(), PrepareOptions::default())
            .expect_err("text is not an image");
        assert_eq!(err.kind(), "unsupported_format");
        assert!(err.to_string().contains("note.txt"), "{err}");
    }
}
