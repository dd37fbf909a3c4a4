//! Search latency benchmark (no criterion): builds a 10,000-article synthetic
//! mixed zh/en knowledge base in one workspace (plus a 2,000-article second
//! tenant), times the index build, then times 1,000 lexical queries and
//! 1,000 hybrid queries (384-d vectors) and prints p50/p99.
//!
//! ```text
//! cargo run --release -p kefu-kb --example bench_search [-- ARTICLES [--disk] [--docs] [--write DIR]]
//! ```
//!
//! `--docs` makes the articles documentation-shaped instead: no example
//! questions, bodies of about 2,000 characters in three sections with
//! headings (about six passages each, so 10,000 articles are about 60,000
//! passages and vector rows), queries cut from body sentences. The
//! process's resident memory is printed before and after indexing.
//!
//! `--write DIR` also writes the first workspace's articles as an import
//! file (`DIR/articles.jsonl`) and the queries, one a line
//! (`DIR/questions.txt`), for the HTTP benchmark of `bot/ask`
//! (`scripts/bench/bot`).

use std::time::{Duration, Instant};

use kefu_kb::{AnalyzerOptions, ArticleDoc, KbIndex, SearchQuery};
use uuid::Uuid;

const ZH: &[&str] = &[
    "退款",
    "退货",
    "发票",
    "订单",
    "物流",
    "快递",
    "会员",
    "积分",
    "优惠券",
    "支付",
    "密码",
    "账号",
    "登录",
    "注册",
    "地址",
    "修改",
    "取消",
    "售后",
    "保修",
    "维修",
    "价格",
    "运费",
    "配送",
    "时间",
    "商品",
    "库存",
    "尺码",
    "颜色",
    "质量",
    "客服",
    "电话",
    "营业",
    "门店",
    "预约",
    "酒店",
    "餐厅",
    "景点",
    "门票",
    "地铁",
    "出租车",
    "评分",
    "早餐",
    "停车",
    "网络",
    "充电",
    "发货",
    "签收",
    "包装",
    "换货",
    "申请",
    "审核",
    "到账",
    "银行卡",
    "微信",
    "支付宝",
    "余额",
    "提现",
    "手续费",
    "活动",
    "折扣",
];
const EN: &[&str] = &[
    "refund",
    "return",
    "invoice",
    "order",
    "shipping",
    "delivery",
    "member",
    "points",
    "coupon",
    "payment",
    "password",
    "account",
    "login",
    "signup",
    "address",
    "change",
    "cancel",
    "warranty",
    "repair",
    "price",
    "fee",
    "time",
    "product",
    "stock",
    "size",
    "color",
    "quality",
    "support",
    "phone",
    "hours",
    "store",
    "booking",
    "hotel",
    "restaurant",
    "ticket",
    "metro",
    "taxi",
    "rating",
    "breakfast",
    "parking",
    "wifi",
    "charging",
    "package",
    "exchange",
    "apply",
    "review",
    "bank",
    "card",
    "balance",
    "withdraw",
    "discount",
    "promotion",
    "subscription",
    "email",
    "invoice",
];

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn pick<'a>(&mut self, v: &[&'a str]) -> &'a str {
        v[(self.next() % v.len() as u64) as usize]
    }
    fn phrase(&mut self, zh: bool, n: usize) -> String {
        let words: Vec<&str> = (0..n)
            .map(|_| self.pick(if zh { ZH } else { EN }))
            .collect();
        if zh {
            words.join("")
        } else {
            words.join(" ")
        }
    }
}

/// A documentation-shaped article: a generic title, no questions, three
/// headed sections, about 2,000 characters (zh) or 330 words (en).
fn doc_article(rng: &mut Rng, ws: Uuid, i: u128) -> ArticleDoc {
    let zh = i.is_multiple_of(2);
    let mut body = String::new();
    let target = 2000;
    let mut sec = 0;
    while body.chars().count() < target {
        if body.chars().count() >= sec * target / 3 {
            sec += 1;
            let h = rng.phrase(zh, 2);
            body.push_str(&format!("\n## {h}\n"));
        }
        let n = 6 + (rng.next() % 10) as usize;
        body.push_str(&rng.phrase(zh, n));
        body.push_str(if zh { "。" } else { ". " });
        if rng.next().is_multiple_of(3) {
            body.push('\n');
        }
    }
    ArticleDoc {
        workspace_id: ws,
        article_id: Uuid::from_u128((ws.as_u128() << 64) + i),
        external_id: Some(format!("a{i}")),
        title: format!("Manual {}.{}", i / 50, i % 50),
        questions: vec![],
        body,
        tags: vec![],
        locale: if zh { "zh-CN".into() } else { "en".into() },
        version: 1,
    }
}

/// Resident memory of this process, in MiB (Linux).
fn rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
        })
        .map_or(0.0, |kb| kb / 1024.0)
}

fn article(rng: &mut Rng, ws: Uuid, i: u128) -> ArticleDoc {
    let zh = i.is_multiple_of(2);
    let len = |rng: &mut Rng, lo: u64, hi: u64| (lo + rng.next() % (hi - lo)) as usize;
    let tn = len(rng, 2, 5);
    let title = rng.phrase(zh, tn);
    let questions = (0..3)
        .map(|_| {
            let n = len(rng, 4, 9);
            rng.phrase(zh, n)
        })
        .collect();
    let body = (0..len(rng, 3, 8))
        .map(|_| {
            let n = len(rng, 8, 16);
            rng.phrase(zh, n)
        })
        .collect::<Vec<_>>()
        .join(if zh { "。\n" } else { ".\n" });
    ArticleDoc {
        workspace_id: ws,
        article_id: Uuid::from_u128((ws.as_u128() << 64) + i),
        external_id: Some(format!("a{i}")),
        title,
        questions,
        body,
        tags: vec![],
        locale: if zh { "zh-CN".into() } else { "en".into() },
        version: 1,
    }
}

/// The articles as `kefu kb import` / `POST …/kb/import` lines, and the
/// queries one a line.
fn write_files(
    dir: &std::path::Path,
    docs: &[ArticleDoc],
    queries: &[String],
) -> std::io::Result<()> {
    use std::io::Write;
    std::fs::create_dir_all(dir)?;
    let mut out = std::io::BufWriter::new(std::fs::File::create(dir.join("articles.jsonl"))?);
    for d in docs {
        let line = serde_json::json!({
            "external_id": d.external_id,
            "title": d.title,
            "body": d.body,
            "questions": d.questions,
            "locale": d.locale,
        });
        writeln!(out, "{line}")?;
    }
    out.flush()?;
    let mut out = std::io::BufWriter::new(std::fs::File::create(dir.join("questions.txt"))?);
    for q in queries {
        writeln!(out, "{q}")?;
    }
    out.flush()
}

fn pct(v: &mut [Duration], p: f64) -> Duration {
    v.sort();
    v[((v.len() as f64 * p).ceil() as usize).clamp(1, v.len()) - 1]
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let n: u128 = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(10_000);
    let disk = args.iter().any(|a| a == "--disk");
    let docs_mode = args.iter().any(|a| a == "--docs");
    let make = if docs_mode { doc_article } else { article };
    let write = args
        .iter()
        .position(|a| a == "--write")
        .and_then(|i| args.get(i + 1))
        .map(std::path::PathBuf::from);
    let tmp = std::env::temp_dir().join(format!("kefu-kb-bench-{}", std::process::id()));
    let kb =
        KbIndex::open(disk.then_some(tmp.as_path()), AnalyzerOptions::default()).expect("open");
    let (ws, other) = (Uuid::from_u128(1), Uuid::from_u128(2));
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);

    let docs: Vec<ArticleDoc> = (0..n).map(|i| make(&mut rng, ws, i)).collect();
    let other_docs: Vec<ArticleDoc> = (0..n / 5).map(|i| make(&mut rng, other, i)).collect();
    let rss0 = rss_mib();
    let t0 = Instant::now();
    for chunk in docs.chunks(1000) {
        kb.upsert(chunk).expect("upsert");
    }
    kb.upsert(&other_docs).expect("upsert");
    let build = t0.elapsed();
    println!(
        "index build: {} + {} articles in {:.2?} ({})",
        n,
        n / 5,
        build,
        if disk { "disk" } else { "RAM" }
    );

    // One vector per row, as Kefu embeds them: title, each question, each
    // passage.
    let dim = 384;
    let mut rows = 0;
    for d in &docs {
        let k = kb.vector_texts(d).len();
        rows += k;
        let vectors = (0..k)
            .map(|_| {
                (0..dim)
                    .map(|_| (rng.next() % 2000) as f32 / 1000.0 - 1.0)
                    .collect()
            })
            .collect();
        kb.set_vectors(ws, d.article_id, vectors);
    }

    println!(
        "{rows} vector rows; resident memory {rss0:.0} MiB before indexing, {:.0} MiB with the index and vectors ({} + {} articles)",
        rss_mib(),
        n,
        n / 5
    );
    let queries: Vec<String> = (0..1000)
        .map(|i: u32| {
            let zh = i.is_multiple_of(2);
            if docs_mode && i % 4 < 2 {
                // A fragment of a body sentence.
                let d = &docs[(rng.next() % n as u64) as usize];
                let sentence = d
                    .body
                    .split(['。', '.', '\n'])
                    .filter(|x| x.chars().count() > 12 && !x.starts_with('#'))
                    .nth((rng.next() % 5) as usize)
                    .unwrap_or(&d.title);
                let words: Vec<char> = sentence.chars().collect();
                words[..words.len().min(if zh { 12 } else { 40 })]
                    .iter()
                    .collect()
            } else if i % 4 < 2 {
                let d = &docs[(rng.next() % n as u64) as usize];
                format!("{}{}", d.questions[0], if zh { "吗？" } else { " please?" })
            } else {
                let k = 2 + (rng.next() % 6) as usize;
                rng.phrase(zh, k)
            }
        })
        .collect();
    if let Some(dir) = &write {
        write_files(dir, &docs, &queries).expect("write the benchmark files");
        println!("wrote {}/articles.jsonl and questions.txt", dir.display());
    }
    let qvec: Vec<f32> = (0..dim)
        .map(|_| (rng.next() % 2000) as f32 / 1000.0 - 1.0)
        .collect();

    for hybrid in [false, true] {
        // warm-up
        for q in queries.iter().take(50) {
            kb.search(ws, &SearchQuery::text(q)).expect("search");
        }
        let mut times = Vec::with_capacity(queries.len());
        let mut hits = 0usize;
        for q in &queries {
            let sq = SearchQuery {
                text: q,
                locale: None,
                vector: hybrid.then_some(qvec.as_slice()),
                limit: 5,
            };
            let t = Instant::now();
            let r = kb.search(ws, &sq).expect("search");
            times.push(t.elapsed());
            hits += r.hits.len();
        }
        let mean = times.iter().sum::<Duration>() / times.len() as u32;
        println!(
            "{:8} 1000 queries: p50 {:.2?}  p99 {:.2?}  max {:.2?}  mean {:.2?}  ({} hits)",
            if hybrid { "hybrid" } else { "lexical" },
            pct(&mut times, 0.50),
            pct(&mut times, 0.99),
            pct(&mut times, 1.0),
            mean,
            hits
        );
    }
    drop(kb);
    if disk {
        let _ = std::fs::remove_dir_all(&tmp);
    }
}
