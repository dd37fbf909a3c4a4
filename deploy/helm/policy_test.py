#!/usr/bin/env python3
"""Policy test over rendered Kubernetes manifests (`helm template` output).

The API schemas (kubernetes-validate) say whether a manifest is well formed;
this says whether it is fit for production:

- every container of every workload has CPU and memory requests and limits,
  runs as non-root (never uid 0) with a read-only root filesystem, no
  privilege escalation, all capabilities dropped and the RuntimeDefault (or a
  Localhost) seccomp profile; no host namespaces, no privileged containers;
- long-running workloads (Deployment, StatefulSet, DaemonSet) have readiness
  and liveness probes on every container (a Job's container has nothing to
  probe, so Jobs are exempt from that rule only);
- pods do not mount a service-account token;
- images are pinned: a tag that is not `latest`, or a digest;
- a multi-replica Deployment rolls with maxUnavailable 0;
- every Ingress terminates TLS for each of its hosts;
- a PodDisruptionBudget and a NetworkPolicy exist and select the pods of
  each long-running workload; a CronJob's pods are selected by a
  NetworkPolicy too;
- a CronJob never runs two Jobs at once (concurrencyPolicy Forbid or
  Replace), has a startingDeadlineSeconds and a Job deadline
  (activeDeadlineSeconds), so a stuck run ends and a missed one is not
  started hours late;
- no ConfigMap carries a credential (a URL with a password in it);
- ServiceMonitors scrape a port the selected Service has; PrometheusRules
  have groups of rules with an expression each.

Usage: policy_test.py [--require KIND]... RENDERED.yaml...
Exit status 0 when every check passes, 1 otherwise. Needs PyYAML.
"""

from __future__ import annotations

import argparse
import re
import sys
from dataclasses import dataclass, field
from typing import Any, Iterator

import yaml

WORKLOAD_KINDS = {"Deployment", "StatefulSet", "DaemonSet", "Job", "CronJob", "Pod"}
LONG_RUNNING = {"Deployment", "StatefulSet", "DaemonSet"}
CREDENTIAL_URL = re.compile(r"^[a-z][a-z0-9+.-]*://[^/@\s]*:[^/@\s]+@", re.IGNORECASE)


@dataclass
class Report:
    failures: list[str] = field(default_factory=list)
    checks: int = 0

    def check(self, ok: bool, what: str) -> None:
        self.checks += 1
        if not ok:
            self.failures.append(what)


def load(paths: list[str]) -> list[dict[str, Any]]:
    docs = []
    for path in paths:
        with open(path, encoding="utf-8") as f:
            for doc in yaml.safe_load_all(f):
                if isinstance(doc, dict) and doc.get("kind"):
                    doc["_source"] = path
                    docs.append(doc)
    return docs


def name_of(doc: dict[str, Any]) -> str:
    return f"{doc['kind']}/{doc.get('metadata', {}).get('name', '?')}"


def pod_template(doc: dict[str, Any]) -> dict[str, Any] | None:
    """The pod template (metadata + spec) of a workload."""
    kind = doc["kind"]
    spec = doc.get("spec") or {}
    if kind == "Pod":
        return {"metadata": doc.get("metadata") or {}, "spec": spec}
    if kind == "CronJob":
        return ((spec.get("jobTemplate") or {}).get("spec") or {}).get("template")
    return spec.get("template")


def containers(pod_spec: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any], bool]]:
    """(kind of container, container, is a main container)."""
    for c in pod_spec.get("initContainers") or []:
        yield "initContainer", c, False
    for c in pod_spec.get("containers") or []:
        yield "container", c, True


def image_pinned(image: str) -> bool:
    if "@sha256:" in image:
        return True
    # The tag is what follows the last ':' after the last '/' (a registry
    # host may carry a port: registry:5000/kefu has no tag).
    last = image.rsplit("/", 1)[-1]
    if ":" not in last:
        return False
    tag = last.rsplit(":", 1)[1]
    return bool(tag) and tag != "latest"


def selects(selector: dict[str, Any] | None, labels: dict[str, str]) -> bool:
    """matchLabels / matchExpressions semantics of a LabelSelector."""
    if selector is None:
        return False
    for k, v in (selector.get("matchLabels") or {}).items():
        if labels.get(k) != v:
            return False
    for expr in selector.get("matchExpressions") or []:
        key, op, values = expr.get("key"), expr.get("operator"), expr.get("values") or []
        if op == "In" and labels.get(key) not in values:
            return False
        if op == "NotIn" and labels.get(key) in values:
            return False
        if op == "Exists" and key not in labels:
            return False
        if op == "DoesNotExist" and key in labels:
            return False
    return True


def check_workload(doc: dict[str, Any], r: Report) -> None:
    who = name_of(doc)
    tpl = pod_template(doc)
    r.check(tpl is not None, f"{who}: has no pod template")
    if tpl is None:
        return
    spec = tpl.get("spec") or {}
    pod_sc = spec.get("securityContext") or {}

    r.check(spec.get("automountServiceAccountToken") is False,
            f"{who}: automountServiceAccountToken must be false")
    for host in ("hostNetwork", "hostPID", "hostIPC"):
        r.check(not spec.get(host), f"{who}: {host} must not be set")
    r.check(pod_sc.get("runAsUser", 1) != 0, f"{who}: pod runs as uid 0")

    for ckind, c, main in containers(spec):
        cwho = f"{who} {ckind} {c.get('name', '?')}"
        sc = c.get("securityContext") or {}

        image = c.get("image") or ""
        r.check(image_pinned(image), f"{cwho}: image {image!r} is not pinned (a tag other than latest, or a digest)")

        res = c.get("resources") or {}
        for part in ("requests", "limits"):
            for resource in ("cpu", "memory"):
                r.check(resource in (res.get(part) or {}), f"{cwho}: no {part}.{resource}")

        non_root = sc.get("runAsNonRoot", pod_sc.get("runAsNonRoot"))
        r.check(non_root is True, f"{cwho}: runAsNonRoot must be true")
        r.check(sc.get("runAsUser", pod_sc.get("runAsUser", 1)) != 0, f"{cwho}: runs as uid 0")
        r.check(sc.get("readOnlyRootFilesystem") is True, f"{cwho}: readOnlyRootFilesystem must be true")
        r.check(sc.get("allowPrivilegeEscalation") is False, f"{cwho}: allowPrivilegeEscalation must be false")
        r.check(not sc.get("privileged"), f"{cwho}: must not be privileged")
        drops = [d.upper() for d in ((sc.get("capabilities") or {}).get("drop") or [])]
        r.check("ALL" in drops, f"{cwho}: capabilities must drop ALL")
        r.check(not (sc.get("capabilities") or {}).get("add"), f"{cwho}: must not add capabilities")
        seccomp = (sc.get("seccompProfile") or pod_sc.get("seccompProfile") or {}).get("type")
        r.check(seccomp in ("RuntimeDefault", "Localhost"), f"{cwho}: seccompProfile must be RuntimeDefault")

        if main and doc["kind"] in LONG_RUNNING:
            r.check(bool(c.get("readinessProbe")), f"{cwho}: no readinessProbe")
            r.check(bool(c.get("livenessProbe")), f"{cwho}: no livenessProbe")


def check_rollout(doc: dict[str, Any], hpa_targets: set[str], r: Report) -> None:
    who = name_of(doc)
    spec = doc.get("spec") or {}
    multi = (spec.get("replicas") or 1) > 1 or doc["metadata"]["name"] in hpa_targets
    if not multi:
        return
    strategy = spec.get("strategy") or {}
    r.check(strategy.get("type", "RollingUpdate") == "RollingUpdate",
            f"{who}: several replicas must roll (RollingUpdate), not {strategy.get('type')}")
    max_unavailable = (strategy.get("rollingUpdate") or {}).get("maxUnavailable")
    r.check(max_unavailable in (0, "0", "0%"), f"{who}: rollingUpdate.maxUnavailable must be 0, got {max_unavailable!r}")


def check_cronjob(doc: dict[str, Any], r: Report) -> None:
    who = name_of(doc)
    spec = doc.get("spec") or {}
    r.check(spec.get("concurrencyPolicy") in ("Forbid", "Replace"),
            f"{who}: concurrencyPolicy must be Forbid or Replace, got {spec.get('concurrencyPolicy')!r}")
    r.check(isinstance(spec.get("startingDeadlineSeconds"), int), f"{who}: no startingDeadlineSeconds")
    job = (spec.get("jobTemplate") or {}).get("spec") or {}
    r.check(isinstance(job.get("activeDeadlineSeconds"), int), f"{who}: jobTemplate has no activeDeadlineSeconds")


def check_ingress(doc: dict[str, Any], r: Report) -> None:
    who = name_of(doc)
    spec = doc.get("spec") or {}
    tls = spec.get("tls") or []
    r.check(bool(tls), f"{who}: no tls")
    covered = {h for t in tls for h in (t.get("hosts") or [])}
    r.check(all(t.get("secretName") for t in tls), f"{who}: a tls entry has no secretName")
    for rule in spec.get("rules") or []:
        host = rule.get("host")
        r.check(host in covered, f"{who}: host {host!r} is not covered by tls")


def check_configmap(doc: dict[str, Any], r: Report) -> None:
    who = name_of(doc)
    for key, value in (doc.get("data") or {}).items():
        r.check(not CREDENTIAL_URL.match(str(value)), f"{who}: {key} holds a URL with a password (use a Secret)")


def check_service_monitor(doc: dict[str, Any], services: list[dict[str, Any]], r: Report) -> None:
    who = name_of(doc)
    spec = doc.get("spec") or {}
    selected = [s for s in services if selects(spec.get("selector"), s["metadata"].get("labels") or {})]
    r.check(bool(selected), f"{who}: selects no Service")
    ports = {p.get("name") for s in selected for p in (s.get("spec") or {}).get("ports") or []}
    for ep in spec.get("endpoints") or []:
        r.check(ep.get("port") in ports, f"{who}: endpoint port {ep.get('port')!r} is not a port of the selected Service")


def check_prometheus_rule(doc: dict[str, Any], r: Report) -> None:
    who = name_of(doc)
    groups = (doc.get("spec") or {}).get("groups") or []
    r.check(bool(groups), f"{who}: no rule groups")
    for g in groups:
        rules = g.get("rules") or []
        r.check(bool(g.get("name")) and bool(rules), f"{who}: group {g.get('name')!r} is empty or unnamed")
        for rule in rules:
            name = rule.get("alert") or rule.get("record")
            r.check(bool(name) and bool(rule.get("expr")), f"{who}: rule {name!r} has no name or no expr")
            if rule.get("alert"):
                r.check("severity" in (rule.get("labels") or {}), f"{who}: alert {name} has no severity label")


def run(paths: list[str], required: list[str]) -> Report:
    r = Report()
    docs = load(paths)
    r.check(bool(docs), "no Kubernetes objects found")
    by_kind: dict[str, list[dict[str, Any]]] = {}
    for d in docs:
        by_kind.setdefault(d["kind"], []).append(d)

    for kind in ["PodDisruptionBudget", "NetworkPolicy", *required]:
        r.check(bool(by_kind.get(kind)), f"no {kind} rendered")

    hpa_targets = {
        (h.get("spec") or {}).get("scaleTargetRef", {}).get("name")
        for h in by_kind.get("HorizontalPodAutoscaler", [])
    }
    for d in docs:
        if d["kind"] in WORKLOAD_KINDS:
            check_workload(d, r)
        if d["kind"] == "Deployment":
            check_rollout(d, hpa_targets, r)
        if d["kind"] == "CronJob":
            check_cronjob(d, r)
        if d["kind"] == "Ingress":
            check_ingress(d, r)
        if d["kind"] == "ConfigMap":
            check_configmap(d, r)
        if d["kind"] == "ServiceMonitor":
            check_service_monitor(d, by_kind.get("Service", []), r)
        if d["kind"] == "PrometheusRule":
            check_prometheus_rule(d, r)

    # A scheduled job's pods reach the database and the outside world: a
    # NetworkPolicy must cover them as it covers the servers'.
    for d in docs:
        if d["kind"] != "CronJob":
            continue
        labels = ((pod_template(d) or {}).get("metadata") or {}).get("labels") or {}
        r.check(any(selects((p.get("spec") or {}).get("podSelector"), labels)
                    for p in by_kind.get("NetworkPolicy", [])),
                f"{name_of(d)}: no NetworkPolicy selects its pods")

    # The budget and the policy must cover the pods they are there for.
    for d in docs:
        if d["kind"] not in LONG_RUNNING:
            continue
        labels = ((pod_template(d) or {}).get("metadata") or {}).get("labels") or {}
        r.check(any(selects((p.get("spec") or {}).get("selector"), labels)
                    for p in by_kind.get("PodDisruptionBudget", [])),
                f"{name_of(d)}: no PodDisruptionBudget selects its pods")
        r.check(any(selects((p.get("spec") or {}).get("podSelector"), labels)
                    for p in by_kind.get("NetworkPolicy", [])),
                f"{name_of(d)}: no NetworkPolicy selects its pods")
    return r


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--require", action="append", default=[], metavar="KIND",
                        help="fail unless at least one object of this kind is rendered (repeatable)")
    parser.add_argument("files", nargs="+", help="rendered manifests (multi-document YAML)")
    args = parser.parse_args()
    report = run(args.files, args.require)
    for failure in report.failures:
        print(f"POLICY FAIL {failure}")
    passed = report.checks - len(report.failures)
    print(f"policy: {' '.join(args.files)}: {passed} checks passed, {len(report.failures)} failed")
    return 1 if report.failures else 0


if __name__ == "__main__":
    sys.exit(main())
