//! Encodings the two backends share for knowledge-base rows: JSON columns
//! and vectors as little-endian `f32` bytes.

use crate::corrupt;
use kefu_domain::StoreError;

pub(crate) fn json_text<T: serde::Serialize + ?Sized>(v: &T) -> Result<String, StoreError> {
    serde_json::to_string(v).map_err(StoreError::backend)
}

pub(crate) fn json_list(text: &str) -> Result<Vec<String>, StoreError> {
    serde_json::from_str(text).map_err(|_| corrupt("json list"))
}

/// Vectors of one dimension as stored: the count and the dimension (`u32`
/// little-endian each), then every component as a little-endian `f32`.
pub(crate) fn vectors_to_bytes(v: &[Vec<f32>]) -> Vec<u8> {
    let dims = v.first().map_or(0, Vec::len);
    let mut out = Vec::with_capacity(8 + 4 * dims * v.len());
    out.extend_from_slice(&(v.len() as u32).to_le_bytes());
    out.extend_from_slice(&(dims as u32).to_le_bytes());
    for x in v.iter().flatten() {
        out.extend_from_slice(&x.to_le_bytes());
    }
    out
}

pub(crate) fn vectors_from_bytes(b: &[u8]) -> Result<Vec<Vec<f32>>, StoreError> {
    let bad = || corrupt("kb_embeddings.vector");
    let word = |i: usize| -> Result<usize, StoreError> {
        let w = b.get(i..i + 4).ok_or_else(bad)?;
        Ok(u32::from_le_bytes([w[0], w[1], w[2], w[3]]) as usize)
    };
    let (count, dims) = (word(0)?, word(4)?);
    if b.len() != 8 + 4 * count * dims || (count > 0 && dims == 0) {
        return Err(bad());
    }
    let floats: Vec<f32> = b[8..]
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect();
    Ok(floats.chunks(dims.max(1)).map(<[f32]>::to_vec).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vectors_round_trip_exactly() {
        let v = vec![vec![0.0, -1.5, f32::MIN_POSITIVE], vec![3.25e-7, 1.0, 2.0]];
        assert_eq!(vectors_from_bytes(&vectors_to_bytes(&v)).unwrap(), v);
        assert_eq!(
            vectors_from_bytes(&vectors_to_bytes(&[])).unwrap(),
            Vec::<Vec<f32>>::new()
        );
        assert!(vectors_from_bytes(&[1, 2, 3]).is_err());
        let mut short = vectors_to_bytes(&v);
        short.pop();
        assert!(vectors_from_bytes(&short).is_err());
    }
}
