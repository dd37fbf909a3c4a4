//! The storage contract: one behavioural story, run against every backend.
//! Each case gets a fresh database; `store_contract!` turns every case into a
//! `sqlite::case` and a `postgres::case` test.

mod attachments;
mod audit;
mod chat;
mod contacts;
mod export;
mod history;
mod invitations;
mod kb;
mod members;
mod routing;
mod sealed;
mod sessions;
mod sso;
mod support;
mod tls;
mod tokens;
mod users;
mod workspaces;
