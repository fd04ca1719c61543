//! `sync_catalog` on a real label-folder catalog with the real pretrained network: the first
//! update embeds every photo and keeps a thumbnail of each; the second loads no network and
//! embeds nothing; a changed photo is re-embedded and a deleted one leaves the gallery; photos
//! enrolled from elsewhere stay.

use std::path::Path;

use sneaker_catalog::Catalog;
use sneaker_gallery::{Embedder, Entry, Gallery, GalleryConfig, sync_catalog, thumbnail_path};
use sneaker_model::assets::Assets;
use sneaker_vision::DecodeLimits;

fn photo(path: &Path, seed: u8) {
    let img = image::RgbImage::from_fn(96, 64, |x, y| {
        image::Rgb([(x as u8).wrapping_mul(seed), (y as u8).wrapping_add(seed), seed.wrapping_mul(40)])
    });
    img.save(path).expect("writing a photo");
}

#[test]
fn a_catalog_update_embeds_only_what_changed() {
    let assets = Assets::locate().expect("network assets should be present: run `make assets`");
    let dir = tempfile::tempdir().expect("temp dir");
    let catalog_dir = dir.path().join("catalog");
    for (label, seeds) in [("red_runner", [3u8, 5]), ("blue_court", [7, 9])] {
        std::fs::create_dir_all(catalog_dir.join(label)).expect("label folder");
        for s in seeds {
            photo(&catalog_dir.join(label).join(format!("{s}.png")), s);
        }
    }
    let gallery_dir = dir.path().join("gallery");
    let limits = DecodeLimits::default();
    let load = || Embedder::pretrained(&assets);
    let mut embedder = Embedder::pretrained(&assets).expect("the pretrained network loads");
    let mut gallery = Gallery::new(embedder.model_id(), embedder.dim(), GalleryConfig::default());
    // A photo enrolled from the page: no catalog update may drop it.
    let upload = image::RgbImage::from_pixel(64, 64, image::Rgb([10, 200, 10]));
    let v = embedder.embed_image(&upload).expect("embedding");
    gallery.add(Entry { label: "page_shoe".into(), source: "upload:a.jpg".into(), sha256: None }, &v).expect("add");

    let catalog = Catalog::open(&catalog_dir).expect("catalog");
    let first =
        sync_catalog(&mut gallery, load, &catalog, &limits, Some(&gallery_dir), &mut |_| {}).expect("first update");
    assert_eq!((first.enrolled.added, first.removed), (4, 0));
    assert_eq!(gallery.len(), 5);
    for e in gallery.entries().iter().filter(|e| !e.source.starts_with("upload:")) {
        let sha = e.sha256.as_deref().expect("catalog photos carry their hash");
        assert!(thumbnail_path(&gallery_dir, sha).is_some_and(|p| p.is_file()), "no thumbnail for {}", e.source);
    }

    let never = || -> sneaker_gallery::Result<Embedder> { panic!("an unchanged catalog must not load the network") };
    let second = sync_catalog(&mut gallery, never, &catalog, &limits, None, &mut |_| {}).expect("second update");
    assert_eq!((second.enrolled.added, second.enrolled.already_enrolled, second.removed), (0, 4, 0));

    photo(&catalog_dir.join("red_runner/3.png"), 11); // changed in place
    std::fs::remove_file(catalog_dir.join("blue_court/9.png")).expect("deleting a photo");
    let catalog = Catalog::open(&catalog_dir).expect("catalog");
    let third = sync_catalog(&mut gallery, load, &catalog, &limits, None, &mut |_| {}).expect("third update");
    assert_eq!((third.enrolled.added, third.removed), (1, 2));
    assert_eq!(gallery.len(), 4);
    assert!(gallery.entries().iter().any(|e| e.label == "page_shoe"), "the enrolled photo stayed");
    assert_eq!(gallery.counts().get("blue_court"), Some(&1));
}
