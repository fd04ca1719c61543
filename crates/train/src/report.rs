//! `report`: the comparison table of several runs (Markdown + PNG bar chart), from each run's
//! `summary.json` and the evaluations saved under `RUN/eval/<set>/scores.json`.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::error::{Result, TrainError};
use crate::plot;
use crate::run::RunDir;

/// Sub-folder of a run where `evaluate` stores one folder per evaluated set.
pub use sneaker_model::run_layout::EVAL_DIR;

#[derive(Debug, Deserialize)]
struct SavedScores {
    top1: f64,
    top5: f64,
    log_loss: f64,
    n: usize,
}

/// One evaluated set of one run.
#[derive(Debug, Clone, PartialEq)]
pub struct SetScore {
    pub set: String,
    pub n: usize,
    pub top1: f64,
    pub top5: f64,
    pub log_loss: f64,
}

/// One row of the table.
#[derive(Debug, Clone, PartialEq)]
pub struct RunRow {
    pub run: PathBuf,
    pub model: String,
    pub val_top1: f64,
    pub val_log_loss: f64,
    pub wall_seconds: f64,
    pub train_images_per_s: f64,
    pub sets: Vec<SetScore>,
}

/// Reads what `report` needs from one run folder.
pub fn read_run(path: &Path) -> Result<RunRow> {
    let run = RunDir::open(path)?;
    let s = run.summary()?;
    let mut sets = Vec::new();
    let eval = path.join(EVAL_DIR);
    if let Ok(entries) = std::fs::read_dir(&eval) {
        let mut names: Vec<_> = entries.filter_map(|e| e.ok()).map(|e| e.path()).collect();
        names.sort();
        for dir in names {
            let file = dir.join(sneaker_model::run_layout::SCORES);
            if let Ok(text) = std::fs::read_to_string(&file) {
                let v: SavedScores = serde_json::from_str(&text).map_err(|e| TrainError::parse(&file, e))?;
                let set = dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
                sets.push(SetScore { set, n: v.n, top1: v.top1, top5: v.top5, log_loss: v.log_loss });
            }
        }
    }
    Ok(RunRow {
        run: path.to_owned(),
        model: s.model,
        val_top1: s.val_top1,
        val_log_loss: s.val_log_loss,
        wall_seconds: s.wall_seconds,
        train_images_per_s: s.train_images_per_s,
        sets,
    })
}

/// The Markdown table: one row per run, validation numbers then top-1 / log-loss per set.
pub fn markdown(rows: &[RunRow]) -> String {
    let sets: BTreeSet<&str> = rows.iter().flat_map(|r| r.sets.iter().map(|s| s.set.as_str())).collect();
    let mut out = String::from("| run | model | val top-1 | val log-loss | train s | img/s |");
    let mut rule = String::from("|---|---|---|---|---|---|");
    for s in &sets {
        out.push_str(&format!(" {s} top-1 | {s} top-5 | {s} log-loss |"));
        rule.push_str("---|---|---|");
    }
    out.push('\n');
    out.push_str(&rule);
    out.push('\n');
    for r in rows {
        out.push_str(&format!(
            "| {} | {} | {:.3} | {:.3} | {:.0} | {:.0} |",
            r.run.file_name().map(|n| n.to_string_lossy()).unwrap_or_default(),
            r.model,
            r.val_top1,
            r.val_log_loss,
            r.wall_seconds,
            r.train_images_per_s
        ));
        for s in &sets {
            match r.sets.iter().find(|x| x.set == *s) {
                Some(x) => out.push_str(&format!(" {:.3} | {:.3} | {:.3} |", x.top1, x.top5, x.log_loss)),
                None => out.push_str(" – | – | – |"),
            }
        }
        out.push('\n');
    }
    out
}

/// Bar chart of every (run, set) top-1 into `path`.
pub fn chart(rows: &[RunRow], path: &Path) -> Result<()> {
    let mut items = Vec::new();
    for r in rows {
        let name = r.run.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        items.push((format!("{name} (validation)"), r.val_top1));
        for s in &r.sets {
            items.push((format!("{name} ({})", s.set), s.top1));
        }
    }
    plot::bars(path, "top-1 accuracy", &items)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::run::Summary;

    #[test]
    fn table_lists_runs_and_their_sets() {
        let dir = tempfile::tempdir().unwrap();
        let run = RunDir::create(&dir.path().join("bn")).unwrap();
        run.write_labels(&["a".into(), "b".into()]).unwrap();
        run.write_summary(&Summary {
            model: "bottleneck".into(),
            val_top1: 0.8,
            val_log_loss: 0.7,
            ..Default::default()
        })
        .unwrap();
        let set = run.path.join(EVAL_DIR).join("wild");
        std::fs::create_dir_all(&set).unwrap();
        std::fs::write(set.join("scores.json"), r#"{"top1":0.5,"top5":0.9,"log_loss":1.5,"n":10,"extra":1}"#).unwrap();
        let rows = vec![read_run(&run.path).unwrap()];
        let md = markdown(&rows);
        assert!(md.contains("| bn | bottleneck | 0.800 | 0.700 |"), "{md}");
        assert!(md.contains("wild top-1") && md.contains("0.500"), "{md}");
        chart(&rows, &dir.path().join("r.png")).unwrap();
    }
}
