//! Settings of the accounts and auth use cases (section `[auth]` of kefu.toml).

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct AuthConfig {
    /// Lifetime of an access token, in seconds.
    pub access_token_ttl_secs: u64,
    /// Lifetime of one refresh token, in seconds (each refresh issues a new one).
    pub refresh_token_ttl_secs: u64,
    /// Absolute lifetime of a login session, however often it is refreshed.
    pub session_ttl_secs: u64,
    /// How long an invitation stays valid, in seconds.
    pub invitation_ttl_secs: u64,
    /// Shortest password accepted.
    pub min_password_len: usize,
    /// argon2id memory cost in KiB (OWASP: 19456 with t=2).
    pub argon2_memory_kib: u32,
    /// argon2id iterations.
    pub argon2_iterations: u32,
    /// Threads that compute password hashes, each holding one
    /// `argon2_memory_kib` buffer; more logins than threads wait their turn.
    /// 0 = one per CPU.
    pub max_concurrent_hashes: usize,
    /// Issuer shown in authenticator apps.
    pub totp_issuer: String,
    pub throttle: ThrottleConfig,
}

impl Default for AuthConfig {
    fn default() -> Self {
        Self {
            access_token_ttl_secs: 15 * 60,
            refresh_token_ttl_secs: 14 * 24 * 3600,
            session_ttl_secs: 30 * 24 * 3600,
            invitation_ttl_secs: 7 * 24 * 3600,
            min_password_len: 10,
            argon2_memory_kib: 19_456,
            argon2_iterations: 2,
            max_concurrent_hashes: 0,
            totp_issuer: "Kefu".into(),
            throttle: ThrottleConfig::default(),
        }
    }
}

/// Login throttling: per client IP and per account.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct ThrottleConfig {
    /// Login attempts one IP may make per window.
    pub ip_attempts: u32,
    /// Failed logins an account may take per window before it is locked.
    pub account_failures: u32,
    /// The counting window, in seconds.
    pub window_secs: u64,
    /// How long a locked account stays locked, in seconds.
    pub lockout_secs: u64,
    /// Upper bound of tracked keys (memory bound); the oldest are dropped.
    pub max_tracked: usize,
}

impl Default for ThrottleConfig {
    fn default() -> Self {
        Self {
            ip_attempts: 30,
            account_failures: 5,
            window_secs: 15 * 60,
            lockout_secs: 15 * 60,
            max_tracked: 100_000,
        }
    }
}

/// Settings of live chat (section `[chat]` of kefu.toml).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct ChatConfig {
    /// Longest message body accepted, in characters.
    pub max_message_chars: usize,
    /// Lifetime of a widget's visitor token, in seconds.
    pub visitor_token_ttl_secs: u64,
    /// Events a socket may fall behind on the bus before it must catch up
    /// from the database.
    pub bus_capacity: usize,
    /// A socket that cannot take a frame for this long is closed as too slow,
    /// in seconds (its missed events wait in the database).
    pub socket_send_timeout_secs: u64,
    /// A socket silent (no frame, no ping) this long is closed, in seconds.
    pub socket_idle_timeout_secs: u64,
    /// Sockets one visitor (contact) may hold open at once.
    pub max_sockets_per_visitor: usize,
    /// Sockets one client address may hold open at once (visitors and
    /// agents alike; offices behind one NAT share an address).
    pub max_sockets_per_ip: usize,
    /// `message.send` frames one socket may send per second, sustained;
    /// above it the frame gets `error` `rate_limited` with `retry_after`.
    pub socket_messages_per_sec: f64,
    /// … and at once, before that rate applies.
    pub socket_message_burst: u32,
    /// Messages one visitor may send per second over all their sockets on
    /// this replica, sustained, and at once.
    pub visitor_messages_per_sec: f64,
    pub visitor_message_burst: u32,
    /// Frames of any kind (typing, read, sync, ping …) one socket may send
    /// per second, sustained, and at once.
    pub socket_frames_per_sec: f64,
    pub socket_frame_burst: u32,
    /// Concurrent conversations an agent takes when they never set their own.
    pub default_agent_capacity: i32,
    /// How often each replica retries assigning waiting conversations, in
    /// seconds (assignment also runs at once on every change that can free
    /// or fill a queue).
    pub route_interval_secs: u64,
    /// The window of recent assignments the visitor's wait estimate is based
    /// on, in seconds.
    pub queue_estimate_window_secs: i64,
    /// How often each replica runs what happens by itself, in seconds:
    /// auto-resolve, waking snoozed conversations, the presence timeout
    /// (and marking its agents' sockets as seen).
    pub sweep_interval_secs: u64,
    /// An agent whose last socket closed this many seconds ago goes offline
    /// and stops getting assignments (back to their status when a socket
    /// opens again); 0 never.
    pub presence_timeout_secs: u64,
    /// The shortest auto-resolve delay an inbox may set, in seconds.
    pub auto_resolve_min_secs: u32,
}

impl Default for ChatConfig {
    fn default() -> Self {
        Self {
            max_message_chars: 10_000,
            visitor_token_ttl_secs: 12 * 3600,
            bus_capacity: 1024,
            socket_send_timeout_secs: 10,
            socket_idle_timeout_secs: 75,
            max_sockets_per_visitor: 8,
            max_sockets_per_ip: 256,
            // A person types a message a second at most; a script replaying
            // hundreds is cut off after the burst (issue 14, finding 5).
            socket_messages_per_sec: 10.0,
            socket_message_burst: 20,
            visitor_messages_per_sec: 10.0,
            visitor_message_burst: 30,
            socket_frames_per_sec: 30.0,
            socket_frame_burst: 60,
            default_agent_capacity: 5,
            route_interval_secs: 10,
            queue_estimate_window_secs: 1800,
            sweep_interval_secs: 15,
            presence_timeout_secs: 300,
            auto_resolve_min_secs: 600,
        }
    }
}

impl ChatConfig {
    pub fn validate(&self) -> Result<(), String> {
        if self.sweep_interval_secs == 0 {
            return Err("chat.sweep_interval_secs must be at least 1".into());
        }
        // A live socket is marked as seen once per sweep: a timeout under
        // two sweeps would time out agents who are there.
        if self.presence_timeout_secs > 0
            && self.presence_timeout_secs < 2 * self.sweep_interval_secs
        {
            return Err(format!(
                "chat.presence_timeout_secs ({}) must be 0 (off) or at least twice chat.sweep_interval_secs ({})",
                self.presence_timeout_secs, self.sweep_interval_secs
            ));
        }
        if self.auto_resolve_min_secs == 0 {
            return Err("chat.auto_resolve_min_secs must be at least 1".into());
        }
        Ok(())
    }
}

/// Settings of the analytics (section `[analytics]` of kefu.toml).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct AnalyticsConfig {
    /// A bot conversation counts as resolved without the visitor's
    /// "helpful: yes" only once this many hours have passed since the bot's
    /// last answer without the visitor coming back (1–720).
    pub resolution_window_hours: u32,
}

impl AnalyticsConfig {
    /// Bounds of `resolution_window_hours`: an hour to 30 days.
    pub const WINDOW_HOURS: std::ops::RangeInclusive<u32> = 1..=720;

    /// Refuses a window outside [`Self::WINDOW_HOURS`].
    pub fn validate(&self) -> Result<(), String> {
        if Self::WINDOW_HOURS.contains(&self.resolution_window_hours) {
            Ok(())
        } else {
            Err(format!(
                "analytics.resolution_window_hours must be from {} to {} (hours), not {}",
                Self::WINDOW_HOURS.start(),
                Self::WINDOW_HOURS.end(),
                self.resolution_window_hours
            ))
        }
    }
}

impl Default for AnalyticsConfig {
    fn default() -> Self {
        // Intercom's default: a day without the customer
        // coming back.
        Self {
            resolution_window_hours: 24,
        }
    }
}

/// Settings of the knowledge base and the bot (section `[kb]` of kefu.toml).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct KbConfig {
    /// Largest `POST …/kb/import` body, in bytes.
    pub import_max_bytes: usize,
    /// Longest article body, in characters.
    pub max_body_chars: usize,
    /// Most alternative questions per article.
    pub max_questions: usize,
    /// Fold traditional Chinese to simplified in the index and in queries.
    pub fold_traditional: bool,
    /// Articles embedded per background pass.
    pub embed_batch: usize,
    /// First retry delay after the embeddings endpoint failed, in seconds
    /// (doubling up to five minutes).
    pub embed_retry_secs: u64,
    /// How long the bot waits for the query's embedding before it answers
    /// from lexical search alone, in milliseconds.
    pub query_embed_timeout_ms: u64,
    /// Passages given to the language model (when one is configured).
    pub llm_passages: usize,
    /// Default "hand off after this many unhelpful answers in a row".
    pub max_unhelpful: u32,
    /// Most synonym groups per workspace (at most
    /// [`kefu_kb::synonyms::MAX_GROUPS`]).
    pub max_synonym_groups: usize,
    /// Most terms in one synonym group (at most
    /// [`kefu_kb::synonyms::MAX_TERMS_PER_GROUP`]).
    pub max_synonym_terms: usize,
    /// Longest synonym term, in characters.
    pub max_synonym_chars: usize,
}

impl KbConfig {
    /// Refuses synonym limits the index cannot hold
    /// ([`kefu_kb::synonyms::MAX_GROUPS`], [`kefu_kb::synonyms::MAX_TERMS_PER_GROUP`]).
    pub fn validate(&self) -> Result<(), String> {
        use kefu_kb::synonyms::{MAX_GROUPS, MAX_TERMS_PER_GROUP};
        if self.max_synonym_groups > MAX_GROUPS {
            return Err(format!(
                "kb.max_synonym_groups must be at most {MAX_GROUPS}, not {}",
                self.max_synonym_groups
            ));
        }
        if !(2..=MAX_TERMS_PER_GROUP).contains(&self.max_synonym_terms) {
            return Err(format!(
                "kb.max_synonym_terms must be from 2 to {MAX_TERMS_PER_GROUP}, not {}",
                self.max_synonym_terms
            ));
        }
        if self.max_synonym_chars == 0 {
            return Err("kb.max_synonym_chars must be at least 1".into());
        }
        Ok(())
    }
}

impl Default for KbConfig {
    fn default() -> Self {
        Self {
            import_max_bytes: 64 * 1024 * 1024,
            max_body_chars: 50_000,
            max_questions: 50,
            fold_traditional: true,
            embed_batch: 32,
            embed_retry_secs: 5,
            query_embed_timeout_ms: 2_000,
            llm_passages: 3,
            max_unhelpful: 2,
            max_synonym_groups: 1_000,
            max_synonym_terms: 20,
            max_synonym_chars: 30,
        }
    }
}
