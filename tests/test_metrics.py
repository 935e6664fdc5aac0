# SPDX-License-Identifier: GPL-2.0-only
"""Prometheus metrics from the pinned maps: promtool-clean output, the
checks promtool does not make, HTTP behaviour, atomic textfiles, and a
real Prometheus server scraping tcpkeep on loopback. Needs root.
Ports 24xxx, loopback only."""
import json
import re
import shutil
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.parse
import urllib.request

import pytest

from conftest import (CAN, TCPKEEP, loopback_connections, quiet_port, run_tcpkeep, tk_programs,
                      unavailable)

SERIES = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})? (\S+)$')


def tk(*args, check=True, timeout=60):
    p = run_tcpkeep(*args, timeout=timeout)
    if check:
        assert p.returncode == 0, p.stderr
    return p


@pytest.fixture
def pinned(root):
    tk("unpin")
    yield lambda *args: tk("pin", *args)
    tk("unpin")


def parse(text):
    """{(name, labels): value} and the HELP/TYPE lines, checking as we go
    that no series appears twice."""
    series, helps, types = {}, [], []
    for line in text.splitlines():
        if line.startswith("# HELP "):
            helps.append(line.split()[2])
        elif line.startswith("# TYPE "):
            types.append((line.split()[2], line.split()[3]))
        else:
            m = SERIES.match(line)
            assert m, f"not a sample line: {line!r}"
            key = (m.group(1), frozenset(labels(m.group(2) or "").items()))
            assert key not in series, f"duplicate series {line}"
            series[key] = float(m.group(3))
    return series, helps, types


def labels(s):
    return dict(re.findall(r'(\w+)="([^"]*)"', s))


def val(series, name, **lab):
    return series[(name, frozenset(lab.items()))]


def check_exposition(text):
    series, helps, types = parse(text)
    assert len(helps) == len(set(helps)), "HELP twice for a family"
    assert len(types) == len({t[0] for t in types}), "TYPE twice for a family"
    assert {t[0] for t in types} == set(helps)
    families = dict(types)
    for name, _ in series:
        base = re.sub(r"_(bucket|sum|count)$", "", name)
        assert name in families or base in families, f"{name} has no TYPE"
    # histograms: cumulative buckets, +Inf equal to _count
    hist = {}
    for (name, lab), v in series.items():
        if name.endswith("_bucket"):
            l = dict(lab)
            le = l.pop("le")
            hist.setdefault((name[:-7], frozenset(l.items())), []).append(
                (float("inf") if le == "+Inf" else float(le), v))
    for (base, lab), buckets in hist.items():
        buckets.sort()
        counts = [v for _, v in buckets]
        assert counts == sorted(counts), f"{base}{dict(lab)} buckets not cumulative"
        assert buckets[-1][0] == float("inf")
        assert series[(base + "_count", lab)] == buckets[-1][1]
        assert (base + "_sum", lab) in series
    for (name, lab) in series:
        names = {k for k, _ in lab}
        assert not names & {"addr", "ip", "pid", "sock", "saddr", "daddr"}, name
    return series


@pytest.mark.vm
def test_exposition_passes_promtool_and_our_checks(pinned):
    port = 24001
    pinned("--no-defaults", "-k", f"{port}:idle=30")
    loopback_connections(port, 7)
    text = tk("metrics").stdout
    lint = subprocess.run(["promtool", "check", "metrics"], input=text,
                          capture_output=True, text=True)
    assert lint.returncode == 0, lint.stdout + lint.stderr
    series = check_exposition(text)
    p = str(port)
    assert val(series, "tcpkeep_transitions_total", port=p, direction="out",
               from_state="syn_sent", to_state="established") == 7
    # lifetimes where the kernel can measure them, none made up where not
    assert val(series, "tcpkeep_connection_duration_seconds_count", port=p,
               direction="in") == (7 if CAN["lifetimes"] else 0)
    assert val(series, "tcpkeep_keepalive_applied_total", port=p, direction="in") == 7
    assert val(series, "tcpkeep_keepalive_idle_seconds", port=p) == 30
    assert val(series, "tcpkeep_bpf_program_attached", program="sockops") == 1
    assert val(series, "tcpkeep_missed_events_total") == 0
    # le values in shortest round-trip form (all of them: test_cardinality.py)
    les = {dict(l)["le"] for (n, l) in series if n.endswith("_bucket")}
    assert {"0.001024", "1.048576", "68719.476736", "+Inf"} <= les


def test_ports_option_exports_a_port_the_rest_fold_into_other(pinned):
    kept, folded = 24011, 24012
    pinned("--no-defaults")
    loopback_connections(kept, 2)
    loopback_connections(folded, 3)
    series = check_exposition(tk("metrics", "--ports", str(kept)).stdout)
    ports = {dict(l).get("port") for (_, l) in series} - {None}
    assert str(kept) in ports and "other" in ports and str(folded) not in ports
    other = val(series, "tcpkeep_transitions_total", port="other", direction="out",
                from_state="syn_sent", to_state="established")
    assert other >= 3


def test_port_pressure_and_accept_queue_from_the_dump(pinned):
    """A listener with backlog 8 and three connections nobody accepted, and
    four more its clients closed first (their ports stay in TIME_WAIT):
    the queue, its limit, and the seven local ports the one destination
    holds, as a count and a share of the range; the namespaces visited."""
    port = quiet_port(24060, 20)
    pinned("--no-defaults")
    srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.1", port))
    srv.listen(8)
    held = []
    try:
        for _ in range(4):
            c = socket.create_connection(("127.0.0.1", port))
            s, _ = srv.accept()
            c.close()
            s.close()
        held = [socket.create_connection(("127.0.0.1", port)) for _ in range(3)]
        deadline = time.monotonic() + 10
        while True:  # the last ACK may land in the queue after connect() returned
            series = check_exposition(tk("metrics").stdout)
            p = str(port)
            if val(series, "tcpkeep_listen_queue_length", port=p) == 3:
                break
            assert time.monotonic() < deadline, "the accept queue never held 3"
            time.sleep(0.1)
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            lo, hi = map(int, f.read().split())
        assert val(series, "tcpkeep_local_port_range_size") == hi - lo + 1
        assert val(series, "tcpkeep_listen_queue_limit", port=p) == 8
        assert val(series, "tcpkeep_ephemeral_ports_used", port=p) == 7
        assert val(series, "tcpkeep_ephemeral_ports_used_ratio", port=p) == pytest.approx(
            7 / (hi - lo + 1))
        assert val(series, "tcpkeep_netns_visited") >= 1
        assert val(series, "tcpkeep_netns_unvisited") >= 0
    finally:
        for c in held:
            c.close()
        srv.close()


def test_textfile_is_never_seen_half_written(pinned, tmp_path):
    pinned()
    path = tmp_path / "tcpkeep.prom"
    stop = threading.Event()
    seen, bad = [], []

    def reader():
        while not stop.is_set():
            try:
                text = path.read_text()
            except FileNotFoundError:
                continue
            seen.append(1)
            if not text.rstrip().endswith(tuple("0123456789")) or \
                    "tcpkeep_scrape_duration_seconds" not in text:
                bad.append(text[-200:])

    t = threading.Thread(target=reader)
    t.start()
    try:
        p = tk("metrics", "--textfile", str(path), "-i", "0.1", "-c", "40")
    finally:
        stop.set()
        t.join()
    assert p.returncode == 0
    assert len(seen) > 40 and not bad, bad[:1]
    check_exposition(path.read_text())
    assert [f.name for f in tmp_path.iterdir()] == ["tcpkeep.prom"], "temp file left"


def http_get(url, method="GET"):
    req = urllib.request.Request(url, method=method)
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, r.headers, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.headers, e.read().decode()


def wait_http(url, timeout=15):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            return http_get(url)
        except (urllib.error.URLError, ConnectionError):
            time.sleep(0.1)
    raise AssertionError(f"{url} never answered")


@pytest.fixture
def metrics_server(pinned):
    procs = []

    def start(*args):
        p = subprocess.Popen([TCPKEEP, "metrics", *args], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
        procs.append(p)
        return p

    yield start
    for p in procs:
        p.terminate()
        p.wait(timeout=30)


def test_http_endpoint_serves_metrics_only(pinned, metrics_server):
    pinned()
    port = quiet_port(24100)
    metrics_server("--listen", str(port))
    status, headers, body = wait_http(f"http://127.0.0.1:{port}/metrics")
    assert status == 200
    assert headers["Content-Type"] == "text/plain; version=0.0.4; charset=utf-8"
    check_exposition(body)
    assert http_get(f"http://127.0.0.1:{port}/nope")[0] == 404
    assert http_get(f"http://127.0.0.1:{port}/metrics", "POST")[0] == 405
    assert http_get(f"http://127.0.0.1:{port}/metrics", "HEAD")[0] == 200


def test_listen_defaults_to_loopback(pinned, metrics_server):
    pinned()
    port = quiet_port(24150)
    metrics_server("--listen", f":{port}")
    wait_http(f"http://127.0.0.1:{port}/metrics")
    out = subprocess.run(["ss", "-tlnH", f"sport = :{port}"], capture_output=True,
                         text=True).stdout
    local = [line.split()[3] for line in out.splitlines()]
    assert local == [f"127.0.0.1:{port}"], out


@pytest.mark.parametrize("spec", ["0", "65536", "abc", "localhost:9977", "1.2.3:80",
                                  "[::1]9977", ":"])
def test_bad_listen_address_exits_2(root, spec):
    p = tk("metrics", "--listen", spec, check=False)
    assert p.returncode == 2 and p.stderr.startswith("tcpkeep: "), p.stderr
    assert len(p.stderr.strip().splitlines()) == 1


def test_metrics_when_not_pinned_says_so(root):
    tk("unpin")
    p = tk("metrics", check=False)
    assert p.returncode == 1 and "nothing is pinned" in p.stderr


@pytest.mark.vm
def test_run_listen_serves_a_running_loader(tcpkeep):
    port, web = 24201, quiet_port(24210)
    # no policy and the listener gone by the scrape: exported by --ports
    t = tcpkeep("--no-defaults", "--listen", f"127.0.0.1:{web}", "--ports", str(port))
    loopback_connections(port, 4)
    status, _, body = wait_http(f"http://127.0.0.1:{web}/metrics")
    series = check_exposition(body)
    assert val(series, "tcpkeep_transitions_total", port=str(port), direction="in",
               from_state="syn_recv", to_state="established") == 4
    assert t.stop() == 0


def test_real_prometheus_scrapes_tcpkeep(pinned, metrics_server, tmp_path):
    if not shutil.which("prometheus"):
        unavailable("prometheus is not installed (contrib/install-deps test)")
    port = 24301
    pinned("--no-defaults")
    loopback_connections(port, 11)
    web, prom_port = quiet_port(24310), quiet_port(24320)
    metrics_server("--listen", f"127.0.0.1:{web}", "--ports", str(port))
    wait_http(f"http://127.0.0.1:{web}/metrics")
    (tmp_path / "prometheus.yml").write_text(
        "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
        "scrape_configs:\n  - job_name: tcpkeep\n    static_configs:\n"
        f"      - targets: ['127.0.0.1:{web}']\n")
    prom = subprocess.Popen(
        ["prometheus", f"--config.file={tmp_path / 'prometheus.yml'}",
         f"--storage.tsdb.path={tmp_path / 'data'}",
         f"--web.listen-address=127.0.0.1:{prom_port}"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        query = ('tcpkeep_transitions_total{job="tcpkeep",port="%d",direction="out",'
                 'from_state="syn_sent",to_state="established"}' % port)
        url = (f"http://127.0.0.1:{prom_port}/api/v1/query?query=" +
               urllib.parse.quote(query))
        deadline, result = time.monotonic() + 60, []
        while time.monotonic() < deadline and not result:
            time.sleep(0.5)
            try:
                status, _, body = http_get(url)
            except (urllib.error.URLError, ConnectionError):
                continue
            if status == 200:
                result = json.loads(body)["data"]["result"]
        assert result, "Prometheus never returned the series"
        assert float(result[0]["value"][1]) == 11
        up = json.loads(http_get(f"http://127.0.0.1:{prom_port}/api/v1/query?query=up")[2])
        assert up["data"]["result"][0]["value"][1] == "1"
    finally:
        prom.terminate()
        prom.wait(timeout=30)


def proc_status(pid, key):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    raise AssertionError(f"no {key} in /proc/{pid}/status")


class SlowClients:
    """n connections to addr that send half a request and then one header
    line every 2 s (slowloris), never finishing it. Sources are loopback
    addresses from sources (cycled). Counts connections the server
    refused or closed."""

    def __init__(self, addr, n, sources):
        self.socks, self.refused = [], 0
        for i in range(n):
            s = socket.socket()
            s.bind((sources[i % len(sources)], 0))
            s.settimeout(5)
            try:
                s.connect(addr)
                s.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\n")
                self.socks.append(s)
            except OSError:
                self.refused += 1
                s.close()
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._drip)
        self.thread.start()

    def _drip(self):
        while not self.stop.wait(2):
            for s in list(self.socks):
                try:
                    s.send(b"X-Slow: 1\r\n")
                except OSError:
                    self.socks.remove(s)
                    self.refused += 1
                    s.close()

    def close(self):
        self.stop.set()
        self.thread.join()
        for s in self.socks:
            s.close()


def established_to(port):
    out = subprocess.run(["ss", "-tnH", "state", "established", f"sport = :{port}"],
                         capture_output=True, text=True).stdout
    return len(out.splitlines())


@pytest.mark.parametrize("sources", [
    ["127.0.0.2"],                                    # one attacker address
    [f"127.0.1.{i}" for i in range(1, 201)],          # 200 addresses
], ids=["one-address", "200-addresses"])
def test_slow_clients_cannot_stall_the_endpoint(pinned, metrics_server, sources):
    """200 slowloris clients hold connections while Prometheus-like scrapes
    from another address keep being answered. A stalled endpoint answers
    nothing for as long as the clients drip, so the 5 s client timeout is a
    verdict, not a race; the latencies are printed. Threads stay as many as
    before, connections stay within the per-address and total limits."""
    pinned("--no-defaults")
    port = quiet_port(24400)
    srv = metrics_server("--listen", f"127.0.0.1:{port}")
    url = f"http://127.0.0.1:{port}/metrics"
    wait_http(url)
    threads = proc_status(srv.pid, "Threads")
    rss = proc_status(srv.pid, "VmRSS")
    slow = SlowClients(("127.0.0.1", port), 200, sources)
    latencies = []
    try:
        for _ in range(8):  # across more than the 5 s idle timeout
            t0 = time.monotonic()
            with urllib.request.urlopen(url, timeout=5) as r:
                assert r.status == 200
                assert b"tcpkeep_build_info" in r.read()
            latencies.append(time.monotonic() - t0)
            time.sleep(1)
        held = established_to(port)
        assert proc_status(srv.pid, "Threads") == threads
        grown_kib = proc_status(srv.pid, "VmRSS") - rss
    finally:
        slow.close()
    print(f"scrape latencies with 200 slow clients: {[round(x, 3) for x in latencies]} s; "
          f"held {held} connections; {slow.refused} refused; RSS +{grown_kib} KiB")
    if len(sources) == 1:
        assert held <= 16 + 1 and slow.refused >= 200 - 16
    else:
        assert held <= 256 + 1
    assert grown_kib < 32 * 1024


def test_percent_encoded_paths_are_not_metrics(pinned, metrics_server):
    pinned("--no-defaults")
    port = quiet_port(24500)
    metrics_server("--listen", f"127.0.0.1:{port}")
    base = f"http://127.0.0.1:{port}"
    assert wait_http(base + "/metrics")[0] == 200
    for path in ("/metrics%00x", "/metric%73", "/metrics/", "/metrics/../metrics"):
        assert http_get(base + path)[0] == 404, path
    assert http_get(base + "/metrics?x=1")[0] == 200


def test_a_busy_listen_port_exits_2_before_loading(root):
    busy = socket.socket()
    busy.bind(("127.0.0.1", 0))
    busy.listen(1)
    port = busy.getsockname()[1]
    before = set(tk_programs())
    try:
        p = run_tcpkeep("--no-defaults", "-c", "1", "--listen", f"127.0.0.1:{port}")
    finally:
        busy.close()
    assert p.returncode == 2, p.stderr
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1 and f"port {port}" in lines[0] and "in use" in lines[0], p.stderr
    assert set(tk_programs()) <= before
