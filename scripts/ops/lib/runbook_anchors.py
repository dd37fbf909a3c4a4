# Every runbook_url anchor in deploy/ names a heading (GitHub slug) or an
# explicit <a id> of docs/operations/runbooks.md.  Usage: runbook_anchors.py ROOT
import pathlib, re, sys
root = pathlib.Path(sys.argv[1])
book = (root / "docs/operations/runbooks.md").read_text(encoding="utf-8")
anchors = set(re.findall(r'<a id="([^"]+)"', book))
for h in re.findall(r"^#+\s+(.*)$", book, re.M):
    anchors.add(re.sub(r"[^\w\- ]", "", h.strip().lower()).replace(" ", "-"))
missing = []
for f in sorted((root / "deploy").rglob("*.y*ml")):
    for a in re.findall(r"runbooks\.md#([\w\-]+)", f.read_text(encoding="utf-8")):
        if a not in anchors:
            missing.append(f"{f.relative_to(root)}: #{a}")
if missing:
    sys.exit("no such heading in docs/operations/runbooks.md:\n  " + "\n  ".join(missing))
