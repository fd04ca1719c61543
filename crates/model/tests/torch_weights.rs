//! The real EfficientNet-Lite0 checkpoint through the legacy torch reader and safetensors, and
//! corrupted copies of it, which must all give errors naming the file, never panics.

use std::path::PathBuf;

use sneaker_model::{DType, ModelError, StateDict, safetensors_io, torch_legacy};

/// `$SNEAKER_ID_ASSETS/efficientnet-lite0-57934424.pth`, else the default asset cache.
fn weights_path() -> Option<PathBuf> {
    let dir = match std::env::var_os("SNEAKER_ID_ASSETS").filter(|d| !d.is_empty()) {
        Some(dir) => PathBuf::from(dir),
        None => PathBuf::from(std::env::var_os("HOME")?).join(".cache/sneaker-id/assets"),
    };
    let path = dir.join("efficientnet-lite0-57934424.pth");
    if path.is_file() {
        Some(path)
    } else {
        eprintln!("skipped: weights not found at {}, run make assets", path.display());
        None
    }
}

fn f32_values(dict: &StateDict, name: &str) -> Vec<f32> {
    dict[name].to_f32().expect("an f32 tensor")
}

fn sum(values: &[f32]) -> f64 {
    values.iter().map(|&v| f64::from(v)).sum()
}

#[test]
fn real_checkpoint_loads_and_round_trips() {
    let Some(path) = weights_path() else { return };
    let dict = torch_legacy::load(&path).expect("the published checkpoint loads");
    assert_eq!(dict.len(), 296);
    let shape = |name: &str| dict[name].shape.clone();
    assert_eq!(shape("_conv_stem.weight"), [32, 3, 3, 3]);
    assert_eq!(shape("_blocks.0._depthwise_conv.weight"), [32, 1, 3, 3]);
    assert_eq!(shape("_blocks.15._project_conv.weight"), [320, 1152, 1, 1]);
    assert_eq!(shape("_conv_head.weight"), [1280, 320, 1, 1]);
    assert_eq!(shape("_fc.weight"), [1000, 1280]);
    assert_eq!(shape("_fc.bias"), [1000]);
    let tracked = &dict["_bn0.num_batches_tracked"];
    assert_eq!((tracked.dtype, tracked.shape.len()), (DType::I64, 0));
    assert_eq!(tracked.data, 0i64.to_le_bytes());
    let f32_count = dict.values().filter(|t| t.dtype == DType::F32).count();
    assert_eq!(f32_count + dict.values().filter(|t| t.dtype == DType::I64).count(), 296);

    // Expected values from Python's stdlib only (no torch), reading the same file; note the
    // strides: 50 convolution weights are stored channels-last, e.g. the stem's stride is
    // (1, 32, 288, 96).
    //   class U(pickle.Unpickler):
    //       def find_class(self, mod, name):
    //           if (mod, name) == ('torch._utils', '_rebuild_tensor_v2'):
    //               return lambda s, off, size, stride, *rest: (s, off, size, stride)
    //           return name if mod == 'torch' else super().find_class(mod, name)
    //       def persistent_load(self, pid): return pid
    //   for _ in range(3): U(f).load()
    //   sd = U(f).load(); keys = U(f).load()
    //   data = {k: f.read(struct.unpack('<q', f.read(8))[0] * 4) for k in keys}  # (i64: * 8)
    //   def vals(name):
    //       (_, _, key, _, _, _), off, size, stride = sd[name]
    //       return [struct.unpack_from('<f', data[key], 4 * (off + sum(i * s for i, s in
    //               zip(idx, stride))))[0] for idx in itertools.product(*map(range, size))]
    //   vals('_conv_stem.weight')[:3]
    //       == [-1.1103360652923584, -1.3087704181671143, -0.010156914591789246]
    //   sum(vals('_conv_stem.weight')) == -26.811376610887237
    //   vals('_blocks.0._depthwise_conv.weight')[:2] == [-0.16969285905361176, 0.2102574110031128]
    //   vals('_fc.bias')[770] == 0.021513521671295166; sum(vals('_fc.weight')) == -470.63256730128705
    //   vals('_blocks.15._project_conv.weight')[-1] == -0.04374096170067787
    let wide = |v: &[f32]| v.iter().map(|&x| f64::from(x)).collect::<Vec<_>>();
    let stem = f32_values(&dict, "_conv_stem.weight");
    assert_eq!(wide(&stem[..3]), [-1.1103360652923584, -1.3087704181671143, -0.010156914591789246]);
    assert!((sum(&stem) - -26.811376610887237).abs() < 1e-9);
    let depthwise = f32_values(&dict, "_blocks.0._depthwise_conv.weight");
    assert_eq!(wide(&depthwise[..2]), [-0.16969285905361176, 0.2102574110031128]);
    assert_eq!(f64::from(f32_values(&dict, "_fc.bias")[770]), 0.021513521671295166);
    assert!((sum(&f32_values(&dict, "_fc.weight")) - -470.63256730128705).abs() < 1e-9);
    let project = f32_values(&dict, "_blocks.15._project_conv.weight");
    assert_eq!(project.last().map(|&v| f64::from(v)), Some(-0.04374096170067787));

    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("efficientnet-lite0.safetensors");
    safetensors_io::convert(&path, &out).expect("convert");
    assert_eq!(safetensors_io::load(&out).expect("load safetensors"), dict);
}

/// Truncations all over the header, and some in the data; flipped bytes in the pickles; a wrong
/// magic number. Each copy must give `BadWeights` naming the file.
#[test]
fn corrupted_checkpoints_are_errors() {
    let Some(path) = weights_path() else { return };
    let good = std::fs::read(&path).expect("read checkpoint");
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("broken.pth");
    let check = |bytes: &[u8], what: &str| {
        std::fs::write(&file, bytes).expect("write copy");
        match torch_legacy::load(&file) {
            Err(e @ ModelError::BadWeights { .. }) => {
                assert!(e.to_string().contains("broken.pth"), "{what}: {e}");
            }
            other => panic!("{what}: expected BadWeights, got {other:?}"),
        }
    };
    // The pickles end near byte 47,000; the storages fill the remaining 18.8 MB.
    let header_end = 47_176;
    for n in (0..header_end + 64).step_by(97) {
        check(&good[..n], &format!("truncated to {n}"));
    }
    for n in [header_end + 8, good.len() / 2, good.len() - 4, good.len() - 1] {
        check(&good[..n], &format!("truncated to {n}"));
    }
    let mut bad_magic = good.clone();
    bad_magic[4] ^= 0x20;
    check(&bad_magic, "wrong magic");
    check(b"", "empty file");
    // Bytes from a fixed xorshift stream: not a pickle.
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let random: Vec<u8> = (0..4096)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        })
        .collect();
    check(&random, "random bytes");

    // Flips inside the pickles may still give a valid file (a changed float or name), so these
    // only require no panic. Few, as each valid one is a full load; the unit tests' proptest
    // flips bytes of a small synthetic file far more often.
    for at in (0..header_end).step_by(5897) {
        let mut copy = good.clone();
        copy[at] ^= 0xff;
        std::fs::write(&file, &copy).expect("write copy");
        if let Err(e) = torch_legacy::load(&file) {
            assert!(e.to_string().contains("broken.pth"), "flip at {at}: {e}");
        }
    }
    // The element count of the first storage, just after the key list.
    let mut copy = good.clone();
    copy[header_end] ^= 0x01;
    check(&copy, "storage count");
    // A huge count for the first storage: refused before anything is allocated.
    let mut copy = good;
    copy[header_end + 6] = 0x7f;
    check(&copy, "huge storage count");
}
