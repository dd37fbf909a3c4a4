//! Shared fixtures for the integration tests: a tiny bilingual knowledge base.

#![allow(dead_code)]

use kefu_kb::{AnalyzerOptions, ArticleDoc, KbIndex, SearchQuery};
use uuid::Uuid;

pub fn ws(n: u128) -> Uuid {
    Uuid::from_u128(n)
}

pub fn art(n: u128) -> Uuid {
    Uuid::from_u128(1000 + n)
}

pub fn doc(
    w: Uuid,
    n: u128,
    ext: &str,
    title: &str,
    questions: &[&str],
    body: &str,
    locale: &str,
) -> ArticleDoc {
    ArticleDoc {
        workspace_id: w,
        article_id: art(n),
        external_id: Some(ext.to_string()),
        title: title.to_string(),
        questions: questions.iter().map(|q| q.to_string()).collect(),
        body: body.to_string(),
        tags: vec![],
        locale: locale.to_string(),
        version: 1,
    }
}

/// A small mixed zh/en knowledge base in workspace `w`.
pub fn kb_docs(w: Uuid) -> Vec<ArticleDoc> {
    vec![
        doc(
            w,
            1,
            "refund-zh",
            "退款流程",
            &["怎么申请退款", "钱什么时候退回来"],
            "## 退款\n在**订单详情**页点击[申请退款](https://x.example/r)，3 个工作日内原路退回。",
            "zh-CN",
        ),
        doc(
            w,
            2,
            "return-zh",
            "退货说明",
            &["如何退货", "商品可以退吗"],
            "收到商品 7 天内可以申请退货，请保持包装完好。",
            "zh-CN",
        ),
        doc(
            w,
            3,
            "vip-zh",
            "VIP会员权益",
            &["会员有什么好处"],
            "vip会员享受免运费和专属客服。",
            "zh-CN",
        ),
        doc(
            w,
            4,
            "invoice-zh",
            "发票开具",
            &["怎么开发票", "能开专票吗"],
            "在订单页申请电子发票，支持增值税普通发票和专用发票。",
            "zh-CN",
        ),
        doc(
            w,
            5,
            "refund-en",
            "Refund policy",
            &["How do I get my money back?"],
            "You can request a refund within 30 days of purchase from the order page.",
            "en",
        ),
        doc(
            w,
            6,
            "shipping-en",
            "Shipping times",
            &["When will my order arrive?", "How long does delivery take?"],
            "Orders ship within 2 business days; delivery takes 3–5 days.",
            "en",
        ),
        doc(
            w,
            7,
            "password-en",
            "Reset your password",
            &["I forgot my password", "Can't log in"],
            "Use the *Forgot password* link on the sign-in page to get a reset email.",
            "en",
        ),
    ]
}

pub fn open_ram() -> KbIndex {
    KbIndex::open(None, AnalyzerOptions::default()).expect("open in RAM")
}

pub fn top(kb: &KbIndex, w: Uuid, text: &str) -> Option<String> {
    kb.search(w, &SearchQuery::text(text))
        .expect("search")
        .hits
        .first()
        .and_then(|h| h.external_id.clone())
}
