//! [`KbIndex`]: the tantivy index shared by all workspaces, its writer, and
//! the in-memory per-workspace state and vectors.
//!
//! Writes (upsert, remove, clear) are serialised by a mutex around the
//! tantivy writer; each one commits and reloads the reader before it returns,
//! so its effect is searchable immediately. Searches take a read lock on the
//! in-memory state and a cheap tantivy `Searcher` snapshot, so they run
//! concurrently. The in-memory state is rebuilt from the stored article
//! metadata when an on-disk index is reopened.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Mutex, RwLock};

use tantivy::directory::MmapDirectory;
use tantivy::schema::{
    Field, IndexRecordOption, Schema, TextFieldIndexing, TextOptions, Value, FAST, STORED, STRING,
};
use tantivy::tokenizer::{PreTokenizedString, Token};
use tantivy::{Index, IndexReader, IndexWriter, ReloadPolicy, TantivyDocument, Term};
use uuid::Uuid;

use crate::analyzer::Tokens;
use crate::passages::{split_with, PassageParams};
use crate::stats::{slot, ArticleEntry, Part, WsState};
use crate::synonyms::Synonyms;
use crate::vectors::VectorStore;
use crate::{analyzer, AnalyzerOptions, ArticleDoc, KbError};

const SCHEMA_VERSION: &str = "schema-2";
const FINGERPRINT_FILE: &str = "kefu-kb.fingerprint";
const WRITER_MEMORY: usize = 32_000_000;

/// The tantivy fields.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Fields {
    pub ws: Field,
    pub key: Field,
    pub a_hi: Field,
    pub a_lo: Field,
    /// The sub-document's index in [`ArticleEntry::subdocs`].
    pub sub: Field,
    pub meta: Field,
    /// Indexed by [`slot`]: title words, title bigrams, question words, …
    pub text: [Field; 6],
}

impl Fields {
    pub(crate) fn slot_of(&self, f: Field) -> Option<usize> {
        self.text.iter().position(|&t| t == f)
    }
}

fn schema() -> (Schema, Fields) {
    let mut b = Schema::builder();
    let ws = b.add_text_field("ws", STRING);
    let key = b.add_text_field("key", STRING);
    let a_hi = b.add_u64_field("a_hi", FAST);
    let a_lo = b.add_u64_field("a_lo", FAST);
    let sub = b.add_u64_field("sub", FAST);
    let meta = b.add_text_field("meta", STORED);
    let indexing = TextFieldIndexing::default()
        .set_tokenizer("raw")
        .set_index_option(IndexRecordOption::WithFreqs);
    let opts = TextOptions::default().set_indexing_options(indexing);
    let names = [
        "title",
        "title_bi",
        "question",
        "question_bi",
        "body",
        "body_bi",
    ];
    let text = names.map(|n| b.add_text_field(n, opts.clone()));
    let fields = Fields {
        ws,
        key,
        a_hi,
        a_lo,
        sub,
        meta,
        text,
    };
    (b.build(), fields)
}

/// The knowledge-base index. `Send + Sync`; share it behind an `Arc`.
pub struct KbIndex {
    pub(crate) reader: IndexReader,
    pub(crate) writer: Mutex<IndexWriter>,
    pub(crate) fields: Fields,
    pub(crate) state: RwLock<HashMap<Uuid, WsState>>,
    pub(crate) vectors: VectorStore,
    pub(crate) synonyms: RwLock<HashMap<Uuid, Synonyms>>,
    pub(crate) opts: AnalyzerOptions,
    pub(crate) passages: PassageParams,
}

impl std::fmt::Debug for KbIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KbIndex")
            .field("opts", &self.opts)
            .finish_non_exhaustive()
    }
}

fn fingerprint(opts: &AnalyzerOptions, pp: &PassageParams) -> String {
    format!(
        "{SCHEMA_VERSION};{};fold_traditional={};passages={}/{}/{}",
        analyzer::FINGERPRINT,
        opts.fold_traditional,
        pp.max,
        pp.min,
        pp.overlap
    )
}

fn ws_term(f: Field, ws: Uuid) -> Term {
    Term::from_field_text(f, &ws.to_string())
}

fn key_term(f: Field, ws: Uuid, article: Uuid) -> Term {
    Term::from_field_text(f, &format!("{ws}/{article}"))
}

/// Empties `dir` (files and sub-directories), keeping the directory itself.
fn wipe(dir: &Path) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let p = entry?.path();
        if p.is_dir() {
            std::fs::remove_dir_all(&p)?;
        } else {
            std::fs::remove_file(&p)?;
        }
    }
    Ok(())
}

fn open_dir(dir: &Path, schema: Schema, fp: &str) -> Result<Index, KbError> {
    std::fs::create_dir_all(dir)?;
    let stored = std::fs::read_to_string(dir.join(FINGERPRINT_FILE)).ok();
    let has_index = dir.join("meta.json").exists();
    if has_index && stored.as_deref() == Some(fp) {
        if let Ok(index) = Index::open(MmapDirectory::open(dir)?) {
            if index.schema() == schema {
                return Ok(index);
            }
        }
    }
    // Another analyzer/schema or a partial write: start over — but only in a
    // directory that is empty or recognisably ours, never in a stranger's.
    let ours = has_index || stored.is_some() || std::fs::read_dir(dir)?.next().is_none();
    if !ours {
        return Err(KbError::ForeignDirectory(dir.display().to_string()));
    }
    wipe(dir)?;
    let index = Index::create(MmapDirectory::open(dir)?, schema, Default::default())?;
    std::fs::write(dir.join(FINGERPRINT_FILE), fp)?;
    Ok(index)
}

impl KbIndex {
    /// Opens (or creates) the index. `dir = None` keeps it in RAM; with a
    /// directory (created if missing), an index built by another analyzer
    /// fingerprint or schema version is wiped and recreated. A non-empty
    /// directory that holds no index of ours is refused
    /// ([`KbError::ForeignDirectory`]), never wiped.
    pub fn open(dir: Option<&Path>, opts: AnalyzerOptions) -> Result<KbIndex, KbError> {
        Self::open_with(dir, opts, PassageParams::default())
    }

    /// [`KbIndex::open`] with explicit passage sizes (for tuning; part of
    /// the on-disk fingerprint).
    pub fn open_with(
        dir: Option<&Path>,
        opts: AnalyzerOptions,
        passages: PassageParams,
    ) -> Result<KbIndex, KbError> {
        analyzer::warm_up();
        let (schema, fields) = schema();
        let index = match dir {
            None => Index::create_in_ram(schema),
            Some(dir) => open_dir(dir, schema, &fingerprint(&opts, &passages))?,
        };
        let writer = index.writer_with_num_threads(1, WRITER_MEMORY)?;
        let reader = index
            .reader_builder()
            .reload_policy(ReloadPolicy::Manual)
            .try_into()?;
        let kb = KbIndex {
            reader,
            writer: Mutex::new(writer),
            fields,
            state: RwLock::new(HashMap::new()),
            vectors: VectorStore::default(),
            synonyms: RwLock::new(HashMap::new()),
            opts,
            passages,
        };
        kb.rebuild_state()?;
        Ok(kb)
    }

    /// Re-reads the stored article metadata and re-analyses it.
    fn rebuild_state(&self) -> Result<(), KbError> {
        let searcher = self.reader.searcher();
        let mut state: HashMap<Uuid, WsState> = HashMap::new();
        for seg in searcher.segment_readers() {
            let store = seg.get_store_reader(64)?;
            for doc_id in seg.doc_ids_alive() {
                let d: TantivyDocument = store.get(doc_id)?;
                let Some(meta) = d.get_first(self.fields.meta).and_then(|v| v.as_str()) else {
                    continue;
                };
                let doc: ArticleDoc =
                    serde_json::from_str(meta).map_err(|e| KbError::Corrupt(e.to_string()))?;
                let ws = doc.workspace_id;
                state.entry(ws).or_default().insert(ArticleEntry::analyze(
                    doc,
                    &self.opts,
                    &self.passages,
                ));
            }
        }
        *self.state.write().map_err(|_| KbError::Poisoned)? = state;
        Ok(())
    }

    /// The tantivy documents of a freshly analysed entry (body still
    /// there), one per sub-document with its token streams.
    fn tantivy_docs(&self, e: &ArticleEntry, tokens: Vec<Tokens>) -> Vec<TantivyDocument> {
        let f = &self.fields;
        let (hi, lo) = e.doc.article_id.as_u64_pair();
        let ws = e.doc.workspace_id;
        e.subdocs
            .iter()
            .zip(tokens)
            .enumerate()
            .map(|(i, (sd, toks))| {
                let mut d = TantivyDocument::default();
                d.add_text(f.ws, ws.to_string());
                d.add_text(f.key, format!("{ws}/{}", e.doc.article_id));
                d.add_u64(f.a_hi, hi);
                d.add_u64(f.a_lo, lo);
                d.add_u64(f.sub, i as u64);
                if sd.part == Part::Title {
                    let meta = serde_json::to_string(&e.doc).unwrap_or_default();
                    d.add_text(f.meta, meta);
                }
                for (bigram, toks) in [(false, toks.words), (true, toks.bigrams)] {
                    if !toks.is_empty() {
                        d.add_pre_tokenized_text(f.text[slot(sd.part, bigram)], pretok(toks));
                    }
                }
                d
            })
            .collect()
    }

    fn write<F>(&self, f: F) -> Result<(), KbError>
    where
        F: FnOnce(&mut IndexWriter, &mut HashMap<Uuid, WsState>) -> Result<(), KbError>,
    {
        let mut writer = self.writer.lock().map_err(|_| KbError::Poisoned)?;
        let mut state = self.state.write().map_err(|_| KbError::Poisoned)?;
        f(&mut writer, &mut state)?;
        writer.commit()?;
        self.reader.reload()?;
        Ok(())
    }

    /// Indexes (or re-indexes) articles; committed and searchable on return.
    pub fn upsert(&self, docs: &[ArticleDoc]) -> Result<(), KbError> {
        let entries: Vec<(ArticleEntry, Vec<Tokens>)> = docs
            .iter()
            .map(|d| ArticleEntry::analyze_with_tokens(d.clone(), &self.opts, &self.passages))
            .collect();
        self.write(|writer, state| {
            for (mut e, tokens) in entries {
                let (ws, id) = (e.doc.workspace_id, e.doc.article_id);
                writer.delete_term(key_term(self.fields.key, ws, id));
                for d in self.tantivy_docs(&e, tokens) {
                    writer.add_document(d)?;
                }
                e.doc.body = String::new();
                state.entry(ws).or_default().insert(e);
            }
            Ok(())
        })
    }

    /// Removes articles of a workspace (unknown ids are ignored).
    pub fn remove(&self, workspace: Uuid, articles: &[Uuid]) -> Result<(), KbError> {
        for &a in articles {
            self.vectors.remove(workspace, a);
        }
        self.write(|writer, state| {
            for &a in articles {
                writer.delete_term(key_term(self.fields.key, workspace, a));
                if let Some(s) = state.get_mut(&workspace) {
                    s.remove(a);
                }
            }
            Ok(())
        })
    }

    /// Removes every article (and vector) of a workspace.
    pub fn clear_workspace(&self, workspace: Uuid) -> Result<(), KbError> {
        self.vectors.clear(workspace);
        if let Ok(mut syn) = self.synonyms.write() {
            syn.remove(&workspace);
        }
        self.write(|writer, state| {
            writer.delete_term(ws_term(self.fields.ws, workspace));
            state.remove(&workspace);
            Ok(())
        })
    }

    /// The indexed articles of a workspace and their versions.
    /// How many articles of the workspace are indexed (cheap: no copy).
    pub fn article_count(&self, workspace: Uuid) -> usize {
        self.state
            .read()
            .ok()
            .and_then(|state| state.get(&workspace).map(|s| s.articles.len()))
            .unwrap_or(0)
    }

    pub fn versions(&self, workspace: Uuid) -> HashMap<Uuid, i64> {
        let Ok(state) = self.state.read() else {
            return HashMap::new();
        };
        state.get(&workspace).map_or_else(HashMap::new, |s| {
            s.articles
                .iter()
                .map(|(id, e)| (*id, e.doc.version))
                .collect()
        })
    }

    /// The texts to embed for an article, one vector each, in the order
    /// [`KbIndex::set_vectors`] expects them: the title, each alternative
    /// question, then each passage of the body (its section heading and
    /// text). The article's semantic score is its best row; a passage row
    /// also picks the passage the bot answers with.
    pub fn vector_texts(&self, doc: &ArticleDoc) -> Vec<String> {
        crate::stats::vector_texts(doc, &split_with(&doc.body, &self.passages))
    }

    /// Whether a body is short enough to be one passage of this index (so
    /// that an answer from it can be the whole article).
    pub fn fits_one_passage(&self, body: &str) -> bool {
        crate::passages::size(&crate::markdown::strip_markdown(body)) <= self.passages.max
    }

    /// Replaces the workspace's synonym groups (terms that mean the same to
    /// its visitors, e.g. `["退货", "退款"]`). They apply to queries from
    /// the next search on; nothing is re-indexed.
    pub fn set_synonyms(&self, workspace: Uuid, groups: &[Vec<String>]) {
        let syn = Synonyms::new(groups, &self.opts);
        if let Ok(mut all) = self.synonyms.write() {
            if syn.is_empty() {
                all.remove(&workspace);
            } else {
                all.insert(workspace, syn);
            }
        }
    }

    /// Sets the article's single semantic vector (normalised on the way in).
    pub fn set_vector(&self, workspace: Uuid, article: Uuid, vector: Vec<f32>) {
        self.vectors.set(workspace, article, vec![vector]);
    }

    /// Sets several vectors for one article (e.g. one per alternative
    /// question); the article's semantic score is its best vector's cosine.
    pub fn set_vectors(&self, workspace: Uuid, article: Uuid, vectors: Vec<Vec<f32>>) {
        self.vectors.set(workspace, article, vectors);
    }

    /// Drops an article's vectors.
    pub fn remove_vector(&self, workspace: Uuid, article: Uuid) {
        self.vectors.remove(workspace, article);
    }

    /// Number of articles of the workspace that have a vector.
    pub fn vector_count(&self, workspace: Uuid) -> usize {
        self.vectors.count(workspace)
    }

    /// The analyzer options this index was opened with.
    pub fn options(&self) -> AnalyzerOptions {
        self.opts
    }
}

fn pretok(toks: Vec<String>) -> PreTokenizedString {
    let tokens = toks
        .into_iter()
        .enumerate()
        .map(|(i, text)| Token {
            offset_from: 0,
            offset_to: 0,
            position: i,
            text,
            position_length: 1,
        })
        .collect();
    PreTokenizedString {
        text: String::new(),
        tokens,
    }
}
