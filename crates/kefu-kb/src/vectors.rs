//! The in-memory semantic index: per workspace, each article's L2-normalised
//! embedding vector(s). Search is an exact scan (dot product of normalised
//! vectors = cosine); at 10,000 articles × 384 dimensions that is a few
//! million multiply-adds, well under a millisecond or two.
//!
//! Vectors come from an embeddings API and are persisted by the caller; they
//! are not written to the tantivy index.

use std::collections::HashMap;
use std::sync::{OnceLock, RwLock};

use uuid::Uuid;

/// One workspace's vectors: the per-article source of truth plus a flat,
/// contiguous copy for scanning that is rebuilt lazily after changes.
#[derive(Debug, Default)]
struct WsVectors {
    by_article: HashMap<Uuid, Vec<Vec<f32>>>,
    flat: OnceLock<HashMap<usize, Flat>>,
}

/// Rows of one dimension: `ids[r]` owns `data[r·dim .. (r+1)·dim]`; an
/// article's rows are adjacent.
#[derive(Debug, Default)]
struct Flat {
    ids: Vec<Uuid>,
    data: Vec<f32>,
}

impl WsVectors {
    fn changed(&mut self) {
        self.flat = OnceLock::new();
    }

    fn flat(&self) -> &HashMap<usize, Flat> {
        self.flat.get_or_init(|| {
            let mut by_dim: HashMap<usize, Flat> = HashMap::new();
            for (id, vs) in &self.by_article {
                for v in vs {
                    let f = by_dim.entry(v.len()).or_default();
                    f.ids.push(*id);
                    f.data.extend_from_slice(v);
                }
            }
            by_dim
        })
    }
}

#[derive(Debug, Default)]
pub(crate) struct VectorStore {
    inner: RwLock<HashMap<Uuid, WsVectors>>,
}

/// Returns `v / |v|`, or `None` for an empty, zero or non-finite vector.
pub(crate) fn normalized(mut v: Vec<f32>) -> Option<Vec<f32>> {
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    if v.is_empty() || !norm.is_finite() || norm == 0.0 {
        return None;
    }
    v.iter_mut().for_each(|x| *x /= norm);
    Some(v)
}

/// Dot product with eight independent accumulators (lets the compiler
/// vectorise the loop).
fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut acc = [0f32; 8];
    let (ca, cb) = (a.chunks_exact(8), b.chunks_exact(8));
    let tail: f32 = ca
        .remainder()
        .iter()
        .zip(cb.remainder())
        .map(|(x, y)| x * y)
        .sum();
    for (x, y) in ca.zip(cb) {
        for i in 0..8 {
            acc[i] += x[i] * y[i];
        }
    }
    acc.iter().sum::<f32>() + tail
}

impl VectorStore {
    pub(crate) fn set(&self, ws: Uuid, article: Uuid, vectors: Vec<Vec<f32>>) {
        let vs: Vec<Vec<f32>> = vectors.into_iter().filter_map(normalized).collect();
        let Ok(mut inner) = self.inner.write() else {
            return;
        };
        if vs.is_empty() {
            if let Some(w) = inner.get_mut(&ws) {
                w.by_article.remove(&article);
                w.changed();
            }
        } else {
            let w = inner.entry(ws).or_default();
            w.by_article.insert(article, vs);
            w.changed();
        }
    }

    pub(crate) fn remove(&self, ws: Uuid, article: Uuid) {
        if let Ok(mut inner) = self.inner.write() {
            if let Some(w) = inner.get_mut(&ws) {
                if w.by_article.remove(&article).is_some() {
                    w.changed();
                }
            }
        }
    }

    pub(crate) fn clear(&self, ws: Uuid) {
        if let Ok(mut inner) = self.inner.write() {
            inner.remove(&ws);
        }
    }

    pub(crate) fn count(&self, ws: Uuid) -> usize {
        self.inner
            .read()
            .map_or(0, |i| i.get(&ws).map_or(0, |w| w.by_article.len()))
    }

    /// Best cosine of every article of the workspace that has a vector of the
    /// query's dimension. Empty when the workspace has no such vectors.
    pub(crate) fn scores(&self, ws: Uuid, query: &[f32]) -> Vec<(Uuid, f32)> {
        let Some(q) = normalized(query.to_vec()) else {
            return Vec::new();
        };
        let Ok(inner) = self.inner.read() else {
            return Vec::new();
        };
        let Some(flat) = inner.get(&ws).and_then(|w| w.flat().get(&q.len())) else {
            return Vec::new();
        };
        let mut out: Vec<(Uuid, f32)> = Vec::with_capacity(flat.ids.len());
        for (id, row) in flat.ids.iter().zip(flat.data.chunks_exact(q.len())) {
            let s = dot(row, &q);
            match out.last_mut() {
                Some((last, best)) if last == id => *best = best.max(s),
                _ => out.push((*id, s)),
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cosine_is_scale_free_and_best_of_many() {
        let s = VectorStore::default();
        let (ws, a, b) = (Uuid::from_u128(1), Uuid::from_u128(2), Uuid::from_u128(3));
        s.set(ws, a, vec![vec![10.0, 0.0], vec![0.0, 3.0]]);
        s.set(ws, b, vec![vec![1.0, 1.0]]);
        let mut sc = s.scores(ws, &[0.0, 2.0]);
        sc.sort_by(|x, y| y.1.total_cmp(&x.1));
        assert_eq!(sc[0].0, a);
        assert!((sc[0].1 - 1.0).abs() < 1e-6);
        assert!((sc[1].1 - std::f32::consts::FRAC_1_SQRT_2).abs() < 1e-6);
        assert!(s.scores(Uuid::from_u128(9), &[0.0, 1.0]).is_empty());
        assert!(normalized(vec![0.0, 0.0]).is_none());
        s.remove(ws, a);
        assert_eq!(s.count(ws), 1);
    }
}
