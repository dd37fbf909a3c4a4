//! The in-memory semantic index: per workspace, each article's embedding
//! vectors (one per passage), L2-normalised and stored as 8-bit integers
//! with one scale per vector. Search is an exact scan: the query (f32)
//! against every row, best row per article.
//!
//! Why 8 bits: the scan is bound by memory bandwidth, not arithmetic. At
//! 10,000 articles × 5 passages × 384 dimensions the f32 rows are 77 MB read
//! per query (15 ms here, 60 ms on a busy server); 8-bit rows are 19 MB and
//! four times faster, and the cosine they give differs from the exact one by
//! about 0.001 (each component is rounded to 1/127 of the vector's largest);
//! on the tuning sets with multilingual-e5-small every figure stayed within
//! 0.002 of the f32 one (docs/benchmarks.md).
//!
//! For the same reason a large workspace's scan (above 4 MB of rows) runs
//! on two threads, split at an article boundary: at 10,000 documentation
//! articles (56,000 rows) that took the hybrid search's p50 from 12–13 ms
//! to 4.2–4.4 ms. Multiplying by a 16-bit integer copy of the query instead
//! of converting each component to f32 was tried and made no measurable
//! difference.
//!
//! Vectors come from an embeddings API and are persisted by the caller; they
//! are not written to the tantivy index.

use std::collections::HashMap;
use std::sync::{OnceLock, RwLock};

use uuid::Uuid;

/// A normalised vector as 8-bit components: `value ≈ q[i] · scale`.
#[derive(Debug, Clone)]
struct Quantized {
    q: Vec<i8>,
    scale: f32,
    /// The vector's position in the list the caller set (rows that could
    /// not be normalised are dropped, so positions can skip).
    row: u16,
}

impl Quantized {
    /// `v` must be normalised (finite, not zero).
    fn of(v: &[f32], row: usize) -> Self {
        let max = v.iter().fold(0f32, |m, x| m.max(x.abs()));
        let scale = if max > 0.0 { max / 127.0 } else { 1.0 };
        Self {
            q: v.iter()
                .map(|x| (x / scale).round().clamp(-127.0, 127.0) as i8)
                .collect(),
            scale,
            row: u16::try_from(row).unwrap_or(u16::MAX),
        }
    }
}

/// One workspace's vectors: the per-article source of truth plus a flat,
/// contiguous copy for scanning that is rebuilt lazily after changes.
#[derive(Debug, Default)]
struct WsVectors {
    by_article: HashMap<Uuid, Vec<Quantized>>,
    flat: OnceLock<HashMap<usize, Flat>>,
}

/// Rows of one dimension: `ids[r]` owns `data[r·dim .. (r+1)·dim]` with
/// scale `scales[r]`; an article's rows are adjacent.
#[derive(Debug, Default)]
struct Flat {
    ids: Vec<Uuid>,
    rows: Vec<u16>,
    scales: Vec<f32>,
    data: Vec<i8>,
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
                    let f = by_dim.entry(v.q.len()).or_default();
                    f.ids.push(*id);
                    f.rows.push(v.row);
                    f.scales.push(v.scale);
                    f.data.extend_from_slice(&v.q);
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

/// Dot product of 8-bit components with an f32 vector, with eight
/// independent accumulators over fixed-size chunks (SIMD, no bounds checks).
fn dot_q(a: &[i8], b: &[f32]) -> f32 {
    let mut acc = [0f32; 8];
    let (ca, cb) = (a.chunks_exact(8), b.chunks_exact(8));
    let tail: f32 = ca
        .remainder()
        .iter()
        .zip(cb.remainder())
        .map(|(x, y)| f32::from(*x) * y)
        .sum();
    for (x, y) in ca.zip(cb) {
        let x: &[i8; 8] = x.try_into().expect("chunks of 8");
        let y: &[f32; 8] = y.try_into().expect("chunks of 8");
        for i in 0..8 {
            acc[i] += f32::from(x[i]) * y[i];
        }
    }
    acc.iter().sum::<f32>() + tail
}

impl VectorStore {
    pub(crate) fn set(&self, ws: Uuid, article: Uuid, vectors: Vec<Vec<f32>>) {
        let vs: Vec<Quantized> = vectors
            .into_iter()
            .enumerate()
            .filter_map(|(i, v)| normalized(v).map(|v| Quantized::of(&v, i)))
            .collect();
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
    /// query's dimension, with the row it came from. Empty when the
    /// workspace has no such vectors.
    pub(crate) fn scores(&self, ws: Uuid, query: &[f32]) -> Vec<(Uuid, f32, usize)> {
        let Some(q) = normalized(query.to_vec()) else {
            return Vec::new();
        };
        let Ok(inner) = self.inner.read() else {
            return Vec::new();
        };
        let Some(flat) = inner.get(&ws).and_then(|w| w.flat().get(&q.len())) else {
            return Vec::new();
        };
        if flat.data.len() < PARALLEL_SCAN_BYTES || !*TWO_CORES {
            return scan(flat, &q, 0..flat.ids.len());
        }
        scan_split(flat, &q)
    }
}

/// Whether this machine has a second core for a large scan (read once).
static TWO_CORES: std::sync::LazyLock<bool> =
    std::sync::LazyLock::new(|| std::thread::available_parallelism().is_ok_and(|p| p.get() > 1));

/// [`scan`] of all rows in two halves on two threads, split at an article
/// boundary near the middle (an article's rows are adjacent), so each half
/// reports whole articles.
fn scan_split(flat: &Flat, q: &[f32]) -> Vec<(Uuid, f32, usize)> {
    let n = flat.ids.len();
    let mut mid = n / 2;
    while mid > 0 && mid < n && flat.ids[mid] == flat.ids[mid - 1] {
        mid += 1;
    }
    std::thread::scope(|scope| {
        let upper = scope.spawn(|| scan(flat, q, mid..n));
        let mut out = scan(flat, q, 0..mid);
        match upper.join() {
            Ok(rest) => out.extend(rest),
            Err(panic) => std::panic::resume_unwind(panic),
        }
        out
    })
}

/// Above this many bytes of rows (about 11,000 rows of 384 dimensions) a
/// workspace's scan is split over two threads: it is bound by memory
/// bandwidth, and a second core adds to it.
const PARALLEL_SCAN_BYTES: usize = 4 << 20;

/// Best cosine per article over the rows `range` of `flat` (`q`
/// normalised, of the rows' dimension).
fn scan(flat: &Flat, q: &[f32], range: std::ops::Range<usize>) -> Vec<(Uuid, f32, usize)> {
    let dim = q.len();
    let rows = &flat.data[range.start * dim..range.end * dim];
    let mut out: Vec<(Uuid, f32, usize)> = Vec::with_capacity(range.len() / 2);
    for (((id, scale), &r), row) in flat.ids[range.clone()]
        .iter()
        .zip(&flat.scales[range.clone()])
        .zip(&flat.rows[range])
        .zip(rows.chunks_exact(dim))
    {
        let s = dot_q(row, q) * scale;
        match out.last_mut() {
            Some((last, best, at)) if last == id => {
                if s > *best {
                    (*best, *at) = (s, usize::from(r));
                }
            }
            _ => out.push((*id, s, usize::from(r))),
        }
    }
    out
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
        assert_eq!(sc[0].2, 1, "the best row is reported");
        assert!((sc[0].1 - 1.0).abs() < 1e-3);
        assert!((sc[1].1 - std::f32::consts::FRAC_1_SQRT_2).abs() < 1e-3);
        assert!(s.scores(Uuid::from_u128(9), &[0.0, 1.0]).is_empty());
        assert!(normalized(vec![0.0, 0.0]).is_none());
        s.remove(ws, a);
        assert_eq!(s.count(ws), 1);
    }

    #[test]
    fn a_large_workspace_scanned_on_two_threads_scores_as_on_one() {
        let mut seed = 0x2545_F491_4F6C_DD1Du64;
        let mut next = || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed % 2001) as f32 / 1000.0 - 1.0
        };
        let (ws, dim) = (Uuid::from_u128(1), 384);
        let s = VectorStore::default();
        // 4,001 articles of 3 rows: 4.6 MB of rows, above the threshold,
        // and the middle row (6,001) falls inside an article.
        for a in 0..4_001u128 {
            let rows = (0..3).map(|_| (0..dim).map(|_| next()).collect()).collect();
            s.set(ws, Uuid::from_u128(a + 10), rows);
        }
        let q: Vec<f32> = (0..dim).map(|_| next()).collect();
        let inner = s.inner.read().unwrap();
        let flat = &inner[&ws].flat()[&dim];
        assert!(flat.data.len() >= PARALLEL_SCAN_BYTES);
        let q = normalized(q).unwrap();
        // Called directly: `scores` would not split on a one-core machine.
        let got = scan_split(flat, &q);
        let one = scan(flat, &q, 0..flat.ids.len());
        assert_eq!(got.len(), 4_001, "each article once");
        assert_eq!(got, one);
    }

    #[test]
    fn eight_bit_rows_keep_the_cosine_within_a_thousandth() {
        let mut seed = 0x9E37_79B9_7F4A_7C15u64;
        let mut next = || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed % 2001) as f32 / 1000.0 - 1.0
        };
        let ws = Uuid::from_u128(1);
        let s = VectorStore::default();
        let docs: Vec<Vec<f32>> = (0..200)
            .map(|_| (0..384).map(|_| next()).collect())
            .collect();
        for (i, d) in docs.iter().enumerate() {
            s.set(ws, Uuid::from_u128(i as u128 + 10), vec![d.clone()]);
        }
        let q: Vec<f32> = (0..384).map(|_| next()).collect();
        let qn = normalized(q.clone()).unwrap();
        for (id, got, _) in s.scores(ws, &q) {
            let d = normalized(docs[(id.as_u128() - 10) as usize].clone()).unwrap();
            let exact: f32 = d.iter().zip(&qn).map(|(a, b)| a * b).sum();
            assert!((got - exact).abs() < 1e-3, "{got} vs {exact}");
        }
    }
}
