//! The HTTP integration suite: real servers (`TestApp::spawn`) on SQLite and
//! on PostgreSQL, driven over real HTTP.

mod analytics;
mod api_tokens;
mod attachments;
mod attachments_s3;
mod audit;
mod auth;
mod automation;
mod blocking;
mod bot;
mod contacts;
mod conversations;
mod errors;
mod export;
mod health;
mod hostile_text;
mod import_soup;
mod inboxes;
mod isolation;
mod kb;
mod kb_synonyms;
mod lifecycle;
mod members;
mod metrics;
mod oidc_provider;
mod passwords;
mod permissions;
mod protection;
mod query_models;
mod routing;
mod socket;
mod socket_security;
mod sso;
mod totp;
mod visitor_context;
mod widget;
