#!/usr/bin/env python3
"""Static checks of deploy/grafana and deploy/prometheus that promtool
cannot make.

    python3 deploy/check_monitoring.py [DEPLOY_DIR [METRICS_SOURCE_DIR]]

METRICS_SOURCE_DIR defaults to crates/node/src/metrics beside DEPLOY_DIR
(validate.sh's self-test checks copies of deploy/ kept elsewhere).

- the Grafana dashboard is valid JSON with importable structure: an input
  for its Prometheus data source, unique panel ids, a query in every
  panel, every query on that data source;
- every metric the dashboard's queries and the alert rules name is one the
  node exports: a name in crates/node/src/metrics/ (what herd-node
  writes), a process collector metric, or Prometheus's own `up`; a
  histogram's _bucket, _sum and _count count as its name.

The black-box test promtool_accepts_every_nodes_exposition... checks the
same names against a running node's /metrics. Prints every problem found
and exits 1 if there is one.
"""

import json
import re
import sys
from pathlib import Path

PROCESS = {
    "process_cpu_seconds_total",
    "process_open_fds",
    "process_max_fds",
    "process_virtual_memory_bytes",
    "process_resident_memory_bytes",
    "process_start_time_seconds",
    "process_threads",
}
NAME = re.compile(r"\b((?:herd|process)_[a-z_]+)\b")


def exported(sources: Path) -> set[str]:
    names = set(PROCESS) | {"up"}
    for source in sources.glob("*.rs"):
        names |= set(re.findall(r'"(herd_[a-z_]+)"', source.read_text()))
    return names


def base(name: str, names: set[str]) -> str:
    for suffix in ("_bucket", "_sum", "_count"):
        if name.endswith(suffix) and name[: -len(suffix)] in names:
            return name[: -len(suffix)]
    return name


def main() -> int:
    deploy = Path(sys.argv[1] if len(sys.argv) > 1 else Path(__file__).parent).resolve()
    sources = Path(sys.argv[2]) if len(sys.argv) > 2 else deploy.parent / "crates/node/src/metrics"
    problems = []
    names = exported(sources)
    if len(names) < 10:
        problems.append(f"found only {len(names)} metric names in {sources}: wrong directory?")

    dashboard_path = deploy / "grafana/herd.json"
    try:
        dashboard = json.loads(dashboard_path.read_text())
    except (OSError, ValueError) as err:
        problems.append(f"{dashboard_path}: not JSON: {err}")
        dashboard = {}
    inputs = {i.get("name") for i in dashboard.get("__inputs", [])}
    if "DS_PROMETHEUS" not in inputs:
        problems.append("grafana/herd.json: no DS_PROMETHEUS input (Grafana asks for the data source on import with it)")
    ids = [p.get("id") for p in dashboard.get("panels", [])]
    if not ids:
        problems.append("grafana/herd.json: no panels")
    if len(ids) != len(set(ids)):
        problems.append(f"grafana/herd.json: panel ids repeat: {ids}")
    queries = []
    for panel in dashboard.get("panels", []):
        targets = panel.get("targets", [])
        if not targets:
            problems.append(f"grafana/herd.json: panel {panel.get('title')!r} has no query")
        for target in targets:
            if target.get("datasource", {}).get("uid") != "${DS_PROMETHEUS}":
                problems.append(f"grafana/herd.json: a query of {panel.get('title')!r} is not on ${{DS_PROMETHEUS}}")
            queries.append((f"grafana/herd.json panel {panel.get('title')!r}", target.get("expr", "")))
    for variable in dashboard.get("templating", {}).get("list", []):
        queries.append((f"grafana/herd.json variable {variable.get('name')!r}", variable.get("definition", "")))

    for rules in (deploy / "prometheus").glob("*.yml"):
        text = rules.read_text()
        for line in text.splitlines():
            stripped = line.strip()
            if stripped.startswith("expr:") or stripped.startswith("- series:"):
                queries.append((f"prometheus/{rules.name}", stripped))

    for where, query in queries:
        for name in NAME.findall(query):
            if base(name, names) not in names:
                problems.append(f"{where}: {name} is not a metric herd-node exports")

    for problem in problems:
        print(f"monitoring check: {problem}", file=sys.stderr)
    if problems:
        return 1
    print(f"monitoring: grafana/herd.json ({len(ids)} panels) and the alert rules name only the {len(names)} metrics herd-node exports")
    return 0


if __name__ == "__main__":
    sys.exit(main())
