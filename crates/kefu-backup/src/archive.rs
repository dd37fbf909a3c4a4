//! Archive files as a whole: the writer takes encoded records and produces
//! header, compressed chunks and trailer; the reader yields checked events.
//! The reader recomputes every table's row count and digest and compares
//! them with the table's end record and the manifest, so a reader that got
//! to [`Event::End`] has proved the archive whole.

use crate::chunk::{ChunkReader, ChunkWriter, NONCE_PREFIX};
use crate::error::{from_io, BackupError, Result};
use crate::format::{self, Encryption, Header, Manifest, Record, RecordReader, TableSummary};
use crate::key::{hex, unhex, BackupKey};
use kefu_store::snapshot::{self, Column, Digest, Row, Table, SCHEMA_VERSION};
use rand::RngCore;
use std::io::{BufReader, BufWriter, Read, Write};
use std::sync::atomic::AtomicU64;
use std::sync::Arc;

type Sink<W> = zstd::stream::write::Encoder<'static, ChunkWriter<BufWriter<W>>>;

pub struct ArchiveWriter<W: Write> {
    z: Sink<W>,
}

impl<W: Write> ArchiveWriter<W> {
    /// Writes `header` (its `encryption` is filled in from `key`).
    pub fn new(
        out: W,
        mut header: Header,
        key: Option<&BackupKey>,
        level: i32,
        progress: Option<Arc<AtomicU64>>,
    ) -> Result<Self> {
        let nonce = key.map(|k| {
            let mut n = [0u8; NONCE_PREFIX];
            rand::rngs::OsRng.fill_bytes(&mut n);
            (k, n)
        });
        header.encryption = nonce.map(|(k, n)| Encryption {
            cipher: format::CIPHER.into(),
            key_id: k.id().into(),
            nonce: hex(&n),
        });
        let head = format::encode_header(&header);
        let chunks = ChunkWriter::new(
            BufWriter::with_capacity(256 * 1024, out),
            head,
            nonce,
            progress,
        )
        .map_err(BackupError::io("writing the archive"))?;
        let mut z = zstd::stream::write::Encoder::new(chunks, level)
            .map_err(BackupError::io("starting compression"))?;
        z.include_checksum(true)
            .map_err(BackupError::io("starting compression"))?;
        Ok(Self { z })
    }

    pub fn write(&mut self, records: &[u8]) -> Result<()> {
        self.z
            .write_all(records)
            .map_err(BackupError::io("writing the archive"))
    }

    /// Ends the archive: returns the sink, the file's length and SHA-256.
    pub fn finish(self) -> Result<(W, u64, [u8; 32])> {
        let chunks = self
            .z
            .finish()
            .map_err(BackupError::io("writing the archive"))?;
        let (buf, n, sha) = chunks
            .finish()
            .map_err(BackupError::io("writing the archive"))?;
        let out = buf
            .into_inner()
            .map_err(|e| BackupError::io("writing the archive")(e.into_error()))?;
        Ok((out, n, sha))
    }
}

/// What the reader yields, in file order.
#[derive(Debug)]
pub enum Event {
    /// A table begins; `columns` are the archive's, mapped to the catalog.
    Table {
        table: &'static Table,
        columns: Vec<Column>,
    },
    Row(Row),
    TableEnd(TableSummary),
    Secret {
        name: String,
        bytes: Vec<u8>,
    },
    /// The manifest, already checked against everything read.
    End(Box<Manifest>),
}

type Source<R> =
    RecordReader<BufReader<zstd::stream::read::Decoder<'static, BufReader<ChunkReader<R>>>>>;

pub struct ArchiveReader<R: Read> {
    pub header: Header,
    records: Option<Source<R>>,
    current: Option<(&'static Table, Digest)>,
    seen: Vec<TableSummary>,
    finished: bool,
}

impl<R: Read> ArchiveReader<R> {
    /// Reads and checks the header, choosing the key the archive names.
    pub fn open(mut r: R, keys: &[BackupKey], progress: Option<Arc<AtomicU64>>) -> Result<Self> {
        let (header, bytes) = format::read_header(&mut r)?;
        if header.schema_version > SCHEMA_VERSION {
            return Err(BackupError::Newer {
                what: "schema version",
                archive: header.schema_version,
                supported: SCHEMA_VERSION,
            });
        }
        if header.compression != "zstd" {
            return Err(BackupError::Corrupt(format!(
                "unknown compression {}",
                header.compression
            )));
        }
        let key = match &header.encryption {
            None => None,
            Some(e) => {
                if e.cipher != format::CIPHER {
                    return Err(BackupError::Corrupt(format!("unknown cipher {}", e.cipher)));
                }
                let key = keys.iter().find(|k| k.id() == e.key_id).ok_or_else(|| {
                    if keys.is_empty() {
                        BackupError::NeedsKey(e.key_id.clone())
                    } else {
                        BackupError::WrongKey {
                            archive_key_id: e.key_id.clone(),
                            given: keys
                                .iter()
                                .map(|k| format!("key {}", k.id()))
                                .collect::<Vec<_>>()
                                .join(", "),
                        }
                    }
                })?;
                let nonce: [u8; NONCE_PREFIX] = unhex(&e.nonce)
                    .and_then(|n| n.try_into().ok())
                    .ok_or_else(|| BackupError::Corrupt("a malformed nonce".into()))?;
                Some((key, nonce))
            }
        };
        let chunks = ChunkReader::new(r, bytes, key, progress);
        let z =
            zstd::stream::read::Decoder::with_buffer(BufReader::with_capacity(64 * 1024, chunks))
                .map_err(BackupError::io("decompressing"))?;
        Ok(Self {
            header,
            records: Some(RecordReader::new(BufReader::with_capacity(64 * 1024, z))),
            current: None,
            seen: Vec::new(),
            finished: false,
        })
    }

    pub fn next_event(&mut self) -> Result<Event> {
        if self.finished {
            return Err(BackupError::Usage(
                "read past the end of the archive".into(),
            ));
        }
        let records = self.records.as_mut().expect("open until the end");
        match records.read_record()? {
            Record::Table { name, columns } => {
                if self.current.is_some() {
                    return Err(BackupError::Corrupt(format!(
                        "table {name} begins inside another"
                    )));
                }
                let table = snapshot::table(&name)
                    .ok_or_else(|| BackupError::Corrupt(format!("unknown table {name}")))?;
                let mut cols = Vec::with_capacity(columns.len());
                for (c, ty) in columns {
                    let col = table.column(&c).filter(|col| col.ty == ty).ok_or_else(|| {
                        BackupError::Corrupt(format!("unknown column {name}.{c} ({ty:?})"))
                    })?;
                    cols.push(*col);
                }
                self.current = Some((table, Digest::default()));
                Ok(Event::Table {
                    table,
                    columns: cols,
                })
            }
            Record::Row(row) => {
                let (_, digest) = self
                    .current
                    .as_mut()
                    .ok_or_else(|| BackupError::Corrupt("a row outside any table".into()))?;
                digest.add(&row);
                Ok(Event::Row(row))
            }
            Record::TableEnd { rows, digest } => {
                let (table, got) = self
                    .current
                    .take()
                    .ok_or_else(|| BackupError::Corrupt("a table end outside any table".into()))?;
                if got.rows != rows || got.hex() != digest {
                    return Err(BackupError::Corrupt(format!(
                        "table {} holds {} rows with digest {}, its end record says {rows} rows, {digest}",
                        table.name,
                        got.rows,
                        got.hex()
                    )));
                }
                let s = TableSummary {
                    name: table.name.into(),
                    rows,
                    digest,
                };
                self.seen.push(s.clone());
                Ok(Event::TableEnd(s))
            }
            Record::Secret { name, bytes } => Ok(Event::Secret { name, bytes }),
            Record::Manifest(m) => {
                if self.current.is_some() {
                    return Err(BackupError::Corrupt(
                        "the manifest comes inside a table".into(),
                    ));
                }
                if m.tables != self.seen {
                    return Err(BackupError::Corrupt(
                        "the manifest's row counts or digests differ from the tables read".into(),
                    ));
                }
                let h = &self.header;
                if m.schema_version != h.schema_version
                    || m.engine != h.engine
                    || m.created_at != h.created_at
                    || m.key_id != h.encryption.as_ref().map(|e| e.key_id.clone())
                {
                    return Err(BackupError::Corrupt(
                        "the manifest disagrees with the header".into(),
                    ));
                }
                match records.read_record()? {
                    Record::End => {}
                    _ => return Err(BackupError::Corrupt("records after the manifest".into())),
                }
                // Read to the end of the chunk stream, which checks the last
                // chunk's tag (or the checksum) and that nothing follows.
                let mut rest = self.records.take().expect("checked").into_inner();
                let mut extra = Vec::new();
                rest.read_to_end(&mut extra)
                    .map_err(|e| from_io("decompressing".into(), e))?;
                if !extra.is_empty() {
                    return Err(BackupError::Corrupt("data after the end record".into()));
                }
                self.finished = true;
                Ok(Event::End(m))
            }
            Record::End => Err(BackupError::Corrupt(
                "the end comes before the manifest".into(),
            )),
        }
    }
}
