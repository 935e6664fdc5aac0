# SPDX-License-Identifier: GPL-2.0-only
"""The monitoring files in contrib/: the Prometheus alert rules and their
promtool unit tests, and the Grafana dashboard. No root needed.

promtool comes from Debian's prometheus package. Without it the promtool
tests skip, except under CI, where a missing promtool is a failure."""
import json
import os
import re
import shutil
import subprocess

import pytest
import yaml

from conftest import unavailable

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PROM = os.path.join(ROOT, "contrib", "prometheus")
RULES = os.path.join(PROM, "tcpkeep-alerts.yml")
RULE_TESTS = os.path.join(PROM, "tcpkeep-alerts.test.yml")
DASHBOARD = os.path.join(ROOT, "contrib", "grafana", "tcpkeep-dashboard.json")

# Everything tcpkeep exports (the histogram as its three series), and up.
METRICS = {
    "tcpkeep_transitions_total",
    "tcpkeep_connections",
    "tcpkeep_connection_duration_seconds_bucket",
    "tcpkeep_connection_duration_seconds_sum",
    "tcpkeep_connection_duration_seconds_count",
    "tcpkeep_keepalive_applied_total",
    "tcpkeep_keepalive_errors_total",
    "tcpkeep_dead_peers_total",
    "tcpkeep_keepalive_idle_seconds",
    "tcpkeep_keepalive_interval_seconds",
    "tcpkeep_keepalive_probes",
    "tcpkeep_user_timeout_seconds",
    "tcpkeep_missed_events_total",
    "tcpkeep_bpf_program_attached",
    "tcpkeep_build_info",
    "tcpkeep_scrape_duration_seconds",
    # from the sockets' current states, over every network namespace
    "tcpkeep_local_port_range_size",
    "tcpkeep_ephemeral_ports_used_ratio",
    "tcpkeep_ephemeral_ports_used",
    "tcpkeep_listen_queue_length",
    "tcpkeep_listen_queue_limit",
    "tcpkeep_netns_visited",
    "tcpkeep_netns_unvisited",
    # the audit of established connections
    "tcpkeep_established_keepalive",
    "tcpkeep_connections_idle_seconds_bucket",
    "tcpkeep_connections_idle_seconds_sum",
    "tcpkeep_connections_idle_seconds_count",
    "tcpkeep_stuck_writers",
    "tcpkeep_stuck_writer_oldest_seconds",
    "tcpkeep_audit_available",
    "up",
}

# node_exporter's textfile collector metrics, which the rules about the
# textfile deployment watch; not tcpkeep's, so no dashboard panel needs them.
TEXTFILE_METRICS = {"node_textfile_mtime_seconds", "node_textfile_scrape_error"}

# The values a matcher on these labels may name (each alternative of a
# regular expression too). Catches "closewait", "CLOSE_WAIT", "inbound".
STATES = {"established", "syn_sent", "syn_recv", "fin_wait1", "fin_wait2",
          "time_wait", "close", "close_wait", "last_ack", "listen", "closing"}
# The keepalive classes of tcpkeep_established_keepalive, in its state label.
KEEPALIVE_STATES = {"off", "kernel_default", "policy", "other"}
LABEL_VALUES = {
    "state": STATES | KEEPALIVE_STATES,
    # pairs outside the table of known transitions are exported as other
    "from_state": STATES | {"other"},
    "to_state": STATES | {"other"},
    "direction": {"in", "out"},
    "program": {"set_state", "error_report", "sockops"},
    "option": {"keepalive", "idle", "intvl", "cnt", "user_timeout"},
}

# Identifiers in PromQL that are not metric names.
KEYWORDS = {"and", "or", "unless", "bool", "offset", "by", "without", "on",
            "ignoring", "group_left", "group_right", "inf", "nan", "atan2"}

# Grafana's variables, replaced by something PromQL can parse.
GRAFANA_VARS = {"$__rate_interval": "5m", "$__range": "6h",
                "$__interval": "1m", "$instance": ".*", "$port": ".*"}


def promtool():
    path = shutil.which("promtool") or (
        "/usr/bin/promtool" if os.access("/usr/bin/promtool", os.X_OK) else None)
    if path is None:
        unavailable("promtool not found: apt-get install prometheus (Debian) provides it")
    return path


def run_promtool(*args, cwd=ROOT):
    r = subprocess.run([promtool(), *args], cwd=cwd, capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 0, \
        f"promtool {' '.join(args)} failed ({r.returncode}):\n{r.stdout}\n{r.stderr}"
    return r.stdout


def load_yaml(path):
    with open(path) as f:
        return yaml.safe_load(f)


def alert_rules():
    doc = load_yaml(RULES)
    return [r for g in doc["groups"] for r in g["rules"] if "alert" in r]


def rule_test_cases():
    """(alertname, exp_alerts) of every alert_rule_test of the test file."""
    doc = load_yaml(RULE_TESTS)
    return [(c["alertname"], c.get("exp_alerts") or [])
            for t in doc["tests"] for c in t.get("alert_rule_test", [])]


def metric_names(expr):
    """The metric names a PromQL expression selects. Deliberately simple:
    strings, label matchers, ranges, grouping clauses, offsets and Grafana
    variables are cut out; an identifier left that is no keyword and not
    followed by "(" (a function or an aggregation) is a metric name."""
    s = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)
    s = re.sub(r"\$\{\w+\}|\$\w+", " ", s)
    s = re.sub(r"\{[^}]*\}", " ", s)
    s = re.sub(r"\[[^\]]*\]", " ", s)
    s = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)",
               " ", s)
    s = re.sub(r"\boffset\s+-?[0-9a-z]+", " ", s)
    names = set()
    for m in re.finditer(r"[A-Za-z_:][A-Za-z0-9_:]*", s):
        if m.start() > 0 and (s[m.start() - 1].isdigit() or s[m.start() - 1] == "."):
            continue  # the exponent of a number such as 1e3
        if s[m.end():].lstrip().startswith("(") or m.group() in KEYWORDS:
            continue
        names.add(m.group())
    return names


def bad_label_values(expr):
    """Matcher values on the labels of LABEL_VALUES that tcpkeep never
    exports, as "label=value" strings."""
    bad = []
    for label, value in re.findall(r'\b(\w+)\s*(?:=~|!~|!=|=)\s*"([^"]*)"', expr):
        if label in LABEL_VALUES:
            bad += [f"{label}={v}" for v in value.split("|")
                    if v not in LABEL_VALUES[label]]
    return bad


def label_values_selector(query):
    """The series selector of a Grafana label_values(selector, label)."""
    m = re.fullmatch(r"\s*label_values\((.*),\s*\w+\s*\)\s*", query)
    assert m, f"not a label_values(selector, label) query: {query!r}"
    return m.group(1)


def test_metric_names_helper():
    assert metric_names('sum by (port, direction) (rate(tcpkeep_dead_peers_total'
                        '{instance=~"$instance"}[$__rate_interval])) * 60 > 1') \
        == {"tcpkeep_dead_peers_total"}
    assert metric_names('histogram_quantile(0.99, sum by (le) (rate('
                        'tcpkeep_connection_duration_seconds_bucket[5m])))') \
        == {"tcpkeep_connection_duration_seconds_bucket"}
    assert metric_names('absent(tcpkeep_build_info{job="tcpkeep"}) unless on () '
                        '(up{job="tcpkeep"} == 0)') == {"tcpkeep_build_info", "up"}
    assert metric_names("rate(x[1h] offset 15m) / 28232 > 1e3") == {"x"}
    assert bad_label_values('a{state="close_wait",from_state=~"syn_sent|SYN_RECV"}') \
        == ["from_state=SYN_RECV"]


# ---- Prometheus rules ------------------------------------------------------

def test_rules_check():
    out = run_promtool("check", "rules", RULES)
    assert "SUCCESS" in out


def test_rules_unit_tests():
    out = run_promtool("test", "rules", RULE_TESTS)
    assert "SUCCESS" in out


def test_rules_are_one_documented_group():
    doc = load_yaml(RULES)
    assert len(doc["groups"]) == 1
    rules = alert_rules()
    assert rules and len(rules) == len(doc["groups"][0]["rules"])
    names = [r["alert"] for r in rules]
    assert len(names) == len(set(names)), "duplicate alert names"
    with open(RULES) as f:
        lines = f.read().splitlines()
    for r in rules:
        assert r.get("labels", {}).get("severity") in ("warning", "critical"), r["alert"]
        ann = r.get("annotations", {})
        assert ann.get("summary") and ann.get("description"), r["alert"]
        i = next(i for i, l in enumerate(lines)
                 if re.fullmatch(rf"\s*- alert: {r['alert']}\s*", l))
        assert lines[i - 1].strip().startswith("#"), \
            f"{r['alert']}: no comment explaining it just above the rule"


def test_rules_cover_the_brief():
    """The conditions the rules are for, each watched by some rule."""
    exprs = " ".join(r["expr"] for r in alert_rules())
    for needle in ('state="close_wait"', "tcpkeep_ephemeral_ports_used_ratio > 0.5",
                   "tcpkeep_ephemeral_ports_used_ratio > 0.8",
                   "tcpkeep_listen_queue_length / clamp_min(tcpkeep_listen_queue_limit, 1) >= 0.8",
                   "tcpkeep_netns_unvisited > 0",
                   "tcpkeep_dead_peers_total", "tcpkeep_bpf_program_attached == 0",
                   "absent(tcpkeep_build_info", 'up{job="tcpkeep"} == 0',
                   "increase(tcpkeep_missed_events_total",
                   "tcpkeep_stuck_writer_oldest_seconds", "tcpkeep_user_timeout_seconds > 0",
                   'tcpkeep_established_keepalive{state="off"}'):
        assert needle in exprs, needle


def test_no_fixed_ephemeral_range():
    """The size of the ephemeral range is exported: no rule, panel or
    query divides by the default range's 28232 any more, which was wrong
    on every host that changed it and for every namespace with its own.
    (The README's example output may show a default host's 28232.)"""
    paths = [os.path.join(ROOT, "README.md")]
    for d, _, files in os.walk(os.path.join(ROOT, "contrib")):
        paths += [os.path.join(d, f) for f in files]
    found = []
    for path in paths:
        with open(path, encoding="utf-8", errors="replace") as f:
            text = f.read()
        if path.endswith("README.md"):
            text = "\n".join(l for l in text.splitlines() if re.search(r"/\s*28232", l))
        if "28232" in text:
            found.append(os.path.relpath(path, ROOT))
    assert not found, found


def test_rules_use_known_metrics_and_values():
    for r in alert_rules():
        names = metric_names(r["expr"])
        known = METRICS | TEXTFILE_METRICS
        assert names and names <= known, (r["alert"], names - known)
        assert not bad_label_values(r["expr"]), (r["alert"], bad_label_values(r["expr"]))


def test_every_alert_fires_and_stays_quiet_in_a_test():
    cases = rule_test_cases()
    tested = {name for name, _ in cases}
    unknown = tested - {r["alert"] for r in alert_rules()}
    assert not unknown, f"tests of alerts the rules do not define: {unknown}"
    for r in alert_rules():
        name = r["alert"]
        firing = [exp for n, exp in cases if n == name and exp]
        quiet = [exp for n, exp in cases if n == name and not exp]
        assert firing, f"{name}: no test case where it fires"
        assert quiet, f"{name}: no test case where it stays quiet"
        for exp in firing:
            for a in exp:
                assert a.get("exp_labels", {}).get("severity") == r["labels"]["severity"], name
                assert set(a.get("exp_annotations", {})) == set(r["annotations"]), \
                    f"{name}: a firing case does not check every annotation"


def test_rule_test_series_use_known_metrics():
    doc = load_yaml(RULE_TESTS)
    for t in doc["tests"]:
        for s in t.get("input_series", []):
            name = s["series"].split("{", 1)[0].strip()
            assert name in METRICS | TEXTFILE_METRICS, (t.get("name"), name)
            assert not bad_label_values(s["series"]), (t.get("name"), s["series"])


# ---- Grafana dashboard -----------------------------------------------------

def dashboard():
    with open(DASHBOARD) as f:
        return json.load(f)


def all_panels(d):
    for p in d["panels"]:
        yield p
        yield from p.get("panels", [])  # panels inside a collapsed row


def data_panels(d):
    return [p for p in all_panels(d) if p.get("type") != "row"]


def test_dashboard_parses_and_has_panels():
    d = dashboard()
    assert d["title"] and d["uid"]
    assert 36 <= d["schemaVersion"] <= 41
    panels = data_panels(d)
    assert len(panels) >= 10
    ids = [p["id"] for p in all_panels(d)]
    assert len(ids) == len(set(ids)), "duplicate panel ids"
    for p in panels:
        assert p.get("title") and p.get("gridPos") and p.get("targets"), p.get("title")
    assert {"heatmap", "stat", "timeseries", "table"} <= {p["type"] for p in panels}


def test_dashboard_datasource_and_variables():
    d = dashboard()
    var = {v["name"]: v for v in d["templating"]["list"]}
    ds = var.get("DS_PROMETHEUS")
    assert ds and ds["type"] == "datasource" and ds["query"] == "prometheus"
    for p in data_panels(d):
        assert p["datasource"]["uid"] == "${DS_PROMETHEUS}", p["title"]
        for t in p["targets"]:
            assert t["datasource"]["uid"] == "${DS_PROMETHEUS}", p["title"]
    for name in ("instance", "port"):
        v = var.get(name)
        assert v and v["type"] == "query", name
        assert v["datasource"]["uid"] == "${DS_PROMETHEUS}", name
        q = v["query"]["query"] if isinstance(v["query"], dict) else v["query"]
        sel = label_values_selector(q)
        assert metric_names(sel) <= METRICS and metric_names(sel), (name, q)
        assert re.search(rf",\s*{name}\s*\)\s*$", q), (name, q)


def test_dashboard_uses_known_metrics_and_values():
    panels = data_panels(dashboard())
    used = set()
    for p in panels:
        for t in p["targets"]:
            names = metric_names(t["expr"])
            assert names, (p["title"], t["expr"])
            assert names <= METRICS, (p["title"], names - METRICS)
            assert not bad_label_values(t["expr"]), (p["title"], t["expr"])
            used |= names
            if "$port" in t["expr"] or "$instance" in t["expr"]:
                assert re.search(r'(instance|port)=~"\$(instance|port)"', t["expr"])
    # the panels of the brief: connections, states, lifetimes, keepalive,
    # policy, missed events and programs
    want = METRICS - {"tcpkeep_connection_duration_seconds_sum",
                      "tcpkeep_connection_duration_seconds_count"}
    assert want <= used, f"no panel for {want - used}"
    assert any(p["type"] == "heatmap" or "histogram_quantile" in t["expr"]
               for p in panels for t in p["targets"])


def test_dashboard_queries_parse(tmp_path):
    """Each target, its Grafana variables replaced, is valid PromQL: checked
    by promtool as a recording rule."""
    rules = []
    for p in data_panels(dashboard()):
        for t in p["targets"]:
            expr = t["expr"]
            for k in sorted(GRAFANA_VARS, key=len, reverse=True):
                expr = expr.replace(k, GRAFANA_VARS[k])
            assert "$" not in expr, (p["title"], expr)
            rules.append({"record": f"tcpkeep_dashboard:check{len(rules)}",
                          "expr": expr})
    path = tmp_path / "dashboard-queries.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboard",
                                                "rules": rules}]}))
    out = run_promtool("check", "rules", str(path))
    assert f"{len(rules)} rules found" in out
