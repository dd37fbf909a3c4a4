//! Event bus adapters for the domain's [`Bus`] port. `MemoryBus` serves a
//! single node: one tokio broadcast channel per topic, created on first
//! subscription and dropped when its last subscriber is gone.
#![forbid(unsafe_code)]

use kefu_domain::bus::{Bus, Event, Topic};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use tokio::sync::broadcast;

#[derive(Debug)]
pub struct MemoryBus {
    capacity: usize,
    topics: Mutex<HashMap<String, broadcast::Sender<Arc<Event>>>>,
}

impl MemoryBus {
    /// `capacity`: events a subscriber may fall behind before it lags (and
    /// must catch up from the database).
    pub fn new(capacity: usize) -> Self {
        Self {
            capacity: capacity.max(1),
            topics: Mutex::default(),
        }
    }

    pub fn topic_count(&self) -> usize {
        self.topics.lock().expect("bus lock").len()
    }
}

impl Bus for MemoryBus {
    fn publish(&self, topic: &Topic, event: Arc<Event>) {
        let mut topics = self.topics.lock().expect("bus lock");
        let key = topic.key();
        if let Some(tx) = topics.get(&key) {
            if tx.send(event).is_err() {
                // No subscriber left: forget the topic.
                topics.remove(&key);
            }
        }
    }

    fn subscribe(&self, topic: &Topic) -> broadcast::Receiver<Arc<Event>> {
        let mut topics = self.topics.lock().expect("bus lock");
        topics
            .entry(topic.key())
            .or_insert_with(|| broadcast::channel(self.capacity).0)
            .subscribe()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kefu_domain::chat::{Conversation, ConversationStatus};
    use kefu_domain::{ContactId, ConversationId, InboxId, WorkspaceId};

    fn event(ws: WorkspaceId) -> Arc<Event> {
        let now = kefu_domain::truncate_to_micros_now();
        Arc::new(Event::ConversationUpdated {
            conversation: Conversation {
                id: ConversationId::new(),
                workspace_id: ws,
                inbox_id: InboxId::new(),
                contact_id: ContactId::new(),
                status: ConversationStatus::Queued,
                priority: 0,
                assignee_id: None,
                last_seq: 0,
                created_at: now,
                updated_at: now,
            },
        })
    }

    #[tokio::test]
    async fn subscribers_get_their_topics_only() {
        let bus = MemoryBus::new(8);
        let (a, b) = (WorkspaceId::new(), WorkspaceId::new());
        let mut on_a = bus.subscribe(&Topic::Workspace(a));
        let mut on_b = bus.subscribe(&Topic::Workspace(b));
        let e = event(a);
        bus.publish(&Topic::Workspace(a), e.clone());
        assert_eq!(on_a.recv().await.unwrap(), e);
        assert!(on_b.try_recv().is_err());
    }

    #[tokio::test]
    async fn unused_topics_are_dropped() {
        let bus = MemoryBus::new(8);
        let ws = WorkspaceId::new();
        let rx = bus.subscribe(&Topic::Workspace(ws));
        assert_eq!(bus.topic_count(), 1);
        drop(rx);
        bus.publish(&Topic::Workspace(ws), event(ws));
        assert_eq!(bus.topic_count(), 0);
        // Publishing to a topic nobody ever subscribed to is a no-op.
        bus.publish(&Topic::Contact(ContactId::new()), event(ws));
        assert_eq!(bus.topic_count(), 0);
    }

    #[tokio::test]
    async fn a_slow_subscriber_lags_instead_of_growing() {
        let bus = MemoryBus::new(2);
        let ws = WorkspaceId::new();
        let mut rx = bus.subscribe(&Topic::Workspace(ws));
        for _ in 0..5 {
            bus.publish(&Topic::Workspace(ws), event(ws));
        }
        assert!(matches!(
            rx.recv().await,
            Err(broadcast::error::RecvError::Lagged(3))
        ));
    }
}
