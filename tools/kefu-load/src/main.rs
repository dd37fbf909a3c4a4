//! `kefu-load`: a chat load generator for a running Kefu server.
//!
//! Logs in an agent, creates an inbox and N visitor sessions, opens N
//! visitor sockets and M agent sockets, then sends visitor messages on an
//! open-loop schedule and measures send → ack and send → agent delivery
//! latency from each message's scheduled time. `--idle` only holds the
//! visitor sockets open (with keep-alive pings) and reports the server's
//! memory per socket; `--find-max` steps the rate up until acks fall behind.
//! `--ask FILE` instead measures `POST …/bot/ask` over HTTP.
//! See docs/benchmarks.md ("Live chat", "Knowledge base and the bot"),
//! scripts/bench/chat and scripts/bench/bot.

mod ask;
mod conn;
mod procfs;
mod report;
mod schedule;
mod seed;
mod setup;
mod stats;

use anyhow::Context;
use clap::Parser;
use conn::{Cmd, Phase, Shared, Visitor};
use futures_util::stream::{self, StreamExt};
use report::{FindMax, IdleReport, PhaseReport, Report, ServerMemory};
use schedule::{parse_duration, Schedule};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

#[derive(Debug, Parser)]
#[command(
    name = "kefu-load",
    about = "Chat load generator for a running Kefu server",
    long_about = "Chat load generator for a running Kefu server.\n\n\
    Opens N visitor sockets and M agent sockets, sends visitor messages at a fixed total \
    rate on an open-loop schedule (latency counts from each message's scheduled time), and \
    reports ack latency (send → message.ack), delivery latency (send → the agent socket's \
    message.created), throughput, errors and the server's memory.\n\n\
    Lift the server's per-IP limits first (see scripts/bench/chat).\n\n\
    `kefu-load seed --database-url URL …` instead writes a realistic dataset (agents, an \
    inbox, contacts, conversations, messages, knowledge-base articles) straight into a \
    database through the store; `kefu-load seed --help` says more."
)]
struct Args {
    /// The server's base URL (http only).
    #[arg(long, default_value = "http://127.0.0.1:8080", env = "KEFU_LOAD_URL")]
    url: String,
    /// Agent account (an owner sees every conversation of the workspace).
    #[arg(long, env = "KEFU_LOAD_EMAIL")]
    email: String,
    #[arg(long, env = "KEFU_LOAD_PASSWORD", hide_env_values = true)]
    password: String,
    /// Workspace id or name; default the account's first.
    #[arg(long)]
    workspace: Option<String>,
    /// Use this inbox instead of creating one.
    #[arg(long)]
    widget_key: Option<String>,
    /// Visitor sockets (one widget session each).
    #[arg(long, default_value_t = 100)]
    visitors: usize,
    /// Agent sockets (each receives every message).
    #[arg(long, default_value_t = 1)]
    agents: usize,
    /// Total visitor messages per second; a comma-separated list runs one
    /// phase per rate on the same sockets.
    #[arg(long, value_delimiter = ',', default_value = "100")]
    rate: Vec<f64>,
    /// Length of each measured phase (30s, 2m, …).
    #[arg(long, default_value = "20s", value_parser = parse_duration)]
    duration: Duration,
    /// An unmeasured phase at the first rate before the others (0 to skip).
    #[arg(long, default_value = "3s", value_parser = parse_duration)]
    warmup: Duration,
    /// After a phase's schedule ends, wait this long for late acks and
    /// deliveries before calling them unanswered.
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    drain: Duration,
    /// Message body size in bytes (at least the id plus a short sentence).
    #[arg(long, default_value_t = 64)]
    body_bytes: usize,
    /// Sessions and socket handshakes in flight at once during setup.
    #[arg(long, default_value_t = 64)]
    concurrency: usize,
    /// The server's process id: report its RSS (VmRSS, VmHWM) and CPU.
    #[arg(long)]
    server_pid: Option<u32>,
    /// A label for the report (e.g. the store).
    #[arg(long)]
    label: Option<String>,
    /// Print the report as JSON on stdout (the text goes to stderr).
    #[arg(long)]
    json: bool,
    /// Only open the visitor sockets and hold them (no messages).
    #[arg(long)]
    idle: bool,
    /// How long `--idle` holds the sockets.
    #[arg(long, default_value = "60s", value_parser = parse_duration)]
    hold: Duration,
    /// Keep-alive ping interval; default a third of the server's idle timeout.
    #[arg(long, value_parser = parse_duration)]
    ping_interval: Option<Duration>,
    /// Step the rate up from --start-rate by --step-factor until a phase is
    /// not sustained, then bisect --refine times.
    #[arg(long)]
    find_max: bool,
    #[arg(long, default_value_t = 500.0)]
    start_rate: f64,
    #[arg(long, default_value_t = 1.5)]
    step_factor: f64,
    #[arg(long, default_value_t = 50_000.0)]
    max_rate: f64,
    #[arg(long, default_value_t = 2)]
    refine: u32,
    /// Measure `POST …/bot/ask` instead of chat: the questions of this
    /// file (one a line) are asked in turn; no sockets are opened.
    #[arg(long, value_name = "FILE")]
    ask: Option<std::path::PathBuf>,
    /// `--ask`: concurrent clients, each sending back to back.
    #[arg(long, default_value_t = 1)]
    ask_clients: usize,
    /// `--ask`: measured requests (after 200 unmeasured ones).
    #[arg(long, default_value_t = 5000)]
    ask_requests: usize,
    /// A phase is sustained when ack p99 stays within this bound …
    #[arg(long, default_value_t = 100.0)]
    ack_p99_bound_ms: f64,
    /// … and acks come at this fraction of the target rate or more.
    #[arg(long, default_value_t = 0.95)]
    min_achieved_ratio: f64,
    /// Append one line per acknowledged measured message to this file, as
    /// it arrives: `<dispatch time, Unix ms> <ack latency, µs>` — to cut a
    /// window out of a run (e.g. while a backup ran).
    #[arg(long, value_name = "FILE")]
    ack_log: Option<std::path::PathBuf>,
}

fn log(msg: impl AsRef<str>) {
    eprintln!("[kefu-load] {}", msg.as_ref());
}

/// Phase rates are rounded to 50 msg/s above 100.
fn round_rate(r: f64) -> f64 {
    if r >= 100.0 {
        (r / 50.0).round() * 50.0
    } else {
        r.round().max(1.0)
    }
}

struct Ctx {
    args: Args,
    shared: Arc<Shared>,
    visitors: Vec<Arc<Visitor>>,
    agents: Vec<Arc<conn::Agent>>,
}

impl Ctx {
    fn agents_alive(&self) -> u64 {
        self.agents
            .iter()
            .filter(|a| a.alive.load(Ordering::Relaxed))
            .count() as u64
    }

    async fn run_phase(&self, name: String, rate: f64, duration: Duration) -> PhaseReport {
        let pid = self.args.server_pid;
        let mem_before = pid.and_then(procfs::memory);
        let cpu_before = pid.and_then(procfs::cpu_secs);
        let start = Instant::now() + Duration::from_millis(50);
        let schedule = Schedule::new(start, rate, duration);
        let phase = Arc::new(Phase::new(schedule));
        let no = self.shared.add_phase(phase.clone());
        log(format!(
            "{name}: {rate:.0} msg/s for {:.0}s over {} visitors",
            duration.as_secs_f64(),
            self.visitors.len()
        ));
        let n = self.visitors.len();
        for i in 0..schedule.total {
            let due = schedule.due(i);
            if due > Instant::now() {
                tokio::time::sleep_until(due.into()).await;
            }
            let v = &self.visitors[Schedule::visitor(i, n)];
            phase.dispatch(i, Instant::now());
            let cmd = Cmd::Send {
                phase_no: no,
                phase: phase.clone(),
                idx: i,
            };
            if !v.alive.load(Ordering::Relaxed) || v.tx.send(cmd).is_err() {
                phase.errors.add("not_sent:socket_gone");
                continue;
            }
            phase.sent.fetch_add(1, Ordering::Relaxed);
        }
        let deadline = Instant::now() + self.args.drain;
        loop {
            let acked = phase.acked.load(Ordering::Relaxed);
            let all_delivered =
                phase.delivered.load(Ordering::Relaxed) >= acked * self.agents_alive();
            if (phase.settled() && all_delivered) || Instant::now() >= deadline {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let wall = start.elapsed().as_secs_f64();
        let mem_after = pid.and_then(procfs::memory);
        let cpu_after = pid.and_then(procfs::cpu_secs);
        let acked = phase.acked.load(Ordering::Relaxed);
        let refused = phase.failed.load(Ordering::Relaxed);
        let sent = phase.sent.load(Ordering::Relaxed);
        let last_ack = *phase.last_ack.lock().expect("lock");
        let span = last_ack
            .map(|l| l.saturating_duration_since(start).as_secs_f64())
            .unwrap_or(0.0)
            .max(duration.as_secs_f64());
        let mut errors = phase.errors.snapshot();
        let unanswered = sent.saturating_sub(acked + refused);
        if unanswered > 0 {
            errors.insert("unanswered".into(), unanswered);
        }
        let delivered = phase.delivered.load(Ordering::Relaxed);
        let expected = acked * self.agents_alive();
        if delivered < expected {
            errors.insert("not_delivered".into(), expected - delivered);
        }
        let report = PhaseReport {
            name,
            target_rate: rate,
            duration_secs: duration.as_secs_f64(),
            scheduled: schedule.total,
            sent,
            acked,
            refused,
            unanswered,
            delivered,
            delivered_expected: expected,
            achieved_rate: if span > 0.0 { acked as f64 / span } else { 0.0 },
            ack: phase.ack_latency.lock().expect("lock").summary(),
            delivery: phase.delivery_latency.lock().expect("lock").summary(),
            dispatch_lag: phase.dispatch_lag.lock().expect("lock").summary(),
            send_lag: phase.send_lag.lock().expect("lock").summary(),
            errors,
            server_rss_before_mib: mem_before.map(|m| m.rss_mib()),
            server_rss_after_mib: mem_after.map(|m| m.rss_mib()),
            server_hwm_mib: mem_after.map(|m| m.hwm_mib()),
            server_cpu_cores: cpu_before
                .zip(cpu_after)
                .map(|(b, a)| (a - b) / wall.max(0.001)),
            sustained: None,
        };
        log(format!(
            "  acked {}/{} at {:.0} msg/s; ack p99 {:.1} ms, delivery p99 {:.1} ms",
            report.acked,
            report.sent,
            report.achieved_rate,
            report.ack.p99_ms,
            report.delivery.p99_ms
        ));
        // Let late answers of an overloaded phase land before the next one.
        let quiet = Instant::now() + Duration::from_secs(60);
        while !phase.settled() && Instant::now() < quiet {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
        report
    }

    /// Each visitor sends one message and waits for its ack, which opens
    /// its conversation; measured messages then name it.
    async fn prime(&self) -> anyhow::Result<()> {
        let started = Instant::now();
        let batch = self.args.concurrency.max(1);
        for chunk in self.visitors.chunks(batch) {
            let target = self.shared.primed.load(Ordering::Relaxed) + chunk.len();
            for v in chunk {
                let _ = v.tx.send(Cmd::Prime);
            }
            let deadline = Instant::now() + Duration::from_secs(30);
            while self.shared.primed.load(Ordering::Relaxed) < target {
                if Instant::now() >= deadline {
                    log("priming: some visitors got no ack within 30s; going on");
                    break;
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        }
        log(format!(
            "primed {} conversations in {:.1}s",
            self.shared.primed.load(Ordering::Relaxed),
            started.elapsed().as_secs_f64()
        ));
        Ok(())
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    if std::env::args().nth(1).as_deref() == Some("seed") {
        return seed::run(seed::SeedArgs::parse_from(std::env::args().skip(1))).await;
    }
    let args = Args::parse();
    let base = args.url.trim_end_matches('/').to_string();
    let ws = setup::ws_url(&base)?;
    let http = setup::client()?;
    let run = format!(
        "kl{:x}",
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_micros() as u64 & 0xff_ffff_ffff)
            .unwrap_or(0)
    );
    let mut shared = Shared::new(run.clone());
    if let Some(path) = &args.ack_log {
        let f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .with_context(|| format!("opening {}", path.display()))?;
        shared.ack_log = Some(std::sync::Mutex::new(std::io::LineWriter::new(f)));
    }
    let shared = Arc::new(shared);
    let mem_start = args.server_pid.and_then(procfs::memory);
    if args.server_pid.is_some() && mem_start.is_none() {
        log("cannot read /proc/<server-pid>/status: no server memory figures");
    }

    let agent = setup::login(
        &http,
        &base,
        &args.email,
        &args.password,
        args.workspace.as_deref(),
    )
    .await?;
    if let Some(path) = &args.ask {
        let questions = ask::questions(path)?;
        log(format!(
            "asking {} questions from {} client(s)",
            args.ask_requests, args.ask_clients
        ));
        let mut report = ask::run(
            &http,
            &base,
            &agent,
            questions,
            args.ask_clients,
            200,
            args.ask_requests,
        )
        .await;
        report.label = args.label.clone();
        if args.json {
            eprintln!("{}", report.render());
            println!("{}", serde_json::to_string_pretty(&report)?);
        } else {
            println!("{}", report.render());
        }
        return Ok(());
    }
    let widget_key = match &args.widget_key {
        Some(k) => k.clone(),
        None => setup::create_inbox(&http, &base, &agent, &format!("kefu-load {run}")).await?,
    };
    log(format!(
        "creating {} visitor sessions ({} at a time)",
        args.visitors, args.concurrency
    ));
    let sessions =
        setup::sessions(&http, &base, &widget_key, args.visitors, args.concurrency).await;
    let mut report = Report {
        url: base.clone(),
        label: args.label.clone(),
        visitors_requested: args.visitors,
        sessions_per_sec: sessions.tokens.len() as f64 / sessions.elapsed.as_secs_f64().max(0.001),
        setup_errors: sessions.errors.clone(),
        ..Report::default()
    };
    log(format!(
        "{} sessions in {:.1}s",
        sessions.tokens.len(),
        sessions.elapsed.as_secs_f64()
    ));

    let mut agents = Vec::new();
    if !args.idle {
        for _ in 0..args.agents {
            match conn::open_agent(shared.clone(), &ws, &agent.access_token, args.ping_interval)
                .await
            {
                Ok(a) => agents.push(a),
                Err(kind) => *report.setup_errors.entry(kind).or_insert(0) += 1,
            }
        }
    }
    // Let the server settle after the session burst before the baseline.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let mem_before_sockets = args.server_pid.and_then(procfs::memory);
    let connect_started = Instant::now();
    let opened: Vec<Result<Arc<Visitor>, String>> =
        stream::iter(sessions.tokens.iter().enumerate())
            .map(|(i, token)| {
                let shared = shared.clone();
                let ws = ws.clone();
                let ping = args.ping_interval;
                let body_bytes = args.body_bytes;
                async move {
                    let r = conn::open_visitor(shared, &ws, token, i, ping, body_bytes).await;
                    if (i + 1) % 2000 == 0 {
                        log(format!("{} sockets requested", i + 1));
                    }
                    r
                }
            })
            .buffer_unordered(args.concurrency.max(1))
            .collect()
            .await;
    report.connect_secs = connect_started.elapsed().as_secs_f64();
    drop(sessions);
    let mut visitors = Vec::with_capacity(opened.len());
    for r in opened {
        match r {
            Ok(v) => visitors.push(v),
            Err(kind) => *report.setup_errors.entry(kind).or_insert(0) += 1,
        }
    }
    report.visitors_connected = visitors.len();
    report.agents_connected = agents.len();
    log(format!(
        "{} visitor sockets and {} agent sockets open in {:.1}s",
        visitors.len(),
        agents.len(),
        report.connect_secs
    ));
    anyhow::ensure!(!visitors.is_empty(), "no visitor socket could be opened");

    let ctx = Ctx {
        args,
        shared: shared.clone(),
        visitors,
        agents,
    };
    let args = &ctx.args;
    if args.idle {
        tokio::time::sleep(Duration::from_secs(2)).await;
        let open = args.server_pid.and_then(procfs::memory);
        log(format!(
            "holding {} sockets for {:.0}s",
            ctx.visitors.len(),
            args.hold.as_secs_f64()
        ));
        let until = Instant::now() + args.hold;
        while Instant::now() < until {
            let left = until.saturating_duration_since(Instant::now());
            tokio::time::sleep(left.min(Duration::from_secs(15))).await;
            let alive = ctx
                .visitors
                .iter()
                .filter(|v| v.alive.load(Ordering::Relaxed))
                .count();
            log(format!(
                "  {alive} alive, {} pongs, server RSS {}",
                shared.pongs.load(Ordering::Relaxed),
                args.server_pid
                    .and_then(procfs::memory)
                    .map_or_else(|| "-".into(), |m| format!("{:.1} MiB", m.rss_mib()))
            ));
        }
        let end = args.server_pid.and_then(procfs::memory);
        let n = ctx.visitors.len() as f64;
        let per = |m: Option<procfs::Memory>| {
            mem_before_sockets
                .zip(m)
                .map(|(b, a)| (a.rss_kib as f64 - b.rss_kib as f64) * 1024.0 / n)
        };
        report.idle = Some(IdleReport {
            sockets_open: ctx.visitors.len(),
            sockets_alive_at_end: ctx
                .visitors
                .iter()
                .filter(|v| v.alive.load(Ordering::Relaxed))
                .count(),
            hold_secs: args.hold.as_secs_f64(),
            ping_interval_secs: shared.ping_ms.load(Ordering::Relaxed) as f64 / 1000.0,
            pongs: shared.pongs.load(Ordering::Relaxed),
            rss_before_sockets_mib: mem_before_sockets.map(|m| m.rss_mib()),
            rss_sockets_open_mib: open.map(|m| m.rss_mib()),
            rss_end_mib: end.map(|m| m.rss_mib()),
            hwm_mib: end.map(|m| m.hwm_mib()),
            bytes_per_socket: per(open),
            bytes_per_socket_at_end: per(end),
        });
    } else {
        ctx.prime().await?;
        let first = if args.find_max {
            args.start_rate
        } else {
            args.rate.first().copied().unwrap_or(100.0)
        };
        if !args.warmup.is_zero() {
            let w = ctx.run_phase("warmup".into(), first, args.warmup).await;
            report.phases.push(w);
        }
        if args.find_max {
            let fm = find_max(&ctx, &mut report.phases).await;
            report.find_max = Some(fm);
        } else {
            for &rate in &args.rate {
                let p = ctx
                    .run_phase(format!("rate {rate:.0}"), rate, args.duration)
                    .await;
                report.phases.push(p);
            }
        }
    }
    let mem_end = args.server_pid.and_then(procfs::memory);
    if let (Some(s), Some(e)) = (mem_start, mem_end) {
        report.server = Some(ServerMemory {
            rss_start_mib: s.rss_mib(),
            rss_end_mib: e.rss_mib(),
            hwm_end_mib: e.hwm_mib(),
        });
    }
    report.socket_errors = shared.errors.snapshot();
    let text = report.to_text();
    if args.json {
        eprint!("{text}");
        println!(
            "{}",
            serde_json::to_string_pretty(&report).context("serialising the report")?
        );
    } else {
        print!("{text}");
    }
    // The sockets close when the process exits.
    std::process::exit(0);
}

/// Steps up by `step_factor` while phases are sustained, then bisects
/// between the last sustained and the first failing rate.
async fn find_max(ctx: &Ctx, phases: &mut Vec<PhaseReport>) -> FindMax {
    let a = &ctx.args;
    let judge = |p: &mut PhaseReport| {
        let ok = report::sustained(p, a.ack_p99_bound_ms, a.min_achieved_ratio);
        p.sustained = Some(ok);
        ok
    };
    let mut best: Option<f64> = None;
    let mut fail: Option<f64> = None;
    let mut rate = round_rate(a.start_rate);
    loop {
        let mut p = ctx
            .run_phase(format!("step {rate:.0}"), rate, a.duration)
            .await;
        let ok = judge(&mut p);
        phases.push(p);
        if !ok {
            fail = Some(rate);
            break;
        }
        best = Some(rate);
        if rate >= a.max_rate {
            break;
        }
        rate = round_rate((rate * a.step_factor.max(1.05)).min(a.max_rate));
    }
    for _ in 0..a.refine {
        let Some(hi) = fail else { break };
        let lo = best.unwrap_or(0.0);
        let mid = round_rate((lo + hi) / 2.0);
        if mid <= lo || mid >= hi {
            break;
        }
        let mut p = ctx
            .run_phase(format!("bisect {mid:.0}"), mid, a.duration)
            .await;
        if judge(&mut p) {
            best = Some(mid);
        } else {
            fail = Some(mid);
        }
        phases.push(p);
    }
    FindMax {
        max_sustained_rate: best,
        first_failing_rate: fail,
        ack_p99_bound_ms: a.ack_p99_bound_ms,
        min_achieved_ratio: a.min_achieved_ratio,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_round_to_fifty() {
        assert_eq!(round_rate(750.0), 750.0);
        assert_eq!(round_rate(1125.0), 1150.0);
        assert_eq!(round_rate(1687.5), 1700.0);
        assert_eq!(round_rate(42.4), 42.0);
        assert_eq!(round_rate(0.2), 1.0);
    }

    #[test]
    fn cli_parses() {
        let a = Args::try_parse_from([
            "kefu-load",
            "--email",
            "a@b.c",
            "--password",
            "x",
            "--rate",
            "500,2000",
            "--duration",
            "30s",
        ])
        .unwrap();
        assert_eq!(a.rate, [500.0, 2000.0]);
        assert_eq!(a.duration, Duration::from_secs(30));
        assert!(!a.idle && !a.find_max);
    }
}
