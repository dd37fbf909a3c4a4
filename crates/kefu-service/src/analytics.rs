//! Supervisors' numbers and the tools around them: the visitor's CSAT
//! rating, the contact details a visitor leaves in the offline form, the
//! analytics summary, and canned responses.

use crate::chat::Visitor;
use crate::context::Access;
use crate::error::{ServiceError, ServiceResult};
use crate::validate::Checks;
use crate::Services;
use chrono::{DateTime, NaiveDate, TimeZone, Timelike, Utc};
use chrono_tz::Tz;
use kefu_domain::analytics::{
    rate, BotOutcome, CannedResponse, ConversationFacts, DurationStats, Rating,
};
use kefu_domain::bus::Event;
use kefu_domain::chat::{Contact, ContactPatch, Conversation};
use kefu_domain::{Action, CannedResponseId, ConversationId, TeamId, UserId};
use std::collections::{BTreeMap, HashMap};

/// Longest CSAT comment, in characters.
pub const MAX_RATING_COMMENT: usize = 1000;
/// Longest analytics range, in days.
pub const MAX_RANGE_DAYS: i64 = 366;
const MAX_CANNED_BODY: usize = 5000;

/// The analytics summary of a date range (see `docs/api.md`).
#[derive(Debug, Clone, PartialEq)]
pub struct Summary {
    pub from: NaiveDate,
    pub to: NaiveDate,
    pub time_zone: Tz,
    pub total: usize,
    /// Every day of the range, in order, with its count (zeros included).
    pub by_day: Vec<(NaiveDate, usize)>,
    /// Conversations started in each local hour of the day, 0–23.
    pub by_hour: [usize; 24],
    pub first_response: DurationStats,
    pub resolution: DurationStats,
    pub bot: BotStats,
    pub csat: CsatStats,
    pub agents: Vec<GroupStats<UserId>>,
    pub teams: Vec<GroupStats<TeamId>>,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BotStats {
    /// Conversations that began with the bot.
    pub conversations: usize,
    /// … of which never reached a person.
    pub contained: usize,
    pub handed_off: usize,
    pub containment_rate: Option<f64>,
    pub handoff_rate: Option<f64>,
    /// Verified automated resolution: `confirmed` + `silent`.
    pub resolved: usize,
    /// … the visitor said an answer helped.
    pub confirmed: usize,
    /// … the visitor did not come back within the window.
    pub silent: usize,
    /// Not decided yet: within the window, no confirmation.
    pub pending: usize,
    /// `resolved / (conversations − pending)`.
    pub resolution_rate: Option<f64>,
    /// The window the figures were computed with (`[analytics]`).
    pub resolution_window_hours: u32,
}

impl BotStats {
    /// The bot's figures of these conversations, as of `now`.
    fn of(facts: &[ConversationFacts], window_hours: u32, now: DateTime<Utc>) -> Self {
        let window = chrono::Duration::hours(i64::from(window_hours));
        let conversations = facts.iter().filter(|f| f.started_with_bot).count();
        let contained = facts.iter().filter(|f| f.contained()).count();
        let handed_off = conversations - contained;
        let (mut confirmed, mut silent, mut pending) = (0, 0, 0);
        for outcome in facts.iter().filter_map(|f| f.bot_outcome(window, now)) {
            match outcome {
                BotOutcome::Confirmed => confirmed += 1,
                BotOutcome::Silent => silent += 1,
                BotOutcome::Pending => pending += 1,
                BotOutcome::Unresolved => {}
            }
        }
        let resolved = confirmed + silent;
        Self {
            conversations,
            contained,
            handed_off,
            containment_rate: rate(contained, conversations),
            handoff_rate: rate(handed_off, conversations),
            resolved,
            confirmed,
            silent,
            pending,
            resolution_rate: rate(resolved, conversations - pending),
            resolution_window_hours: window_hours,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct CsatStats {
    pub count: usize,
    pub average: Option<f64>,
    /// How many ratings of 1, 2, 3, 4 and 5.
    pub distribution: [usize; 5],
}

impl CsatStats {
    fn of<'a>(facts: impl Iterator<Item = &'a ConversationFacts>) -> Self {
        let mut distribution = [0usize; 5];
        for s in facts.filter_map(|f| f.rating) {
            distribution[usize::from(s.clamp(1, 5)) - 1] += 1;
        }
        let count: usize = distribution.iter().sum();
        let sum: usize = distribution
            .iter()
            .enumerate()
            .map(|(i, n)| (i + 1) * n)
            .sum();
        Self {
            count,
            average: (count > 0).then(|| sum as f64 / count as f64),
            distribution,
        }
    }
}

/// One agent's or team's figures.
#[derive(Debug, Clone, PartialEq)]
pub struct GroupStats<Id> {
    pub id: Id,
    pub name: String,
    pub conversations: usize,
    pub first_response_median_secs: Option<f64>,
    pub resolution_median_secs: Option<f64>,
    pub csat_average: Option<f64>,
    pub csat_count: usize,
}

fn group_stats<Id>(id: Id, name: String, facts: &[&ConversationFacts]) -> GroupStats<Id> {
    let csat = CsatStats::of(facts.iter().copied());
    GroupStats {
        id,
        name,
        conversations: facts.len(),
        first_response_median_secs: DurationStats::of(
            facts
                .iter()
                .filter_map(|f| f.first_response_secs())
                .collect(),
        )
        .median,
        resolution_median_secs: DurationStats::of(
            facts.iter().filter_map(|f| f.resolution_secs()).collect(),
        )
        .median,
        csat_average: csat.average,
        csat_count: csat.count,
    }
}

/// A canned response's fields, validated: (shortcut, title, body).
fn checked_canned(
    shortcut: &str,
    title: Option<&str>,
    body: &str,
) -> ServiceResult<(String, Option<String>, String)> {
    let mut c = Checks::new();
    let shortcut = c.text("shortcut", shortcut, 40);
    if !shortcut
        .chars()
        .all(|ch| ch.is_alphanumeric() || ch == '-' || ch == '_')
    {
        c.fail("shortcut", "invalid");
    }
    let title = title
        .filter(|t| !t.trim().is_empty())
        .map(|t| c.text("title", t, 200));
    let body = c.text("body", body, MAX_CANNED_BODY);
    c.finish()?;
    Ok((shortcut, title, body))
}

/// Each group's figures, by name (then id, for equal names).
fn grouped<Id: Copy + Ord + std::hash::Hash>(
    groups: BTreeMap<Id, Vec<&ConversationFacts>>,
    names: &HashMap<Id, String>,
) -> Vec<GroupStats<Id>> {
    let mut out: Vec<GroupStats<Id>> = groups
        .into_iter()
        .map(|(id, facts)| group_stats(id, names.get(&id).cloned().unwrap_or_default(), &facts))
        .collect();
    out.sort_by(|a, b| a.name.cmp(&b.name).then(a.id.cmp(&b.id)));
    out
}

/// Midnight of `day` in `tz`, as UTC (the first instant of the day when a
/// DST change skips midnight).
fn local_midnight(tz: Tz, day: NaiveDate) -> DateTime<Utc> {
    let naive = day.and_hms_opt(0, 0, 0).expect("midnight exists");
    match tz.from_local_datetime(&naive) {
        chrono::LocalResult::Single(t) | chrono::LocalResult::Ambiguous(t, _) => {
            t.with_timezone(&Utc)
        }
        chrono::LocalResult::None => tz
            .from_local_datetime(&(naive + chrono::Duration::hours(1)))
            .earliest()
            .map_or_else(|| naive.and_utc(), |t| t.with_timezone(&Utc)),
    }
}

impl Services {
    /// The visitor's satisfaction rating of their resolved conversation.
    pub async fn rate_conversation(
        &self,
        v: &Visitor,
        id: ConversationId,
        score: i64,
        comment: Option<String>,
    ) -> ServiceResult<Conversation> {
        let mut c = Checks::new();
        if !(1..=5).contains(&score) {
            c.fail("score", "out_of_range");
        }
        let comment = comment
            .filter(|s| !s.trim().is_empty())
            .map(|s| c.text("comment", &s, MAX_RATING_COMMENT));
        c.finish()?;
        let conversation = self.visitor_conversation(v, id).await?;
        let rating = Rating {
            score: score as u8,
            comment,
            rated_at: self.clock.now(),
        };
        let rated = self
            .store
            .rate_conversation(v.workspace_id, conversation.id, v.contact_id, &rating)
            .await?;
        self.metrics.csat.observe(f64::from(rating.score));
        self.announce(Event::ConversationUpdated {
            conversation: rated.clone(),
        });
        Ok(rated)
    }

    /// Contact details the visitor leaves (the widget's offline form).
    /// Only what is given is set; nothing is cleared.
    pub async fn visitor_update_contact(
        &self,
        v: &Visitor,
        name: Option<String>,
        email: Option<String>,
        phone: Option<String>,
        attributes: Option<serde_json::Map<String, serde_json::Value>>,
    ) -> ServiceResult<Contact> {
        let set = |s: Option<String>| s.filter(|s| !s.trim().is_empty()).map(Some);
        // A visitor adds and changes attributes; removing one (null) is for
        // the team.
        let attributes = attributes.map(|mut a| {
            a.retain(|_, v| !v.is_null());
            a
        });
        let patch = crate::contacts::checked_patch(ContactPatch {
            name: set(name),
            email: set(email),
            phone: set(phone),
            attributes,
        })?;
        Ok(self
            .store
            .update_contact(v.workspace_id, v.contact_id, &patch, self.clock.now())
            .await?)
    }

    /// The summary of the conversations started from `from` to `to`
    /// (inclusive local dates in `tz`; default: the last seven days,
    /// today included).
    pub async fn analytics_summary(
        &self,
        access: &Access,
        from: Option<NaiveDate>,
        to: Option<NaiveDate>,
        tz: Tz,
    ) -> ServiceResult<Summary> {
        access.require(Action::ViewAnalytics)?;
        let to = to.unwrap_or_else(|| self.clock.now().with_timezone(&tz).date_naive());
        let from = from.unwrap_or(to - chrono::Duration::days(6));
        if to < from {
            return Err(ServiceError::invalid("to", "before_from"));
        }
        if (to - from).num_days() >= MAX_RANGE_DAYS {
            return Err(ServiceError::invalid("to", "range_too_long"));
        }
        let ws = access.workspace_id;
        let start = local_midnight(tz, from);
        let end = local_midnight(tz, to.succ_opt().unwrap_or(to));
        let facts = self.store.conversation_facts(ws, start, end).await?;

        let mut per_day: BTreeMap<NaiveDate, usize> = from
            .iter_days()
            .take_while(|d| *d <= to)
            .map(|d| (d, 0))
            .collect();
        let mut by_hour = [0usize; 24];
        for f in &facts {
            let local = f.created_at.with_timezone(&tz);
            *per_day.entry(local.date_naive()).or_insert(0) += 1;
            by_hour[local.hour() as usize] += 1;
        }
        let bot = BotStats::of(
            &facts,
            self.analytics.resolution_window_hours,
            self.clock.now(),
        );

        let members: HashMap<UserId, String> = self
            .store
            .list_members(ws)
            .await?
            .into_iter()
            .map(|m| (m.user_id, m.name))
            .collect();
        let teams: HashMap<TeamId, String> = self
            .store
            .list_teams(ws)
            .await?
            .into_iter()
            .map(|t| (t.id, t.name))
            .collect();
        let mut by_agent: BTreeMap<UserId, Vec<&ConversationFacts>> = BTreeMap::new();
        let mut by_team: BTreeMap<TeamId, Vec<&ConversationFacts>> = BTreeMap::new();
        for f in &facts {
            if let Some(a) = f.assignee_id {
                by_agent.entry(a).or_default().push(f);
            }
            if let Some(t) = f.team_id {
                by_team.entry(t).or_default().push(f);
            }
        }
        Ok(Summary {
            from,
            to,
            time_zone: tz,
            total: facts.len(),
            by_day: per_day
                .into_iter()
                .filter(|(d, _)| *d >= from && *d <= to)
                .collect(),
            by_hour,
            first_response: DurationStats::of(
                facts
                    .iter()
                    .filter_map(|f| f.first_response_secs())
                    .collect(),
            ),
            resolution: DurationStats::of(
                facts.iter().filter_map(|f| f.resolution_secs()).collect(),
            ),
            bot,
            csat: CsatStats::of(facts.iter()),
            agents: grouped(by_agent, &members),
            teams: grouped(by_team, &teams),
        })
    }

    pub async fn canned_responses(&self, access: &Access) -> ServiceResult<Vec<CannedResponse>> {
        access.require(Action::ViewConversations)?;
        Ok(self.store.canned_responses(access.workspace_id).await?)
    }

    /// A new canned response.
    pub async fn create_canned_response(
        &self,
        access: &Access,
        shortcut: &str,
        title: Option<&str>,
        body: &str,
    ) -> ServiceResult<CannedResponse> {
        access.require(Action::ManageCannedResponses)?;
        let (shortcut, title, body) = checked_canned(shortcut, title, body)?;
        let now = self.clock.now();
        let canned = CannedResponse {
            id: CannedResponseId::new(),
            workspace_id: access.workspace_id,
            shortcut,
            title,
            body,
            created_at: now,
            updated_at: now,
        };
        self.store.create_canned_response(&canned).await?;
        Ok(canned)
    }

    /// Changes the given fields of a canned response (`title: Some("")`
    /// clears it).
    pub async fn update_canned_response(
        &self,
        access: &Access,
        id: CannedResponseId,
        shortcut: Option<&str>,
        title: Option<&str>,
        body: Option<&str>,
    ) -> ServiceResult<CannedResponse> {
        access.require(Action::ManageCannedResponses)?;
        let current = self.store.canned_response(access.workspace_id, id).await?;
        let (shortcut, title, body) = checked_canned(
            shortcut.unwrap_or(&current.shortcut),
            title.or(current.title.as_deref()),
            body.unwrap_or(&current.body),
        )?;
        let canned = CannedResponse {
            shortcut,
            title,
            body,
            updated_at: self.clock.now(),
            ..current
        };
        self.store.update_canned_response(&canned).await?;
        Ok(canned)
    }

    pub async fn canned_response(
        &self,
        access: &Access,
        id: CannedResponseId,
    ) -> ServiceResult<CannedResponse> {
        access.require(Action::ViewConversations)?;
        Ok(self.store.canned_response(access.workspace_id, id).await?)
    }

    pub async fn delete_canned_response(
        &self,
        access: &Access,
        id: CannedResponseId,
    ) -> ServiceResult<()> {
        access.require(Action::ManageCannedResponses)?;
        Ok(self
            .store
            .delete_canned_response(access.workspace_id, id)
            .await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Datelike;

    #[test]
    fn local_days_start_at_local_midnight() {
        let day = NaiveDate::from_ymd_opt(2026, 11, 26).unwrap();
        let shanghai: Tz = "Asia/Shanghai".parse().unwrap();
        assert_eq!(
            local_midnight(shanghai, day).to_rfc3339(),
            "2026-11-25T16:00:00+00:00"
        );
        assert_eq!(
            local_midnight(Tz::UTC, day).to_rfc3339(),
            "2026-11-26T00:00:00+00:00"
        );
        // A day whose midnight is skipped (Santiago, 2026-09-06).
        let santiago: Tz = "America/Santiago".parse().unwrap();
        let t = local_midnight(santiago, NaiveDate::from_ymd_opt(2026, 9, 6).unwrap());
        assert_eq!(t.with_timezone(&santiago).day(), 6);
    }
}
