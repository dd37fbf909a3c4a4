//! `kefu-load seed`: a realistic dataset written through the store ports
//! (`kefu_store::connect` and the same methods the services call), for the
//! data-loss drill (scripts/drills/data-loss) and other benchmarks that need
//! a database of some size.
//!
//! Into an existing workspace (made by `kefu admin create-owner`) it adds
//! agents (invitations accepted, with the owner's password), one inbox with
//! the bot off, C contacts with one conversation each and M messages per
//! conversation (visitor and agent in turn, mostly Chinese, 10–200
//! characters), and A knowledge-base articles (half Chinese, half English,
//! 0.5–3 KB of Markdown). Counts are exact, so a drill can check them; the
//! text is deterministic (a fixed pseudo-random sequence), ids and times are
//! not. Conversations are written concurrently, each one's messages in order.

use anyhow::Context;
use chrono::{DateTime, Duration as TimeDelta, Utc};
use clap::Parser;
use futures_util::stream::{self, StreamExt, TryStreamExt};
use kefu_domain::audit::AuditRecord;
use kefu_domain::chat::{Conversation, ConversationStatus, Inbox, NewMessage, SenderKind};
use kefu_domain::kb::{Article, ArticleContent, ArticleStatus, Author};
use kefu_domain::model::{ActorKind, Invitation, Invitee, NewUser};
use kefu_domain::routing::AssignmentReason;
use kefu_domain::store::Store;
use kefu_domain::{
    truncate_to_micros, ArticleId, ConversationId, InboxId, InvitationId, MessageId, Role, UserId,
    WorkspaceId,
};
use serde::Serialize;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

#[derive(Debug, Parser)]
#[command(
    name = "kefu-load seed",
    about = "Write a realistic dataset into a Kefu database through the store"
)]
pub struct SeedArgs {
    /// The database (sqlite:///…/kefu.db or postgres://…), already migrated
    /// (`kefu admin create-owner` does it).
    #[arg(long, env = "KEFU_DATABASE_URL")]
    database_url: String,
    /// The server's key-encryption key file (`<data dir>/secrets.key`, or
    /// its `secrets.key_file`): the store seals what it writes with it, and
    /// opens the audit chain key with it.
    #[arg(long, env = "KEFU_SECRETS__KEY_FILE")]
    secrets_key_file: std::path::PathBuf,
    /// Workspace id; default the only workspace.
    #[arg(long)]
    workspace: Option<String>,
    #[arg(long, default_value_t = 20_000)]
    conversations: u64,
    #[arg(long, default_value_t = 50)]
    messages_per_conversation: u64,
    #[arg(long, default_value_t = 2_000)]
    articles: u64,
    #[arg(long, default_value_t = 5)]
    agents: u64,
    /// Conversations written at once (and the pool size).
    #[arg(long, default_value_t = 32)]
    concurrency: usize,
    /// Print the summary as one JSON line on stdout.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Serialize)]
struct Summary {
    workspace_id: String,
    inbox_id: String,
    agents: u64,
    contacts: u64,
    conversations: u64,
    messages: u64,
    articles: u64,
    article_bytes: u64,
    message_secs: f64,
    messages_per_sec: f64,
    article_secs: f64,
    total_secs: f64,
}

fn log(msg: impl AsRef<str>) {
    eprintln!("[kefu-load seed] {}", msg.as_ref());
}

/// A small deterministic generator (SplitMix64): the same text on every run.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Self {
        Self(seed)
    }
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn pick<'a>(&mut self, v: &[&'a str]) -> &'a str {
        v[self.below(v.len())]
    }
}

const ZH_VISITOR: &[&str] = &[
    "你好，我想问一下订单什么时候发货？",
    "我昨天付款了，但是订单状态还是待支付。",
    "请问可以开发票吗？需要增值税专用发票。",
    "收到的商品有破损，怎么申请退货？",
    "我的账号登录不上了，提示密码错误。",
    "快递显示已签收，但我没有收到。",
    "能不能帮我改一下收货地址？",
    "会员积分怎么兑换优惠券？",
    "退款多久能到账？",
    "好的，谢谢！",
    "我再等等看。",
    "这个型号还有货吗？黑色的。",
    "优惠券用不了，提示不满足条件。",
    "请问周末有人工客服吗？",
    "订单号是 20261126-88231，麻烦查一下。",
    "我想取消订单，还没发货。",
];
const ZH_AGENT: &[&str] = &[
    "您好，很高兴为您服务，请问有什么可以帮您？",
    "请提供一下您的订单号，我帮您查询。",
    "已为您查询到，订单预计明天发出，发货后会短信通知您。",
    "非常抱歉给您带来不便，我已经为您提交了退货申请。",
    "退款会在 1-3 个工作日内原路退回。",
    "发票可以在订单详情页申请，开具后会发送到您的邮箱。",
    "地址已经帮您修改好了，请核对一下。",
    "请您尝试通过“忘记密码”重置，如果仍有问题请告诉我。",
    "好的，还有其他问题吗？",
    "感谢您的耐心等待，祝您生活愉快！",
    "我这边帮您联系快递核实，稍后回复您。",
    "该型号黑色目前有货，下单后 48 小时内发货。",
];
const EN_VISITOR: &[&str] = &[
    "Hi, where is my order? It has been a week.",
    "I was charged twice for the same subscription.",
    "How do I change the e-mail address on my account?",
    "The app crashes when I open the settings page.",
    "Can I get a refund for the annual plan?",
    "Thanks, that worked.",
];
const EN_AGENT: &[&str] = &[
    "Hello! Thanks for reaching out. Could you share your order number?",
    "I can see the duplicate charge; I have refunded the second one.",
    "You can change it under Settings → Account → E-mail.",
    "Sorry about that. Could you tell me which version of the app you use?",
    "Anything else I can help you with today?",
];
const ZH_BODY: &[&str] = &[
    "在“我的订单”页面可以查看每个订单的物流状态，发货后系统会自动发送短信和站内信通知。",
    "如果商品在运输过程中出现破损，请在签收后 48 小时内拍照并联系客服，我们会优先为您处理。",
    "退款将按原支付方式退回：微信支付和支付宝通常 1 个工作日内到账，银行卡需要 3-5 个工作日。",
    "增值税专用发票需要提供公司名称、税号、开户行及账号、注册地址和电话。",
    "会员等级根据近 12 个月的消费金额计算，每月 1 日更新一次。",
    "积分可以在结算时抵扣现金，100 积分抵扣 1 元，单笔订单最多抵扣订单金额的 20%。",
    "为了保障账户安全，连续 5 次输入错误密码后账户将被锁定 30 分钟。",
    "修改收货地址仅限订单未发货前，发货后请联系快递公司协商改派。",
    "预售商品的发货时间以商品详情页标注为准，定金在规定时间内不予退还。",
    "如需更换商品规格，请先申请退货，再重新下单购买。",
    "企业客户可以申请月结账期，需提交营业执照副本和近三个月的采购记录。",
    "客服工作时间为每天 9:00 至 21:00，节假日照常服务。",
];
const EN_BODY: &[&str] = &[
    "Orders placed before 3 pm ship the same business day; you will receive a tracking link by e-mail as soon as the parcel leaves our warehouse.",
    "Refunds go back to the original payment method. Card refunds usually appear within five to ten business days, depending on your bank.",
    "To change the e-mail address on your account, open Settings, then Account, and enter the new address; we send a confirmation link to both addresses.",
    "If an item arrives damaged, take a photo of the item and the packaging and contact us within 48 hours so that we can file a claim with the carrier.",
    "Subscriptions renew automatically at the end of each billing period. You can cancel at any time and keep access until the period ends.",
    "Two-factor authentication adds a one-time code from an authenticator app to every sign-in. Keep your recovery codes somewhere safe.",
    "Invoices are available as PDF under Billing. Add your company name and VAT number before the invoice is issued; issued invoices cannot be changed.",
    "Our support team answers chats every day from 9 am to 9 pm. Outside those hours, leave a message and we reply by e-mail.",
    "Gift cards never expire and can be combined with one promotional code per order.",
    "Business customers can pay by bank transfer on 30-day terms after a short credit check.",
];
const ZH_TITLES: &[&str] = &[
    "如何查询物流",
    "退货与退款政策",
    "发票开具说明",
    "会员积分规则",
    "账户安全",
    "修改收货地址",
    "预售商品说明",
    "企业采购",
    "优惠券使用规则",
    "售后服务时间",
];
const EN_TITLES: &[&str] = &[
    "Shipping times",
    "Refund policy",
    "Changing your e-mail",
    "Damaged items",
    "Subscriptions",
    "Two-factor authentication",
    "Invoices and VAT",
    "Support hours",
    "Gift cards",
    "Business accounts",
];

fn message_body(rng: &mut Rng, visitor: bool) -> String {
    let zh = rng.below(10) < 8;
    let pool = match (zh, visitor) {
        (true, true) => ZH_VISITOR,
        (true, false) => ZH_AGENT,
        (false, true) => EN_VISITOR,
        (false, false) => EN_AGENT,
    };
    let mut s = rng.pick(pool).to_string();
    if rng.below(3) == 0 {
        s.push(if zh { '\u{FF0C}' } else { ' ' });
        s.push_str(rng.pick(pool));
    }
    s
}

fn article_content(rng: &mut Rng, i: u64) -> ArticleContent {
    let zh = i.is_multiple_of(2);
    let (titles, body_pool, target, locale) = if zh {
        (ZH_TITLES, ZH_BODY, 400 + rng.below(1200), "zh-CN")
    } else {
        (EN_TITLES, EN_BODY, 800 + rng.below(2400), "en")
    };
    let title = format!("{} ({})", rng.pick(titles), i + 1);
    let mut body = format!("# {title}\n\n");
    let mut paragraph = 0;
    while body.chars().count() < target {
        if paragraph % 3 == 2 {
            body.push_str(&format!(
                "\n## {}\n\n",
                if zh { "注意事项" } else { "Good to know" }
            ));
        }
        for _ in 0..(2 + rng.below(3)) {
            body.push_str(rng.pick(body_pool));
            if !zh {
                body.push(' ');
            }
        }
        body.push_str("\n\n");
        paragraph += 1;
    }
    let questions = (0..3)
        .map(|_| message_body(rng, true).chars().take(60).collect::<String>())
        .collect();
    ArticleContent {
        title,
        body,
        questions,
        tags: vec![if zh { "售后" } else { "support" }.to_string()],
        category: Some(if zh { "常见问题" } else { "FAQ" }.to_string()),
        locale: locale.to_string(),
        status: ArticleStatus::Published,
    }
}

fn audit(
    ws: WorkspaceId,
    actor: UserId,
    action: &str,
    target: (&str, String),
    at: DateTime<Utc>,
) -> AuditRecord {
    AuditRecord {
        workspace_id: ws,
        actor_kind: ActorKind::User,
        actor_id: Some(actor.0),
        action: action.to_string(),
        target_type: Some(target.0.to_string()),
        target_id: Some(target.1),
        ip: None,
        details: serde_json::json!({ "seeded": true }),
        created_at: at,
    }
}

pub async fn run(args: SeedArgs) -> anyhow::Result<()> {
    let t0 = Instant::now();
    let kek_text = std::fs::read_to_string(&args.secrets_key_file)
        .with_context(|| format!("reading {}", args.secrets_key_file.display()))?;
    let kek = kefu_domain::secrets::Kek::parse_hex(&kek_text).with_context(|| {
        format!(
            "{} must hold 64 hex characters",
            args.secrets_key_file.display()
        )
    })?;
    let keyring = std::sync::Arc::new(kefu_domain::secrets::Keyring::new(kek, Vec::new()));
    let mut opts = kefu_store::ConnectOptions::new(args.database_url.clone(), keyring);
    opts.max_connections = u32::try_from(args.concurrency.clamp(1, 64)).unwrap_or(8);
    opts.busy_timeout = Duration::from_secs(30);
    let store = kefu_store::connect(&opts)
        .await
        .context("connecting to the database")?;
    store.migrate().await.context("migrating")?;
    let ws = match &args.workspace {
        Some(w) => WorkspaceId(w.parse().context("--workspace: not a uuid")?),
        None => {
            let ids = store.list_workspace_ids().await?;
            anyhow::ensure!(
                ids.len() == 1,
                "{} workspaces: name one with --workspace",
                ids.len()
            );
            ids[0]
        }
    };
    let members = store.list_members(ws).await?;
    let owner = members
        .iter()
        .find(|m| m.role == Role::Owner)
        .context("the workspace has no owner")?;
    let owner_id = owner.user_id;
    let password_hash = store.get_user(owner_id).await?.password_hash;
    let now = truncate_to_micros(Utc::now());

    // Agents: invited and accepted, as the console does it; they sign in
    // with the owner's password.
    let mut agents: Vec<(UserId, String)> = vec![(owner_id, owner.name.clone())];
    for a in 0..args.agents {
        let inv = Invitation {
            id: InvitationId::new(),
            workspace_id: ws,
            email: format!("agent{a}.{}@drill.invalid", ws.0.simple()),
            role: Role::Agent,
            token_hash: format!("seed-{}", uuid::Uuid::now_v7().simple()),
            invited_by: owner_id,
            created_at: now,
            expires_at: now + TimeDelta::days(7),
            accepted_at: None,
        };
        store
            .create_invitation(
                &inv,
                audit(
                    ws,
                    owner_id,
                    "invitation.created",
                    ("invitation", inv.id.to_string()),
                    now,
                ),
            )
            .await?;
        let name = format!("坐席{}", a + 1);
        let user = NewUser {
            id: UserId::new(),
            email: inv.email.clone(),
            name: name.clone(),
            password_hash: password_hash.clone(),
            created_at: now,
        };
        let uid = user.id;
        store
            .accept_invitation(
                inv.id,
                &Invitee::New(user),
                now,
                audit(
                    ws,
                    uid,
                    "invitation.accepted",
                    ("invitation", inv.id.to_string()),
                    now,
                ),
            )
            .await?;
        agents.push((uid, name));
    }

    let inbox = Inbox {
        id: InboxId::new(),
        workspace_id: ws,
        name: "官网客服 (seed)".into(),
        channel: "web".into(),
        widget_key: format!("wk_seed{}", uuid::Uuid::now_v7().simple()),
        identity_secret: format!("ids_seed{}", uuid::Uuid::now_v7().simple()),
        allowed_origins: Vec::new(),
        greeting: Some("您好，有什么可以帮您？".into()),
        bot_enabled: false,
        business_hours: None,
        offline_mode: Default::default(),
        automation: Default::default(),
        created_at: now,
    };
    store
        .create_inbox(
            &inbox,
            audit(
                ws,
                owner_id,
                "inbox.created",
                ("inbox", inbox.id.to_string()),
                now,
            ),
        )
        .await?;
    log(format!(
        "workspace {}: {} agents, inbox {}; writing {} conversations × {} messages, {} at a time",
        ws.0,
        agents.len() - 1,
        inbox.id,
        args.conversations,
        args.messages_per_conversation,
        args.concurrency
    ));

    // Conversations span the last 90 days; a message every 30 s within one.
    let span = TimeDelta::days(90);
    let step_ms = span.num_milliseconds() / args.conversations.max(1) as i64;
    let start = now - span - TimeDelta::hours(1);
    let written = Arc::new(AtomicU64::new(0));
    let agents = Arc::new(agents);
    let store2: Arc<dyn Store> = store.clone();
    let ticker = {
        let written = written.clone();
        let total = args.conversations * args.messages_per_conversation;
        tokio::spawn(async move {
            let t = Instant::now();
            loop {
                tokio::time::sleep(Duration::from_secs(10)).await;
                let n = written.load(Ordering::Relaxed);
                let s = t.elapsed().as_secs_f64();
                log(format!(
                    "{n}/{total} messages, {:.0}/s, {s:.0} s",
                    n as f64 / s
                ));
            }
        })
    };
    let tm = Instant::now();
    let per = args.messages_per_conversation;
    stream::iter(0..args.conversations)
        .map(|i| {
            let store = store2.clone();
            let agents = agents.clone();
            let written = written.clone();
            let inbox_id = inbox.id;
            async move {
                let mut rng = Rng::new(i);
                let at = start + TimeDelta::milliseconds(step_ms * i as i64);
                let contact = store
                    .contact_for_visitor(ws, &format!("seed-visitor-{i:06}"), at)
                    .await?;
                // Every fifth conversation is still being worked on.
                let k = if agents.len() > 1 {
                    1 + (i as usize % (agents.len() - 1))
                } else {
                    0
                };
                let (agent_id, agent_name) = agents[k].clone();
                let open = i % 5 == 0;
                let c = Conversation {
                    id: ConversationId::new(),
                    workspace_id: ws,
                    inbox_id,
                    contact_id: contact.id,
                    status: if open {
                        ConversationStatus::Assigned
                    } else {
                        ConversationStatus::Resolved
                    },
                    priority: 0,
                    assignee_id: Some(agent_id),
                    team_id: None,
                    assignment_reason: Some(AssignmentReason::LeastLoaded),
                    queued_at: None,
                    labels: Vec::new(),
                    last_seq: 0,
                    rating: None,
                    snoozed_until: None,
                    created_at: at,
                    updated_at: at,
                };
                store.create_conversation(&c).await?;
                for j in 0..per {
                    let visitor = j % 2 == 0;
                    let m = NewMessage {
                        id: MessageId::new(),
                        sender_kind: if visitor {
                            SenderKind::Visitor
                        } else {
                            SenderKind::Agent
                        },
                        sender_id: Some(if visitor { contact.id.0 } else { agent_id.0 }),
                        sender_name: (!visitor).then(|| agent_name.clone()),
                        body: message_body(&mut rng, visitor),
                        private: false,
                        client_msg_id: Some(format!("seed-{i}-{j}")),
                        created_at: at + TimeDelta::seconds(30 * j as i64),
                        meta: None,
                    };
                    store.append_message(ws, c.id, &m).await?;
                    written.fetch_add(1, Ordering::Relaxed);
                }
                anyhow::Ok(())
            }
        })
        .buffer_unordered(args.concurrency.max(1))
        .try_collect::<()>()
        .await?;
    let message_secs = tm.elapsed().as_secs_f64();
    ticker.abort();
    let messages = written.load(Ordering::Relaxed);
    log(format!(
        "{messages} messages in {message_secs:.1} s ({:.0}/s)",
        messages as f64 / message_secs
    ));

    let ta = Instant::now();
    let bytes = Arc::new(AtomicU64::new(0));
    stream::iter(0..args.articles)
        .map(|i| {
            let store = store2.clone();
            let bytes = bytes.clone();
            async move {
                let mut rng = Rng::new(1_000_000 + i);
                let content = article_content(&mut rng, i);
                bytes.fetch_add(content.body.len() as u64, Ordering::Relaxed);
                let a = Article {
                    id: ArticleId::new(),
                    workspace_id: ws,
                    external_id: Some(format!("seed-{i:05}")),
                    content,
                    version: 1,
                    created_at: now,
                    updated_at: now,
                    deleted_at: None,
                };
                store
                    .create_article(
                        &a,
                        Author {
                            kind: ActorKind::User,
                            id: Some(owner_id.0),
                        },
                        audit(
                            ws,
                            owner_id,
                            "kb.article_created",
                            ("article", a.id.to_string()),
                            now,
                        ),
                    )
                    .await?;
                anyhow::Ok(())
            }
        })
        .buffer_unordered(args.concurrency.clamp(1, 8))
        .try_collect::<()>()
        .await?;
    let article_secs = ta.elapsed().as_secs_f64();
    log(format!(
        "{} articles ({} KiB of text) in {article_secs:.1} s",
        args.articles,
        bytes.load(Ordering::Relaxed) / 1024
    ));

    let s = Summary {
        workspace_id: ws.0.to_string(),
        inbox_id: inbox.id.to_string(),
        agents: args.agents,
        contacts: args.conversations,
        conversations: args.conversations,
        messages,
        articles: args.articles,
        article_bytes: bytes.load(Ordering::Relaxed),
        message_secs,
        messages_per_sec: messages as f64 / message_secs,
        article_secs,
        total_secs: t0.elapsed().as_secs_f64(),
    };
    if args.json {
        println!("{}", serde_json::to_string(&s)?);
    } else {
        log(format!("{s:?}"));
    }
    Ok(())
}
