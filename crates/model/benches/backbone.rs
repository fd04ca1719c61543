//! Forward speed of the EfficientNet-Lite0 backbone on ONNX Runtime (CPU): latency at batch 1 and
//! throughput at batch 32. Needs the fetched assets (`make assets`).

use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use ndarray::Array4;
use sneaker_model::assets::Assets;
use sneaker_model::runtime::{Backbone, SessionConfig};

/// An image-like input in the normalised range; the speed of a dense CNN does not depend on values.
fn batch(n: usize) -> Array4<f32> {
    Array4::from_shape_fn((n, 3, 224, 224), |(b, c, y, x)| ((x * (c + 1) + y * 3 + b) % 255) as f32 / 127.5 - 1.0)
}

fn forward(c: &mut Criterion) {
    let assets = Assets::locate().expect("assets present (run `make assets`)");
    let cores = SessionConfig::default().intra_threads;
    let mut group = c.benchmark_group("efficientnet_lite0_forward");
    group.sample_size(10).measurement_time(Duration::from_secs(10));
    // All cores (the default) and one thread, which is what each of several parallel sessions gets.
    for threads in if cores > 1 { vec![cores, 1] } else { vec![1] } {
        let config = SessionConfig { intra_threads: threads, ..SessionConfig::default() };
        let mut net = Backbone::load_with(&assets, &config).expect("backbone loads");
        for n in [1usize, 32] {
            let input = batch(n);
            group.throughput(Throughput::Elements(n as u64));
            group.bench_function(format!("batch{n}/threads{threads}"), |b| {
                b.iter(|| net.run(input.view()).expect("forward runs"));
            });
        }
    }
    group.finish();
}

criterion_group!(benches, forward);
criterion_main!(benches);
