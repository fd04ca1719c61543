//! Weights as safetensors files: the torch checkpoint is converted once, then every later run
//! reads this simple, bounds-checked format (via the `safetensors` crate) instead of pickles.

use std::collections::HashMap;
use std::path::Path;

use safetensors::tensor::{Dtype, SafeTensors, TensorView};

use crate::{DType, ModelError, Result, StateDict, Tensor, torch_legacy};

/// Writes `dict` to `path` atomically: a crash leaves the old file or the new one, never half.
pub fn save(dict: &StateDict, path: &Path) -> Result<()> {
    let bad = |detail: String| ModelError::BadWeights { path: path.to_path_buf(), detail };
    let mut views = Vec::with_capacity(dict.len());
    for (name, t) in dict {
        let expected = t.shape.iter().try_fold(t.dtype.size(), |a, &d| a.checked_mul(d));
        if expected != Some(t.data.len()) {
            return Err(ModelError::Mismatch(format!(
                "{name}: {} bytes of {:?} for shape {:?}",
                t.data.len(),
                t.dtype,
                t.shape
            )));
        }
        let dtype = match t.dtype {
            DType::F32 => Dtype::F32,
            DType::I64 => Dtype::I64,
        };
        let view = TensorView::new(dtype, t.shape.clone(), &t.data).map_err(|e| bad(format!("{name}: {e}")))?;
        views.push((name.as_str(), view));
    }
    let metadata = HashMap::from([("format".to_string(), "pt".to_string())]);
    let bytes = safetensors::serialize(views, Some(metadata)).map_err(|e| bad(e.to_string()))?;
    sneaker_files::write_atomic(path, &bytes).map_err(|source| ModelError::Io { path: path.to_owned(), source })?;
    tracing::debug!(path = %path.display(), tensors = dict.len(), bytes = bytes.len(), "wrote safetensors");
    Ok(())
}

/// Reads a safetensors file written by [`save`] (or any with only f32/i64 tensors).
pub fn load(path: &Path) -> Result<StateDict> {
    let bad = |detail: String| ModelError::BadWeights { path: path.to_path_buf(), detail };
    let bytes = crate::error::read_weight_file(path)?;
    let file = SafeTensors::deserialize(&bytes).map_err(|e| bad(e.to_string()))?;
    let mut dict = StateDict::new();
    for (name, view) in file.iter() {
        let dtype = match view.dtype() {
            Dtype::F32 => DType::F32,
            Dtype::I64 => DType::I64,
            other => return Err(bad(format!("{name}: unsupported element type {other}"))),
        };
        let tensor = Tensor { dtype, shape: view.shape().to_vec(), data: view.data().to_vec() };
        dict.insert(name.to_string(), tensor);
    }
    Ok(dict)
}

/// Converts a legacy torch checkpoint (`.pth`) into a safetensors file.
pub fn convert(pth: &Path, out: &Path) -> Result<()> {
    let dict = torch_legacy::load(pth)?;
    save(&dict, out)?;
    tracing::info!(from = %pth.display(), to = %out.display(), tensors = dict.len(), "converted weights");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> StateDict {
        let mut dict = StateDict::new();
        dict.insert("a.weight".into(), Tensor::from_f32(vec![2, 2], &[1.0, -2.5, 3.25, f32::MIN_POSITIVE]));
        let n = Tensor { dtype: DType::I64, shape: vec![], data: (-3i64).to_le_bytes().to_vec() };
        dict.insert("a.num_batches_tracked".into(), n);
        dict.insert("empty".into(), Tensor::from_f32(vec![0, 4], &[]));
        dict
    }

    #[test]
    fn round_trip_is_exact() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("w.safetensors");
        save(&sample(), &path).expect("save");
        assert_eq!(load(&path).expect("load"), sample());
        // Overwriting replaces the file and leaves no temp files behind.
        save(&sample(), &path).expect("save again");
        assert_eq!(std::fs::read_dir(dir.path()).expect("list").count(), 1);
    }

    #[test]
    fn inconsistent_tensor_is_refused() {
        let mut dict = sample();
        dict.insert("bad".into(), Tensor { dtype: DType::F32, shape: vec![3], data: vec![0; 8] });
        let dir = tempfile::tempdir().expect("tempdir");
        let err = save(&dict, &dir.path().join("w.safetensors")).unwrap_err();
        assert!(err.to_string().contains("bad: 8 bytes"), "{err}");
    }

    #[test]
    fn corrupt_files_are_errors() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("w.safetensors");
        save(&sample(), &path).expect("save");
        let good = std::fs::read(&path).expect("read");
        for n in [0, 7, 8, 20, good.len() - 1] {
            std::fs::write(&path, &good[..n]).expect("write");
            let err = load(&path).unwrap_err();
            assert!(matches!(err, ModelError::BadWeights { .. }), "{n}: {err}");
            assert!(err.to_string().contains("w.safetensors"), "{err}");
        }
        let missing = load(&dir.path().join("nope.safetensors")).unwrap_err();
        assert!(matches!(missing, ModelError::Io { .. }));
    }
}
