//! The OpenAPI 3 document: the skeleton here, every path contributed by the
//! `#[utoipa::path]` annotation on its handler, so the document cannot drift
//! from the routes.

use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Kefu API",
        version = "1",
        description = "Kefu customer-service platform: the public REST API used by the console, the widget and integrators. Errors are `{code, message, details?}`."
    ),
    components(schemas(crate::error::ErrorBody)),
    modifiers(&Security),
    tags(
        (name = "auth", description = "Sign in, refresh, sign out"),
        (name = "sso", description = "Single sign-on with OpenID Connect: the console's sign-in through a workspace's identity provider, and its settings"),
        (name = "me", description = "The caller's own account and second factor"),
        (name = "workspaces", description = "Workspace settings"),
        (name = "members", description = "Members and invitations"),
        (name = "api-tokens", description = "Scoped tokens for integrations"),
        (name = "audit", description = "The tamper-evident audit log"),
        (name = "inboxes", description = "Channels visitors reach the workspace through"),
        (name = "conversations", description = "Conversations and their sequence-numbered messages"),
        (name = "routing", description = "Teams, agent presence and capacity, the queue"),
        (name = "contacts", description = "The people behind visitors"),
        (name = "knowledge", description = "Knowledge base, search, the bot and its evaluation"),
        (name = "analytics", description = "Volumes, response and resolution times, bot containment, CSAT"),
        (name = "widget", description = "The embeddable widget's public API"),
        (name = "meta", description = "Health and metadata"),
    )
)]
pub struct ApiDoc;

struct Security;

impl Modify for Security {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "An access token from /auth/login, or an API token (kefu_pat_…)",
                    ))
                    .build(),
            ),
        );
        components.add_security_scheme(
            "cookie",
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::with_description(
                "kefu_access",
                "The console's session cookie; unsafe methods also need the X-CSRF-Token header",
            ))),
        );
    }
}
