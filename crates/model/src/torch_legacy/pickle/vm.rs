//! The pickle machine proper: a stack, marks and a memo, run over the opcodes torch uses.

use std::collections::HashMap;

use super::{MAX_DEPTH, Value, long, utf8};

pub(super) struct Vm<'a> {
    data: &'a [u8],
    pos: usize,
    stack: Vec<Value>,
    /// Stack lengths at each MARK.
    marks: Vec<usize>,
    memo: HashMap<u32, Value>,
    /// Nodes that deep copies and memo resolution may still create.
    budget: usize,
}

impl<'a> Vm<'a> {
    pub(super) fn new(data: &'a [u8], start: usize) -> Self {
        Vm {
            data,
            pos: start,
            stack: Vec::new(),
            marks: Vec::new(),
            memo: HashMap::new(),
            budget: 8 * data.len().saturating_sub(start) + 1024,
        }
    }

    /// Offset just past the last opcode read.
    pub(super) fn pos(&self) -> usize {
        self.pos
    }

    fn take(&mut self, n: usize) -> Result<&[u8], String> {
        let left = self.data.len() - self.pos;
        if n > left {
            return Err(format!("truncated: {n} bytes needed at byte {}, {left} left", self.pos));
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
        usize::try_from(u64::from_le_bytes(self.array()?)).map_err(|_| format!("length too large at byte {}", self.pos))
    }

    fn line(&mut self) -> Result<String, String> {
        let rest = &self.data[self.pos..];
        let n =
            rest.iter().position(|&b| b == b'\n').ok_or_else(|| format!("unterminated line at byte {}", self.pos))?;
        let line = self.take(n + 1)?;
        utf8(line[..n].to_vec(), self.pos)
    }

    fn pop(&mut self) -> Result<Value, String> {
        let floor = self.marks.last().copied().unwrap_or(0);
        if self.stack.len() <= floor {
            return Err(format!("stack underflow at byte {}", self.pos));
        }
        self.stack.pop().ok_or_else(|| format!("stack underflow at byte {}", self.pos))
    }

    /// Pops everything above the last MARK, and the mark.
    fn pop_mark(&mut self) -> Result<Vec<Value>, String> {
        let mark = self.marks.pop().ok_or_else(|| format!("no MARK on the stack at byte {}", self.pos))?;
        if mark > self.stack.len() {
            return Err(format!("stack underflow at byte {}", self.pos));
        }
        Ok(self.stack.split_off(mark))
    }

    fn push(&mut self, v: Value) -> Result<(), String> {
        if v.depth() > MAX_DEPTH {
            return Err(format!("values nested deeper than {MAX_DEPTH} at byte {}", self.pos));
        }
        self.stack.push(v);
        Ok(())
    }

    fn charge(&mut self, nodes: usize) -> Result<(), String> {
        self.budget =
            self.budget.checked_sub(nodes).ok_or_else(|| format!("pickle expands too much at byte {}", self.pos))?;
        Ok(())
    }

    fn memo_put(&mut self, id: u32) -> Result<(), String> {
        // Picklers give every object a fresh id; refusing redefinitions keeps memo aliases acyclic.
        if self.memo.contains_key(&id) {
            return Err(format!("memo key {id} redefined at byte {}", self.pos));
        }
        let top = self.stack.last_mut().ok_or_else(|| format!("PUT on empty stack at byte {}", self.pos))?;
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
        let slot = self.stack.get_mut(index).ok_or_else(|| format!("stack underflow at byte {pos}"))?;
        let mut id = match slot {
            Value::Memo(id) => *id,
            _ => return Ok(slot),
        };
        if let Some(Value::Memo(aliased)) = self.memo.get(&id) {
            id = *aliased;
        }
        self.memo.get_mut(&id).ok_or_else(|| format!("memo key {id} not defined at byte {pos}"))
    }

    fn extend(&mut self, items: Vec<Value>) -> Result<(), String> {
        let depth = items.iter().map(Value::depth).max().unwrap_or(0);
        let pos = self.pos;
        let index = self.stack.len().checked_sub(1).ok_or_else(|| format!("stack underflow at byte {pos}"))?;
        match self.target(index)? {
            Value::List(list) if depth < MAX_DEPTH => list.extend(items),
            Value::List(_) => {
                return Err(format!("values nested deeper than {MAX_DEPTH} at byte {pos}"));
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
        let index = self.stack.len().checked_sub(1).ok_or_else(|| format!("stack underflow at byte {pos}"))?;
        match self.target(index)? {
            Value::Dict(dict) if depth < MAX_DEPTH => {
                let mut it = items.into_iter();
                while let (Some(k), Some(v)) = (it.next(), it.next()) {
                    dict.push((k, v));
                }
            }
            Value::Dict(_) => {
                return Err(format!("values nested deeper than {MAX_DEPTH} at byte {pos}"));
            }
            other => return Err(format!("SETITEM on {} at byte {pos}", other.kind())),
        }
        Ok(())
    }

    /// Runs opcodes until STOP and returns the top of the stack.
    pub(super) fn run(&mut self) -> Result<Value, String> {
        loop {
            let at = self.pos;
            let op = self.u8()?;
            if let Some(v) = self.literal(op, at)? {
                self.push(v)?;
                continue;
            }
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
                b't' => {
                    let items = self.pop_mark()?;
                    self.push(Value::Tuple(items))?;
                }
                0x85..=0x87 => {
                    let n = usize::from(op - 0x84);
                    let floor = self.marks.last().copied().unwrap_or(0);
                    if self.stack.len() < floor + n {
                        return Err(format!("stack underflow at byte {at}"));
                    }
                    let items = self.stack.split_off(self.stack.len() - n);
                    self.push(Value::Tuple(items))?;
                }
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
                0x93 => {
                    let name = self.pop()?;
                    let module = self.pop()?;
                    match (self.resolve(module, 0)?, self.resolve(name, 0)?) {
                        (Value::Str(module), Value::Str(name)) => self.push(Value::Global { module, name })?,
                        _ => return Err(format!("STACK_GLOBAL needs two strings at byte {at}")),
                    }
                }
                b'R' | 0x81 => {
                    let args = self.pop()?;
                    let func = self.pop()?;
                    let v = if self.is_ordered_dict_call(&func, &args) {
                        Value::Dict(Vec::new())
                    } else {
                        Value::Call { func: Box::new(func), args: Box::new(args) }
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
                    let id = u32::try_from(self.memo.len()).map_err(|_| format!("memo overflow at byte {at}"))?;
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
                    return Err(format!("unsupported pickle opcode 0x{other:02x} at byte {at}"));
                }
            }
        }
    }

    /// The value an opcode that only reads its argument bytes stands for; `None` for others.
    fn literal(&mut self, op: u8, at: usize) -> Result<Option<Value>, String> {
        Ok(Some(match op {
            b'N' => Value::None,
            0x88 => Value::Bool(true),
            0x89 => Value::Bool(false),
            b'J' => Value::Int(i32::from_le_bytes(self.array()?).into()),
            b'K' => Value::Int(self.u8()?.into()),
            b'M' => Value::Int(u16::from_le_bytes(self.array()?).into()),
            0x8a => {
                let n = self.u8()?.into();
                long(self.take(n)?)
            }
            0x8b => {
                let n = self.u32()? as usize;
                long(self.take(n)?)
            }
            b'G' => Value::Float(f64::from_be_bytes(self.array()?)),
            // BINUNICODE, SHORT_BINUNICODE, BINUNICODE8
            b'X' | 0x8c | 0x8d => {
                let n = match op {
                    b'X' => self.u32()? as usize,
                    0x8c => self.u8()?.into(),
                    _ => self.len8()?,
                };
                Value::Str(utf8(self.take(n)?.to_vec(), at)?)
            }
            // BINSTRING / SHORT_BINSTRING (py2 str) and BINBYTES / SHORT_BINBYTES.
            b'T' | b'B' | b'U' | b'C' => {
                let n = if matches!(op, b'T' | b'B') { self.u32()? as usize } else { self.u8()?.into() };
                Value::Bytes(self.take(n)?.to_vec())
            }
            b')' => Value::Tuple(Vec::new()),
            b']' => Value::List(Vec::new()),
            b'}' => Value::Dict(Vec::new()),
            b'c' => {
                let module = self.line()?;
                let name = self.line()?;
                Value::Global { module, name }
            }
            _ => return Ok(None),
        }))
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
    pub(super) fn resolve(&mut self, v: Value, depth: usize) -> Result<Value, String> {
        if depth > MAX_DEPTH {
            return Err(format!("values nested deeper than {MAX_DEPTH} (or referring to themselves)"));
        }
        self.charge(1)?;
        let all = |items: Vec<Value>, vm: &mut Self| {
            items.into_iter().map(|x| vm.resolve(x, depth + 1)).collect::<Result<Vec<_>, _>>()
        };
        Ok(match v {
            Value::Memo(id) => {
                let target = self.memo.get(&id).cloned().ok_or_else(|| format!("memo key {id} not defined"))?;
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
