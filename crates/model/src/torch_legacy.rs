//! Reader for PyTorch's legacy (pre-1.6, non-zip) `torch.save` format, the format of the
//! EfficientNet-Lite0 ImageNet checkpoint `efficientnet-lite0-57934424.pth`.
//!
//! Layout: five pickles (magic number, protocol version 1001, system info, the state dict, the
//! list of storage keys), then for each key in that order an 8-byte little-endian element count
//! followed by the raw little-endian elements. Each tensor in the state dict is
//! `torch._utils._rebuild_tensor_v2(storage, offset, size, stride, ...)`, whose storage is the
//! persistent id `('storage', torch.FloatStorage, key, location, numel, view_metadata)`.
//! The file is untrusted: every count is checked against the bytes really there, so a lying
//! header gives an error, never a panic or a huge allocation.

mod pickle;
#[cfg(test)]
mod testfile;

use std::collections::HashMap;
use std::path::Path;

use pickle::Value;

use crate::{DType, ModelError, Result, StateDict, Tensor};

/// `0x1950a86a20f9469cfc6c`, torch's legacy magic number, as LONG1 pickles it (little-endian).
const MAGIC: [u8; 10] = [0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19];
const PROTOCOL_VERSION: i64 = 1001;

/// Reads a legacy torch checkpoint into tensors named as in PyTorch's `state_dict()`.
pub fn load(path: &Path) -> Result<StateDict> {
    let bad = |detail: String| ModelError::BadWeights { path: path.to_path_buf(), detail };
    let bytes = crate::error::read_weight_file(path)?;
    let dict = parse(&bytes).map_err(bad)?;
    tracing::debug!(path = %path.display(), tensors = dict.len(), "read legacy torch weights");
    Ok(dict)
}

/// What the state dict says about one tensor before its storage is read.
#[derive(Debug)]
struct Record {
    key: String,
    dtype: DType,
    storage_numel: usize,
    offset: usize,
    size: Vec<usize>,
    stride: Vec<usize>,
}

/// Parses a whole legacy file held in memory. Errors describe what was wrong, without the path.
fn parse(bytes: &[u8]) -> std::result::Result<StateDict, String> {
    if bytes.is_empty() {
        return Err("file is empty".into());
    }
    if bytes.starts_with(b"PK\x03\x04") {
        return Err("this is the zip-based torch format (torch >= 1.6), not the legacy one".into());
    }
    let read = |pos: usize, what: &str| pickle::read(bytes, pos).map_err(|e| format!("{what}: {e}"));
    let (magic, pos) = read(0, "magic number").map_err(|e| format!("not a legacy torch file ({e})"))?;
    if magic != Value::BigInt(MAGIC.to_vec()) {
        return Err(format!("wrong magic number ({}): not a legacy torch file", magic.kind()));
    }
    let (version, pos) = read(pos, "protocol version")?;
    if version != Value::Int(PROTOCOL_VERSION) {
        return Err(format!("unsupported protocol version {version:?}, expected {PROTOCOL_VERSION}"));
    }
    let (info, pos) = read(pos, "system info")?;
    check_sys_info(&info)?;
    let (state, pos) = read(pos, "state dict")?;
    let Value::Dict(entries) = state else {
        return Err(format!("expected a state dict, found {}", state.kind()));
    };
    let mut records = Vec::with_capacity(entries.len());
    for (name, value) in entries {
        let Value::Str(name) = name else {
            return Err(format!("state dict key is a {}, not a name", name.kind()));
        };
        let record = record(&name, value)?;
        records.push((name, record));
    }
    let (keys, pos) = read(pos, "storage key list")?;
    let storages = storages(bytes, pos, keys, &records)?;
    // Tensors normally map one-to-one onto storages; shared storages may be copied, but a pickle
    // listing many views of one big storage must not multiply it without limit.
    let mut budget = 2 * bytes.len();
    let mut dict = StateDict::new();
    for (name, record) in records {
        let storage = storages.get(record.key.as_str()).expect("storages() checked every key is present");
        let tensor = materialise(&name, &record, storage)?;
        budget = budget
            .checked_sub(tensor.data.len())
            .ok_or_else(|| format!("tensors would copy more than {} bytes", 2 * bytes.len()))?;
        if dict.insert(name.clone(), tensor).is_some() {
            return Err(format!("tensor {name} appears twice"));
        }
    }
    Ok(dict)
}

fn check_sys_info(info: &Value) -> std::result::Result<(), String> {
    let Value::Dict(items) = info else {
        return Err(format!("system info is a {}, not a dict", info.kind()));
    };
    let little = items.iter().find(|(k, _)| *k == Value::Str("little_endian".into()));
    match little {
        Some((_, Value::Bool(true))) => Ok(()),
        Some((_, Value::Bool(false))) => Err("big-endian files are not supported".into()),
        _ => Err("system info does not say the byte order".into()),
    }
}

fn index(v: &Value, what: &str) -> std::result::Result<usize, String> {
    match v {
        Value::Int(i) => usize::try_from(*i).map_err(|_| format!("{what} {i} is negative or too large")),
        Value::BigInt(_) => Err(format!("{what} does not fit in 64 bits")),
        other => Err(format!("{what} is a {}, not an integer", other.kind())),
    }
}

fn indices(v: &Value, what: &str) -> std::result::Result<Vec<usize>, String> {
    match v {
        Value::Tuple(items) => items.iter().map(|x| index(x, what)).collect(),
        other => Err(format!("{what} is a {}, not a tuple", other.kind())),
    }
}

/// Interprets `_rebuild_tensor_v2(persistent_id, offset, size, stride, ...)`.
fn record(name: &str, value: Value) -> std::result::Result<Record, String> {
    let not_tensor = |v: &Value| format!("{name}: expected a tensor, found {}", v.kind());
    let Value::Call { func, args } = value else {
        return Err(not_tensor(&value));
    };
    match &*func {
        Value::Global { module, name: f }
            if module == "torch._utils" && (f == "_rebuild_tensor_v2" || f == "_rebuild_tensor") => {}
        other => return Err(not_tensor(other)),
    }
    let args = match *args {
        Value::Tuple(args) if args.len() >= 4 => args,
        other => return Err(format!("{name}: tensor arguments are a {}", other.kind())),
    };
    let Value::PersId(pid) = &args[0] else {
        return Err(format!("{name}: storage is a {}, not a persistent id", args[0].kind()));
    };
    let Value::Tuple(pid) = &**pid else {
        return Err(format!("{name}: storage id is a {}", pid.kind()));
    };
    let [Value::Str(tag), Value::Global { module, name: storage_type }, Value::Str(key), _location, numel, view] =
        pid.as_slice()
    else {
        return Err(format!("{name}: storage id is not ('storage', type, key, location, numel, view)"));
    };
    if tag != "storage" {
        return Err(format!("{name}: persistent id of kind {tag:?}, expected 'storage'"));
    }
    if *view != Value::None {
        return Err(format!("{name}: storage views (old torch format) are not supported"));
    }
    let dtype = match (module.as_str(), storage_type.as_str()) {
        ("torch", "FloatStorage") => DType::F32,
        ("torch", "LongStorage") => DType::I64,
        _ => {
            return Err(format!("{name}: unsupported storage type {module}.{storage_type}"));
        }
    };
    let record = Record {
        key: key.clone(),
        dtype,
        storage_numel: index(numel, &format!("{name}: storage size"))?,
        offset: index(&args[1], &format!("{name}: storage offset"))?,
        size: indices(&args[2], &format!("{name}: size"))?,
        stride: indices(&args[3], &format!("{name}: stride"))?,
    };
    if record.size.len() != record.stride.len() {
        return Err(format!("{name}: {} sizes but {} strides", record.size.len(), record.stride.len()));
    }
    Ok(record)
}

/// Finds each storage's bytes after the pickles, checking every count against the file.
fn storages<'a>(
    bytes: &'a [u8],
    mut pos: usize,
    keys: Value,
    records: &[(String, Record)],
) -> std::result::Result<HashMap<String, &'a [u8]>, String> {
    let Value::List(keys) = keys else {
        return Err(format!("storage key list is a {}", keys.kind()));
    };
    let mut wanted: HashMap<&str, (DType, usize)> = HashMap::new();
    for (name, r) in records {
        let prev = wanted.insert(&r.key, (r.dtype, r.storage_numel));
        if prev.is_some_and(|p| p != (r.dtype, r.storage_numel)) {
            return Err(format!("{name}: storage {} is described two different ways", r.key));
        }
    }
    let mut found = HashMap::with_capacity(keys.len());
    for key in keys {
        let Value::Str(key) = key else {
            return Err(format!("storage key is a {}, not a string", key.kind()));
        };
        let &(dtype, numel) =
            wanted.get(key.as_str()).ok_or_else(|| format!("storage {key} is listed but no tensor uses it"))?;
        let left = bytes.len() - pos;
        let count: [u8; 8] = bytes
            .get(pos..pos + 8)
            .and_then(|b| b.try_into().ok())
            .ok_or_else(|| format!("truncated: storage {key} element count at byte {pos}, {left} bytes left"))?;
        let count = u64::from_le_bytes(count);
        if count != numel as u64 {
            return Err(format!("storage {key} at byte {pos} holds {count} elements, the state dict says {numel}"));
        }
        pos += 8;
        let len = numel.checked_mul(dtype.size()).filter(|&n| n <= left - 8).ok_or_else(|| {
            format!("truncated: storage {key} needs {numel} elements at byte {pos}, only {} bytes left", left - 8)
        })?;
        if found.insert(key.clone(), &bytes[pos..pos + len]).is_some() {
            return Err(format!("storage {key} is listed twice"));
        }
        pos += len;
    }
    if let Some((name, r)) = records.iter().find(|(_, r)| !found.contains_key(&r.key)) {
        return Err(format!("{name}: storage {} is missing from the file", r.key));
    }
    if pos != bytes.len() {
        return Err(format!("{} unexpected bytes after the last storage", bytes.len() - pos));
    }
    Ok(found)
}

/// Copies a tensor's elements out of its storage, honouring offset and strides.
fn materialise(name: &str, r: &Record, storage: &[u8]) -> std::result::Result<Tensor, String> {
    let esize = r.dtype.size();
    let storage_numel = storage.len() / esize;
    let overflow = || format!("{name}: size {:?} overflows", r.size);
    let numel = r.size.iter().try_fold(1usize, |a, &d| a.checked_mul(d)).ok_or_else(overflow)?;
    let mut data = Vec::new();
    if numel > 0 {
        // The highest element the view touches must lie inside the storage.
        let last = r
            .size
            .iter()
            .zip(&r.stride)
            .try_fold(r.offset, |acc, (&d, &s)| (d - 1).checked_mul(s).and_then(|x| acc.checked_add(x)))
            .ok_or_else(overflow)?;
        if last >= storage_numel {
            return Err(format!(
                "{name}: view {:?} at offset {} reaches element {last} of a storage of {storage_numel}",
                r.size, r.offset
            ));
        }
        if numel > storage_numel {
            return Err(format!(
                "{name}: {numel} elements overlap in a storage of {storage_numel} (broadcast views are not supported)"
            ));
        }
        if is_contiguous(&r.size, &r.stride) {
            data.extend_from_slice(&storage[r.offset * esize..(r.offset + numel) * esize]);
        } else {
            gather(r, storage, numel, &mut data);
        }
    }
    Ok(Tensor { dtype: r.dtype, shape: r.size.clone(), data })
}

/// Row-major contiguity; dimensions of size one may carry any stride.
fn is_contiguous(size: &[usize], stride: &[usize]) -> bool {
    let mut expected = 1;
    for (&d, &s) in size.iter().zip(stride).rev() {
        if d != 1 && s != expected {
            return false;
        }
        expected *= d;
    }
    true
}

/// Strided copy in row-major order; `materialise` has checked every index is in bounds.
/// (50 of the EfficientNet-Lite0 convolution weights are stored channels-last.)
fn gather(r: &Record, storage: &[u8], numel: usize, out: &mut Vec<u8>) {
    let esize = r.dtype.size();
    out.reserve(numel * esize);
    let (inner, outer_dims) = r.size.split_last().expect("a non-contiguous tensor has dimensions");
    let inner_stride = r.stride[outer_dims.len()] * esize;
    let mut idx = vec![0usize; outer_dims.len()];
    for _ in 0..numel / inner {
        let base = r.offset + idx.iter().zip(&r.stride).map(|(i, s)| i * s).sum::<usize>();
        let row = &storage[base * esize..];
        for k in 0..*inner {
            out.extend_from_slice(&row[k * inner_stride..k * inner_stride + esize]);
        }
        for d in (0..idx.len()).rev() {
            idx[d] += 1;
            if idx[d] < outer_dims[d] {
                break;
            }
            idx[d] = 0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::testfile::{Spec, legacy_file};
    use super::*;

    fn f32s(values: &[f32]) -> Vec<u8> {
        values.iter().flat_map(|v| v.to_le_bytes()).collect()
    }

    fn sample() -> Vec<Spec> {
        vec![
            Spec::new("conv.weight", "0", DType::F32, f32s(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]), &[2, 3]),
            Spec::new("bn.num_batches_tracked", "1", DType::I64, 7i64.to_le_bytes().to_vec(), &[]),
        ]
    }

    #[test]
    fn reads_synthetic_file() {
        let dict = parse(&legacy_file(&sample())).expect("valid file");
        assert_eq!(dict.len(), 2);
        let w = &dict["conv.weight"];
        assert_eq!((w.dtype, w.shape.as_slice()), (DType::F32, &[2, 3][..]));
        assert_eq!(w.to_f32().expect("f32"), [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
        let n = &dict["bn.num_batches_tracked"];
        assert_eq!((n.dtype, n.shape.len(), n.data.as_slice()), (DType::I64, 0, &7i64.to_le_bytes()[..]));
    }

    #[test]
    fn honours_offset_and_strides() {
        let storage = f32s(&[0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
        let mut t = Spec::new("t", "0", DType::F32, storage.clone(), &[3, 2]);
        t.stride = vec![1, 3]; // transpose of a [2, 3] view starting at element 1
        t.offset = 1;
        let mut u = Spec::new("u", "0", DType::F32, storage, &[2]);
        u.offset = 5; // shares storage "0" with t
        let dict = parse(&legacy_file(&[t, u])).expect("valid file");
        assert_eq!(dict["t"].to_f32().expect("f32"), [1.0, 4.0, 2.0, 5.0, 3.0, 6.0]);
        assert_eq!(dict["u"].to_f32().expect("f32"), [5.0, 6.0]);
    }

    #[test]
    fn views_outside_the_storage_are_errors() {
        let mut t = Spec::new("t", "0", DType::F32, f32s(&[0.0; 4]), &[2, 2]);
        t.offset = 1;
        assert!(parse(&legacy_file(&[t])).unwrap_err().contains("reaches element 4"));
        let mut t = Spec::new("t", "0", DType::F32, f32s(&[0.0; 4]), &[1 << 40, 2]);
        t.stride = vec![0, 1];
        assert!(parse(&legacy_file(&[t])).unwrap_err().contains("broadcast"));
    }

    #[test]
    fn lying_counts_are_errors() {
        // The same huge count in the pickle and before the data: refused, not allocated.
        let mut specs = sample();
        specs[0].numel_override = Some(1 << 60);
        let err = parse(&legacy_file(&specs)).unwrap_err();
        assert!(err.contains("truncated: storage 0 needs 1152921504606846976 elements"), "{err}");
        // The count before the last storage (8 bytes of i64) disagreeing with the pickle.
        let mut file = legacy_file(&sample());
        let at = file.len() - 16;
        file[at] = 2;
        let err = parse(&file).unwrap_err();
        assert!(err.contains("storage 1 at byte"), "{err}");
        assert!(err.contains("holds 2 elements, the state dict says 1"), "{err}");
        let mut file = legacy_file(&sample());
        file.extend_from_slice(b"junk");
        assert!(parse(&file).unwrap_err().contains("4 unexpected bytes"));
    }

    #[test]
    fn missing_storage_is_an_error() {
        let mut specs = sample();
        specs[1].omit_storage = true;
        assert!(parse(&legacy_file(&specs)).unwrap_err().contains("storage 1 is missing"));
    }

    #[test]
    fn every_truncation_is_an_error() {
        let file = legacy_file(&sample());
        for n in 0..file.len() {
            assert!(parse(&file[..n]).is_err(), "truncated to {n} bytes parsed");
        }
    }

    #[test]
    fn wrong_magic_and_zip_format_are_named() {
        let mut file = legacy_file(&sample());
        file[5] ^= 0x01;
        assert!(parse(&file).unwrap_err().contains("wrong magic number"));
        assert!(parse(b"PK\x03\x04rest").unwrap_err().contains("zip-based"));
        assert!(parse(b"").unwrap_err().contains("empty"));
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(256))]
        /// Flipped bytes never panic; they either still parse or give an error.
        #[test]
        fn flipped_bytes_never_panic(flips in proptest::collection::vec((0usize..10_000, 1u8..=255), 1..4)) {
            let mut file = legacy_file(&sample());
            for (at, mask) in flips {
                let n = file.len();
                file[at % n] ^= mask;
            }
            let _ = parse(&file);
        }
    }
}
