//! The archive format, version 1.
//!
//! ```text
//! file    = magic "KEFUBAK\n" | u32 header length | header (JSON) | chunk* | [sha256]
//! chunk   = u32 (bit 31: last chunk; bits 0–30: payload length) | payload
//! ```
//! The chunks' payloads, concatenated, are one zstd frame of records. When
//! the archive is encrypted each payload is a chunk of the STREAM
//! construction (XChaCha20-Poly1305, 32-bit big-endian counter, last-chunk
//! flag) with the header bytes as associated data, so the header, every
//! chunk, their order and the end are all authenticated. An unencrypted
//! archive ends with the SHA-256 of every byte before it instead.
//!
//! ```text
//! record  = 'T' name ncols (name type)*     a table begins
//!         | 'R' value*                      a row, one value per column
//!         | 'E' rows digest                 the table ends
//!         | 'S' name bytes                  a secret (with --include-secrets)
//!         | 'M' manifest (JSON)             row counts and digests of all tables
//!         | 'Z'                             the end
//! value   = 0 (NULL) | 1 payload            payload by the column's type
//! ```
//! Integers are little-endian; strings and byte strings carry a u32 length.

use crate::error::{BackupError, Result};
use chrono::{DateTime, Utc};
use kefu_store::snapshot::{Column, LType, Value};
use serde::{Deserialize, Serialize};
use std::io::Read;

pub const MAGIC: &[u8; 8] = b"KEFUBAK\n";
pub const FORMAT: u32 = 1;
/// Plaintext bytes per chunk; a chunk's payload is at most this plus the tag.
pub const CHUNK: usize = 64 * 1024;
pub const TAG: usize = 16;
const MAX_HEADER: u32 = 64 * 1024;
/// No string in an archive is longer (a sanity bound against damaged lengths).
const MAX_STRING: u32 = 256 * 1024 * 1024;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Header {
    pub format: u32,
    pub schema_version: u32,
    pub kefu_version: String,
    pub engine: String,
    pub created_at: DateTime<Utc>,
    pub compression: String,
    #[serde(default)]
    pub encryption: Option<Encryption>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Encryption {
    /// `xchacha20poly1305-stream-be32`
    pub cipher: String,
    pub key_id: String,
    /// The STREAM nonce prefix, 19 bytes in hex.
    pub nonce: String,
}

pub const CIPHER: &str = "xchacha20poly1305-stream-be32";

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct TableSummary {
    pub name: String,
    pub rows: u64,
    pub digest: String,
}

/// What the archive holds, written last (the counts and digests are known
/// only then) and checked against what was read.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Manifest {
    pub format: u32,
    pub schema_version: u32,
    pub kefu_version: String,
    pub engine: String,
    pub created_at: DateTime<Utc>,
    pub key_id: Option<String>,
    pub tables: Vec<TableSummary>,
    /// The id of the token signing key in use when the archive was made
    /// (whether or not the key itself is included).
    pub signing_key_id: Option<String>,
    pub secrets_included: bool,
}

impl Manifest {
    pub fn rows(&self) -> std::collections::BTreeMap<String, u64> {
        self.tables
            .iter()
            .map(|t| (t.name.clone(), t.rows))
            .collect()
    }

    pub fn total_rows(&self) -> u64 {
        self.tables.iter().map(|t| t.rows).sum()
    }
}

pub fn encode_header(h: &Header) -> Vec<u8> {
    let json = serde_json::to_vec(h).expect("a header serialises");
    let mut out = Vec::with_capacity(12 + json.len());
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&(json.len() as u32).to_le_bytes());
    out.extend_from_slice(&json);
    out
}

/// Reads the header; returns it and its exact bytes (the associated data).
pub fn read_header(r: &mut impl Read) -> Result<(Header, Vec<u8>)> {
    let mut magic = [0u8; 8];
    read_exact(r, &mut magic, "before its header")?;
    if &magic != MAGIC {
        return Err(BackupError::NotAnArchive);
    }
    let mut len = [0u8; 4];
    read_exact(r, &mut len, "in its header")?;
    let n = u32::from_le_bytes(len);
    if n > MAX_HEADER {
        return Err(BackupError::Corrupt(format!("header length {n}")));
    }
    let mut json = vec![0u8; n as usize];
    read_exact(r, &mut json, "in its header")?;
    let format: serde_json::Value = serde_json::from_slice(&json)
        .map_err(|e| BackupError::Corrupt(format!("unreadable header ({e})")))?;
    if let Some(f) = format.get("format").and_then(|f| f.as_u64()) {
        if f > FORMAT as u64 {
            return Err(BackupError::Newer {
                what: "archive format",
                archive: f as u32,
                supported: FORMAT,
            });
        }
    }
    let header: Header = serde_json::from_value(format)
        .map_err(|e| BackupError::Corrupt(format!("unreadable header ({e})")))?;
    let mut bytes = Vec::with_capacity(12 + json.len());
    bytes.extend_from_slice(&magic);
    bytes.extend_from_slice(&len);
    bytes.extend_from_slice(&json);
    Ok((header, bytes))
}

fn read_exact(r: &mut impl Read, buf: &mut [u8], at: &'static str) -> Result<()> {
    r.read_exact(buf).map_err(|e| match e.kind() {
        std::io::ErrorKind::UnexpectedEof => BackupError::Truncated(at),
        _ => crate::error::from_io("reading".into(), e),
    })
}

// ---- records -------------------------------------------------------------

pub fn put_str(out: &mut Vec<u8>, s: &[u8]) {
    out.extend_from_slice(&(s.len() as u32).to_le_bytes());
    out.extend_from_slice(s);
}

pub fn table_start(out: &mut Vec<u8>, name: &str, columns: &[Column]) {
    out.push(b'T');
    put_str(out, name.as_bytes());
    out.extend_from_slice(&(columns.len() as u16).to_le_bytes());
    for c in columns {
        put_str(out, c.name.as_bytes());
        out.push(c.ty.code());
    }
}

pub fn row(out: &mut Vec<u8>, columns: &[Column], values: &[Value]) {
    out.push(b'R');
    for (c, v) in columns.iter().zip(values) {
        value(out, c.ty, v);
    }
}

fn value(out: &mut Vec<u8>, _ty: LType, v: &Value) {
    match v {
        Value::Null => out.push(0),
        Value::Int(i) => {
            out.push(1);
            out.extend_from_slice(&i.to_le_bytes());
        }
        Value::Real(f) => {
            out.push(1);
            out.extend_from_slice(&f.to_le_bytes());
        }
        Value::Text(s) => {
            out.push(1);
            put_str(out, s.as_bytes());
        }
        Value::Bytes(b) => {
            out.push(1);
            put_str(out, b);
        }
        Value::Uuid(u) => {
            out.push(1);
            out.extend_from_slice(u.as_bytes());
        }
        Value::Bool(b) => out.extend_from_slice(&[1, *b as u8]),
        Value::Time(t) => {
            out.push(1);
            out.extend_from_slice(&t.timestamp().to_le_bytes());
            out.extend_from_slice(&t.timestamp_subsec_nanos().to_le_bytes());
        }
    }
}

pub fn table_end(out: &mut Vec<u8>, rows: u64, digest: &str) {
    out.push(b'E');
    out.extend_from_slice(&rows.to_le_bytes());
    put_str(out, digest.as_bytes());
}

pub fn secret(out: &mut Vec<u8>, name: &str, bytes: &[u8]) {
    out.push(b'S');
    put_str(out, name.as_bytes());
    put_str(out, bytes);
}

pub fn manifest(out: &mut Vec<u8>, m: &Manifest) {
    out.push(b'M');
    put_str(out, &serde_json::to_vec(m).expect("a manifest serialises"));
    out.push(b'Z');
}

/// One record as read.
#[derive(Debug)]
pub enum Record {
    Table {
        name: String,
        columns: Vec<(String, LType)>,
    },
    Row(Vec<Value>),
    TableEnd {
        rows: u64,
        digest: String,
    },
    Secret {
        name: String,
        bytes: Vec<u8>,
    },
    Manifest(Box<Manifest>),
    End,
}

/// Reads records from the decompressed stream. `types` are the current
/// table's column types (rows carry no types of their own).
pub struct RecordReader<R> {
    r: R,
    types: Vec<LType>,
}

impl<R: Read> RecordReader<R> {
    pub fn new(r: R) -> Self {
        Self {
            r,
            types: Vec::new(),
        }
    }

    pub fn into_inner(self) -> R {
        self.r
    }

    fn bytes<const N: usize>(&mut self) -> Result<[u8; N]> {
        let mut b = [0u8; N];
        self.r
            .read_exact(&mut b)
            .map_err(|e| crate::error::from_io("decompressing".into(), e))?;
        Ok(b)
    }

    fn u8(&mut self) -> Result<u8> {
        Ok(self.bytes::<1>()?[0])
    }

    fn u32(&mut self) -> Result<u32> {
        Ok(u32::from_le_bytes(self.bytes()?))
    }

    fn blob(&mut self) -> Result<Vec<u8>> {
        let n = self.u32()?;
        if n > MAX_STRING {
            return Err(BackupError::Corrupt(format!("a value of {n} bytes")));
        }
        let mut b = vec![0u8; n as usize];
        self.r
            .read_exact(&mut b)
            .map_err(|e| crate::error::from_io("decompressing".into(), e))?;
        Ok(b)
    }

    fn string(&mut self) -> Result<String> {
        String::from_utf8(self.blob()?)
            .map_err(|_| BackupError::Corrupt("a string that is not UTF-8".into()))
    }

    pub fn read_record(&mut self) -> Result<Record> {
        match self.u8()? {
            b'T' => {
                let name = self.string()?;
                let n = u16::from_le_bytes(self.bytes()?);
                let mut columns = Vec::with_capacity(n as usize);
                for _ in 0..n {
                    let c = self.string()?;
                    let code = self.u8()?;
                    let ty = LType::from_code(code).ok_or_else(|| {
                        BackupError::Corrupt(format!("unknown column type {code} for {name}.{c}"))
                    })?;
                    columns.push((c, ty));
                }
                self.types = columns.iter().map(|c| c.1).collect();
                Ok(Record::Table { name, columns })
            }
            b'R' => {
                let mut row = Vec::with_capacity(self.types.len());
                for i in 0..self.types.len() {
                    let ty = self.types[i];
                    row.push(self.value(ty)?);
                }
                Ok(Record::Row(row))
            }
            b'E' => {
                let rows = u64::from_le_bytes(self.bytes()?);
                let digest = self.string()?;
                self.types.clear();
                Ok(Record::TableEnd { rows, digest })
            }
            b'S' => Ok(Record::Secret {
                name: self.string()?,
                bytes: self.blob()?,
            }),
            b'M' => {
                let m: Manifest = serde_json::from_slice(&self.blob()?)
                    .map_err(|e| BackupError::Corrupt(format!("unreadable manifest ({e})")))?;
                Ok(Record::Manifest(Box::new(m)))
            }
            b'Z' => Ok(Record::End),
            other => Err(BackupError::Corrupt(format!("unknown record type {other}"))),
        }
    }

    fn value(&mut self, ty: LType) -> Result<Value> {
        match self.u8()? {
            0 => return Ok(Value::Null),
            1 => {}
            t => return Err(BackupError::Corrupt(format!("value tag {t}"))),
        }
        Ok(match ty {
            LType::Uuid => Value::Uuid(uuid::Uuid::from_bytes(self.bytes()?)),
            LType::Text => Value::Text(self.string()?),
            LType::I16 | LType::I32 | LType::I64 => Value::Int(i64::from_le_bytes(self.bytes()?)),
            LType::Bool => Value::Bool(self.u8()? != 0),
            LType::F32 => Value::Real(f64::from_le_bytes(self.bytes()?)),
            LType::Time => {
                let secs = i64::from_le_bytes(self.bytes()?);
                let nanos = u32::from_le_bytes(self.bytes()?);
                Value::Time(
                    DateTime::from_timestamp(secs, nanos)
                        .ok_or_else(|| BackupError::Corrupt("a timestamp out of range".into()))?,
                )
            }
            LType::Bytes => Value::Bytes(self.blob()?),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip() {
        let cols = [
            Column {
                name: "id",
                ty: LType::Uuid,
            },
            Column {
                name: "body",
                ty: LType::Text,
            },
            Column {
                name: "n",
                ty: LType::I32,
            },
            Column {
                name: "ok",
                ty: LType::Bool,
            },
            Column {
                name: "at",
                ty: LType::Time,
            },
            Column {
                name: "v",
                ty: LType::Bytes,
            },
            Column {
                name: "c",
                ty: LType::F32,
            },
        ];
        let row_values = vec![
            Value::Uuid(uuid::Uuid::now_v7()),
            Value::Text("退货 refund \u{0}".into()),
            Value::Int(-7),
            Value::Bool(true),
            Value::Time(Utc::now()),
            Value::Bytes(vec![0, 255, 3]),
            Value::Null,
        ];
        let mut buf = Vec::new();
        table_start(&mut buf, "t", &cols);
        row(&mut buf, &cols, &row_values);
        table_end(&mut buf, 1, "ab");
        let mut r = RecordReader::new(&buf[..]);
        assert!(
            matches!(r.read_record().unwrap(), Record::Table { name, columns } if name == "t" && columns.len() == 7)
        );
        match r.read_record().unwrap() {
            Record::Row(v) => assert_eq!(v, row_values),
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            r.read_record().unwrap(),
            Record::TableEnd { rows: 1, .. }
        ));
        assert!(matches!(r.read_record(), Err(BackupError::Truncated(_))));
    }
}
