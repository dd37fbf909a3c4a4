//! One file per resource; `api_router` merges them under `/api/v1`.

pub mod analytics;
pub mod api_tokens;
pub mod attachments;
pub mod audit;
pub mod auth;
pub mod bot;
pub mod contacts;
pub mod conversations;
pub mod dto;
pub mod email;
pub mod export;
pub mod health;
pub mod inboxes;
pub mod invitations;
pub mod kb;
pub mod me;
pub mod members;
pub mod sso;
pub mod teams;
pub mod widget;
pub mod widget_bot;
pub mod workspaces;

use crate::openapi::ApiDoc;
use crate::state::AppState;
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;

pub fn api_router() -> OpenApiRouter<AppState> {
    let v1 = OpenApiRouter::new()
        .merge(auth::router())
        .merge(sso::router())
        .merge(me::router())
        .merge(workspaces::router())
        .merge(export::router())
        .merge(members::router())
        .merge(invitations::router())
        .merge(email::router())
        .merge(api_tokens::router())
        .merge(audit::router())
        .merge(inboxes::router())
        .merge(conversations::router())
        .merge(contacts::router())
        .merge(attachments::router())
        .merge(teams::router())
        .merge(kb::router())
        .merge(analytics::router())
        .merge(bot::router())
        .merge(
            widget::router()
                .merge(widget_bot::router())
                .merge(attachments::widget_router())
                .layer(axum::middleware::from_fn(widget::cors)),
        )
        .merge(health::openapi_router());
    OpenApiRouter::with_openapi(ApiDoc::openapi()).nest("/api/v1", v1)
}
