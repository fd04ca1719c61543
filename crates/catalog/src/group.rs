//! The group of a photo whose catalog does not name one: which photos show the same physical
//! product, so a train / validation split can keep them on one side.

/// A scraped product's photos are one spin or gallery of one product: the label is the group.
pub(crate) fn of_product(label: &str) -> String {
    label.to_owned()
}

/// In a label folder, photos annotated with the same colourway are taken as one product.
pub(crate) fn of_colorway(label: &str, colorway: &str) -> String {
    format!("{label}/{colorway}")
}

/// Otherwise the file name tells: its stem with a trailing one- or two-digit view number
/// (`shoe-2`, `shoe_03`) removed, so the views of one shoot fall together. Longer numbers
/// (`kg_0001`) are serial numbers of unrelated photos and stay.
pub(crate) fn of_file_name(label: &str, name: &str) -> String {
    let stem = name.rsplit_once('.').map_or(name, |(stem, _)| stem);
    let trimmed = stem.trim_end_matches(|c: char| c.is_ascii_digit());
    let digits = stem.len() - trimmed.len();
    let base = if (1..=2).contains(&digits) && (trimmed.ends_with('-') || trimmed.ends_with('_')) {
        trimmed.trim_end_matches(['-', '_'])
    } else {
        stem
    };
    format!("{label}/{base}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn view_suffix_is_dropped_from_file_name_groups() {
        assert_eq!(of_file_name("x", "RunningAdizero-3.jpg"), "x/RunningAdizero");
        assert_eq!(of_file_name("x", "shoe_03.png"), "x/shoe");
        assert_eq!(of_file_name("x", "kg_0001.jpg"), "x/kg_0001");
        assert_eq!(of_file_name("x", "shoe.jpg"), "x/shoe");
        assert_eq!(of_file_name("x", "shot7-1.png"), "x/shot7");
        assert_eq!(of_file_name("x", "noext"), "x/noext");
    }
}
