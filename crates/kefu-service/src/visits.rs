//! The visitor's context for agents: the page they are on, where they came
//! from, their browser, OS, language and zone, and the pages viewed in this
//! visit. The widget reports it with each session and page view; all of it
//! is the visitor's own word (shown, never trusted).

use crate::chat::Visitor;
use crate::error::ServiceResult;
use crate::Services;
use chrono::Duration;
use kefu_domain::chat::{PageView, Visit};

/// A page view without new activity for this long starts a new visit.
const VISIT_GAP_MINUTES: i64 = 30;
/// Pages a visit keeps (the newest).
const MAX_PAGES: usize = 20;
const MAX_URL: usize = 2048;
const MAX_TEXT: usize = 300;

/// What the widget reports about the page it runs on.
#[derive(Debug, Clone, Default)]
pub struct PageReport {
    pub url: Option<String>,
    pub title: Option<String>,
    pub referrer: Option<String>,
    pub locale: Option<String>,
    pub time_zone: Option<String>,
    /// The request's `User-Agent` header.
    pub user_agent: Option<String>,
}

impl Services {
    /// Records a page view on the visitor's contact: the same visit when
    /// the last view is recent, else a new one. Bad values are dropped, not
    /// refused: this is context, and the chat must open regardless.
    pub async fn record_page_view(&self, v: &Visitor, page: PageReport) -> ServiceResult<Visit> {
        let contact = self.store.get_contact(v.workspace_id, v.contact_id).await?;
        self.record_page_view_after(v, contact.last_visit, page)
            .await
    }

    /// [`Services::record_page_view`] for a caller that has just read the
    /// contact (a new widget session): `last` is its visit so far.
    pub async fn record_page_view_after(
        &self,
        v: &Visitor,
        last: Option<Visit>,
        page: PageReport,
    ) -> ServiceResult<Visit> {
        let now = self.clock.now();
        let url = page.url.as_deref().and_then(web_url);
        let title = page.title.as_deref().and_then(|t| text(t, MAX_TEXT));
        let mut visit = match last {
            Some(last) if now - last.at < Duration::minutes(VISIT_GAP_MINUTES) => last,
            _ => Visit {
                referrer: page.referrer.as_deref().and_then(web_url),
                ..Visit::default()
            },
        };
        if let Some(ua) = page.user_agent.as_deref() {
            let (browser, os) = user_agent(ua);
            visit.browser = browser.or(visit.browser);
            visit.os = os.or(visit.os);
        }
        if let Some(l) = page.locale.as_deref().and_then(|l| text(l, 35)) {
            visit.locale = Some(l);
        }
        if let Some(z) = page.time_zone.as_deref() {
            if z.parse::<chrono_tz::Tz>().is_ok() {
                visit.time_zone = Some(z.to_string());
            }
        }
        if let Some(u) = &url {
            let same = visit.pages.last().is_some_and(|p| &p.url == u);
            if !same {
                visit.pages.push(PageView {
                    url: u.clone(),
                    title: title.clone(),
                    at: now,
                });
                let extra = visit.pages.len().saturating_sub(MAX_PAGES);
                visit.pages.drain(..extra);
            }
            visit.url = Some(u.clone());
            visit.title = title;
        }
        visit.at = now;
        self.store
            .record_visit(v.workspace_id, v.contact_id, &visit)
            .await?;
        Ok(visit)
    }
}

/// An http(s) URL within the length; anything else (javascript:, data:)
/// is dropped, so the console never renders it as a link.
fn web_url(raw: &str) -> Option<String> {
    let u = raw.trim();
    let lower = u.to_ascii_lowercase();
    let ok = (lower.starts_with("https://") || lower.starts_with("http://"))
        && u.len() <= MAX_URL
        && !u.chars().any(|c| c.is_control() || c.is_whitespace());
    ok.then(|| u.to_string())
}

fn text(raw: &str, max: usize) -> Option<String> {
    let t: String = raw
        .trim()
        .chars()
        .filter(|c| !c.is_control())
        .take(max)
        .collect();
    (!t.is_empty()).then_some(t)
}

/// The browser and OS a `User-Agent` names, coarsely (major version only).
/// In-app browsers common in China (WeChat, QQ, Alipay, DingTalk) come
/// before the engines they embed.
pub fn user_agent(ua: &str) -> (Option<String>, Option<String>) {
    let version = |token: &str| -> Option<String> {
        let at = ua.find(token)? + token.len();
        let v: String = ua[at..]
            .chars()
            .take_while(|c| c.is_ascii_digit() || *c == '.')
            .collect();
        let major = v.split('.').next().unwrap_or("");
        Some(major.to_string())
    };
    let named = |name: &str, token: &str| -> Option<String> {
        version(token).map(|v| {
            if v.is_empty() {
                name.to_string()
            } else {
                format!("{name} {v}")
            }
        })
    };
    let browser = named("WeChat", "MicroMessenger/")
        .or_else(|| named("DingTalk", "DingTalk/"))
        .or_else(|| named("Alipay", "AlipayClient/"))
        .or_else(|| named("QQ", "MQQBrowser/").or_else(|| named("QQ", "QQBrowser/")))
        .or_else(|| named("UC", "UCBrowser/"))
        .or_else(|| named("Edge", "Edg/"))
        .or_else(|| named("Opera", "OPR/"))
        .or_else(|| named("Firefox", "Firefox/"))
        .or_else(|| named("Chrome", "Chrome/").filter(|_| !ua.contains("Chromium/")))
        .or_else(|| named("Chromium", "Chromium/"))
        .or_else(|| {
            ua.contains("Safari/")
                .then(|| named("Safari", "Version/"))
                .flatten()
        });
    let os = if ua.contains("HarmonyOS") || ua.contains("OpenHarmony") {
        Some("HarmonyOS")
    } else if ua.contains("Android") {
        Some("Android")
    } else if ua.contains("iPhone") || ua.contains("iPad") || ua.contains("iPod") {
        Some("iOS")
    } else if ua.contains("Windows") {
        Some("Windows")
    } else if ua.contains("Mac OS X") || ua.contains("Macintosh") {
        Some("macOS")
    } else if ua.contains("CrOS") {
        Some("ChromeOS")
    } else if ua.contains("Linux") {
        Some("Linux")
    } else {
        None
    };
    (browser, os.map(str::to_string))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_agents() {
        let cases = [
            (
                "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36",
                ("Chrome 120", "Windows"),
            ),
            (
                "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36 Edg/120.0.2210.91",
                ("Edge 120", "Windows"),
            ),
            (
                "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148 MicroMessenger/8.0.44(0x18002c2c) NetType/WIFI Language/zh_CN",
                ("WeChat 8", "iOS"),
            ),
            (
                "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1 Safari/605.1.15",
                ("Safari 17", "macOS"),
            ),
            (
                "Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0",
                ("Firefox 121", "Linux"),
            ),
            (
                "Mozilla/5.0 (Linux; Android 12; HarmonyOS; NOH-AN00) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/99.0.4844.88 Mobile Safari/537.36",
                ("Chrome 99", "HarmonyOS"),
            ),
        ];
        for (ua, (b, o)) in cases {
            let (browser, os) = user_agent(ua);
            assert_eq!(
                (browser.as_deref(), os.as_deref()),
                (Some(b), Some(o)),
                "{ua}"
            );
        }
        assert_eq!(user_agent("curl/8.5.0"), (None, None));
    }

    #[test]
    fn only_web_urls_are_kept() {
        assert_eq!(
            web_url(" https://shop.example.cn/订单?id=1 ").as_deref(),
            Some("https://shop.example.cn/订单?id=1")
        );
        for bad in [
            "javascript:alert(1)",
            "data:text/html,x",
            "ftp://x",
            "https://a b",
        ] {
            assert_eq!(web_url(bad), None, "{bad}");
        }
    }
}
