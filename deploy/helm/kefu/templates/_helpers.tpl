{{/*
Names and labels.
*/}}
{{- define "kefu.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "kefu.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "kefu.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "kefu.instanceLabels" -}}
app.kubernetes.io/name: {{ include "kefu.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/*
The server pods. The component label keeps the migration Job's pod out of
the Service, the PDB and the server's NetworkPolicy.
*/}}
{{- define "kefu.selectorLabels" -}}
{{ include "kefu.instanceLabels" . }}
app.kubernetes.io/component: server
{{- end }}

{{- define "kefu.migrationSelectorLabels" -}}
{{ include "kefu.instanceLabels" . }}
app.kubernetes.io/component: migration
{{- end }}

{{- define "kefu.backupSelectorLabels" -}}
{{ include "kefu.instanceLabels" . }}
app.kubernetes.io/component: backup
{{- end }}

{{/*
Common labels; the component is added per object.
*/}}
{{- define "kefu.labels" -}}
helm.sh/chart: {{ include "kefu.chart" . }}
{{ include "kefu.instanceLabels" . }}
app.kubernetes.io/version: {{ include "kefu.imageTag" . | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: kefu
{{- end }}

{{- define "kefu.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "kefu.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/*
Image: repository:tag, or repository:tag@digest. The tag defaults to the
chart's appVersion; `latest` is refused here as well as by the schema.
*/}}
{{- define "kefu.imageTag" -}}
{{- default .Chart.AppVersion .Values.image.tag }}
{{- end }}

{{- define "kefu.image" -}}
{{- $tag := include "kefu.imageTag" . }}
{{- if eq $tag "latest" }}
{{- fail "image.tag: `latest` is not a version; pin a release tag (default: the chart's appVersion) or a digest" }}
{{- end }}
{{- if .Values.image.digest }}
{{- printf "%s:%s@%s" .Values.image.repository $tag .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository $tag }}
{{- end }}
{{- end }}

{{- define "kefu.isPostgres" -}}
{{- if eq .Values.database.mode "postgres" }}true{{ end }}
{{- end }}

{{- define "kefu.secretName" -}}
{{- default (include "kefu.fullname" .) .Values.secrets.existingSecret }}
{{- end }}

{{/*
Fixed paths inside the container.
*/}}
{{- define "kefu.dataDir" -}}/data{{- end }}
{{- define "kefu.secretsDir" -}}/run/secrets/kefu{{- end }}

{{/*
The secret files a server reads, as a YAML list of {secret: <Secret name>,
key: <key in it>, path: <file name>, env: <KEFU_…_FILE>, value: <chart-managed
value>}. Which ones depends on the mode and on the configured [embeddings],
[llm] and [rerank]; the database URL may come from a Secret of its own
(secrets.databaseUrlFrom, e.g. CloudNativePG's <cluster>-app, key `uri`).
*/}}
{{- define "kefu.secretFiles" -}}
{{- $s := .Values.secrets }}
{{- $name := include "kefu.secretName" . }}
{{- $existing := ne $s.existingSecret "" }}
{{- $files := list }}
{{- if include "kefu.isPostgres" . }}
{{- if $s.databaseUrlFrom.name }}
{{- $files = append $files (dict "secret" $s.databaseUrlFrom.name "key" $s.databaseUrlFrom.key "path" "database-url" "env" "KEFU_DATABASE_URL_FILE" "value" "") }}
{{- else }}
{{- $files = append $files (dict "secret" $name "key" $s.keys.databaseUrl "path" "database-url" "env" "KEFU_DATABASE_URL_FILE" "value" $s.databaseUrl) }}
{{- end }}
{{- $files = append $files (dict "secret" $name "key" $s.keys.redisUrl "path" "redis-url" "env" "KEFU_REDIS_URL_FILE" "value" $s.redisUrl) }}
{{- end }}
{{- if or (include "kefu.isPostgres" .) $existing $s.signingKey }}
{{- $files = append $files (dict "secret" $name "key" $s.keys.signingKey "path" "signing-key" "env" "KEFU_AUTH__SIGNING_KEY_FILE" "value" $s.signingKey) }}
{{- end }}
{{- if or (include "kefu.isPostgres" .) $existing $s.secretsKey }}
{{- $files = append $files (dict "secret" $name "key" $s.keys.secretsKey "path" "secrets-key" "env" "KEFU_SECRETS__KEY_FILE" "value" $s.secretsKey) }}
{{- end }}
{{- if $s.secretsPreviousKeys }}
{{- $files = append $files (dict "secret" $name "key" $s.keys.secretsPreviousKeys "path" "secrets-previous-keys" "env" "KEFU_SECRETS__PREVIOUS_KEYS_FILE" "value" $s.secretsPreviousKeys) }}
{{- end }}
{{- if and .Values.config.embeddings (or $s.embeddingsApiKey (and $existing $s.apiKeysInExistingSecret)) }}
{{- $files = append $files (dict "secret" $name "key" $s.keys.embeddingsApiKey "path" "embeddings-api-key" "env" "KEFU_EMBEDDINGS__API_KEY_FILE" "value" $s.embeddingsApiKey) }}
{{- end }}
{{- if and .Values.config.llm (or $s.llmApiKey (and $existing $s.apiKeysInExistingSecret)) }}
{{- $files = append $files (dict "secret" $name "key" $s.keys.llmApiKey "path" "llm-api-key" "env" "KEFU_LLM__API_KEY_FILE" "value" $s.llmApiKey) }}
{{- end }}
{{- if and .Values.config.rerank (or $s.rerankApiKey (and $existing $s.apiKeysInExistingSecret)) }}
{{- $files = append $files (dict "secret" $name "key" $s.keys.rerankApiKey "path" "rerank-api-key" "env" "KEFU_RERANK__API_KEY_FILE" "value" $s.rerankApiKey) }}
{{- end }}
{{- if .Values.backup.enabled }}
{{- $files = append $files (dict "secret" $name "key" $s.keys.backupKey "path" "backup-key" "env" "KEFU_BACKUP__KEY_FILE" "value" $s.backupKey) }}
{{- if .Values.backup.previousKeys }}
{{- $files = append $files (dict "secret" $name "key" $s.keys.backupPreviousKeys "path" "backup-previous-keys" "env" "KEFU_BACKUP__PREVIOUS_KEYS_FILE" "value" "") }}
{{- end }}
{{- if .Values.backup.s3.credentialsFromSecret }}
{{- $files = append $files (dict "secret" $name "key" $s.keys.backupS3AccessKeyId "path" "backup-s3-access-key-id" "env" "KEFU_BACKUP__S3__ACCESS_KEY_ID_FILE" "value" $s.backupS3AccessKeyId) }}
{{- $files = append $files (dict "secret" $name "key" $s.keys.backupS3SecretAccessKey "path" "backup-s3-secret-access-key" "env" "KEFU_BACKUP__S3__SECRET_ACCESS_KEY_FILE" "value" $s.backupS3SecretAccessKey) }}
{{- end }}
{{- end }}
{{- toYaml $files }}
{{- end }}

{{/*
The secret files the backup CronJob needs: the database, the signing key
(for include_secrets and the archive's key id) and the backup's own; not
Redis or the API keys.
*/}}
{{- define "kefu.backupSecretFiles" -}}
{{- $files := list }}
{{- range include "kefu.secretFiles" . | fromYamlArray }}
{{- if or (has .path (list "database-url" "signing-key")) (hasPrefix "backup-" .path) }}
{{- $files = append $files . }}
{{- end }}
{{- end }}
{{- toYaml $files }}
{{- end }}

{{/*
Fixed paths of the backup volumes.
*/}}
{{- define "kefu.backupDir" -}}/backups{{- end }}
{{- define "kefu.backupStagingDir" -}}/backup-staging{{- end }}
{{- define "kefu.backupDestination" -}}
{{- default (include "kefu.backupDir" .) .Values.backup.destination }}
{{- end }}
{{- define "kefu.backupClaim" -}}
{{- default (printf "%s-backups" (include "kefu.fullname" .)) .Values.backup.persistence.existingClaim }}
{{- end }}

{{/*
The backup volumes (staging emptyDir; the archive PVC when enabled and
`pvc` is true) and their mounts. Called with (dict "ctx" $ "pvc" bool):
the CronJob always mounts the PVC, the server pods only in inServer mode
(in cronJob mode a ReadWriteOnce PVC on every replica would pin them).
*/}}
{{- define "kefu.backupVolumes" -}}
{{- $v := .ctx.Values -}}
- name: backup-staging
  emptyDir:
    sizeLimit: {{ $v.backup.stagingSizeLimit }}
{{- if and .pvc $v.backup.persistence.enabled }}
- name: backups
  persistentVolumeClaim:
    claimName: {{ include "kefu.backupClaim" .ctx }}
{{- end }}
{{- end }}

{{- define "kefu.backupVolumeMounts" -}}
- name: backup-staging
  mountPath: {{ include "kefu.backupStagingDir" .ctx }}
{{- if and .pvc .ctx.Values.backup.persistence.enabled }}
- name: backups
  mountPath: {{ include "kefu.backupDir" .ctx }}
{{- end }}
{{- end }}

{{/*
A projected volume with the given secret files (a list as above), one
source per Secret. Shared by the server and the migration Job.
*/}}
{{- define "kefu.secretVolume" -}}
{{- $files := . }}
{{- $names := list }}
{{- range $files }}{{ $names = append $names .secret }}{{ end }}
{{- if $files }}
- name: secrets
  projected:
    # Readable by the pod's group (fsGroup) only.
    defaultMode: 0440
    sources:
      {{- range $secret := uniq $names }}
      - secret:
          name: {{ $secret }}
          items:
            {{- range $files }}
            {{- if eq .secret $secret }}
            - key: {{ .key }}
              path: {{ .path }}
            {{- end }}
            {{- end }}
      {{- end }}
{{- end }}
{{- end }}

{{/*
A settings value as Kefu reads it from the environment. Helm parses YAML
numbers as float64, which would print as 1.048576e+06: whole numbers are
printed as integers.
*/}}
{{- define "kefu.scalar" -}}
{{- if kindIs "float64" . }}
{{- if eq (float64 (int64 .)) . }}{{ int64 . }}{{ else }}{{ . }}{{ end }}
{{- else }}
{{- . }}
{{- end }}
{{- end }}

{{/*
Flattens the `config` tree into KEFU_SECTION__KEY: "value" lines (recursive).
*/}}
{{- define "kefu.flattenEnv" -}}
{{- $prefix := .prefix }}
{{- range $key, $value := .values }}
{{- $name := printf "%s%s" $prefix (upper $key) }}
{{- if kindIs "map" $value }}
{{- include "kefu.flattenEnv" (dict "prefix" (printf "%s__" $name) "values" $value) }}
{{- else if kindIs "slice" $value }}
{{- fail (printf "config: %s is a list; Kefu settings are scalars" $name) }}
{{- else if not (kindIs "invalid" $value) }}
{{ $name }}: {{ include "kefu.scalar" $value | quote }}
{{- end }}
{{- end }}
{{- end }}

{{/*
Every non-secret setting as environment variables (the ConfigMap's data; the
migration Job inlines the same). Chart-managed settings first.
*/}}
{{- define "kefu.configEnv" -}}
KEFU_LISTEN: "0.0.0.0:8080"
KEFU_DATA_DIR: {{ include "kefu.dataDir" . | quote }}
KEFU_LOG_FORMAT: "json"
{{- /* postgres mode migrates in the hook Job; sqlite migrates at start-up */}}
KEFU_AUTO_MIGRATE: {{ ternary "false" "true" (and (eq .Values.database.mode "postgres") .Values.migration.enabled) | quote }}
{{- if .Values.metrics.separateListener }}
KEFU_METRICS__LISTEN: {{ printf "0.0.0.0:%d" (int .Values.metrics.port) | quote }}
{{- end }}
{{- with .Values.tracing.otlpEndpoint }}
KEFU_OTLP_ENDPOINT: {{ . | quote }}
{{- end }}
{{- $http := default dict .Values.config.http }}
{{- if and .Values.ingress.enabled (not (hasKey $http "trust_proxy_headers")) }}
KEFU_HTTP__TRUST_PROXY_HEADERS: "true"
{{- end }}
{{- include "kefu.flattenEnv" (dict "prefix" "KEFU_" "values" .Values.config) }}
{{- if .Values.backup.enabled }}
{{- /* inServer: the replicas run the schedule; cronJob: the CronJob does */}}
{{- if eq .Values.backup.mode "inServer" }}
KEFU_BACKUP__SCHEDULE: {{ .Values.backup.schedule | quote }}
{{- end }}
KEFU_BACKUP__DESTINATION: {{ include "kefu.backupDestination" . | quote }}
KEFU_BACKUP__STAGING_DIR: {{ include "kefu.backupStagingDir" . | quote }}
{{- include "kefu.flattenEnv" (dict "prefix" "KEFU_BACKUP__" "values" .Values.backup.settings) }}
{{- end }}
{{- end }}

{{/*
Checks that the schema cannot express. Included once, by the Deployment.
*/}}
{{- define "kefu.validate" -}}
{{- $v := .Values }}
{{- $s := $v.secrets }}
{{- $existing := ne $s.existingSecret "" }}
{{- if include "kefu.isPostgres" . }}
  {{- if not $existing }}
    {{- if not (or $s.databaseUrl $s.databaseUrlFrom.name) }}
      {{- fail "database.mode=postgres needs secrets.databaseUrl (postgres://…), secrets.databaseUrlFrom or secrets.existingSecret" }}
    {{- end }}
    {{- if not $s.redisUrl }}
      {{- fail "database.mode=postgres needs secrets.redisUrl (redis://…): replicas hear each other through Redis" }}
    {{- end }}
    {{- if lt (len $s.signingKey) 32 }}
      {{- fail "database.mode=postgres needs secrets.signingKey (32+ characters, e.g. `openssl rand -base64 48`) shared by all replicas, or secrets.existingSecret" }}
    {{- end }}
    {{- if not (regexMatch "^[0-9a-fA-F]{64}$" $s.secretsKey) }}
      {{- fail "database.mode=postgres needs secrets.secretsKey (the key-encryption key: 64 hex characters, `kefu keys generate` or `openssl rand -hex 32`) shared by all replicas, or secrets.existingSecret" }}
    {{- end }}
  {{- end }}
{{- else }}
  {{- /* sqlite: one process owns the database file and the in-process bus. */}}
  {{- if or (ne (int $v.replicaCount) 1) $v.autoscaling.enabled }}
    {{- fail "database.mode=sqlite runs exactly one replica (replicaCount: 1, autoscaling.enabled: false); for more, set database.mode=postgres with PostgreSQL and Redis" }}
  {{- end }}
  {{- if not $v.persistence.enabled }}
    {{- fail "database.mode=sqlite keeps the database in the data volume: persistence.enabled must be true (a PVC)" }}
  {{- end }}
  {{- if or $s.databaseUrl $s.redisUrl $s.databaseUrlFrom.name }}
    {{- fail "secrets.databaseUrl / databaseUrlFrom / redisUrl are for database.mode=postgres (Kefu refuses Redis with SQLite)" }}
  {{- end }}
{{- end }}
{{- if and $existing (or $s.databaseUrl $s.redisUrl $s.signingKey $s.secretsKey $s.embeddingsApiKey $s.llmApiKey $s.rerankApiKey) }}
  {{- fail "secrets.existingSecret is set: leave secrets.databaseUrl/redisUrl/signingKey/…ApiKey empty (they would be ignored)" }}
{{- end }}
{{- if and $s.databaseUrl $s.databaseUrlFrom.name }}
  {{- fail "set secrets.databaseUrl or secrets.databaseUrlFrom, not both" }}
{{- end }}
{{- if and $s.databaseUrlFrom.name (not $s.databaseUrlFrom.key) }}
  {{- fail "secrets.databaseUrlFrom.key: the key holding the URL (CloudNativePG: uri)" }}
{{- end }}
{{- if and $s.signingKey (lt (len $s.signingKey) 32) }}
  {{- fail "secrets.signingKey must be at least 32 characters" }}
{{- end }}
{{- $http := default dict $v.config.http }}
{{- $shutdown := int (default 20 $http.shutdown_grace_secs) }}
{{- if lt (int $v.terminationGracePeriodSeconds) (add (int $v.preStopSleepSeconds) $shutdown 5) }}
  {{- fail (printf "terminationGracePeriodSeconds (%d) must be at least preStopSleepSeconds (%d) + config.http.shutdown_grace_secs (%d) + 5, or Kefu is killed before it has closed its sockets" (int $v.terminationGracePeriodSeconds) (int $v.preStopSleepSeconds) $shutdown) }}
{{- end }}
{{- if and $v.ingress.enabled (not $v.ingress.tls) }}
  {{- fail "ingress.enabled needs ingress.tls: Kefu's session cookies are Secure and the widget runs on https sites" }}
{{- end }}
{{- if $v.podDisruptionBudget.enabled }}
  {{- if eq (kindIs "invalid" $v.podDisruptionBudget.maxUnavailable) (kindIs "invalid" $v.podDisruptionBudget.minAvailable) }}
    {{- fail "podDisruptionBudget: set exactly one of maxUnavailable and minAvailable (the other null)" }}
  {{- end }}
{{- end }}
{{- $b := $v.backup }}
{{- if $b.enabled }}
  {{- $s3 := hasPrefix "s3://" $b.destination }}
  {{- if and (eq $b.mode "cronJob") (not (include "kefu.isPostgres" .)) }}
    {{- fail "backup.mode=cronJob needs database.mode=postgres: the SQLite database is on the server's ReadWriteOnce volume, which a CronJob's pod cannot mount; use backup.mode=inServer" }}
  {{- end }}
  {{- if and (not $s3) (not $b.persistence.enabled) }}
    {{- fail "backup.enabled: set backup.destination to s3://bucket/prefix, or enable backup.persistence (a PVC mounted at /backups)" }}
  {{- end }}
  {{- if and (not $s3) $b.destination (not (hasPrefix (include "kefu.backupDir" .) $b.destination)) }}
    {{- fail "backup.destination: a directory must be under /backups (the backup.persistence volume); nothing else in the pod is writable and kept" }}
  {{- end }}
  {{- if and (include "kefu.isPostgres" .) (eq $b.mode "inServer") $b.persistence.enabled (not $s3) (not (has "ReadWriteMany" $b.persistence.accessModes)) }}
    {{- fail "backup.mode=inServer in postgres mode writes from whichever replica takes the backup: a directory destination needs backup.persistence.accessModes [ReadWriteMany] (or use S3, or backup.mode=cronJob)" }}
  {{- end }}
  {{- if and (not $existing) (not $s.backupKey) }}
    {{- fail "backup.enabled needs secrets.backupKey (64 hex characters: `openssl rand -hex 32`) or the key `backup-key` in secrets.existingSecret" }}
  {{- end }}
  {{- if and $b.previousKeys (not $existing) }}
    {{- fail "backup.previousKeys reads `backup-previous-keys` from secrets.existingSecret" }}
  {{- end }}
  {{- if and $b.s3.credentialsFromSecret (not $existing) (not (and $s.backupS3AccessKeyId $s.backupS3SecretAccessKey)) }}
    {{- fail "backup.s3.credentialsFromSecret needs secrets.backupS3AccessKeyId and secrets.backupS3SecretAccessKey, or secrets.existingSecret" }}
  {{- end }}
  {{- if and $s3 $v.networkPolicy.enabled (not $b.egress) }}
    {{- fail "backup.destination is on S3 and networkPolicy.enabled: allow the S3 endpoint in backup.egress (e.g. port 443), or every backup fails at stage storage" }}
  {{- end }}
{{- end }}
{{- if and $existing (or $s.backupKey $s.backupS3AccessKeyId $s.backupS3SecretAccessKey) }}
  {{- fail "secrets.existingSecret is set: leave secrets.backupKey/backupS3… empty (they would be ignored)" }}
{{- end }}
{{- if and $v.autoscaling.enabled (gt (int $v.autoscaling.minReplicas) (int $v.autoscaling.maxReplicas)) }}
  {{- fail "autoscaling.minReplicas must not exceed autoscaling.maxReplicas" }}
{{- end }}
{{- end }}
