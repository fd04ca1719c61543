//! A minimal, bounded pickle reader for the opcodes PyTorch's legacy `torch.save` emits.
//!
//! Written by hand because `serde-pickle` 1.2 cannot read these files: it does not implement
//! `BINPERSID` (every tensor's storage is a persistent id) and it collapses every unknown global
//! such as `torch.FloatStorage` to an anonymous object, so the element type is lost.
//! Nothing is ever executed: globals and calls are kept as symbolic values for the caller to
//! interpret. All sizes are checked against the bytes left before anything is allocated, nesting
//! is capped (so dropping a value cannot overflow the stack) and a node budget proportional to the
//! input stops `DUP`/memo tricks from blowing up memory.

mod vm;

use vm::Vm;

/// Deepest nesting of containers accepted; the torch files we read nest about six levels.
const MAX_DEPTH: usize = 32;

/// A decoded pickle value. Containers own their items; `Memo` only appears before resolution.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Value {
    None,
    Bool(bool),
    Int(i64),
    /// An integer wider than 64 bits: little-endian two's-complement bytes as pickled.
    BigInt(Vec<u8>),
    Float(f64),
    Str(String),
    Bytes(Vec<u8>),
    Tuple(Vec<Value>),
    List(Vec<Value>),
    Dict(Vec<(Value, Value)>),
    /// A reference to `module.name` (a class or function), never resolved.
    Global {
        module: String,
        name: String,
    },
    /// `func(*args)` from REDUCE or NEWOBJ, kept symbolic.
    Call {
        func: Box<Value>,
        args: Box<Value>,
    },
    /// A persistent id (BINPERSID): how torch refers to storages stored outside the pickle.
    PersId(Box<Value>),
    /// Reference into the memo; replaced by `resolve` once the pickle is complete.
    Memo(u32),
}

impl Value {
    /// Ownership depth; memo references count as leaves.
    pub(super) fn depth(&self) -> usize {
        match self {
            Value::Tuple(v) | Value::List(v) => 1 + v.iter().map(Value::depth).max().unwrap_or(0),
            Value::Dict(v) => 1 + v.iter().map(|(k, x)| k.depth().max(x.depth())).max().unwrap_or(0),
            Value::Call { func, args } => 1 + func.depth().max(args.depth()),
            Value::PersId(v) => 1 + v.depth(),
            _ => 0,
        }
    }

    /// Number of nodes, for charging deep copies against the budget.
    pub(super) fn nodes(&self) -> usize {
        1 + match self {
            Value::Tuple(v) | Value::List(v) => v.iter().map(Value::nodes).sum(),
            Value::Dict(v) => v.iter().map(|(k, x)| k.nodes() + x.nodes()).sum(),
            Value::Call { func, args } => func.nodes() + args.nodes(),
            Value::PersId(v) => v.nodes(),
            _ => 0,
        }
    }

    /// Short description for error messages.
    pub(crate) fn kind(&self) -> String {
        match self {
            Value::None => "None".into(),
            Value::Bool(_) => "bool".into(),
            Value::Int(_) | Value::BigInt(_) => "int".into(),
            Value::Float(_) => "float".into(),
            Value::Str(_) => "str".into(),
            Value::Bytes(_) => "bytes".into(),
            Value::Tuple(v) => format!("tuple of {}", v.len()),
            Value::List(v) => format!("list of {}", v.len()),
            Value::Dict(v) => format!("dict of {}", v.len()),
            Value::Global { module, name } => format!("global {module}.{name}"),
            Value::Call { func, .. } => format!("call of {}", func.kind()),
            Value::PersId(_) => "persistent id".into(),
            Value::Memo(_) => "memo reference".into(),
        }
    }
}

/// Reads one pickle starting at `start`; returns the value and the offset just past its STOP.
/// Errors are plain descriptions with absolute byte offsets; the caller adds the file name.
pub(crate) fn read(data: &[u8], start: usize) -> Result<(Value, usize), String> {
    let mut vm = Vm::new(data, start);
    let top = vm.run()?;
    let value = vm.resolve(top, 0)?;
    Ok((value, vm.pos()))
}

/// LONG1/LONG4 payload: little-endian two's complement.
pub(super) fn long(bytes: &[u8]) -> Value {
    if bytes.len() <= 8 {
        let fill = if bytes.last().is_some_and(|b| b & 0x80 != 0) { 0xff } else { 0 };
        let mut buf = [fill; 8];
        buf[..bytes.len()].copy_from_slice(bytes);
        Value::Int(i64::from_le_bytes(buf))
    } else {
        Value::BigInt(bytes.to_vec())
    }
}

pub(super) fn utf8(bytes: Vec<u8>, at: usize) -> Result<String, String> {
    String::from_utf8(bytes).map_err(|_| format!("string at byte {at} is not UTF-8"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_protocol2_containers_and_memo() {
        // Python: pickle.dumps({'a': [1, -2, 3.5], 'b': ('x', None, True)}, protocol=2)
        let p = b"\x80\x02}q\x00(X\x01\x00\x00\x00aq\x01]q\x02(K\x01J\xfe\xff\xff\xffG@\x0c\x00\x00\x00\x00\x00\x00eX\x01\x00\x00\x00bq\x03X\x01\x00\x00\x00xq\x04N\x88\x87q\x05u.";
        let (v, end) = read(p, 0).expect("valid pickle");
        assert_eq!(end, p.len());
        let s = |x: &str| Value::Str(x.into());
        assert_eq!(
            v,
            Value::Dict(vec![
                (s("a"), Value::List(vec![Value::Int(1), Value::Int(-2), Value::Float(3.5)])),
                (s("b"), Value::Tuple(vec![s("x"), Value::None, Value::Bool(true)])),
            ])
        );
    }

    #[test]
    fn memo_shares_mutations() {
        // l = [7]; pickle.dumps((l, l), protocol=2): the list is memoised before it is filled,
        // and both references must see the item.
        let p = b"\x80\x02]q\x00K\x07ah\x00\x86q\x01.";
        let (v, _) = read(p, 0).expect("valid pickle");
        let l = Value::List(vec![Value::Int(7)]);
        assert_eq!(v, Value::Tuple(vec![l.clone(), l]));
    }

    #[test]
    fn ordered_dicts_become_dicts_even_through_the_memo() {
        // pickle.dumps(OrderedDict([('k', OrderedDict())]), protocol=2): the second OrderedDict
        // class comes from the memo (h\x00), as in torch's state dicts.
        let p = b"\x80\x02ccollections\nOrderedDict\nq\x00)Rq\x01X\x01\x00\x00\x00kq\x02h\x00)Rq\x03s.";
        let (v, _) = read(p, 0).expect("valid pickle");
        assert_eq!(v, Value::Dict(vec![(Value::Str("k".into()), Value::Dict(vec![]))]));
    }

    #[test]
    fn stack_misuse_is_an_error() {
        assert!(read(b"\x80\x02N\x86.", 0).unwrap_err().contains("underflow"));
        assert!(read(b"\x80\x02N(N\x86.", 0).unwrap_err().contains("underflow"));
        assert!(read(b"\x80\x02NN.", 0).unwrap_err().contains("leaves values"));
        assert!(read(b"\x80\x02h\x05.", 0).unwrap_err().contains("memo key 5"));
        assert!(read(b"\x80\x02Nq\x00q\x00.", 0).unwrap_err().contains("redefined"));
        assert!(read(b"\x80\x02\xff", 0).unwrap_err().contains("opcode 0xff"));
    }

    #[test]
    fn big_long_is_kept_as_bytes() {
        // torch's magic number 0x1950a86a20f9469cfc6c, as LONG1 with 10 bytes.
        let p = b"\x80\x02\x8a\x0a\x6c\xfc\x9c\x46\xf9\x20\x6a\xa8\x50\x19.";
        let (v, _) = read(p, 0).expect("valid pickle");
        assert_eq!(v, Value::BigInt(vec![0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19]));
        assert_eq!(read(b"\x8a\x02\x00\xff.", 0).expect("valid").0, Value::Int(-256));
    }

    #[test]
    fn self_reference_and_deep_nesting_are_errors() {
        // l = []; l.append(l)
        let cyclic = b"\x80\x02]q\x00h\x00a.";
        assert!(read(cyclic, 0).unwrap_err().contains("nested deeper"));
        let mut deep = b"\x80\x02N".to_vec();
        deep.extend(std::iter::repeat_n(0x85u8, 100_000));
        deep.push(b'.');
        assert!(read(&deep, 0).unwrap_err().contains("nested deeper"));
    }

    #[test]
    fn dup_bombs_hit_the_budget() {
        // A list of 200 items duplicated 40 times would need 2^40 copies.
        let mut p = b"\x80\x02(".to_vec();
        p.extend(std::iter::repeat_n(b'N', 200));
        p.push(b'l');
        for _ in 0..40 {
            p.extend(b"2\x86");
        }
        p.push(b'.');
        let err = read(&p, 0).unwrap_err();
        assert!(err.contains("expands too much") || err.contains("nested deeper"), "{err}");
    }

    #[test]
    fn lying_lengths_do_not_allocate() {
        let p = b"\x80\x02X\xff\xff\xff\xff";
        assert!(read(p, 0).unwrap_err().contains("truncated"));
        let p = b"\x80\x02\x8d\xff\xff\xff\xff\xff\xff\xff\x7f";
        assert!(read(p, 0).unwrap_err().contains("truncated"));
    }
}
