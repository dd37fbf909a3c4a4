//! What a visitor does with the bot: rate an answer ("helpful?"), and ask
//! for a person.

use crate::chat::Visitor;
use crate::error::{ServiceError, ServiceResult};
use crate::Services;
use kefu_domain::chat::{Conversation, ConversationStatus};
use kefu_domain::kb::{unhelpful_streak, HandoffReason};
use kefu_domain::{ConversationId, MessageId};

impl Services {
    /// Records "helpful?" on one of the bot's answers. Too many unhelpful
    /// answers in a row hand the conversation to a person.
    pub async fn bot_feedback(
        &self,
        v: &Visitor,
        id: ConversationId,
        reply: MessageId,
        helpful: bool,
    ) -> ServiceResult<Conversation> {
        let c = self.visitor_conversation(v, id).await?;
        self.store
            .set_bot_feedback(v.workspace_id, id, reply, helpful)
            .await?;
        if helpful || c.status != ConversationStatus::Bot {
            return Ok(c);
        }
        let settings = self.bot_settings_of(v.workspace_id).await?;
        let turns = self.store.bot_turns(v.workspace_id, id, 20).await?;
        if settings.max_unhelpful > 0 && unhelpful_streak(&turns) >= settings.max_unhelpful {
            let zh = turns.first().is_some_and(|t| super::chinese(&t.question));
            return self
                .hand_to_people(&c, HandoffReason::UnhelpfulAnswers, zh, MessageId::new())
                .await;
        }
        Ok(c)
    }

    /// "Talk to a person": a bot conversation goes to the queue; one that
    /// is already with people stays as it is.
    pub async fn visitor_handoff(
        &self,
        v: &Visitor,
        id: ConversationId,
        zh: bool,
    ) -> ServiceResult<Conversation> {
        let c = self.visitor_conversation(v, id).await?;
        match c.status {
            ConversationStatus::Bot => {
                self.hand_to_people(&c, HandoffReason::VisitorRequest, zh, MessageId::new())
                    .await
            }
            ConversationStatus::Queued | ConversationStatus::Assigned => Ok(c),
            _ => Err(ServiceError::Conflict("invalid_transition")),
        }
    }
}
