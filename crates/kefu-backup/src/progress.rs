//! Progress of a running backup or restore, shared with whoever shows it
//! (the CLI's terminal line). Updated with relaxed atomics from the work's
//! hot loops; read a few times a second.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

#[derive(Debug, Default)]
pub struct Progress {
    phase: Mutex<String>,
    table: Mutex<String>,
    pub rows_done: AtomicU64,
    pub rows_total: AtomicU64,
    pub tables_done: AtomicU64,
    pub tables_total: AtomicU64,
    /// Archive bytes written or read so far.
    pub bytes: Arc<AtomicU64>,
    /// The archive's size when reading (0 when writing: unknown).
    pub bytes_total: AtomicU64,
}

/// A copy of the progress at one moment.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    pub phase: String,
    pub table: String,
    pub rows_done: u64,
    pub rows_total: u64,
    pub tables_done: u64,
    pub tables_total: u64,
    pub bytes: u64,
    pub bytes_total: u64,
}

impl Progress {
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    pub fn phase(&self, phase: &str) {
        *self.phase.lock().unwrap() = phase.into();
        self.rows_done.store(0, Ordering::Relaxed);
        self.tables_done.store(0, Ordering::Relaxed);
    }

    pub fn table(&self, name: &str) {
        *self.table.lock().unwrap() = name.into();
    }

    pub fn row(&self) {
        self.rows_done.fetch_add(1, Ordering::Relaxed);
    }

    pub fn read(&self) -> Snapshot {
        Snapshot {
            phase: self.phase.lock().unwrap().clone(),
            table: self.table.lock().unwrap().clone(),
            rows_done: self.rows_done.load(Ordering::Relaxed),
            rows_total: self.rows_total.load(Ordering::Relaxed),
            tables_done: self.tables_done.load(Ordering::Relaxed),
            tables_total: self.tables_total.load(Ordering::Relaxed),
            bytes: self.bytes.load(Ordering::Relaxed),
            bytes_total: self.bytes_total.load(Ordering::Relaxed),
        }
    }
}
