//! Blocking abusive visitors: a contact (their widget is refused from then
//! on, on every device that is that contact) or an address range (every
//! widget request from it is refused). Both answer 403 `visitor_blocked`,
//! which the widget shows as a plain message.
//!
//! Address ranges are read from the database at most every
//! [`RANGE_CACHE`] per workspace and replica: a range added elsewhere in a
//! cluster applies within that time (at once on the replica that added it).

use crate::chat::Visitor;
use crate::error::{ServiceError, ServiceResult};
use crate::{Access, Services};
use kefu_domain::chat::{BlockedRange, Contact, IpRange};
use kefu_domain::{Action, BlockedRangeId, ContactId, WorkspaceId};
use serde_json::json;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How long a replica trusts its copy of a workspace's ranges.
pub const RANGE_CACHE: Duration = Duration::from_secs(10);
/// Most ranges one workspace may list.
const MAX_RANGES: usize = 1000;

/// A workspace's ranges, and when they were read.
type Cached = (Instant, Arc<Vec<IpRange>>);

/// Each workspace's ranges as this replica last read them.
#[derive(Debug, Default)]
pub struct RangeCache(Mutex<HashMap<WorkspaceId, Cached>>);

impl RangeCache {
    fn get(&self, ws: WorkspaceId) -> Option<Arc<Vec<IpRange>>> {
        let m = self.0.lock().expect("range cache lock");
        m.get(&ws)
            .filter(|(at, _)| at.elapsed() < RANGE_CACHE)
            .map(|(_, r)| r.clone())
    }

    fn put(&self, ws: WorkspaceId, ranges: Arc<Vec<IpRange>>) {
        let mut m = self.0.lock().expect("range cache lock");
        if m.len() > 10_000 {
            m.retain(|_, (at, _)| at.elapsed() < RANGE_CACHE);
        }
        m.insert(ws, (Instant::now(), ranges));
    }

    fn forget(&self, ws: WorkspaceId) {
        self.0.lock().expect("range cache lock").remove(&ws);
    }
}

impl Services {
    /// Blocks or unblocks a contact (owners, admins, supervisors). Audited.
    pub async fn block_contact(
        &self,
        access: &Access,
        id: ContactId,
        blocked: bool,
    ) -> ServiceResult<Contact> {
        access.require(Action::BlockVisitors)?;
        let now = self.clock.now();
        let audit = access.audit(
            if blocked {
                "contact.blocked"
            } else {
                "contact.unblocked"
            },
            Some(("contact", id.to_string())),
            json!({}),
            now,
        );
        let c = self
            .store
            .set_contact_blocked(access.workspace_id, id, blocked.then_some(now), audit)
            .await?;
        // Their open widget sockets close now, on every replica.
        if blocked {
            self.access_changed(kefu_domain::bus::AccessChange::Contact { contact_id: id });
        }
        Ok(c)
    }

    pub async fn blocked_ranges(&self, access: &Access) -> ServiceResult<Vec<BlockedRange>> {
        access.require(Action::BlockVisitors)?;
        Ok(self.store.blocked_ranges(access.workspace_id).await?)
    }

    /// Adds a range (`203.0.113.0/24`, `2001:db8::/48` or one address),
    /// stored in its normal form; a range already listed is 409
    /// `range_exists`. Audited.
    pub async fn add_blocked_range(
        &self,
        access: &Access,
        cidr: &str,
        note: Option<&str>,
    ) -> ServiceResult<BlockedRange> {
        access.require(Action::BlockVisitors)?;
        let mut c = crate::validate::Checks::new();
        let range = IpRange::parse(cidr);
        if range.is_none() {
            c.fail("cidr", "invalid");
        }
        let note = note
            .map(str::trim)
            .filter(|n| !n.is_empty())
            .map(|n| c.text("note", n, 200));
        c.finish()?;
        let range = range.expect("finish() refused a missing range");
        if self.store.blocked_ranges(access.workspace_id).await?.len() >= MAX_RANGES {
            return Err(ServiceError::invalid("cidr", "too_many"));
        }
        let now = self.clock.now();
        let b = BlockedRange {
            id: BlockedRangeId::new(),
            workspace_id: access.workspace_id,
            cidr: range.to_string(),
            note,
            created_at: now,
        };
        let audit = access.audit(
            "blocked_range.added",
            Some(("blocked_range", b.id.to_string())),
            json!({ "cidr": b.cidr }),
            now,
        );
        self.store.add_blocked_range(&b, audit).await?;
        self.ranges.forget(access.workspace_id);
        Ok(b)
    }

    pub async fn remove_blocked_range(
        &self,
        access: &Access,
        id: BlockedRangeId,
    ) -> ServiceResult<()> {
        access.require(Action::BlockVisitors)?;
        let audit = access.audit(
            "blocked_range.removed",
            Some(("blocked_range", id.to_string())),
            json!({}),
            self.clock.now(),
        );
        self.store
            .remove_blocked_range(access.workspace_id, id, audit)
            .await?;
        self.ranges.forget(access.workspace_id);
        Ok(())
    }

    /// 403 `visitor_blocked` when the visitor's address is in one of the
    /// workspace's ranges. An unknown address (no peer address, a proxy
    /// header not trusted) passes.
    pub async fn check_visitor_ip(&self, ws: WorkspaceId, ip: Option<&str>) -> ServiceResult<()> {
        let Some(ip) = ip.and_then(|i| i.parse::<std::net::IpAddr>().ok()) else {
            return Ok(());
        };
        let ranges = match self.ranges.get(ws) {
            Some(r) => r,
            None => {
                let parsed: Vec<IpRange> = self
                    .store
                    .blocked_ranges(ws)
                    .await?
                    .iter()
                    .filter_map(|b| IpRange::parse(&b.cidr))
                    .collect();
                let parsed = Arc::new(parsed);
                self.ranges.put(ws, parsed.clone());
                parsed
            }
        };
        if ranges.iter().any(|r| r.contains(ip)) {
            return Err(ServiceError::Forbidden("visitor_blocked"));
        }
        Ok(())
    }

    /// 403 `visitor_blocked` for a blocked contact.
    pub async fn visitor_not_blocked(&self, v: &Visitor) -> ServiceResult<()> {
        let c = self.store.get_contact(v.workspace_id, v.contact_id).await?;
        if c.blocked_at.is_some() {
            return Err(ServiceError::Forbidden("visitor_blocked"));
        }
        Ok(())
    }
}
