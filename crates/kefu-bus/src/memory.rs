//! The in-process bus: one tokio broadcast channel per topic, created on
//! first subscription and dropped when its last subscriber is gone. It serves
//! a single node on its own, and is the local fan-out inside [`RedisBus`].
//!
//! [`RedisBus`]: crate::RedisBus

use kefu_domain::bus::{Bus, Event, Topic};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use tokio::sync::broadcast;

/// Backlog of a visitor's own topic: it carries only their conversations'
/// events, so a small ring is plenty before they are told to `sync`, and it
/// keeps thousands of idle visitor sockets cheap (a tokio broadcast channel
/// allocates its whole ring up front: 1024 slots cost 31 KiB per visitor).
pub const CONTACT_TOPIC_CAPACITY: usize = 32;

#[derive(Debug)]
pub struct MemoryBus {
    capacity: usize,
    topics: Mutex<HashMap<String, broadcast::Sender<Arc<Event>>>>,
}

impl MemoryBus {
    /// `capacity`: events a subscriber of a workspace topic may fall behind
    /// before it lags (and must catch up from the database); visitors' topics
    /// keep at most [`CONTACT_TOPIC_CAPACITY`].
    pub fn new(capacity: usize) -> Self {
        Self {
            capacity: capacity.max(1),
            topics: Mutex::default(),
        }
    }

    pub fn topic_count(&self) -> usize {
        self.topics.lock().expect("bus lock").len()
    }

    /// Whether anyone here listens on the topic with this [`Topic::key`]
    /// (lets the Redis subscriber skip decoding events nobody here wants).
    pub(crate) fn has_subscribers(&self, key: &str) -> bool {
        self.topics
            .lock()
            .expect("bus lock")
            .get(key)
            .is_some_and(|tx| tx.receiver_count() > 0)
    }

    /// Delivers to the local subscribers of the topic with this key.
    pub(crate) fn publish_key(&self, key: &str, event: Arc<Event>) {
        let mut topics = self.topics.lock().expect("bus lock");
        if let Some(tx) = topics.get(key) {
            if tx.send(event).is_err() {
                // No subscriber left: forget the topic.
                topics.remove(key);
            }
        }
    }
}

impl Bus for MemoryBus {
    fn publish(&self, topic: &Topic, event: Arc<Event>) {
        self.publish_key(&topic.key(), event);
    }

    fn subscribe(&self, topic: &Topic) -> broadcast::Receiver<Arc<Event>> {
        let capacity = match topic {
            Topic::Workspace(_) | Topic::Knowledge => self.capacity,
            Topic::Contact(_) | Topic::User(_) => self.capacity.min(CONTACT_TOPIC_CAPACITY),
        };
        let mut topics = self.topics.lock().expect("bus lock");
        topics
            .entry(topic.key())
            .or_insert_with(|| broadcast::channel(capacity).0)
            .subscribe()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::event;
    use kefu_domain::{ContactId, WorkspaceId};

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
    async fn visitor_topics_keep_a_small_backlog() {
        let bus = MemoryBus::new(1024);
        let ws = WorkspaceId::new();
        let contact = ContactId::new();
        let mut visitor = bus.subscribe(&Topic::Contact(contact));
        let mut agents = bus.subscribe(&Topic::Workspace(ws));
        for _ in 0..CONTACT_TOPIC_CAPACITY + 8 {
            bus.publish(&Topic::Contact(contact), event(ws));
            bus.publish(&Topic::Workspace(ws), event(ws));
        }
        assert!(matches!(
            visitor.recv().await,
            Err(broadcast::error::RecvError::Lagged(8))
        ));
        assert!(
            agents.recv().await.is_ok(),
            "the workspace topic keeps 1024"
        );
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
