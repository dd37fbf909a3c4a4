//! The archive's chunk layer (see [`crate::format`]): the writer cuts the
//! compressed stream into chunks, encrypting each when a key is given, and
//! hashes every byte it writes; the reader checks each chunk (its tag, or
//! for plain archives the final SHA-256) and the end, and never allocates
//! more than one chunk whatever a damaged length field says.

use crate::error::{wrap, BackupError};
use crate::format::{CHUNK, TAG};
use crate::key::BackupKey;
use chacha20poly1305::aead::stream::{DecryptorBE32, EncryptorBE32};
use chacha20poly1305::aead::{KeyInit, Payload};
use chacha20poly1305::XChaCha20Poly1305;
use sha2::{Digest, Sha256};
use std::io::{self, Read, Write};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

const LAST: u32 = 1 << 31;
pub const NONCE_PREFIX: usize = 19;

pub struct ChunkWriter<W: Write> {
    inner: W,
    buf: Vec<u8>,
    enc: Option<EncryptorBE32<XChaCha20Poly1305>>,
    aad: Vec<u8>,
    hash: Sha256,
    written: u64,
    progress: Option<Arc<AtomicU64>>,
}

impl<W: Write> ChunkWriter<W> {
    /// Writes `header` (the encoded archive header) and prepares the chunks.
    pub fn new(
        mut inner: W,
        header: Vec<u8>,
        key: Option<(&BackupKey, [u8; NONCE_PREFIX])>,
        progress: Option<Arc<AtomicU64>>,
    ) -> io::Result<Self> {
        inner.write_all(&header)?;
        let mut hash = Sha256::new();
        hash.update(&header);
        let enc = key.map(|(k, nonce)| {
            let aead = XChaCha20Poly1305::new((&k.bytes).into());
            EncryptorBE32::from_aead(aead, (&nonce).into())
        });
        Ok(Self {
            inner,
            buf: Vec::with_capacity(CHUNK),
            enc,
            written: header.len() as u64,
            aad: header,
            hash,
            progress,
        })
    }

    fn emit(&mut self, last: bool) -> io::Result<()> {
        let plain = std::mem::take(&mut self.buf);
        let payload = match (&mut self.enc, last) {
            (None, _) => plain,
            (Some(_), true) => {
                let enc = self.enc.take().expect("checked");
                enc.encrypt_last(Payload {
                    msg: &plain,
                    aad: &self.aad,
                })
                .map_err(|_| io::Error::other("encryption failed"))?
            }
            (Some(enc), false) => enc
                .encrypt_next(Payload {
                    msg: &plain,
                    aad: &self.aad,
                })
                .map_err(|_| io::Error::other("encryption failed"))?,
        };
        let mut len = payload.len() as u32;
        if last {
            len |= LAST;
        }
        self.put(&len.to_le_bytes())?;
        self.put(&payload)?;
        self.buf = Vec::with_capacity(CHUNK);
        Ok(())
    }

    fn put(&mut self, b: &[u8]) -> io::Result<()> {
        self.inner.write_all(b)?;
        self.hash.update(b);
        self.written += b.len() as u64;
        if let Some(p) = &self.progress {
            p.store(self.written, Ordering::Relaxed);
        }
        Ok(())
    }

    /// Writes the last chunk (and, unencrypted, the SHA-256 trailer).
    /// Returns the sink, the file's length and the SHA-256 of the whole file.
    pub fn finish(mut self) -> io::Result<(W, u64, [u8; 32])> {
        let plain = self.enc.is_none();
        self.emit(true)?;
        if plain {
            let trailer: [u8; 32] = self.hash.clone().finalize().into();
            self.put(&trailer)?;
        }
        self.inner.flush()?;
        Ok((self.inner, self.written, self.hash.finalize().into()))
    }
}

impl<W: Write> Write for ChunkWriter<W> {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        let room = CHUNK - self.buf.len();
        let n = room.min(data.len());
        self.buf.extend_from_slice(&data[..n]);
        if self.buf.len() == CHUNK {
            self.emit(false)?;
        }
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

pub struct ChunkReader<R: Read> {
    inner: R,
    dec: Option<DecryptorBE32<XChaCha20Poly1305>>,
    encrypted: bool,
    aad: Vec<u8>,
    hash: Sha256,
    buf: Vec<u8>,
    pos: usize,
    done: bool,
    chunk: u64,
    read: u64,
    progress: Option<Arc<AtomicU64>>,
}

impl<R: Read> ChunkReader<R> {
    /// `header` is the header's bytes as read (hashed, or associated data).
    pub fn new(
        inner: R,
        header: Vec<u8>,
        key: Option<(&BackupKey, [u8; NONCE_PREFIX])>,
        progress: Option<Arc<AtomicU64>>,
    ) -> Self {
        let mut hash = Sha256::new();
        hash.update(&header);
        let dec = key.map(|(k, nonce)| {
            let aead = XChaCha20Poly1305::new((&k.bytes).into());
            DecryptorBE32::from_aead(aead, (&nonce).into())
        });
        Self {
            inner,
            encrypted: dec.is_some(),
            dec,
            read: header.len() as u64,
            aad: header,
            hash,
            buf: Vec::new(),
            pos: 0,
            done: false,
            chunk: 0,
            progress,
        }
    }

    fn fill(&mut self, buf: &mut [u8], at: &'static str) -> io::Result<()> {
        let mut got = 0;
        while got < buf.len() {
            match self.inner.read(&mut buf[got..]) {
                Ok(0) => return Err(wrap(BackupError::Truncated(at))),
                Ok(n) => got += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        self.read += buf.len() as u64;
        if let Some(p) = &self.progress {
            p.store(self.read, Ordering::Relaxed);
        }
        Ok(())
    }

    fn next_chunk(&mut self) -> io::Result<()> {
        let mut len = [0u8; 4];
        self.fill(&mut len, "before its last chunk")?;
        let word = u32::from_le_bytes(len);
        let last = word & LAST != 0;
        let n = (word & !LAST) as usize;
        let max = CHUNK + if self.encrypted { TAG } else { 0 };
        if n > max {
            return Err(wrap(BackupError::Corrupt(format!(
                "chunk {} claims {n} bytes",
                self.chunk
            ))));
        }
        let mut payload = vec![0u8; n];
        self.fill(&mut payload, "in the middle of a chunk")?;
        let chunk = self.chunk;
        let auth = || {
            wrap(BackupError::Corrupt(format!(
                "chunk {chunk} fails authentication (the file was changed or damaged)"
            )))
        };
        self.buf = if self.encrypted {
            let msg = Payload {
                msg: &payload,
                aad: &self.aad,
            };
            if last {
                let dec = self.dec.take().ok_or_else(auth)?;
                dec.decrypt_last(msg).map_err(|_| auth())?
            } else {
                let dec = self.dec.as_mut().ok_or_else(auth)?;
                dec.decrypt_next(msg).map_err(|_| auth())?
            }
        } else {
            self.hash.update(len);
            self.hash.update(&payload);
            payload
        };
        self.pos = 0;
        self.chunk += 1;
        if last {
            if !self.encrypted {
                let mut trailer = [0u8; 32];
                self.fill(&mut trailer, "before its checksum")?;
                let want: [u8; 32] = self.hash.clone().finalize().into();
                if trailer != want {
                    return Err(wrap(BackupError::Corrupt(
                        "its SHA-256 does not match its content (the file was changed or damaged)"
                            .into(),
                    )));
                }
            }
            let mut extra = [0u8; 1];
            if self.inner.read(&mut extra)? != 0 {
                return Err(wrap(BackupError::Corrupt(
                    "there is data after its end".into(),
                )));
            }
            self.done = true;
        }
        Ok(())
    }
}

impl<R: Read> Read for ChunkReader<R> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        while self.pos == self.buf.len() {
            if self.done {
                return Ok(0);
            }
            self.next_chunk()?;
        }
        let n = out.len().min(self.buf.len() - self.pos);
        out[..n].copy_from_slice(&self.buf[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn roundtrip(key: Option<&BackupKey>, data: &[u8]) -> (Vec<u8>, io::Result<Vec<u8>>) {
        let nonce = [7u8; NONCE_PREFIX];
        let header = b"HEADER".to_vec();
        let mut w =
            ChunkWriter::new(Vec::new(), header.clone(), key.map(|k| (k, nonce)), None).unwrap();
        w.write_all(data).unwrap();
        let (file, n, _) = w.finish().unwrap();
        assert_eq!(n as usize, file.len());
        let out = read_back(&file, key);
        (file, out)
    }

    fn read_back(file: &[u8], key: Option<&BackupKey>) -> io::Result<Vec<u8>> {
        let nonce = [7u8; NONCE_PREFIX];
        let mut r = ChunkReader::new(
            &file[6..],
            file[..6].to_vec(),
            key.map(|k| (k, nonce)),
            None,
        );
        let mut out = Vec::new();
        r.read_to_end(&mut out).map(|_| out)
    }

    fn err(r: io::Result<Vec<u8>>) -> String {
        crate::error::from_io("reading".into(), r.unwrap_err()).to_string()
    }

    #[test]
    fn both_modes_round_trip_and_detect_damage() {
        let key = BackupKey::from_bytes([9; 32]);
        let data: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
        for k in [None, Some(&key)] {
            let (file, out) = roundtrip(k, &data);
            assert_eq!(out.unwrap(), data);
            // A flipped byte in the middle.
            let mut bad = file.clone();
            bad[100_000] ^= 1;
            assert!(err(read_back(&bad, k)).contains("corrupt"), "{k:?}");
            // Cut anywhere, even at a chunk boundary.
            for cut in [
                file.len() - 1,
                6 + 4 + CHUNK + if k.is_some() { TAG } else { 0 },
                50,
            ] {
                let e = err(read_back(&file[..cut], k));
                assert!(e.contains("truncated"), "{k:?} cut {cut}: {e}");
            }
            // The header is bound too.
            let mut hdr = file.clone();
            hdr[0] ^= 1;
            assert!(read_back(&hdr, k).is_err());
            // Bytes appended after the end.
            let mut long = file.clone();
            long.push(0);
            assert!(err(read_back(&long, k)).contains("after its end"));
        }
        let (file, _) = roundtrip(Some(&key), &data);
        let other = BackupKey::from_bytes([8; 32]);
        assert!(err(read_back(&file, Some(&other))).contains("authentication"));
    }

    #[test]
    fn an_empty_stream_is_one_final_chunk() {
        let key = BackupKey::from_bytes([1; 32]);
        for k in [None, Some(&key)] {
            let (_, out) = roundtrip(k, b"");
            assert_eq!(out.unwrap(), b"");
        }
    }
}
