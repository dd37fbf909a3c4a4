#!/usr/bin/env python3
"""Policy checks for the deployment files that no off-the-shelf validator
covers. Called by scripts/ops/validate (with target/ops-tools/venv's Python,
which has PyYAML); each subcommand prints one line per problem and exits 1
if there was any.

  rule-coverage RULES_DIR TESTS_DIR
      every alert has severity/service labels, summary/description and a
      runbook_url pointing at a known anchor of docs/operations/runbooks.md,
      and promtool tests that expect it firing *and* not firing
  dashboards DASHBOARD_DIR DATASOURCES_YML OUT_RULES_YML
      JSON parses; uid/title present; uids unique across dashboards; panel ids
      unique within one; every datasource uid is a provisioned one; every
      query is written to OUT_RULES_YML as a recording rule (Grafana
      variables replaced) for `promtool check rules`
  compose-policy NAME=CONFIG_JSON...
      over `docker compose config --format json` output: every service has a
      health check (or is a one-shot job), CPU and memory limits, rotated
      logs, an image pinned by version, no-new-privileges, all capabilities
      dropped, a read-only root file system, and publishes nothing but nginx
      on all interfaces
  fluent-bit CONF_DIR
      shallow lint of Fluent Bit's classic config (no Fluent Bit package is
      reachable here): sections, key/value lines, known plugins, parsers
      defined
  dockerfile DOCKERFILE
      non-root USER (numeric), HEALTHCHECK, no `latest`/untagged base images,
      OCI labels
"""

import json
import os
import re
import sys

import yaml

RUNBOOK_ANCHORS = {
    "instance-down", "high-5xx", "latency-slo-burn", "queue-wait", "no-agents",
    "bus-disconnected", "database-unreachable", "db-pool-saturation", "backup-too-old", "backup-restore-test-stale",
    "backup-failing", "certificate-expiry", "file-descriptors-near-the-limit",
}
RUNBOOK_RE = re.compile(r"docs/operations/runbooks\.md#([a-z0-9-]+)$")

problems = []


def problem(msg):
    problems.append(msg)
    print(f"  - {msg}")


def load_yaml(path):
    with open(path, encoding="utf-8") as f:
        return yaml.safe_load(f)


def yaml_files(d):
    return sorted(os.path.join(d, f) for f in os.listdir(d) if f.endswith((".yml", ".yaml")))


# ---------------------------------------------------------------- rules
def rule_coverage(rules_dir, tests_dir):
    alerts = {}
    for path in yaml_files(rules_dir):
        for group in (load_yaml(path) or {}).get("groups", []):
            for rule in group.get("rules", []):
                if "alert" not in rule:
                    continue
                name = rule["alert"]
                where = f"{os.path.basename(path)}: {name}"
                if name in alerts:
                    problem(f"{where}: alert name defined twice")
                alerts[name] = where
                labels = rule.get("labels") or {}
                ann = rule.get("annotations") or {}
                if labels.get("severity") not in ("critical", "warning"):
                    problem(f"{where}: label severity must be critical or warning")
                if labels.get("service") != "kefu":
                    problem(f"{where}: label service=kefu missing")
                for key in ("summary", "description", "runbook_url"):
                    if not ann.get(key):
                        problem(f"{where}: annotation {key} missing")
                m = RUNBOOK_RE.search(ann.get("runbook_url", ""))
                if not m or m.group(1) not in RUNBOOK_ANCHORS:
                    problem(f"{where}: runbook_url must end in docs/operations/runbooks.md#<one of {sorted(RUNBOOK_ANCHORS)}>")
    firing, quiet = set(), set()
    for path in yaml_files(tests_dir):
        for test in (load_yaml(path) or {}).get("tests", []):
            for case in test.get("alert_rule_test", []) or []:
                (firing if case.get("exp_alerts") else quiet).add(case.get("alertname"))
    for name, where in sorted(alerts.items()):
        if name not in firing:
            problem(f"{where}: no promtool test expects it to fire")
        if name not in quiet:
            problem(f"{where}: no promtool test expects it to stay quiet")
    for name in sorted((firing | quiet) - set(alerts)):
        problem(f"tests refer to unknown alert {name}")
    if not problems:
        print(f"  {len(alerts)} alerts, each with a runbook and firing/quiet tests")


# ---------------------------------------------------------------- dashboards
GRAFANA_VARS = [
    (re.compile(r"\$__(rate_interval|interval|range)\b"), "5m"),
    (re.compile(r"\[\$\{?__\w+\}?\]"), "[5m]"),
    (re.compile(r"\$\{\w+(:\w+)?\}"), ".*"),
    (re.compile(r"\$\w+"), ".*"),
]


def walk_panels(panels):
    for p in panels or []:
        yield p
        yield from walk_panels(p.get("panels"))


def dashboards(dash_dir, datasources_yml, out_rules):
    provisioned = {ds.get("uid") for ds in (load_yaml(datasources_yml) or {}).get("datasources", [])}
    uids = {}
    rules = []
    files = sorted(f for f in os.listdir(dash_dir) if f.endswith(".json"))
    if not files:
        problem(f"{dash_dir}: no dashboards")
    for fname in files:
        path = os.path.join(dash_dir, fname)
        try:
            with open(path, encoding="utf-8") as f:
                d = json.load(f)
        except (OSError, ValueError) as e:
            problem(f"{fname}: not valid JSON: {e}")
            continue
        for key in ("uid", "title"):
            if not d.get(key):
                problem(f"{fname}: {key} missing")
        uid = d.get("uid")
        if uid in uids:
            problem(f"{fname}: uid {uid!r} also used by {uids[uid]}")
        uids[uid] = fname
        if uid and not re.fullmatch(r"[A-Za-z0-9_-]{1,40}", uid):
            problem(f"{fname}: uid {uid!r} must be 1-40 of [A-Za-z0-9_-]")
        ids = {}
        for var in (d.get("templating") or {}).get("list", []):
            check_datasource(fname, f"variable {var.get('name')}", var.get("datasource"), provisioned)
        for p in walk_panels(d.get("panels")):
            pid = p.get("id")
            if pid is None:
                problem(f"{fname}: panel {p.get('title')!r} has no id")
            elif pid in ids:
                problem(f"{fname}: panel id {pid} used by {ids[pid]!r} and {p.get('title')!r}")
            else:
                ids[pid] = p.get("title")
            if "gridPos" not in p:
                problem(f"{fname}: panel {p.get('title')!r} has no gridPos")
            check_datasource(fname, f"panel {p.get('title')!r}", p.get("datasource"), provisioned)
            for t in p.get("targets") or []:
                check_datasource(fname, f"panel {p.get('title')!r}", t.get("datasource"), provisioned)
                expr = t.get("expr")
                if expr is None:
                    continue
                if not expr.strip():
                    problem(f"{fname}: panel {p.get('title')!r} has an empty query")
                    continue
                for pattern, repl in GRAFANA_VARS:
                    expr = pattern.sub(repl, expr)
                rules.append({
                    "record": f"dashboard:{re.sub(r'[^a-z0-9_]', '_', fname[:-5])}:panel_{pid}_{t.get('refId', 'A')}",
                    "expr": expr,
                })
    with open(out_rules, "w", encoding="utf-8") as f:
        yaml.safe_dump({"groups": [{"name": "dashboard-queries", "rules": rules}]}, f,
                       allow_unicode=True, sort_keys=False)
    print(f"  {len(files)} dashboards, {len(rules)} queries written to {out_rules}")


def check_datasource(fname, what, ds, provisioned):
    if ds is None:
        return
    uid = ds.get("uid") if isinstance(ds, dict) else ds
    if not isinstance(ds, dict):
        problem(f"{fname}: {what}: datasource must be {{type, uid}}, not {ds!r}")
    elif uid not in provisioned and not str(uid).startswith(("-- ", "$")):
        problem(f"{fname}: {what}: datasource uid {uid!r} is not provisioned ({sorted(provisioned)})")


# ---------------------------------------------------------------- compose
def compose_policy(pairs):
    for pair in pairs:
        name, path = pair.split("=", 1)
        with open(path, encoding="utf-8") as f:
            cfg = json.load(f)
        for svc, s in sorted(cfg.get("services", {}).items()):
            where = f"{name}: service {svc}"
            hc = s.get("healthcheck") or {}
            test = hc.get("test") or []
            disabled = hc.get("disable") or not test or test[0] == "NONE"
            one_shot = s.get("restart") in ("no", None)
            if disabled and not one_shot:
                problem(f"{where}: no healthcheck (only a one-shot job with restart: \"no\" may go without)")
            limits = ((s.get("deploy") or {}).get("resources") or {}).get("limits") or {}
            if not limits.get("cpus") or not limits.get("memory"):
                problem(f"{where}: deploy.resources.limits needs cpus and memory")
            log = s.get("logging") or {}
            opts = log.get("options") or {}
            if log.get("driver") != "json-file" or not opts.get("max-size") or not opts.get("max-file"):
                problem(f"{where}: logging must be json-file with max-size and max-file (rotation)")
            image = s.get("image", "")
            tag = image.rsplit("/", 1)[-1]
            if ":" not in tag or tag.endswith(":latest"):
                if not image.startswith("${") and "build" not in s:
                    problem(f"{where}: image {image!r} is not pinned to a version")
            if "no-new-privileges:true" not in (s.get("security_opt") or []):
                problem(f"{where}: security_opt no-new-privileges:true missing")
            if "ALL" not in (s.get("cap_drop") or []):
                problem(f"{where}: cap_drop: [ALL] missing")
            if s.get("privileged"):
                problem(f"{where}: privileged")
            if not s.get("read_only"):
                problem(f"{where}: read_only root file system missing")
            if "latest" in str(s.get("image", "")).split(":")[-1:]:
                problem(f"{where}: image uses latest")
            for port in s.get("ports") or []:
                host_ip = port.get("host_ip", "") if isinstance(port, dict) else ""
                if svc != "nginx" and host_ip not in ("127.0.0.1", "::1"):
                    problem(f"{where}: port {port.get('published')} published on all interfaces (only nginx may be)")
            env = s.get("environment") or {}
            for key, value in env.items():
                if re.search(r"PASSWORD|SECRET|TOKEN|SIGNING_KEY|_URL$", key) and not key.endswith("_FILE") \
                        and value and re.search(r"://[^/]*:[^@/]+@|^[A-Za-z0-9+/_-]{16,}$", str(value)):
                    problem(f"{where}: environment {key} looks like an inline secret (use a secret file)")
        print(f"  {name}: {len(cfg.get('services', {}))} services checked")


# ---------------------------------------------------------------- fluent bit
FLB_SECTIONS = {"SERVICE", "INPUT", "FILTER", "OUTPUT", "PARSER", "MULTILINE_PARSER"}
FLB_PLUGINS = {
    "INPUT": {"tail", "forward", "systemd", "dummy", "fluentbit_metrics", "http"},
    "FILTER": {"nest", "modify", "parser", "grep", "record_modifier", "lua", "kubernetes", "rewrite_tag", "throttle"},
    "OUTPUT": {"loki", "es", "stdout", "forward", "http", "prometheus_exporter", "null"},
}


def parse_flb(path):
    sections, cur = [], None
    with open(path, encoding="utf-8") as f:
        for n, raw in enumerate(f, 1):
            line = raw.rstrip("\n")
            stripped = line.strip()
            if not stripped or stripped.startswith("#"):
                continue
            m = re.fullmatch(r"\[([A-Z_]+)\]", stripped)
            if m:
                if m.group(1) not in FLB_SECTIONS:
                    problem(f"{os.path.basename(path)}:{n}: unknown section [{m.group(1)}]")
                cur = (m.group(1), {}, n)
                sections.append(cur)
                continue
            if cur is None:
                problem(f"{os.path.basename(path)}:{n}: key outside a section")
                continue
            if line[:1] not in (" ", "\t"):
                problem(f"{os.path.basename(path)}:{n}: entries must be indented")
            parts = stripped.split(None, 1)
            if len(parts) != 2:
                problem(f"{os.path.basename(path)}:{n}: `key value` expected, got {stripped!r}")
                continue
            cur[1].setdefault(parts[0].lower(), []).append(parts[1])
    return sections


def fluent_bit(conf_dir):
    main = os.path.join(conf_dir, "fluent-bit.conf")
    sections = parse_flb(main)
    parsers_files = [v[0] for s in sections if s[0] == "SERVICE" for v in [s[1].get("parsers_file", [])] if v]
    defined = set()
    for pf in parsers_files:
        p = os.path.join(conf_dir, pf)
        if not os.path.exists(p):
            problem(f"fluent-bit.conf: Parsers_File {pf} not found")
            continue
        for s in parse_flb(p):
            defined.update(s[1].get("name", []))
    for kind, keys, n in sections:
        name = (keys.get("name") or [None])[0]
        if kind in FLB_PLUGINS:
            if not name:
                problem(f"fluent-bit.conf:{n}: [{kind}] without Name")
            elif name not in FLB_PLUGINS[kind]:
                problem(f"fluent-bit.conf:{n}: unknown {kind.lower()} plugin {name!r}")
            if kind in ("FILTER", "OUTPUT") and not keys.get("match"):
                problem(f"fluent-bit.conf:{n}: [{kind}] {name} without Match")
        for key in ("parser",):
            for value in keys.get(key, []):
                if value not in defined:
                    problem(f"fluent-bit.conf:{n}: parser {value!r} is not defined in {parsers_files}")
    print(f"  {len(sections)} sections, parsers {sorted(defined)}")


# ---------------------------------------------------------------- dockerfile
def dockerfile(path):
    with open(path, encoding="utf-8") as f:
        text = re.sub(r"\\\n", " ", f.read())
    lines = [ln.strip() for ln in text.splitlines() if ln.strip() and not ln.strip().startswith("#")]
    args = dict(re.findall(r"^ARG\s+(\w+)=(\S+)", "\n".join(lines), re.M))
    froms = [ln.split()[1] for ln in lines if ln.upper().startswith("FROM ")]
    stages = {ln.split()[-1] for ln in lines if ln.upper().startswith("FROM ") and " AS " in ln.upper()}
    for image in froms:
        image = re.sub(r"\$\{?(\w+)\}?", lambda m: args.get(m.group(1), m.group(0)), image)
        if image in stages:
            continue
        tag = image.split("@")[0].rsplit("/", 1)[-1]
        if ":" not in tag or tag.endswith(":latest"):
            problem(f"Dockerfile: base image {image!r} is not pinned to a version")
    final = text[text.upper().rfind("\nFROM "):]
    users = re.findall(r"^\s*USER\s+(\S+)", final, re.M)
    if not users or users[-1].split(":")[0] in ("root", "0") or not users[-1].split(":")[0].isdigit():
        problem("Dockerfile: the runtime stage must end with a numeric non-root USER")
    if not re.search(r"^\s*HEALTHCHECK\s+", final, re.M):
        problem("Dockerfile: the runtime stage has no HEALTHCHECK")
    for label in ("title", "version", "revision", "source", "licenses"):
        if f"org.opencontainers.image.{label}" not in final:
            problem(f"Dockerfile: OCI label org.opencontainers.image.{label} missing")
    print(f"  {len(froms)} stages, runtime user {users[-1] if users else None}")


def main(argv):
    if len(argv) < 2:
        print(__doc__)
        return 2
    cmd, args = argv[1], argv[2:]
    {
        "rule-coverage": lambda: rule_coverage(*args),
        "dashboards": lambda: dashboards(*args),
        "compose-policy": lambda: compose_policy(args),
        "fluent-bit": lambda: fluent_bit(*args),
        "dockerfile": lambda: dockerfile(*args),
    }[cmd]()
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
