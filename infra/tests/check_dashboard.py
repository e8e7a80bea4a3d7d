#!/usr/bin/env python3
"""Checks the Grafana side of the observability setup.

  check_dashboard.py static                  provisioning files and dashboard structure
  check_dashboard.py metrics METRICS_FILE    every metric a PromQL expression of the dashboard
                                             (panels and template variables) or of the alert
                                             rules uses appears in METRICS_FILE, the text of a
                                             live /metrics (histograms: _bucket/_sum/_count)

Prints what it checked; exits 1 with the problems otherwise.
"""

import json
import re
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
DASHBOARD = ROOT / "infra/grafana/dashboards/chatter.json"
DATASOURCES = ROOT / "infra/grafana/provisioning/datasources"
PROVIDERS = ROOT / "infra/grafana/provisioning/dashboards"
ALERTS = ROOT / "infra/prometheus/alerts.yaml"
COMPOSE = ROOT / "docker-compose.yaml"

# Series Prometheus itself makes for every target; never in an application's /metrics.
SYNTHETIC = {"up", "scrape_duration_seconds", "scrape_samples_scraped",
             "scrape_samples_post_metric_relabeling", "scrape_series_added"}
KEYWORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "and", "or",
            "unless", "bool", "offset", "inf", "nan", "atan2"}

problems = []


def problem(message):
    problems.append(message)


def load_dashboard():
    try:
        return json.loads(DASHBOARD.read_text())
    except json.JSONDecodeError as err:
        print(f"FAIL: {DASHBOARD.relative_to(ROOT)} is not JSON: {err}")
        sys.exit(1)


def all_panels(dashboard):
    for panel in dashboard.get("panels", []):
        yield panel
        yield from panel.get("panels", [])


def ds_uid(ds):
    return ds.get("uid") if isinstance(ds, dict) else ds


def prometheus_exprs(dashboard, prom_uids):
    """(where, expr) for every PromQL expression: panel targets and query variables."""
    for panel in all_panels(dashboard):
        panel_ds = ds_uid(panel.get("datasource"))
        for target in panel.get("targets", []):
            uid = ds_uid(target.get("datasource")) or panel_ds
            if uid in prom_uids and target.get("expr"):
                yield f"panel {panel.get('title')!r} {target.get('refId')}", target["expr"]
    for var in dashboard.get("templating", {}).get("list", []):
        if var.get("type") == "query" and ds_uid(var.get("datasource")) in prom_uids:
            query = var.get("query")
            query = query.get("query") if isinstance(query, dict) else query
            match = re.fullmatch(r"\s*label_values\((.*),\s*\w+\s*\)\s*", query or "", re.S)
            yield f"variable ${var['name']}", match.group(1) if match else query


def metric_names(expr):
    """The metric names a PromQL expression selects (a tokenizer, not a full parser)."""
    text = re.sub(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`', '""', expr)  # strings
    text = re.sub(r"\{[^{}]*\}", " ", text)                         # label matchers
    text = re.sub(r"\[[^\[\]]*\]", " ", text)                       # ranges, subqueries
    text = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^()]*\)", " ", text)
    text = re.sub(r"\$\{?\w+\}?", " ", text)                        # Grafana variables
    names = set()
    for match in re.finditer(r"(?<![\w.:])([a-zA-Z_:][a-zA-Z0-9_:]*)(?![\w:])(\s*\()?", text):
        name, call = match.group(1), match.group(2)
        if call or name.lower() in KEYWORDS:
            continue
        if re.fullmatch(r"\d+[smhdwy]", name) or re.fullmatch(r"e\d*", name):
            continue
        names.add(name)
    return names


def exposed_names(metrics_text):
    names = set()
    for line in metrics_text.splitlines():
        if line.startswith("# TYPE ") or line.startswith("# HELP "):
            continue
        match = re.match(r"([a-zA-Z_:][a-zA-Z0-9_:]*)", line)
        if match:
            names.add(match.group(1))
    return names


def static_checks():
    dashboard = load_dashboard()
    print(f"dashboard: {DASHBOARD.relative_to(ROOT)} parses "
          f"({sum(1 for _ in all_panels(dashboard))} panels, uid {dashboard.get('uid')})")
    if not dashboard.get("uid") or not dashboard.get("title"):
        problem("the dashboard needs a uid and a title")

    datasources = {}
    for path in sorted(DATASOURCES.glob("*.yaml")):
        for ds in (yaml.safe_load(path.read_text()) or {}).get("datasources", []):
            datasources[ds.get("uid")] = ds
    listed = ", ".join(f"{d['name']} ({uid}, {d['type']})" for uid, d in datasources.items())
    print(f"datasources: {listed}")
    for kind in ("prometheus", "loki", "tempo"):
        if not any(d.get("type") == kind for d in datasources.values()):
            problem(f"no {kind} datasource is provisioned")
    for uid, ds in datasources.items():
        if not ds.get("url", "").startswith("http://"):
            problem(f"datasource {uid} has no http:// url")
    tempo = next((d for d in datasources.values() if d.get("type") == "tempo"), {})
    logs_uid = tempo.get("jsonData", {}).get("tracesToLogsV2", {}).get("datasourceUid")
    if logs_uid and logs_uid not in datasources:
        problem(f"Tempo's tracesToLogsV2 points at unknown datasource {logs_uid}")

    used = set()
    for panel in all_panels(dashboard):
        for ds in [panel.get("datasource")] + [t.get("datasource") for t in panel.get("targets", [])]:
            uid = ds_uid(ds)
            if uid and not uid.startswith("-- "):
                used.add(uid)
        if panel.get("type") != "row" and not panel.get("targets"):
            problem(f"panel {panel.get('title')!r} has no query")
        if panel.get("type") != "row" and not panel.get("gridPos"):
            problem(f"panel {panel.get('title')!r} has no gridPos")
    for var in dashboard.get("templating", {}).get("list", []):
        if ds_uid(var.get("datasource")):
            used.add(ds_uid(var.get("datasource")))
    missing = used - set(datasources)
    if missing:
        problem(f"the dashboard uses datasources that are not provisioned: {sorted(missing)}")
    print(f"dashboard datasources {sorted(used)} are all provisioned")

    ids = [p.get("id") for p in all_panels(dashboard)]
    if len(ids) != len(set(ids)):
        problem("panel ids are not unique")

    # The provider's path is where compose mounts infra/grafana/dashboards.
    compose = yaml.safe_load(COMPOSE.read_text())
    mounts = compose["services"]["grafana"]["volumes"]
    for path in sorted(PROVIDERS.glob("*.yaml")):
        for provider in yaml.safe_load(path.read_text()).get("providers", []):
            target = provider.get("options", {}).get("path")
            if not any(m.startswith("./infra/grafana/dashboards:" + target) for m in mounts):
                problem(f"dashboard provider path {target} is not where compose mounts "
                        f"infra/grafana/dashboards ({mounts})")
            else:
                print(f"dashboard provider {provider['name']!r} reads {target} "
                      "(mounted from infra/grafana/dashboards)")

    # The other configuration files at least parse as YAML, with their key sections.
    for rel, keys in {
        "infra/loki/loki.yaml": ["server", "common", "schema_config"],
        "infra/loki/promtail.yaml": ["clients", "scrape_configs"],
        "infra/tempo/tempo.yaml": ["distributor", "storage"],
    }.items():
        data = yaml.safe_load((ROOT / rel).read_text())
        absent = [k for k in keys if k not in data]
        if absent:
            problem(f"{rel} lacks {absent}")
        else:
            print(f"{rel}: parses, has {keys}")
    tempo_cfg = yaml.safe_load((ROOT / "infra/tempo/tempo.yaml").read_text())
    endpoint = tempo_cfg["distributor"]["receivers"]["otlp"]["protocols"]["http"]["endpoint"]
    if not endpoint.endswith(":4318") or endpoint.startswith(("127.", "localhost")):
        problem(f"Tempo's OTLP/HTTP receiver must listen on all interfaces :4318, not {endpoint}")
    promtail = yaml.safe_load((ROOT / "infra/loki/promtail.yaml").read_text())
    if not promtail["clients"][0]["url"].startswith("http://loki:3100/"):
        problem("promtail does not push to http://loki:3100")


def metrics_check(metrics_file):
    dashboard = load_dashboard()
    exposed = exposed_names(Path(metrics_file).read_text())
    datasources = {}
    for path in sorted(DATASOURCES.glob("*.yaml")):
        for ds in (yaml.safe_load(path.read_text()) or {}).get("datasources", []):
            datasources[ds.get("uid")] = ds
    prom_uids = {uid for uid, ds in datasources.items() if ds.get("type") == "prometheus"}

    exprs = list(prometheus_exprs(dashboard, prom_uids))
    for group in yaml.safe_load(ALERTS.read_text()).get("groups", []):
        for rule in group.get("rules", []):
            exprs.append((f"alert {rule.get('alert') or rule.get('record')}", rule["expr"]))

    checked = {}
    for where, expr in exprs:
        names = metric_names(expr)
        if not names:
            problem(f"{where}: no metric name found in {expr!r}")
        for name in names:
            if name in SYNTHETIC:
                checked.setdefault(name, "made by Prometheus for every target")
                continue
            base = re.sub(r"_(bucket|sum|count)$", "", name)
            if name in exposed:
                checked.setdefault(name, "in /metrics")
            elif name != base and name in {f"{base}_bucket", f"{base}_sum", f"{base}_count"} and (
                    f"{base}_bucket" in exposed or f"{base}_count" in exposed):
                checked.setdefault(name, "in /metrics (histogram)")
            else:
                problem(f"{where}: metric {name} is not in the live /metrics")
    print(f"{len(exprs)} PromQL expressions (dashboard panels, variables, alert rules), "
          f"{len(checked)} distinct metrics:")
    for name in sorted(checked):
        print(f"  {name}: {checked[name]}")


def main():
    if len(sys.argv) == 2 and sys.argv[1] == "static":
        static_checks()
    elif len(sys.argv) == 3 and sys.argv[1] == "metrics":
        metrics_check(sys.argv[2])
    else:
        print(__doc__)
        sys.exit(2)
    if problems:
        for p in problems:
            print(f"FAIL: {p}")
        sys.exit(1)


if __name__ == "__main__":
    main()
