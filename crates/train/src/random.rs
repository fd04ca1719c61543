//! The `random` baseline: uniform probabilities over the M labels, so top-1 = 1/M and
//! log-loss = ln M. Its ONNX graph takes images like every other model, so `evaluate`,
//! `predict` and the server treat it the same way.

use std::time::Instant;

use sneaker_model::onnx::{Attr, BATCH, Dim, GraphBuilder};

use crate::error::Result;
use crate::fit::EpochRecord;
use crate::metrics;
use crate::pipeline::{Event, Request, finish, prepare};
use crate::run;

/// ONNX graph `input` [N,3,S,S] → `probs` [N,M] = 1/M everywhere.
///
/// The batch size has to flow from the input to the output, so the graph reduces the image to
/// one number per row, multiplies it by zero and broadcasts it against M zeros before softmax.
pub fn graph(classes: usize, size: usize) -> Result<Vec<u8>> {
    let mut g = GraphBuilder::new("uniform");
    g.set_doc(format!("uniform baseline over {classes} labels"));
    let x = g.input("input", &[BATCH, Dim::Fixed(3), Dim::Fixed(size), Dim::Fixed(size)])?;
    let m = g.node("ReduceMean", &[&x], vec![("axes", Attr::ints(&[1, 2, 3])), ("keepdims", Attr::Int(1))]);
    let m = g.node("Flatten", &[&m], vec![("axis", Attr::Int(1))]);
    let zero = g.scalar(0.0);
    let m = g.node("Mul", &[&m, &zero], vec![]);
    let zeros = g.initializer("zeros", &[1, classes], &vec![0.0; classes])?;
    let logits = g.node("Add", &[&m, &zeros], vec![]);
    let probs = g.node("Softmax", &[&logits], vec![("axis", Attr::Int(1))]);
    g.output(&probs, "probs", &[BATCH, Dim::Fixed(classes)])?;
    Ok(sneaker_model::onnx::encode(&g.finish()))
}

pub fn train(req: &Request<'_>, events: &mut dyn FnMut(Event)) -> Result<run::Summary> {
    let started = Instant::now();
    let p = prepare(req)?;
    let m = p.data.labels.len();
    run::atomic_write(&p.run.file(run::MODEL_ONNX), &graph(m, req.cfg.image_size as usize)?)?;
    let labels: Vec<usize> = p.val.iter().map(|&i| p.data.samples[i].label).collect();
    let (t1, t5, ll) = metrics::quick(&vec![1.0 / m as f32; labels.len() * m], m, &labels);
    let rec = EpochRecord {
        epoch: 1,
        lr: 0.0,
        train_loss: (m as f64).ln(),
        train_acc: 1.0 / m as f64,
        val_loss: ll,
        val_top1: t1,
        val_top5: t5,
        seconds: 0.0,
        train_images_per_s: 0.0,
    };
    events(Event::Note(format!("uniform over {m} labels: log-loss ln {m} = {ll:.3}")));
    finish(&p, &req.cfg, &Default::default(), &[rec], 1, 0.0, started)
}
