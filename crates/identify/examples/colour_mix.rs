//! Where the gallery's colour weight should sit: few-shot top-1 (K = 1, 3; 10 seeded draws) on
//! each photo set for the default `ColourMix`, shape alone, and a grid of other curves, so the
//! default is chosen against both kinds of "same product" at once (another colourway of a model,
//! another view of a colourway).
//!
//! `cargo run --release -p sneaker-identify --example colour_mix -- [--model RUN] [--exclude LABELS.json] DIR...`

use std::path::PathBuf;

use sneaker_gallery::{ColourMix, Embedder, Similarity, read_photo};
use sneaker_identify::fewshot;
use sneaker_model::assets::Assets;
use sneaker_model::colourway::colour_dims;
use sneaker_vision::{DecodeLimits, to_input_tensor};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let (mut model, mut exclude, mut dirs) = (None, Vec::<String>::new(), Vec::new());
    while let Some(a) = args.next() {
        match a.as_str() {
            "--model" => model = args.next().map(PathBuf::from),
            "--exclude" => {
                let text = std::fs::read_to_string(args.next().ok_or("--exclude FILE")?)?;
                exclude = serde_json::from_str(&text)?;
            }
            _ => dirs.push(PathBuf::from(a)),
        }
    }
    let assets = Assets::locate()?;
    let mut embedder = match &model {
        Some(run) => Embedder::from_run(&assets, run)?,
        None => Embedder::pretrained(&assets)?,
    };
    let colour = colour_dims(embedder.model_id());
    let mut mixes = vec![("default".to_owned(), Some(ColourMix::default())), ("shape only".to_owned(), None)];
    for threshold in [0.55f32, 0.65, 0.75, 0.85] {
        // The shape gate alone (the palette gate never opens).
        let m = ColourMix { threshold, margin: 10.0, ..ColourMix::default() };
        mixes.push((format!("shape gate {threshold}, no palette gate"), Some(m)));
    }
    for margin in [0.08f32, 0.1, 0.12, 0.15, 0.2] {
        let m = ColourMix { margin, ..ColourMix::default() };
        mixes.push((format!("palette gate {margin}"), Some(m)));
    }
    for w in [0.1f32, 0.3] {
        // A constant weight: both gates always open.
        let m = ColourMix { threshold: 10.0, softness: 1.0, margin: -10.0, margin_softness: 1.0, max_weight: w };
        mixes.push((format!("constant w={w}"), Some(m)));
    }
    let limits = DecodeLimits::default();
    let mut rows: Vec<Vec<String>> = vec![Vec::new(); mixes.len()];
    let mut header = String::from("| mix |");
    for dir in &dirs {
        let catalog = sneaker_catalog::Catalog::open(dir)?;
        let (mut vectors, mut labels) = (Vec::new(), Vec::new());
        for image in catalog.images().iter().filter(|i| !exclude.contains(&i.label)) {
            let (_, photo) = read_photo(&catalog.path_of(image), &limits)?;
            vectors.extend(embedder.embed_tensors(&[to_input_tensor(&photo)])?);
            labels.push(image.label.clone());
        }
        let mut best: Vec<f32> = (0..vectors.len())
            .map(|q| {
                let others: Vec<&[f32]> =
                    (0..vectors.len()).filter(|&j| j != q).map(|j| &vectors[j][..vectors[j].len() - colour]).collect();
                let each_its_own: Vec<usize> = (0..others.len()).collect();
                Similarity::cosine()
                    .scores(&vectors[q][..vectors[q].len() - colour], &others, &each_its_own)
                    .into_iter()
                    .fold(f32::MIN, f32::max)
            })
            .collect();
        best.sort_by(f32::total_cmp);
        let pct = |p: f32| best[((best.len() - 1) as f32 * p) as usize];
        eprintln!(
            "{}: best shape similarity to another photo p10 {:.3} p25 {:.3} p50 {:.3} p75 {:.3} p90 {:.3}",
            dir.display(),
            pct(0.1),
            pct(0.25),
            pct(0.5),
            pct(0.75),
            pct(0.9)
        );
        let name = dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        header.push_str(&format!(" {name} K=1 | K=3 |"));
        for (row, (_, mix)) in rows.iter_mut().zip(&mixes) {
            let (vs, similarity) = match mix {
                Some(mix) => (vectors.clone(), Similarity { mix: *mix, colour_dims: colour }),
                None => (vectors.iter().map(|v| v[..v.len() - colour].to_vec()).collect(), Similarity::cosine()),
            };
            for shots in [1, 3] {
                let r = fewshot::evaluate(&vs, &labels, shots, 10, 7, &similarity);
                row.push(r.map(|r| format!("{:.3}", r.top1)).unwrap_or_else(|_| "–".into()));
            }
        }
    }
    println!("{header}");
    for ((name, _), row) in mixes.iter().zip(&rows) {
        println!("| {name} | {} |", row.join(" | "));
    }
    Ok(())
}
