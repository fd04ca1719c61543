//! `finetune` end to end on a tiny generated catalog with the real pretrained network: a
//! bottleneck run, then one tuned block started from it, leaving a run folder whose
//! `model.onnx` ONNX Runtime serves; and the refusals (wrong init run, impossible block count).
//! Needs the ONNX Runtime asset (`make assets`).

use std::path::Path;
use std::sync::atomic::AtomicBool;

use sneaker_train::config::{AugmentConfig, ModelKind, TrainConfig};
use sneaker_train::onnx_backbone::OrtBackbone;
use sneaker_train::train::{Pretrained, Request, train};

/// `per_label` 64x48 shots per label: a coloured "shoe" on white, position varying per shot.
fn catalog(dir: &Path, labels: &[&str], per_label: u32) {
    for (li, l) in labels.iter().enumerate() {
        std::fs::create_dir_all(dir.join(l)).unwrap();
        for k in 0..per_label {
            let mut img = image::RgbImage::from_pixel(64, 48, image::Rgb([250, 250, 250]));
            for y in 14..34 {
                for x in (8 + k * 3)..(40 + k * 3) {
                    img.put_pixel(x, y, image::Rgb([(li * 120 % 256) as u8, 60, (220 - li * 90 % 220) as u8]));
                }
            }
            img.save(dir.join(l).join(format!("shot{k}.png"))).unwrap();
        }
    }
}

fn cfg(model: ModelKind, cache: &Path) -> TrainConfig {
    TrainConfig {
        model,
        epochs: 2,
        batch_size: 4,
        val_fraction: 0.25,
        warmup_epochs: 0,
        patience: 0,
        augment: AugmentConfig { draws: 1, ..AugmentConfig::none() },
        cache_dir: Some(cache.to_owned()),
        ..Default::default()
    }
}

#[test]
fn finetune_from_a_bottleneck_run_leaves_a_served_classifier() {
    let mut bb = match OrtBackbone::load() {
        Ok(b) => b,
        Err(e) => {
            eprintln!("skipped: ONNX Runtime assets not found ({e})");
            return;
        }
    };
    let dir = tempfile::tempdir().unwrap();
    let (data, cache) = (dir.path().join("cat"), dir.path().join("cache"));
    catalog(&data, &["blue_shoe", "red_shoe"], 4);
    let stop = AtomicBool::new(false);
    let bn = dir.path().join("bn");
    let req = Request {
        data: data.clone(),
        out: bn.clone(),
        cfg: cfg(ModelKind::Bottleneck, &cache),
        resume: false,
        stop: &stop,
    };
    train(&req, Some(&mut bb), &mut |_| {}).unwrap();

    let ft = dir.path().join("ft");
    let ft_cfg =
        TrainConfig { unfreeze_blocks: 1, init_from: Some(bn.clone()), lr: 1e-4, ..cfg(ModelKind::Finetune, &cache) };
    let req = Request { data: data.clone(), out: ft.clone(), cfg: ft_cfg.clone(), resume: false, stop: &stop };
    let mut notes = Vec::new();
    let s = train(&req, Some(&mut bb), &mut |e| {
        if let sneaker_train::train::Event::Note(n) = e {
            notes.push(n)
        }
    })
    .unwrap();
    assert_eq!(s.model, "finetune");
    assert_eq!(s.epochs_run, 2);
    assert!(notes.iter().any(|n| n.contains("activations after block 14")), "{notes:?}");
    // The run folder serves like a bottleneck run: one graph, probabilities over the labels.
    let mut runner = bb.open_classifier(&ft.join("model.onnx"), 2).unwrap();
    let x = vec![0.1f32; 3 * 224 * 224];
    let p = runner.run(&x, 1).unwrap();
    assert!((p.iter().sum::<f32>() - 1.0).abs() < 1e-5, "{p:?}");
    let (w, _) = sneaker_train::run::read_safetensors(&ft.join("weights.safetensors")).unwrap();
    assert!(w.contains_key("_blocks.15._project_conv.weight") && w.contains_key("head.fc0.weight"));
    assert!(!w.contains_key("_blocks.14._project_conv.weight"), "block 14 stays frozen");

    // A bottleneck run over other labels cannot start this one.
    let other = dir.path().join("other");
    catalog(&other, &["green_shoe", "red_shoe"], 4);
    let req = Request { data: other, out: dir.path().join("ft2"), cfg: ft_cfg.clone(), resume: false, stop: &stop };
    let e = train(&req, Some(&mut bb), &mut |_| {}).unwrap_err().to_string();
    assert!(e.contains("labels differ"), "{e}");
    // Unfreezing every block leaves nothing frozen to cache: a config error naming the setting.
    let req = Request {
        data,
        out: dir.path().join("ft3"),
        cfg: TrainConfig { unfreeze_blocks: 16, ..ft_cfg },
        resume: false,
        stop: &stop,
    };
    let e = train(&req, Some(&mut bb), &mut |_| {}).unwrap_err().to_string();
    assert!(e.contains("unfreeze_blocks"), "{e}");
}
