//! `catalog report` on a small hand-made catalog (duplicates, a truncated file, a tiny
//! image) and, when present, on ../shared/datasets/sneakers50.

use std::path::Path;

use sneaker_catalog::report::{REPORT_MD, write_report};

fn jpeg(path: &Path, side: u32, shade: u8) {
    std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
    image::RgbImage::from_fn(side, side, |x, _| image::Rgb([shade, (x % 256) as u8, 0])).save(path).expect("save jpeg");
}

const CHARTS: [&str; 5] =
    ["images_per_label.png", "top_pairs_sold.png", "views_per_product.png", "angle_coverage.png", "quality.png"];

fn assert_charts(out: &Path) {
    for name in CHARTS {
        let img = image::open(out.join(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!((img.width(), img.height()), (1000, 600), "{name}");
        // A chart, not a blank canvas: some pixels are not white.
        assert!(img.to_rgb8().pixels().any(|p| p.0 != [255, 255, 255]), "{name} is blank");
    }
}

#[test]
fn report_finds_duplicates_and_rejects() {
    let dir = tempfile::tempdir().expect("temp dir");
    let cat = dir.path().join("catalog");
    jpeg(&cat.join("a/1.jpg"), 64, 10);
    jpeg(&cat.join("a/2.jpg"), 64, 20);
    jpeg(&cat.join("b/1.jpg"), 64, 30);
    std::fs::copy(cat.join("a/1.jpg"), cat.join("b/same_as_a1.jpg")).expect("copy");
    jpeg(&cat.join("b/tiny.jpg"), 8, 40);
    let whole = std::fs::read(cat.join("a/2.jpg")).expect("read");
    std::fs::write(cat.join("b/cut.jpg"), &whole[..whole.len() / 2]).expect("write truncated");

    let out = dir.path().join("report");
    let stats = write_report(&cat, &out, 32).expect("report");
    assert_eq!((stats.labels, stats.images), (2, 6));
    assert_eq!(stats.per_label, vec![("a".to_string(), 2), ("b".to_string(), 4)]);
    assert_eq!(stats.duplicate_groups, vec![vec!["a/1.jpg".to_string(), "b/same_as_a1.jpg".to_string()]]);
    let mut rejected: Vec<(&str, &str)> = stats.rejected.iter().map(|r| (r.file.as_str(), r.kind.as_str())).collect();
    rejected.sort();
    assert_eq!(rejected, [("b/cut.jpg", "corrupt"), ("b/tiny.jpg", "too_small")]);
    let md = std::fs::read_to_string(out.join(REPORT_MD)).expect("markdown");
    assert!(md.contains("| labels | 2 |") && md.contains("span more than one label"), "{md}");
    assert_charts(&out);
}

#[test]
fn report_on_sneakers50() {
    let Some(shared) = sneaker_test_support::shared("datasets/sneakers50") else { return };
    let dir = shared.join("datasets/sneakers50");
    let out = tempfile::tempdir().expect("temp dir");
    let stats = write_report(&dir, out.path(), 32).expect("report");
    // ../shared/datasets/README.md: 50 labels, 4212 images, 32 / 77 / 165 per label.
    assert_eq!((stats.labels, stats.images), (50, 4212));
    let counts: Vec<usize> = stats.per_label.iter().map(|p| p.1).collect();
    assert_eq!((counts.iter().min(), counts.iter().max()), (Some(&32), Some(&165)));
    assert_charts(out.path());
}
