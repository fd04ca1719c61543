//! A small ONNX graph writer: initializers, nodes and typed graph inputs/outputs, serialised to a
//! `ModelProto` with prost.
//!
//! Written by hand because no maintained Rust crate writes ONNX graphs (the ONNX tooling is Python);
//! what we need is a thin layer over the generated protobuf types that hands out unique value names.

use std::collections::{HashMap, HashSet};

use prost::Message;

use crate::error::{ModelError, Result};
use crate::onnx_proto::{
    AttributeProto, GraphProto, ModelProto, NodeProto, OperatorSetIdProto, TensorProto, TensorShapeProto, TypeProto,
    ValueInfoProto, attribute_proto::AttributeType, tensor_proto::DataType, tensor_shape_proto, type_proto,
};

/// Opset of the default ONNX domain the graphs are written against (Clip takes min/max inputs).
pub const OPSET: i64 = 17;
/// ONNX IR version 8 is what opset 17 shipped with; every ONNX Runtime since 1.13 reads it.
pub const IR_VERSION: i64 = 8;

/// One dimension of a graph input or output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Dim {
    Fixed(usize),
    /// A dimension left open, named so the runtime can tell equal ones apart.
    Symbolic(&'static str),
}

/// The open batch dimension every graph of this crate uses.
pub const BATCH: Dim = Dim::Symbolic("batch");

/// A node attribute value.
#[derive(Debug, Clone, PartialEq)]
pub enum Attr {
    Int(i64),
    Ints(Vec<i64>),
    Float(f32),
    Floats(Vec<f32>),
    Str(String),
}

impl Attr {
    /// `usize` slices are what the layer code has at hand; ONNX wants `i64`.
    pub fn ints(values: &[usize]) -> Attr {
        Attr::Ints(values.iter().map(|&v| v as i64).collect())
    }

    fn into_proto(self, name: &str) -> AttributeProto {
        let mut a = AttributeProto { name: Some(name.to_owned()), ..Default::default() };
        let kind = match self {
            Attr::Int(v) => {
                a.i = Some(v);
                AttributeType::Int
            }
            Attr::Ints(v) => {
                a.ints = v;
                AttributeType::Ints
            }
            Attr::Float(v) => {
                a.f = Some(v);
                AttributeType::Float
            }
            Attr::Floats(v) => {
                a.floats = v;
                AttributeType::Floats
            }
            Attr::Str(v) => {
                a.s = Some(v.into_bytes());
                AttributeType::String
            }
        };
        a.r#type = Some(kind as i32);
        a
    }
}

/// Builds one ONNX graph. Values are referred to by name; every method that creates a value
/// returns its (unique) name so calls chain naturally:
///
/// ```ignore
/// let x = g.input("input", &[BATCH, Dim::Fixed(3), Dim::Fixed(8), Dim::Fixed(8)]);
/// let y = g.relu(&x);
/// g.output(&y, "output", &[BATCH, Dim::Fixed(3), Dim::Fixed(8), Dim::Fixed(8)]);
/// let bytes = g.finish().encode_to_vec();
/// ```
#[derive(Debug)]
pub struct GraphBuilder {
    graph: GraphProto,
    names: HashSet<String>,
    scalars: HashMap<u32, String>,
    next_id: usize,
    doc: Option<String>,
    /// Prefix of initializer names: several networks whose weights share names (two
    /// EfficientNet-Lites' `_conv_stem.weight`) can then live in one graph.
    scope: String,
}

impl GraphBuilder {
    pub fn new(name: &str) -> Self {
        GraphBuilder {
            graph: GraphProto { name: Some(name.to_owned()), ..Default::default() },
            names: HashSet::new(),
            scalars: HashMap::new(),
            next_id: 0,
            doc: None,
            scope: String::new(),
        }
    }

    /// A free-text description stored in the model (e.g. which weights it was built from).
    pub fn set_doc(&mut self, doc: impl Into<String>) {
        self.doc = Some(doc.into());
    }

    /// Prefixes the names of initializers added from now on with `scope` (e.g. `lite1/`); `""`
    /// turns it off.
    pub fn set_scope(&mut self, scope: &str) {
        self.scope = scope.to_owned();
    }

    /// A name not yet used in this graph, derived from `hint`.
    pub fn fresh(&mut self, hint: &str) -> String {
        loop {
            let name = format!("{hint}_{}", self.next_id);
            self.next_id += 1;
            if self.names.insert(name.clone()) {
                return name;
            }
        }
    }

    fn claim(&mut self, name: &str) -> Result<String> {
        if !self.names.insert(name.to_owned()) {
            return Err(ModelError::Graph(format!("value name {name:?} used twice")));
        }
        Ok(name.to_owned())
    }

    /// Declares a float32 graph input.
    pub fn input(&mut self, name: &str, dims: &[Dim]) -> Result<String> {
        let name = self.claim(name)?;
        self.graph.input.push(value_info(&name, dims));
        Ok(name)
    }

    /// Exposes `value` as float32 graph output `name` (through an `Identity` when the names differ,
    /// which ONNX Runtime optimises away).
    pub fn output(&mut self, value: &str, name: &str, dims: &[Dim]) -> Result<()> {
        if value != name {
            let out = self.claim(name)?;
            self.push_node("Identity", &[value], &out, Vec::new());
        }
        self.graph.output.push(value_info(name, dims));
        Ok(())
    }

    /// A float32 constant tensor; `values` must hold exactly `shape.product()` numbers.
    pub fn initializer(&mut self, name: &str, shape: &[usize], values: &[f32]) -> Result<String> {
        check_len(name, shape, values.len())?;
        let name = self.claim(&format!("{}{name}", self.scope))?;
        let raw = values.iter().flat_map(|v| v.to_le_bytes()).collect();
        self.push_initializer(&name, shape, DataType::Float, raw);
        Ok(name)
    }

    /// An int64 constant tensor (shapes for `Reshape`, axes, ...).
    pub fn initializer_i64(&mut self, name: &str, shape: &[usize], values: &[i64]) -> Result<String> {
        check_len(name, shape, values.len())?;
        let name = self.claim(&format!("{}{name}", self.scope))?;
        let raw = values.iter().flat_map(|v| v.to_le_bytes()).collect();
        self.push_initializer(&name, shape, DataType::Int64, raw);
        Ok(name)
    }

    /// An int64 constant under a fresh name derived from `hint`.
    pub fn constant_i64(&mut self, hint: &str, shape: &[usize], values: &[i64]) -> Result<String> {
        check_len(hint, shape, values.len())?;
        let name = self.fresh(hint);
        let raw = values.iter().flat_map(|v| v.to_le_bytes()).collect();
        self.push_initializer(&name, shape, DataType::Int64, raw);
        Ok(name)
    }

    /// A float32 scalar constant, shared between all nodes that use the same value.
    pub fn scalar(&mut self, value: f32) -> String {
        if let Some(name) = self.scalars.get(&value.to_bits()) {
            return name.clone();
        }
        let name = self.fresh("scalar");
        self.push_initializer(&name, &[], DataType::Float, value.to_le_bytes().to_vec());
        self.scalars.insert(value.to_bits(), name.clone());
        name
    }

    /// Appends a node of the default domain with one output and returns the output's name.
    pub fn node(&mut self, op: &str, inputs: &[&str], attrs: Vec<(&str, Attr)>) -> String {
        let out = self.fresh(&op.to_ascii_lowercase());
        self.push_node(op, inputs, &out, attrs);
        out
    }

    fn push_node(&mut self, op: &str, inputs: &[&str], out: &str, attrs: Vec<(&str, Attr)>) {
        self.graph.node.push(NodeProto {
            input: inputs.iter().map(|s| (*s).to_owned()).collect(),
            output: vec![out.to_owned()],
            name: Some(format!("{op}:{out}")),
            op_type: Some(op.to_owned()),
            attribute: attrs.into_iter().map(|(n, a)| a.into_proto(n)).collect(),
            ..Default::default()
        });
    }

    fn push_initializer(&mut self, name: &str, shape: &[usize], dtype: DataType, raw: Vec<u8>) {
        self.graph.initializer.push(TensorProto {
            dims: shape.iter().map(|&d| d as i64).collect(),
            data_type: Some(dtype as i32),
            name: Some(name.to_owned()),
            raw_data: Some(raw),
            ..Default::default()
        });
    }

    /// Number of nodes so far (for tests and logging).
    pub fn node_count(&self) -> usize {
        self.graph.node.len()
    }

    /// The finished model: opset [`OPSET`] of the default domain, IR version [`IR_VERSION`].
    pub fn finish(self) -> ModelProto {
        ModelProto {
            ir_version: Some(IR_VERSION),
            opset_import: vec![OperatorSetIdProto { domain: Some(String::new()), version: Some(OPSET) }],
            producer_name: Some("sneaker-id".to_owned()),
            producer_version: Some(env!("CARGO_PKG_VERSION").to_owned()),
            doc_string: self.doc,
            graph: Some(self.graph),
            ..Default::default()
        }
    }
}

/// Serialises a model to the protobuf bytes ONNX Runtime reads.
pub fn encode(model: &ModelProto) -> Vec<u8> {
    model.encode_to_vec()
}

fn check_len(name: &str, shape: &[usize], len: usize) -> Result<()> {
    let want: usize = shape.iter().product();
    if want != len {
        return Err(ModelError::Graph(format!("initializer {name:?}: shape {shape:?} needs {want} values, got {len}")));
    }
    Ok(())
}

fn value_info(name: &str, dims: &[Dim]) -> ValueInfoProto {
    use tensor_shape_proto::{Dimension, dimension::Value};
    let dim = dims
        .iter()
        .map(|d| Dimension {
            value: Some(match d {
                Dim::Fixed(n) => Value::DimValue(*n as i64),
                Dim::Symbolic(s) => Value::DimParam((*s).to_owned()),
            }),
            ..Default::default()
        })
        .collect();
    let tensor = type_proto::Tensor { elem_type: Some(DataType::Float as i32), shape: Some(TensorShapeProto { dim }) };
    ValueInfoProto {
        name: Some(name.to_owned()),
        r#type: Some(TypeProto { value: Some(type_proto::Value::TensorType(tensor)), ..Default::default() }),
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_scalars_shared() {
        let mut g = GraphBuilder::new("t");
        let x = g.input("x", &[BATCH, Dim::Fixed(4)]).unwrap();
        assert!(g.input("x", &[Dim::Fixed(1)]).is_err());
        let a = g.scalar(6.0);
        let b = g.scalar(6.0);
        let c = g.scalar(0.0);
        assert_eq!(a, b);
        assert_ne!(a, c);
        let y = g.node("Clip", &[&x, &c, &a], vec![]);
        let z = g.node("Clip", &[&y, &c, &a], vec![]);
        assert_ne!(y, z);
        g.output(&z, "out", &[BATCH, Dim::Fixed(4)]).unwrap();
        let m = g.finish();
        let graph = m.graph.as_ref().unwrap();
        assert_eq!(graph.initializer.len(), 2);
        assert_eq!(graph.node.len(), 3); // two Clips and the output Identity
        assert_eq!(m.opset_import[0].version, Some(17));
    }

    #[test]
    fn initializer_length_is_checked() {
        let mut g = GraphBuilder::new("t");
        let err = g.initializer("w", &[2, 3], &[0.0; 5]).unwrap_err();
        assert!(err.to_string().contains("needs 6 values, got 5"), "{err}");
        assert!(g.initializer("w", &[2, 3], &[0.0; 6]).is_ok());
    }

    #[test]
    fn model_round_trips_through_protobuf() {
        let mut g = GraphBuilder::new("t");
        let x = g.input("input", &[BATCH, Dim::Fixed(2)]).unwrap();
        let w = g.initializer("w", &[3, 2], &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]).unwrap();
        let y = g.node("Gemm", &[&x, &w], vec![("transB", Attr::Int(1))]);
        g.output(&y, "y", &[BATCH, Dim::Fixed(3)]).unwrap();
        let bytes = encode(&g.finish());
        let back = ModelProto::decode(bytes.as_slice()).unwrap();
        let graph = back.graph.unwrap();
        assert_eq!(graph.node[0].attribute[0].i, Some(1));
        assert_eq!(graph.initializer[0].raw_data.as_ref().unwrap().len(), 24);
        assert_eq!(graph.input[0].name.as_deref(), Some("input"));
    }
}
