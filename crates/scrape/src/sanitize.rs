//! Turning names from the web into safe labels and file names.
//!
//! Labels are folder names under `OUT/images/`, so a hostile product name must not be able
//! to escape OUT (`../`, absolute paths, NUL), hit a Windows device name (`CON`, `NUL`,
//! `COM1`), exceed file name limits, or pass for another product through Unicode
//! look-alikes. The rule is a whitelist: transliterate to ASCII (so `é` becomes `e` and
//! the Cyrillic `і` in `Nіke` becomes `i`), keep `[a-z0-9]`, turn every other run into one
//! `_`. Look-alikes therefore sanitise to the *same* label as the real name, and
//! [`LabelBook`] gives the second product a distinct suffix instead of overwriting.

use std::collections::HashMap;

use sha2::{Digest, Sha256};

/// Longest label, in bytes; leaves room for suffixes under the usual 255-byte limit.
pub const MAX_LABEL_LEN: usize = 80;

const DEVICE_NAMES: [&str; 22] = [
    "con", "prn", "aux", "nul", "com1", "com2", "com3", "com4", "com5", "com6", "com7", "com8", "com9", "lpt1", "lpt2",
    "lpt3", "lpt4", "lpt5", "lpt6", "lpt7", "lpt8", "lpt9",
];

/// A label from any string: `[a-z0-9_]`, at most [`MAX_LABEL_LEN`] bytes, never empty, never
/// a device name. Names with no usable letters get `product_<hash>` so they stay distinct.
pub fn label_from(name: &str) -> String {
    let ascii = deunicode::deunicode(name).to_ascii_lowercase();
    let mut label = String::with_capacity(ascii.len().min(MAX_LABEL_LEN));
    for c in ascii.chars() {
        if label.len() >= MAX_LABEL_LEN {
            break;
        }
        if c.is_ascii_alphanumeric() {
            label.push(c);
        } else if !label.is_empty() && !label.ends_with('_') {
            label.push('_');
        }
    }
    let label = label.trim_end_matches('_').to_owned();
    if label.is_empty() {
        return format!("product_{}", short_hash(name));
    }
    if DEVICE_NAMES.contains(&label.as_str()) {
        return format!("{label}_");
    }
    label
}

/// StockX-style URL slug for `{slug}` in templates: words of the ASCII name joined by `-`,
/// case kept ("Nike Air Max 90" becomes `Nike-Air-Max-90`).
pub fn url_slug(name: &str) -> String {
    let ascii = deunicode::deunicode(name);
    ascii.split(|c: char| !c.is_ascii_alphanumeric()).filter(|w| !w.is_empty()).collect::<Vec<_>>().join("-")
}

fn short_hash(s: &str) -> String {
    hex::encode(&Sha256::digest(s.as_bytes())[..4])
}

/// Which product owns which label; a second product whose name sanitises alike gets
/// `label_2`, `label_3`, ... in the order products are recorded, which is deterministic
/// (the crawl records products in discovery order, and the journal replays that order).
#[derive(Debug, Default)]
pub struct LabelBook {
    owner: HashMap<String, String>,
}

impl LabelBook {
    /// Records that `key` (a product identity) owns `label`, as read back from the journal.
    pub fn insert(&mut self, label: &str, key: &str) {
        self.owner.insert(label.to_owned(), key.to_owned());
    }

    /// The label for product `key` wanting `wanted` (already sanitised).
    pub fn assign(&mut self, key: &str, wanted: &str) -> String {
        let mut candidate = wanted.to_owned();
        let mut n = 1;
        loop {
            match self.owner.get(&candidate) {
                Some(owner) if owner == key => return candidate,
                None => {
                    self.owner.insert(candidate.clone(), key.to_owned());
                    return candidate;
                }
                Some(_) => {
                    n += 1;
                    candidate = format!("{wanted}_{n}");
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn hostile_names_become_plain_labels() {
        assert_eq!(label_from("Nike Air Max 90 'Infrared'"), "nike_air_max_90_infrared");
        assert_eq!(label_from("../../etc/passwd"), "etc_passwd");
        assert_eq!(label_from("/abs/path"), "abs_path");
        assert_eq!(label_from("Air\0Max"), "air_max");
        assert_eq!(label_from("CON"), "con_");
        assert_eq!(label_from("Café Blanc"), "cafe_blanc");
        // Cyrillic "і" (U+0456) in "Nіke" transliterates to Latin: same label as "Nike".
        assert_eq!(label_from("N\u{0456}ke Dunk"), label_from("Nike Dunk"));
        // Fullwidth solidus and one-dot leader look like "/" and ".".
        assert_eq!(label_from("a\u{FF0F}\u{2024}\u{2024}\u{FF0F}b"), "a_b");
        assert_eq!(label_from(&"x".repeat(1000)).len(), MAX_LABEL_LEN);
        let blank = label_from("/// ...");
        assert!(blank.starts_with("product_") && blank != label_from("..."), "{blank}");
    }

    #[test]
    fn look_alikes_do_not_overwrite() {
        let mut book = LabelBook::default();
        assert_eq!(book.assign("https://a/nike-dunk", &label_from("Nike Dunk")), "nike_dunk");
        assert_eq!(book.assign("https://a/n\u{0456}ke-dunk", &label_from("N\u{0456}ke Dunk")), "nike_dunk_2");
        assert_eq!(book.assign("https://a/nike-dunk", "nike_dunk"), "nike_dunk", "same product, same label");
    }

    #[test]
    fn url_slugs_keep_case() {
        assert_eq!(url_slug("Nike Air Max 90 (Infrared)"), "Nike-Air-Max-90-Infrared");
    }

    proptest! {
        #[test]
        fn any_name_gives_a_safe_label(name in "\\PC{0,300}") {
            let label = label_from(&name);
            prop_assert!(!label.is_empty() && label.len() <= MAX_LABEL_LEN + 9);
            prop_assert!(label.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_'));
            prop_assert!(sneaker_catalog::is_valid_label(&label));
            prop_assert!(!DEVICE_NAMES.contains(&label.as_str()));
        }
    }
}
