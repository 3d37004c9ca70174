//! [`DataEncoder`]: call arguments and results as bytes, in the seed's four formats — JSON,
//! MessagePack, a compact binary format (postcard) and Protocol Buffers — each through a
//! well-kept crate.
//!
//! Every format carries every value exactly: floats as their bits (so NaN payloads survive),
//! `v128` as its 16 little-endian bytes, references as the store's function index or the
//! extern reference's number, or null.
//!
//! | format | crate | a value looks like |
//! |---|---|---|
//! | JSON | `serde_json` | `{"i32":5}`, `{"f64":4611686018427387904}`, `{"funcref":null}` |
//! | MessagePack | `rmp-serde` | the same shape, binary |
//! | postcard | `postcard` | a variant byte and a varint |
//! | Protocol Buffers | `prost` | `message Values { repeated Value values = 1; }` with a `oneof` |

use serde::{Deserialize, Serialize};
use wes_core::{ExternRef, FuncRef, Value};

/// One of the four formats.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum Encoding {
    /// JSON (`serde_json`).
    #[default]
    Json,
    /// MessagePack (`rmp-serde`).
    Msgpack,
    /// postcard, a compact binary format.
    Postcard,
    /// Protocol Buffers (`prost`).
    Protobuf,
}

impl Encoding {
    /// Every encoding.
    pub const ALL: [Encoding; 4] = [Encoding::Json, Encoding::Msgpack, Encoding::Postcard, Encoding::Protobuf];

    /// The encoder for this format.
    pub fn encoder(self) -> &'static dyn DataEncoder {
        match self {
            Encoding::Json => &JsonEncoder,
            Encoding::Msgpack => &MsgpackEncoder,
            Encoding::Postcard => &PostcardEncoder,
            Encoding::Protobuf => &ProtobufEncoder,
        }
    }
}

/// Why values could not be encoded or decoded.
#[derive(Debug, thiserror::Error)]
#[error("{encoding:?}: {message}")]
pub struct EncodingError {
    /// The format.
    pub encoding: Encoding,
    /// What went wrong.
    pub message: String,
}

/// Turns a list of wasm values into bytes and back. The four formats of [`Encoding`] implement
/// it; an embedder may implement it for another.
pub trait DataEncoder: Send + Sync + std::fmt::Debug {
    /// Encodes `values`.
    ///
    /// # Errors
    ///
    /// [`EncodingError`] if the format cannot represent them (none of the built-in ones fails).
    fn encode(&self, values: &[Value]) -> Result<Vec<u8>, EncodingError>;

    /// Decodes values encoded by [`DataEncoder::encode`].
    ///
    /// # Errors
    ///
    /// [`EncodingError`] for bytes that are not an encoding of values.
    fn decode(&self, bytes: &[u8]) -> Result<Vec<Value>, EncodingError>;
}

/// A value as the serde formats write it.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
enum Wire {
    I32(i32),
    I64(i64),
    /// The bits.
    F32(u32),
    /// The bits.
    F64(u64),
    /// Little-endian bytes.
    V128([u8; 16]),
    FuncRef(Option<u32>),
    ExternRef(Option<u32>),
}

impl From<Value> for Wire {
    fn from(v: Value) -> Wire {
        match v {
            Value::I32(x) => Wire::I32(x),
            Value::I64(x) => Wire::I64(x),
            Value::F32(b) => Wire::F32(b),
            Value::F64(b) => Wire::F64(b),
            Value::V128(x) => Wire::V128(x.to_le_bytes()),
            Value::FuncRef(r) => Wire::FuncRef(r.map(|r| r.index())),
            Value::ExternRef(r) => Wire::ExternRef(r.map(|r| r.0)),
        }
    }
}

impl From<Wire> for Value {
    fn from(w: Wire) -> Value {
        match w {
            Wire::I32(x) => Value::I32(x),
            Wire::I64(x) => Value::I64(x),
            Wire::F32(b) => Value::F32(b),
            Wire::F64(b) => Value::F64(b),
            Wire::V128(b) => Value::V128(u128::from_le_bytes(b)),
            Wire::FuncRef(r) => Value::FuncRef(r.map(FuncRef::from_index)),
            Wire::ExternRef(r) => Value::ExternRef(r.map(ExternRef)),
        }
    }
}

fn wire(values: &[Value]) -> Vec<Wire> {
    values.iter().copied().map(Wire::from).collect()
}

fn values(wire: Vec<Wire>) -> Vec<Value> {
    wire.into_iter().map(Value::from).collect()
}

fn error(encoding: Encoding, e: impl std::fmt::Display) -> EncodingError {
    EncodingError { encoding, message: e.to_string() }
}

/// JSON, through `serde_json`.
#[derive(Clone, Copy, Debug, Default)]
pub struct JsonEncoder;

impl DataEncoder for JsonEncoder {
    fn encode(&self, v: &[Value]) -> Result<Vec<u8>, EncodingError> {
        serde_json::to_vec(&wire(v)).map_err(|e| error(Encoding::Json, e))
    }
    fn decode(&self, bytes: &[u8]) -> Result<Vec<Value>, EncodingError> {
        serde_json::from_slice(bytes).map(values).map_err(|e| error(Encoding::Json, e))
    }
}

/// MessagePack, through `rmp-serde` (enum variants by name, like the JSON).
#[derive(Clone, Copy, Debug, Default)]
pub struct MsgpackEncoder;

impl DataEncoder for MsgpackEncoder {
    fn encode(&self, v: &[Value]) -> Result<Vec<u8>, EncodingError> {
        rmp_serde::to_vec_named(&wire(v)).map_err(|e| error(Encoding::Msgpack, e))
    }
    fn decode(&self, bytes: &[u8]) -> Result<Vec<Value>, EncodingError> {
        rmp_serde::from_slice(bytes).map(values).map_err(|e| error(Encoding::Msgpack, e))
    }
}

/// postcard's compact binary format.
#[derive(Clone, Copy, Debug, Default)]
pub struct PostcardEncoder;

impl DataEncoder for PostcardEncoder {
    fn encode(&self, v: &[Value]) -> Result<Vec<u8>, EncodingError> {
        postcard::to_stdvec(&wire(v)).map_err(|e| error(Encoding::Postcard, e))
    }
    fn decode(&self, bytes: &[u8]) -> Result<Vec<Value>, EncodingError> {
        postcard::from_bytes::<Vec<Wire>>(bytes).map(values).map_err(|e| error(Encoding::Postcard, e))
    }
}

/// Protocol Buffers, through `prost`, with this schema:
///
/// ```proto
/// message Values { repeated Value values = 1; }
/// message Ref { optional uint32 index = 1; }
/// message Value {
///   oneof kind {
///     int32 i32 = 1; int64 i64 = 2; fixed32 f32 = 3; fixed64 f64 = 4;
///     bytes v128 = 5; Ref funcref = 6; Ref externref = 7;
///   }
/// }
/// ```
#[derive(Clone, Copy, Debug, Default)]
pub struct ProtobufEncoder;

mod pb {
    #[derive(Clone, PartialEq, prost::Message)]
    pub(super) struct Values {
        #[prost(message, repeated, tag = "1")]
        pub(super) values: Vec<Value>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub(super) struct Value {
        #[prost(oneof = "Kind", tags = "1, 2, 3, 4, 5, 6, 7")]
        pub(super) kind: Option<Kind>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub(super) struct Ref {
        #[prost(uint32, optional, tag = "1")]
        pub(super) index: Option<u32>,
    }

    #[derive(Clone, PartialEq, prost::Oneof)]
    pub(super) enum Kind {
        #[prost(int32, tag = "1")]
        I32(i32),
        #[prost(int64, tag = "2")]
        I64(i64),
        #[prost(fixed32, tag = "3")]
        F32(u32),
        #[prost(fixed64, tag = "4")]
        F64(u64),
        #[prost(bytes, tag = "5")]
        V128(Vec<u8>),
        #[prost(message, tag = "6")]
        FuncRef(Ref),
        #[prost(message, tag = "7")]
        ExternRef(Ref),
    }
}

impl DataEncoder for ProtobufEncoder {
    fn encode(&self, v: &[Value]) -> Result<Vec<u8>, EncodingError> {
        use prost::Message;
        let values = v
            .iter()
            .map(|v| {
                let kind = match *v {
                    Value::I32(x) => pb::Kind::I32(x),
                    Value::I64(x) => pb::Kind::I64(x),
                    Value::F32(b) => pb::Kind::F32(b),
                    Value::F64(b) => pb::Kind::F64(b),
                    Value::V128(x) => pb::Kind::V128(x.to_le_bytes().to_vec()),
                    Value::FuncRef(r) => pb::Kind::FuncRef(pb::Ref { index: r.map(|r| r.index()) }),
                    Value::ExternRef(r) => pb::Kind::ExternRef(pb::Ref { index: r.map(|r| r.0) }),
                };
                pb::Value { kind: Some(kind) }
            })
            .collect();
        Ok(pb::Values { values }.encode_to_vec())
    }

    fn decode(&self, bytes: &[u8]) -> Result<Vec<Value>, EncodingError> {
        use prost::Message;
        let bad = |m: &str| error(Encoding::Protobuf, m);
        let decoded = pb::Values::decode(bytes).map_err(|e| error(Encoding::Protobuf, e))?;
        decoded
            .values
            .into_iter()
            .map(|v| {
                Ok(match v.kind.ok_or_else(|| bad("a value with no kind"))? {
                    pb::Kind::I32(x) => Value::I32(x),
                    pb::Kind::I64(x) => Value::I64(x),
                    pb::Kind::F32(b) => Value::F32(b),
                    pb::Kind::F64(b) => Value::F64(b),
                    pb::Kind::V128(b) => {
                        let b: [u8; 16] = b.try_into().map_err(|_| bad("a v128 that is not 16 bytes"))?;
                        Value::V128(u128::from_le_bytes(b))
                    }
                    pb::Kind::FuncRef(r) => Value::FuncRef(r.index.map(FuncRef::from_index)),
                    pb::Kind::ExternRef(r) => Value::ExternRef(r.index.map(ExternRef)),
                })
            })
            .collect()
    }
}
