//! Image input shared by predict, train and serve: decode untrusted bytes with limits, apply
//! EXIF orientation, resize like PIL bilinear, and normalise into the network's input tensor;
//! crop to a region and cut the shoe out of its background.

mod background;
mod colour;
mod decode;
mod error;
mod formats;
mod region;
mod tensor;

pub use background::{BACKGROUND_REMOVAL_AVAILABLE, Cutout, CutoutConfig, composite_on_white, remove_background};
pub use colour::{COLOUR_DIM, colour_descriptor, colour_descriptor_chw};
pub use decode::{DecodeLimits, decode_bytes, decode_bytes_for_input, decode_file, decode_file_for_input};
pub use error::{Result, VisionError};
pub use formats::{IMAGE_EXTENSIONS, SUPPORTED_FORMATS, image_extension, is_image_path};
pub use region::{Rect, crop};
pub use tensor::{
    INPUT_LEN, INPUT_SIZE, NORM_MEAN, NORM_STD, normalise_into, resize_exact, to_input_tensor, to_tensor,
};
