#!/usr/bin/env bash
# Creates ./secrets for compose.yaml and compose.cluster.yaml: the backup key
# (both files), random passwords, the cluster's token signing key, the
# database and Redis URLs that embed those passwords, a placeholder SMTP
# password and a self-signed TLS certificate for local use.
# Idempotent: an existing file is never overwritten (delete it to regenerate;
# the PostgreSQL password is fixed at the database's first start).
#
#   ./init-secrets.sh                      # certificate for localhost
#   KEFU_TLS_HOSTNAME=kefu.test ./init-secrets.sh
#
# Needs openssl. Production: use your secret store and a real certificate
# (e.g. ACME); keep this directory out of version control (.gitignore does).
set -euo pipefail
cd "$(dirname "$0")"
umask 077
mkdir -p secrets
chmod 0700 secrets

hostname=${KEFU_TLS_HOSTNAME:-localhost}

# random <bytes>: URL-safe random string (no characters that need escaping in URLs).
random() { openssl rand -base64 "$1" | tr -d '\n=' | tr '+/' '-_'; }

# put <name> <value>: write secrets/<name> once. Mode 0644 inside the 0700
# directory: outside Swarm, Compose bind-mounts the file as it is, and the
# services read it as their own non-root users.
put() {
  local file="secrets/$1"
  if [ -e "$file" ]; then
    echo "kept    $file"
  else
    printf '%s' "$2" >"$file"
    chmod 0644 "$file"
    echo "created $file"
  fi
}

put postgres_password "$(random 24)"
put redis_password "$(random 24)"
put kefu_signing_key "$(random 48)"
# The key-encryption key: seals TOTP and identity secrets and the audit chain
# key in the database. Keep a copy with the backup key, away from this host.
put kefu_secrets_key "$(openssl rand -hex 32)"
# Encrypts and authenticates the backup archives: 64 hex characters. Keep a
# copy away from this host — without it no archive can be restored.
put kefu_backup_key "$(openssl rand -hex 32)"
put grafana_admin_password "$(random 18)"
put kefu_database_url "postgres://kefu:$(cat secrets/postgres_password)@postgres:5432/kefu"
put kefu_redis_url "redis://:$(cat secrets/redis_password)@redis:6379"
# Alertmanager's SMTP password: replace with the real one
# (deploy/monitoring/alertmanager/README.md; chat-bot tokens go to the adapters).
put smtp_password "change-me"

# Self-signed certificate (ECDSA P-256, 90 days) for local TLS. Browsers warn
# until you trust it; the blackbox exporter's local module skips verification.
if [ -e secrets/tls.crt ] && [ -e secrets/tls.key ]; then
  echo "kept    secrets/tls.crt, secrets/tls.key"
else
  openssl req -x509 -nodes -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 \
    -days 90 -subj "/CN=$hostname" \
    -addext "subjectAltName=DNS:$hostname,DNS:nginx,IP:127.0.0.1" \
    -keyout secrets/tls.key -out secrets/tls.crt 2>/dev/null
  chmod 0644 secrets/tls.crt secrets/tls.key
  echo "created secrets/tls.crt, secrets/tls.key (self-signed, CN=$hostname, 90 days)"
fi
