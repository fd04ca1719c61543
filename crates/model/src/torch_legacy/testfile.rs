//! Test helper: writes small legacy torch files with the same opcodes `torch.save` (protocol 2)
//! uses, so the reader can be tested on offsets, strides and corruption without the real asset.

use crate::DType;

/// One tensor of a synthetic file.
pub(crate) struct Spec {
    pub name: String,
    pub key: String,
    pub dtype: DType,
    /// Raw little-endian storage bytes; tensors with the same key share the first one's.
    pub storage: Vec<u8>,
    pub offset: usize,
    pub size: Vec<usize>,
    pub stride: Vec<usize>,
    /// Element count to claim, in the persistent id and before the data, instead of the true one.
    pub numel_override: Option<u64>,
    /// Leave the storage out of the key list and data.
    pub omit_storage: bool,
}

impl Spec {
    /// A contiguous tensor at offset 0.
    pub fn new(name: &str, key: &str, dtype: DType, storage: Vec<u8>, size: &[usize]) -> Self {
        let mut stride = vec![1; size.len()];
        for d in (0..size.len().saturating_sub(1)).rev() {
            stride[d] = stride[d + 1] * size[d + 1];
        }
        Spec {
            name: name.into(),
            key: key.into(),
            dtype,
            storage,
            offset: 0,
            size: size.to_vec(),
            stride,
            numel_override: None,
            omit_storage: false,
        }
    }
}

fn unicode(out: &mut Vec<u8>, s: &str) {
    out.push(b'X');
    out.extend((s.len() as u32).to_le_bytes());
    out.extend(s.as_bytes());
}

fn int(out: &mut Vec<u8>, v: u64) {
    match u32::try_from(v) {
        Ok(v) if v < 1 << 31 => {
            out.push(b'J');
            out.extend(v.to_le_bytes());
        }
        // LONG1 with 8 bytes, as Python writes ints below 2**63.
        _ => {
            out.extend([0x8a, 8]);
            out.extend(v.to_le_bytes());
        }
    }
}

fn tuple(out: &mut Vec<u8>, items: &[usize]) {
    out.push(b'(');
    for &i in items {
        int(out, i as u64);
    }
    out.push(b't');
}

/// The whole file: five pickles, then each storage as count + bytes.
pub(crate) fn legacy_file(specs: &[Spec]) -> Vec<u8> {
    let mut out = b"\x80\x02\x8a\x0a\x6c\xfc\x9c\x46\xf9\x20\x6a\xa8\x50\x19.".to_vec();
    out.extend(b"\x80\x02M\xe9\x03.");
    out.extend(b"\x80\x02}(");
    unicode(&mut out, "little_endian");
    out.push(0x88);
    out.extend(b"u.");

    out.extend(b"\x80\x02ccollections\nOrderedDict\n)R(");
    for s in specs {
        unicode(&mut out, &s.name);
        out.extend(b"ctorch._utils\n_rebuild_tensor_v2\n((");
        unicode(&mut out, "storage");
        out.extend(match s.dtype {
            DType::F32 => &b"ctorch\nFloatStorage\n"[..],
            DType::I64 => &b"ctorch\nLongStorage\n"[..],
        });
        unicode(&mut out, &s.key);
        unicode(&mut out, "cpu");
        let numel = (s.storage.len() / s.dtype.size()) as u64;
        int(&mut out, s.numel_override.unwrap_or(numel));
        out.extend(b"NtQ");
        int(&mut out, s.offset as u64);
        tuple(&mut out, &s.size);
        tuple(&mut out, &s.stride);
        out.extend(b"\x89ccollections\nOrderedDict\n)Rt");
        out.push(b'R');
    }
    out.extend(b"u}b.");

    let mut keys: Vec<&Spec> = Vec::new();
    for s in specs.iter().filter(|s| !s.omit_storage) {
        if !keys.iter().any(|k| k.key == s.key) {
            keys.push(s);
        }
    }
    out.extend(b"\x80\x02](");
    for s in &keys {
        unicode(&mut out, &s.key);
    }
    out.extend(b"e.");
    for s in keys {
        let numel = (s.storage.len() / s.dtype.size()) as u64;
        out.extend(s.numel_override.unwrap_or(numel).to_le_bytes());
        out.extend(&s.storage);
    }
    out
}
