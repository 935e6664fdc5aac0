# SPDX-License-Identifier: GPL-2.0-only
"""The alert rules against the two ways tcpkeep's metrics reach Prometheus:
scraped over HTTP (job "tcpkeep") or read from tcpkeep.prom by
node_exporter's textfile collector (node_exporter's job, "node" in the
tests). Every rule must be tested firing and quiet on the series of each
deployment it serves, and the textfile deployment must not trip the
absence alert that once fired forever for it. No root needed; promtool
comes from Debian's prometheus package (tests/test_contrib.py skips or
fails the same way without it)."""
import copy
import re
import subprocess
import tempfile

import yaml

from test_contrib import (RULES, RULE_TESTS, alert_rules, load_yaml,
                          run_promtool, promtool)

# Which deployment a test group feeds, told by the job of its series.
JOBS = {"tcpkeep": "http", "node": "textfile"}

# Rules about how the metrics arrive serve one deployment; the rest both.
SERVES = {
    "TcpkeepDown": {"http"},
    "TcpkeepTextfileStale": {"textfile"},
    "TcpkeepTextfileUnreadable": {"textfile"},
}
BOTH = {"http", "textfile"}


def group_deployment(group):
    """"http" or "textfile" when every series of a test group has the job of
    that deployment, else None (mixed groups prove nothing either way)."""
    jobs = set()
    for s in group.get("input_series", []):
        m = re.search(r'\bjob="([^"]*)"', s["series"])
        assert m, f"{group.get('name')}: series without a job: {s['series']}"
        jobs.add(m.group(1))
    kinds = {JOBS.get(j) for j in jobs}
    return kinds.pop() if len(kinds) == 1 else None


def test_series_jobs_and_instances_match_their_deployment():
    """HTTP series sit on tcpkeep's port, textfile ones on node_exporter's:
    a case cannot claim one deployment with the other's targets."""
    for g in load_yaml(RULE_TESTS)["tests"]:
        for s in g.get("input_series", []):
            job = re.search(r'\bjob="([^"]*)"', s["series"]).group(1)
            inst = re.search(r'\binstance="([^"]*)"', s["series"])
            assert job in JOBS, (g["name"], s["series"])
            if inst and ":" in inst.group(1):
                port = inst.group(1).rsplit(":", 1)[1]
                assert port == {"tcpkeep": "9977", "node": "9100"}[job], \
                    (g["name"], s["series"])


def test_every_rule_fires_and_stays_quiet_for_each_deployment():
    seen = {}  # (alert, deployment) -> {"fire", "quiet"}
    for g in load_yaml(RULE_TESTS)["tests"]:
        kind = group_deployment(g)
        if kind is None:
            continue
        for c in g.get("alert_rule_test", []):
            seen.setdefault((c["alertname"], kind), set()).add(
                "fire" if c.get("exp_alerts") else "quiet")
    missing = []
    for r in alert_rules():
        name = r["alert"]
        for kind in sorted(BOTH):
            want = {"fire", "quiet"} if kind in SERVES.get(name, BOTH) else {"quiet"}
            got = seen.get((name, kind), set())
            if not want <= got:
                missing.append(f"{name} on {kind} series: no case where it "
                               f"{' or '.join(sorted(want - got))}s")
    assert not missing, "\n".join(missing)


def test_only_arrival_rules_name_a_job():
    """Rules on tcpkeep_* metrics must work whatever the job is; only the
    HTTP-target rules may name job="tcpkeep", and no rule names the
    node_exporter job, whose name differs between setups."""
    for r in alert_rules():
        jobs = set(re.findall(r'\bjob\s*=~?\s*"([^"]*)"', r["expr"]))
        if r["alert"] in ("TcpkeepDown", "TcpkeepAbsent"):
            assert jobs == {"tcpkeep"}, (r["alert"], jobs)
        else:
            assert not jobs, (r["alert"], jobs)


def test_absence_rule_looks_at_every_job():
    """tcpkeep_build_info of textfile users carries node_exporter's job: the
    absence rule must look for it without a job filter."""
    rule = next(r for r in alert_rules() if r["alert"] == "TcpkeepAbsent")
    assert re.search(r"absent\(\s*tcpkeep_build_info\s*\)", rule["expr"]), rule["expr"]


def test_textfile_rules_match_tcpkeep_prom_only(tmp_path):
    """The file matcher of the textfile rules, evaluated by promtool itself on
    the names node_exporter may label the file with."""
    exprs = [r["expr"] for r in alert_rules()
             if "node_textfile_mtime_seconds" in r["expr"]]
    assert len(exprs) == 2
    matchers = {m for e in exprs for m in re.findall(r'file=~"([^"]*)"', e)}
    assert len(matchers) == 1, matchers
    matcher = matchers.pop()
    names = {"tcpkeep.prom": 1,
             "/var/lib/prometheus/node-exporter/tcpkeep.prom": 1,
             "/srv/textfiles/tcpkeep.prom": 1,
             "old-tcpkeep.prom": 0, "tcpkeep.prom.tmp": 0,
             "tcpkeepXprom": 0, "apt.prom": 0}
    series = [{"series": f'node_textfile_mtime_seconds{{job="node",'
                         f'instance="h{i}:9100",file="{n}"}}', "values": "1x2"}
              for i, n in enumerate(names)]
    want = [{"labels": f'node_textfile_mtime_seconds{{job="node",'
                       f'instance="h{i}:9100",file="{n}"}}', "value": 1}
            for i, n in enumerate(names) if names[n]]
    rules = tmp_path / "none.yml"
    rules.write_text(yaml.safe_dump({"groups": []}))
    tests = tmp_path / "matcher.test.yml"
    tests.write_text(yaml.safe_dump({
        "rule_files": [str(rules)],
        "tests": [{"interval": "1m", "input_series": series,
                   "promql_expr_test": [{
                       "expr": f'node_textfile_mtime_seconds{{file=~"{matcher}"}}',
                       "eval_time": "1m", "exp_samples": want}]}]}))
    run_promtool("test", "rules", str(tests))


def _healthy_textfile_case():
    doc = load_yaml(RULE_TESTS)
    groups = [g for g in doc["tests"] if g["name"] == "healthy textfile host"]
    assert len(groups) == 1
    g = groups[0]
    assert group_deployment(g) == "textfile"
    assert any(c["alertname"] == "TcpkeepAbsent" and not c.get("exp_alerts")
               for c in g["alert_rule_test"])
    return doc, g


def test_healthy_textfile_host_is_quiet():
    """The regression case of the issue, run alone against the shipped rules."""
    doc, g = _healthy_textfile_case()
    _run_group(doc, g, RULES, expect_ok=True)


def test_healthy_textfile_case_catches_the_old_absence_rule():
    """The same case against the rule as it was (build_info looked for under
    job="tcpkeep" only) must fail: the case really detects the bug."""
    doc, g = _healthy_textfile_case()
    rules = load_yaml(RULES)
    for r in rules["groups"][0]["rules"]:
        if r.get("alert") == "TcpkeepAbsent":
            assert "absent(tcpkeep_build_info)" in r["expr"]
            r["expr"] = r["expr"].replace("absent(tcpkeep_build_info)",
                                          'absent(tcpkeep_build_info{job="tcpkeep"})')
    out = _run_group(doc, g, rules, expect_ok=False)
    assert "TcpkeepAbsent" in out, out


def _run_group(doc, group, rules, expect_ok):
    """promtool test rules on one group of the test file, against rules (a
    path, or a parsed rules document written to a temporary file)."""
    with tempfile.TemporaryDirectory() as d:
        if isinstance(rules, dict):
            path = f"{d}/rules.yml"
            with open(path, "w") as f:
                yaml.safe_dump(rules, f)
            rules = path
        one = copy.deepcopy({k: v for k, v in doc.items() if k != "tests"})
        one["rule_files"] = [rules]
        one["tests"] = [group]
        tests = f"{d}/one.test.yml"
        with open(tests, "w") as f:
            yaml.safe_dump(one, f)
        r = subprocess.run([promtool(), "test", "rules", tests],
                           capture_output=True, text=True, timeout=120)
    out = r.stdout + r.stderr
    assert (r.returncode == 0) == expect_ok, out
    return out
