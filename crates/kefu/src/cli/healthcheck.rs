//! `kefu healthcheck`: a dependency-free HTTP/1.1 GET of `/readyz`, so the
//! container image needs no curl.

use crate::config::Settings;
use std::process::ExitCode;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

pub async fn run(settings: &Settings, url: Option<String>, timeout_secs: u64) -> ExitCode {
    let target = url.unwrap_or_else(|| format!("http://{}", local_target(&settings.listen)));
    match tokio::time::timeout(Duration::from_secs(timeout_secs.max(1)), probe(&target)).await {
        Ok(Ok(200)) => ExitCode::SUCCESS,
        Ok(Ok(status)) => {
            eprintln!("unhealthy: {target}/readyz answered {status}");
            ExitCode::FAILURE
        }
        Ok(Err(e)) => {
            eprintln!("unhealthy: {target}/readyz: {e}");
            ExitCode::FAILURE
        }
        Err(_) => {
            eprintln!("unhealthy: {target}/readyz did not answer within {timeout_secs} s");
            ExitCode::FAILURE
        }
    }
}

/// A wildcard listen address is reached through loopback.
fn local_target(listen: &str) -> String {
    listen
        .replace("0.0.0.0", "127.0.0.1")
        .replace("[::]", "[::1]")
}

async fn probe(base: &str) -> std::io::Result<u16> {
    let host = base
        .strip_prefix("http://")
        .ok_or_else(|| std::io::Error::other("only http:// URLs are supported"))?
        .trim_end_matches('/');
    let mut stream = tokio::net::TcpStream::connect(host).await?;
    let req = format!("GET /readyz HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\nUser-Agent: kefu-healthcheck\r\n\r\n");
    stream.write_all(req.as_bytes()).await?;
    let mut buf = Vec::with_capacity(512);
    stream.read_to_end(&mut buf).await?;
    let head = String::from_utf8_lossy(&buf);
    head.split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| std::io::Error::other("not an HTTP response"))
}
