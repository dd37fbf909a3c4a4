# syntax=docker/dockerfile:1
#
# Kefu container image: the `kefu` binary (links only glibc, libm, libgcc_s) on debian:bookworm-slim.
#
#   docker build -t kefu:0.1.0 \
#     --build-arg VERSION=0.1.0 --build-arg REVISION="$(git rev-parse HEAD)" \
#     --build-arg CREATED="$(date -u +%Y-%m-%dT%H:%M:%SZ)" .
#   docker run --rm -p 8080:8080 -v kefu-data:/data --read-only --tmpfs /tmp kefu:0.1.0
#
# Expected size: about 110 MB uncompressed (about 45 MB compressed in a registry).
# Estimated, not measured (no Docker engine where this was written), as
#   debian:bookworm-slim               ~75 MB   (the base's published uncompressed size)
# + /usr/local/bin/kefu                ~34 MB   (target/release/kefu, release profile: thin LTO,
#                                               debuginfo stripped, symbols kept for backtraces;
#                                               the web UI is embedded in it)
# + CA bundle, passwd/group entries    <1 MB
# Measure with `docker image ls kefu` / `docker history kefu:0.1.0` after a build.
#
# Runtime contract:
# - runs as uid/gid 10001 (`kefu`), never root; no capabilities are needed (port 8080 > 1024);
# - works with a read-only root file system: everything Kefu writes (SQLite database,
#   generated signing key, knowledge-base index `kb-index/`) goes under KEFU_DATA_DIR=/data,
#   a volume. Mount a small tmpfs on /tmp as well: SQLite may spill large sorts there.
#   Logs are JSON lines on stderr (no log files);
# - `kefu healthcheck` GETs /readyz on the local listener (no curl in the image).
#
# Base images are pinned by version. For reproducible production builds pin them by
# digest too (`docker buildx imagetools inspect rust:1.95.0-bookworm` prints it):
#   --build-arg RUST_IMAGE=rust:1.95.0-bookworm@sha256:… --build-arg RUNTIME_IMAGE=debian:12.11-slim@sha256:…

# The toolchain the project is developed and tested with (`rustc --version`: 1.95.0;
# the workspace's MSRV is 1.85). Bookworm: the runtime stage must have the same or a newer glibc.
ARG RUST_IMAGE=rust:1.95.0-bookworm
ARG RUNTIME_IMAGE=debian:12.11-slim

# ---------------------------------------------------------------------------
# skeleton: the workspace's manifests with empty sources, so the dependency
# layer below is rebuilt only when Cargo.toml / Cargo.lock change (a cargo-chef
# style cache without cargo-chef). This stage re-runs on every source change,
# but it is cheap, and its *output* is identical unless a manifest changed, so
# the `COPY --from=skeleton` below stays cached.
# ---------------------------------------------------------------------------
FROM ${RUST_IMAGE} AS skeleton
WORKDIR /src
COPY . .
RUN set -eu; \
    mkdir -p /skeleton; \
    cp Cargo.toml Cargo.lock /skeleton/; \
    for manifest in crates/*/Cargo.toml tools/*/Cargo.toml; do \
      dir=$(dirname "$manifest"); \
      mkdir -p "/skeleton/$dir/src"; \
      cp "$manifest" "/skeleton/$dir/"; \
      if [ -f "$dir/src/lib.rs" ]; then : > "/skeleton/$dir/src/lib.rs"; fi; \
      if [ -f "$dir/src/main.rs" ]; then echo 'fn main() {}' > "/skeleton/$dir/src/main.rs"; fi; \
      if [ -f "$dir/build.rs" ]; then echo 'fn main() {}' > "/skeleton/$dir/build.rs"; fi; \
    done

# ---------------------------------------------------------------------------
# builder
# ---------------------------------------------------------------------------
FROM ${RUST_IMAGE} AS builder
WORKDIR /src
ENV CARGO_TERM_COLOR=never \
    CARGO_INCREMENTAL=0

# 1. Dependencies only (cached until a manifest or the lock file changes).
COPY --from=skeleton /skeleton/ ./
RUN cargo build --locked --release -p kefu

# 2. The real sources. COPY keeps the files' own modification times, which can
#    be older than the placeholder build above: touch them so cargo rebuilds
#    the workspace crates (build.rs included: it embeds the web assets).
COPY . .
RUN find crates tools -name '*.rs' -exec touch {} + \
    && cargo build --locked --release -p kefu \
    && install -D -m 0755 target/release/kefu /out/usr/local/bin/kefu \
    && /out/usr/local/bin/kefu --version

# ---------------------------------------------------------------------------
# runtime
# ---------------------------------------------------------------------------
FROM ${RUNTIME_IMAGE} AS runtime

ARG VERSION=0.1.0
ARG REVISION=unknown
ARG CREATED=unknown
LABEL org.opencontainers.image.title="kefu" \
      org.opencontainers.image.description="Kefu (客服): customer-service platform — chat widget, bot, agent console, tickets. One binary." \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.created="${CREATED}" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.source="https://example.invalid/kefu" \
      org.opencontainers.image.url="https://example.invalid/kefu" \
      org.opencontainers.image.documentation="https://example.invalid/kefu/blob/main/README.md" \
      org.opencontainers.image.vendor="Kefu"

# CA certificates for outbound HTTPS (embeddings / LLM endpoints behind TLS
# proxies, OTLP collectors): the builder's bundle is the same Debian release's
# ca-certificates, so the runtime needs no apt, no openssl and no package cache.
COPY --from=builder /etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/ca-certificates.crt

# Non-root user with a fixed uid/gid (Kubernetes runAsUser / fsGroup, volume
# ownership on the host) and the directories it owns: /data, and /backups for
# archives of scheduled backups (a named volume mounted there starts out owned
# by the user, as /data's does). No home, no shell.
RUN groupadd --system --gid 10001 kefu \
    && useradd --system --uid 10001 --gid 10001 --no-create-home \
         --home-dir /data --shell /usr/sbin/nologin kefu \
    && mkdir -p /data /backups \
    && chown 10001:10001 /data /backups \
    && chmod 0750 /data /backups

COPY --from=builder /out/ /

ENV KEFU_DATA_DIR=/data \
    KEFU_LISTEN=0.0.0.0:8080 \
    KEFU_LOG_FORMAT=json \
    SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt

VOLUME ["/data"]
# Also where `kefu` looks for ./kefu.toml (KEFU_CONFIG or --config point elsewhere).
WORKDIR /data
USER 10001:10001

# 8080: HTTP API, web UI, WebSocket (/ws), /healthz, /readyz and — unless
# KEFU_METRICS__LISTEN moves them to their own listener (e.g. 0.0.0.0:9100) —
# /metrics.
EXPOSE 8080

# /readyz: database reachable and migrated, event bus connected. start-period
# covers migrations on first start (`kefu migrate` in a job is the cluster way).
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
  CMD ["kefu", "healthcheck", "--timeout-secs", "3"]

# SIGTERM: Kefu drains in-flight requests for [http] shutdown_grace_secs (20 s);
# give the container a longer stop timeout (docker --stop-timeout / compose stop_grace_period).
STOPSIGNAL SIGTERM
ENTRYPOINT ["kefu"]
CMD ["serve"]
