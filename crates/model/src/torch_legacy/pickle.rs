//! A minimal, bounded pickle reader for the opcodes PyTorch's legacy `torch.save` emits.
//!
//! Written by hand because `serde-pickle` 1.2 cannot read these files: it does not implement
//! `BINPERSID` (every tensor's storage is a persistent id) and it collapses every unknown global
//! such as `torch.FloatStorage` to an anonymous object, so the element type is lost.
//! Nothing is ever executed: globals and calls are kept as symbolic values for the caller to
//! interpret. All sizes are checked against the bytes left before anything is allocated, nesting
//! is capped (so dropping a value cannot overflow the stack) and a node budget proportional to the
//! input stops `DUP`/memo tricks from blowing up memory.

use std::collections::HashMap;

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
    fn depth(&self) -> usize {
        match self {
            Value::Tuple(v) | Value::List(v) => 1 + v.iter().map(Value::depth).max().unwrap_or(0),
            Value::Dict(v) => {
                1 + v
                    .iter()
                    .map(|(k, x)| k.depth().max(x.depth()))
                    .max()
                    .unwrap_or(0)
            }
            Value::Call { func, args } => 1 + func.depth().max(args.depth()),
            Value::PersId(v) => 1 + v.depth(),
            _ => 0,
        }
    }

    /// Number of nodes, for charging deep copies against the budget.
    fn nodes(&self) -> usize {
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
    let mut vm = Vm {
        data,
        pos: start,
        stack: Vec::new(),
        marks: Vec::new(),
        memo: HashMap::new(),
        budget: 8 * data.len().saturating_sub(start) + 1024,
    };
    let top = vm.run()?;
    let value = vm.resolve(top, 0)?;
    Ok((value, vm.pos))
}

struct Vm<'a> {
    data: &'a [u8],
    pos: usize,
    stack: Vec<Value>,
    /// Stack lengths at each MARK.
    marks: Vec<usize>,
    memo: HashMap<u32, Value>,
    /// Nodes that deep copies and memo resolution may still create.
    budget: usize,
}

impl Vm<'_> {
    fn take(&mut self, n: usize) -> Result<&[u8], String> {
        let left = self.data.len() - self.pos;
        if n > left {
            return Err(format!(
                "truncated: {n} bytes needed at byte {}, {left} left",
                self.pos
            ));
        }
        let bytes = &self.data[self.pos..self.pos + n];
        self.pos += n;
        Ok(bytes)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], String> {
        let bytes = self.take(N)?;
        Ok(bytes.try_into().expect("take returns exactly N bytes"))
    }

    fn u8(&mut self) -> Result<u8, String> {
        Ok(self.array::<1>()?[0])
    }

    fn u32(&mut self) -> Result<u32, String> {
        Ok(u32::from_le_bytes(self.array()?))
    }

    /// A length field; `take` later refuses it if it exceeds what is left.
    fn len8(&mut self) -> Result<usize, String> {
        usize::try_from(u64::from_le_bytes(self.array()?))
            .map_err(|_| format!("length too large at byte {}", self.pos))
    }

    fn line(&mut self) -> Result<String, String> {
        let rest = &self.data[self.pos..];
        let n = rest
            .iter()
            .position(|&b| b == b'\n')
            .ok_or_else(|| format!("unterminated line at byte {}", self.pos))?;
        let line = self.take(n + 1)?;
        utf8(line[..n].to_vec(), self.pos)
    }

    fn pop(&mut self) -> Result<Value, String> {
        let floor = self.marks.last().copied().unwrap_or(0);
        if self.stack.len() <= floor {
            return Err(format!("stack underflow at byte {}", self.pos));
        }
        self.stack
            .pop()
            .ok_or_else(|| format!("stack underflow at byte {}", self.pos))
    }

    /// Pops everything above the last MARK, and the mark.
    fn pop_mark(&mut self) -> Result<Vec<Value>, String> {
        let mark = self
            .marks
            .pop()
            .ok_or_else(|| format!("no MARK on the stack at byte {}", self.pos))?;
        if mark > self.stack.len() {
            return Err(format!("stack underflow at byte {}", self.pos));
        }
        Ok(self.stack.split_off(mark))
    }

    fn push(&mut self, v: Value) -> Result<(), String> {
        if v.depth() > MAX_DEPTH {
            return Err(format!(
                "values nested deeper than {MAX_DEPTH} at byte {}",
                self.pos
            ));
        }
        self.stack.push(v);
        Ok(())
    }

    fn charge(&mut self, nodes: usize) -> Result<(), String> {
        self.budget = self
            .budget
            .checked_sub(nodes)
            .ok_or_else(|| format!("pickle expands too much at byte {}", self.pos))?;
        Ok(())
    }

    fn memo_put(&mut self, id: u32) -> Result<(), String> {
        // Picklers give every object a fresh id; refusing redefinitions keeps memo aliases acyclic.
        if self.memo.contains_key(&id) {
            return Err(format!("memo key {id} redefined at byte {}", self.pos));
        }
        let top = self
            .stack
            .last_mut()
            .ok_or_else(|| format!("PUT on empty stack at byte {}", self.pos))?;
        // The memo takes the object and the stack keeps a reference, so later APPEND/SETITEM calls
        // through either reach the same object, as in Python. Re-memoising a reference makes an
        // alias to the entry it names (which is never itself an alias).
        let value = match top {
            Value::Memo(other) => match self.memo.get(other) {
                Some(Value::Memo(root)) => Value::Memo(*root),
                _ => Value::Memo(*other),
            },
            _ => std::mem::replace(top, Value::Memo(id)),
        };
        self.memo.insert(id, value);
        Ok(())
    }

    fn memo_get(&mut self, id: u32) -> Result<(), String> {
        if !self.memo.contains_key(&id) {
            return Err(format!("memo key {id} not defined at byte {}", self.pos));
        }
        self.stack.push(Value::Memo(id));
        Ok(())
    }

    /// The container a mutating opcode works on: the stack slot itself, or the memo entry it names.
    fn target(&mut self, index: usize) -> Result<&mut Value, String> {
        let pos = self.pos;
        let slot = self
            .stack
            .get_mut(index)
            .ok_or_else(|| format!("stack underflow at byte {pos}"))?;
        let mut id = match slot {
            Value::Memo(id) => *id,
            _ => return Ok(slot),
        };
        if let Some(Value::Memo(aliased)) = self.memo.get(&id) {
            id = *aliased;
        }
        self.memo
            .get_mut(&id)
            .ok_or_else(|| format!("memo key {id} not defined at byte {pos}"))
    }

    fn extend(&mut self, items: Vec<Value>) -> Result<(), String> {
        let depth = items.iter().map(Value::depth).max().unwrap_or(0);
        let pos = self.pos;
        let index = self
            .stack
            .len()
            .checked_sub(1)
            .ok_or_else(|| format!("stack underflow at byte {pos}"))?;
        match self.target(index)? {
            Value::List(list) if depth < MAX_DEPTH => list.extend(items),
            Value::List(_) => {
                return Err(format!(
                    "values nested deeper than {MAX_DEPTH} at byte {pos}"
                ));
            }
            other => return Err(format!("APPEND to {} at byte {pos}", other.kind())),
        }
        Ok(())
    }

    fn set_items(&mut self, items: Vec<Value>) -> Result<(), String> {
        let pos = self.pos;
        if !items.len().is_multiple_of(2) {
            return Err(format!("odd number of items for SETITEMS at byte {pos}"));
        }
        let depth = items.iter().map(Value::depth).max().unwrap_or(0);
        let index = self
            .stack
            .len()
            .checked_sub(1)
            .ok_or_else(|| format!("stack underflow at byte {pos}"))?;
        match self.target(index)? {
            Value::Dict(dict) if depth < MAX_DEPTH => {
                let mut it = items.into_iter();
                while let (Some(k), Some(v)) = (it.next(), it.next()) {
                    dict.push((k, v));
                }
            }
            Value::Dict(_) => {
                return Err(format!(
                    "values nested deeper than {MAX_DEPTH} at byte {pos}"
                ));
            }
            other => return Err(format!("SETITEM on {} at byte {pos}", other.kind())),
        }
        Ok(())
    }

    /// Runs opcodes until STOP and returns the top of the stack.
    fn run(&mut self) -> Result<Value, String> {
        loop {
            let at = self.pos;
            let op = self.u8()?;
            match op {
                0x80 => {
                    let proto = self.u8()?;
                    if proto > 5 {
                        return Err(format!("unsupported pickle protocol {proto} at byte {at}"));
                    }
                }
                0x95 => {
                    self.take(8)?; // FRAME: only a read-ahead hint
                }
                b'.' => {
                    let top = self.pop()?;
                    if !self.stack.is_empty() || !self.marks.is_empty() {
                        return Err(format!("STOP at byte {at} leaves values on the stack"));
                    }
                    return Ok(top);
                }
                b'(' => self.marks.push(self.stack.len()),
                b'0' => drop(self.pop()?),
                b'1' => drop(self.pop_mark()?),
                b'2' => {
                    let top = self.pop()?;
                    self.charge(top.nodes())?;
                    self.stack.push(top.clone());
                    self.stack.push(top);
                }
                b'N' => self.push(Value::None)?,
                0x88 => self.push(Value::Bool(true))?,
                0x89 => self.push(Value::Bool(false))?,
                b'J' => {
                    let v = i32::from_le_bytes(self.array()?);
                    self.push(Value::Int(v.into()))?;
                }
                b'K' => {
                    let v = self.u8()?;
                    self.push(Value::Int(v.into()))?;
                }
                b'M' => {
                    let v = u16::from_le_bytes(self.array()?);
                    self.push(Value::Int(v.into()))?;
                }
                0x8a => {
                    let n = self.u8()?.into();
                    let v = long(self.take(n)?);
                    self.push(v)?;
                }
                0x8b => {
                    let n = self.u32()? as usize;
                    let v = long(self.take(n)?);
                    self.push(v)?;
                }
                b'G' => {
                    let v = f64::from_be_bytes(self.array()?);
                    self.push(Value::Float(v))?;
                }
                b'X' => {
                    let n = self.u32()? as usize;
                    let s = utf8(self.take(n)?.to_vec(), at)?;
                    self.push(Value::Str(s))?;
                }
                0x8c => {
                    let n = self.u8()?.into();
                    let s = utf8(self.take(n)?.to_vec(), at)?;
                    self.push(Value::Str(s))?;
                }
                0x8d => {
                    let n = self.len8()?;
                    let s = utf8(self.take(n)?.to_vec(), at)?;
                    self.push(Value::Str(s))?;
                }
                // BINSTRING / SHORT_BINSTRING (py2 str) and BINBYTES / SHORT_BINBYTES.
                b'T' | b'B' => {
                    let n = self.u32()? as usize;
                    let b = self.take(n)?.to_vec();
                    self.push(Value::Bytes(b))?;
                }
                b'U' | b'C' => {
                    let n = self.u8()?.into();
                    let b = self.take(n)?.to_vec();
                    self.push(Value::Bytes(b))?;
                }
                b')' => self.push(Value::Tuple(Vec::new()))?,
                b't' => {
                    let items = self.pop_mark()?;
                    self.push(Value::Tuple(items))?;
                }
                0x85..=0x87 => {
                    let n = usize::from(op - 0x84);
                    let mut items = Vec::with_capacity(n);
                    for _ in 0..n {
                        items.push(self.pop()?);
                    }
                    items.reverse();
                    self.push(Value::Tuple(items))?;
                }
                b']' => self.push(Value::List(Vec::new()))?,
                b'l' => {
                    let items = self.pop_mark()?;
                    self.push(Value::List(items))?;
                }
                b'a' => {
                    let item = self.pop()?;
                    self.extend(vec![item])?;
                }
                b'e' => {
                    let items = self.pop_mark()?;
                    self.extend(items)?;
                }
                b'}' => self.push(Value::Dict(Vec::new()))?,
                b'd' => {
                    let items = self.pop_mark()?;
                    self.push(Value::Dict(Vec::new()))?;
                    self.set_items(items)?;
                }
                b's' => {
                    let v = self.pop()?;
                    let k = self.pop()?;
                    self.set_items(vec![k, v])?;
                }
                b'u' => {
                    let items = self.pop_mark()?;
                    self.set_items(items)?;
                }
                b'c' => {
                    let module = self.line()?;
                    let name = self.line()?;
                    self.push(Value::Global { module, name })?;
                }
                0x93 => {
                    let name = self.pop()?;
                    let module = self.pop()?;
                    match (self.resolve(module, 0)?, self.resolve(name, 0)?) {
                        (Value::Str(module), Value::Str(name)) => {
                            self.push(Value::Global { module, name })?
                        }
                        _ => return Err(format!("STACK_GLOBAL needs two strings at byte {at}")),
                    }
                }
                b'R' | 0x81 => {
                    let args = self.pop()?;
                    let func = self.pop()?;
                    let v = if self.is_ordered_dict_call(&func, &args) {
                        Value::Dict(Vec::new())
                    } else {
                        Value::Call {
                            func: Box::new(func),
                            args: Box::new(args),
                        }
                    };
                    self.push(v)?;
                }
                // BUILD sets attributes (for torch's OrderedDict, its `_metadata` of module
                // versions); nothing we read needs them, so the state is dropped.
                b'b' => drop(self.pop()?),
                b'Q' => {
                    let id = self.pop()?;
                    self.push(Value::PersId(Box::new(id)))?;
                }
                b'q' => {
                    let id = self.u8()?.into();
                    self.memo_put(id)?;
                }
                b'r' => {
                    let id = self.u32()?;
                    self.memo_put(id)?;
                }
                0x94 => {
                    let id = u32::try_from(self.memo.len())
                        .map_err(|_| format!("memo overflow at byte {at}"))?;
                    self.memo_put(id)?;
                }
                b'h' => {
                    let id = self.u8()?.into();
                    self.memo_get(id)?;
                }
                b'j' => {
                    let id = self.u32()?;
                    self.memo_get(id)?;
                }
                other => {
                    return Err(format!(
                        "unsupported pickle opcode 0x{other:02x} at byte {at}"
                    ));
                }
            }
        }
    }

    /// Looks through a memo reference (and an alias) without copying.
    fn peek<'v>(&'v self, v: &'v Value) -> &'v Value {
        let mut v = v;
        for _ in 0..2 {
            if let Value::Memo(id) = v {
                v = self.memo.get(id).unwrap_or(v);
            }
        }
        v
    }

    /// `collections.OrderedDict()` becomes a plain dict, so the SETITEMS that follow can fill it.
    fn is_ordered_dict_call(&self, func: &Value, args: &Value) -> bool {
        let is_class = matches!(self.peek(func), Value::Global { module, name } if module == "collections" && name == "OrderedDict");
        is_class && matches!(self.peek(args), Value::Tuple(a) if a.is_empty())
    }

    /// Replaces memo references by copies of what they name, charging the node budget.
    fn resolve(&mut self, v: Value, depth: usize) -> Result<Value, String> {
        if depth > MAX_DEPTH {
            return Err(format!(
                "values nested deeper than {MAX_DEPTH} (or referring to themselves)"
            ));
        }
        self.charge(1)?;
        let all = |items: Vec<Value>, vm: &mut Self| {
            items
                .into_iter()
                .map(|x| vm.resolve(x, depth + 1))
                .collect::<Result<Vec<_>, _>>()
        };
        Ok(match v {
            Value::Memo(id) => {
                let target = self
                    .memo
                    .get(&id)
                    .cloned()
                    .ok_or_else(|| format!("memo key {id} not defined"))?;
                self.resolve(target, depth + 1)?
            }
            Value::Tuple(items) => Value::Tuple(all(items, self)?),
            Value::List(items) => Value::List(all(items, self)?),
            Value::Dict(items) => {
                let mut out = Vec::with_capacity(items.len());
                for (k, x) in items {
                    out.push((self.resolve(k, depth + 1)?, self.resolve(x, depth + 1)?));
                }
                Value::Dict(out)
            }
            Value::Call { func, args } => Value::Call {
                func: Box::new(self.resolve(*func, depth + 1)?),
                args: Box::new(self.resolve(*args, depth + 1)?),
            },
            Value::PersId(id) => Value::PersId(Box::new(self.resolve(*id, depth + 1)?)),
            other => other,
        })
    }
}

/// LONG1/LONG4 payload: little-endian two's complement.
fn long(bytes: &[u8]) -> Value {
    if bytes.len() <= 8 {
        let fill = if bytes.last().is_some_and(|b| b & 0x80 != 0) {
            0xff
        } else {
            0
        };
        let mut buf = [fill; 8];
        buf[..bytes.len()].copy_from_slice(bytes);
        Value::Int(i64::from_le_bytes(buf))
    } else {
        Value::BigInt(bytes.to_vec())
    }
}

fn utf8(bytes: Vec<u8>, at: usize) -> Result<String, String> {
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
                (
                    s("a"),
                    Value::List(vec![Value::Int(1), Value::Int(-2), Value::Float(3.5)])
                ),
                (
                    s("b"),
                    Value::Tuple(vec![s("x"), Value::None, Value::Bool(true)])
                ),
            ])
        );
    }

    #[test]
    fn memo_shares_mutations() {
        // l = []; pickle.dumps((l, l)) after l.append(7): EMPTY_LIST PUT0 GET0 ... the list is
        // memoised before it is filled, and both references must see the item.
        let p = b"\x80\x02]q\x00K\x07ah\x00\x86.";
        let (v, _) = read(p, 0).expect("valid pickle");
        let l = Value::List(vec![Value::Int(7)]);
        assert_eq!(v, Value::Tuple(vec![l.clone(), l]));
    }

    #[test]
    fn big_long_is_kept_as_bytes() {
        // torch's magic number 0x1950a86a20f9469cfc6c, as LONG1 with 10 bytes.
        let p = b"\x80\x02\x8a\x0a\x6c\xfc\x9c\x46\xf9\x20\x6a\xa8\x50\x19.";
        let (v, _) = read(p, 0).expect("valid pickle");
        assert_eq!(
            v,
            Value::BigInt(vec![
                0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19
            ])
        );
        assert_eq!(
            read(b"\x8a\x02\x00\xff.", 0).expect("valid").0,
            Value::Int(-256)
        );
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
        assert!(
            err.contains("expands too much") || err.contains("nested deeper"),
            "{err}"
        );
    }

    #[test]
    fn lying_lengths_do_not_allocate() {
        let p = b"\x80\x02X\xff\xff\xff\xff";
        assert!(read(p, 0).unwrap_err().contains("truncated"));
        let p = b"\x80\x02\x8d\xff\xff\xff\xff\xff\xff\xff\x7f";
        assert!(read(p, 0).unwrap_err().contains("truncated"));
    }
}
