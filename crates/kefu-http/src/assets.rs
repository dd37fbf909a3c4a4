//! The web assets embedded at build time (see `build.rs`): the console at
//! `/` (its files under `/console/…`), the widget at `/widget.js` and a
//! demo page at `/demo` that embeds it. Served with an ETag (`304` on a
//! match) and, when the client accepts it, the gzip copy made at build time.
//!
//! `http.assets_dir` serves the same paths from a directory instead, read
//! on every request — for working on the UI without rebuilding.

use crate::state::AppState;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;

struct Asset {
    path: &'static str,
    body: &'static [u8],
    gzip: Option<&'static [u8]>,
    etag: &'static str,
}

include!(concat!(env!("OUT_DIR"), "/assets.rs"));

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/", get(console_index))
        .route("/login", get(console_index))
        .route("/widget.js", get(widget))
        .route("/demo", get(demo))
        .route("/console/{*path}", get(console_file))
}

async fn console_index(State(s): State<AppState>, headers: HeaderMap) -> Response {
    serve(&s, &headers, "console/index.html", Cache::Revalidate)
}

async fn widget(State(s): State<AppState>, headers: HeaderMap) -> Response {
    // Sites cache it for a few minutes; a release reaches them soon after.
    serve(&s, &headers, "widget.js", Cache::Minutes(5))
}

#[derive(serde::Deserialize)]
struct DemoQuery {
    key: Option<String>,
}

/// The demo page with `?key=` put into its widget tag (`{{WIDGET_KEY}}`).
/// Keys are URL-safe tokens; anything else is dropped rather than escaped.
async fn demo(State(s): State<AppState>, Query(q): Query<DemoQuery>) -> Response {
    let key = q
        .key
        .filter(|k| {
            k.len() <= 128
                && k.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
        })
        .unwrap_or_default();
    let page = match &s.http.assets_dir {
        Some(dir) => std::fs::read(dir.join("demo.html")).ok(),
        None => ASSETS
            .iter()
            .find(|a| a.path == "demo.html")
            .map(|a| a.body.to_vec()),
    };
    let Some(page) = page else {
        return not_found();
    };
    let html = String::from_utf8_lossy(&page).replace("{{WIDGET_KEY}}", &key);
    (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        html,
    )
        .into_response()
}

async fn console_file(
    State(s): State<AppState>,
    Path(path): Path<String>,
    headers: HeaderMap,
) -> Response {
    serve(&s, &headers, &format!("console/{path}"), Cache::Revalidate)
}

enum Cache {
    /// Always revalidate with the ETag (a release is seen at once).
    Revalidate,
    Minutes(u32),
}

fn content_type(path: &str) -> &'static str {
    match path.rsplit_once('.').map(|(_, ext)| ext) {
        Some("html") => "text/html; charset=utf-8",
        Some("js" | "mjs") => "text/javascript; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("json") => "application/json",
        Some("svg") => "image/svg+xml",
        Some("png") => "image/png",
        Some("ico") => "image/x-icon",
        Some("woff2") => "font/woff2",
        Some("mp3") => "audio/mpeg",
        Some("wav") => "audio/wav",
        _ => "application/octet-stream",
    }
}

fn serve(state: &AppState, headers: &HeaderMap, path: &str, cache: Cache) -> Response {
    if path.split('/').any(|seg| seg == ".." || seg.is_empty()) {
        return not_found();
    }
    let cache_control = match cache {
        Cache::Revalidate => "no-cache".to_string(),
        Cache::Minutes(m) => format!("public, max-age={}", m * 60),
    };
    let mut res = if let Some(dir) = &state.http.assets_dir {
        match std::fs::read(dir.join(path)) {
            Ok(body) => body.into_response(),
            Err(_) => return not_found(),
        }
    } else {
        let Some(asset) = ASSETS.iter().find(|a| a.path == path) else {
            return not_found();
        };
        let etag = HeaderValue::from_static(asset.etag);
        if headers.get(header::IF_NONE_MATCH).is_some_and(|v| {
            v.as_bytes()
                .split(|b| *b == b',')
                .any(|t| t.trim_ascii() == asset.etag.as_bytes())
        }) {
            let mut res = StatusCode::NOT_MODIFIED.into_response();
            res.headers_mut().insert(header::ETAG, etag);
            return res;
        }
        let accepts_gzip = headers
            .get(header::ACCEPT_ENCODING)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.split(',').any(|e| e.trim().starts_with("gzip")));
        let mut res = match asset.gzip {
            Some(gz) if accepts_gzip => {
                let mut r = gz.into_response();
                r.headers_mut()
                    .insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
                r
            }
            _ => asset.body.into_response(),
        };
        let h = res.headers_mut();
        h.insert(header::ETAG, etag);
        h.insert(header::VARY, HeaderValue::from_static("accept-encoding"));
        res
    };
    let h = res.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(content_type(path)),
    );
    if let Ok(v) = HeaderValue::from_str(&cache_control) {
        h.insert(header::CACHE_CONTROL, v);
    }
    if path == "widget.js" {
        // Loaded by other sites' pages.
        h.insert(
            "cross-origin-resource-policy",
            HeaderValue::from_static("cross-origin"),
        );
    }
    res
}

fn not_found() -> Response {
    crate::error::ApiError::from_status(StatusCode::NOT_FOUND).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_embedded_asset_has_a_known_type() {
        assert!(!ASSETS.is_empty());
        for a in ASSETS {
            assert_ne!(
                content_type(a.path),
                "application/octet-stream",
                "{} would be served as bytes",
                a.path
            );
            assert!(a.etag.starts_with('"') && a.etag.ends_with('"'));
        }
        for page in ["console/index.html", "widget.js", "demo.html"] {
            assert!(ASSETS.iter().any(|a| a.path == page), "{page} is embedded");
        }
    }
}
