# SPDX-License-Identifier: GPL-2.0-only
"""tcpkeep run --listen under ThreadSanitizer (build/tcpkeep-tsan, from
`make test`): the live view and the HTTP endpoint's threads take, sort and
render snapshots at the same time. Needs root. Ports 25xxx, loopback only."""
import http.client
import os
import signal
import socket
import threading
import time
import urllib.request

from conftest import ROOT, quiet_port, row

TSAN_BIN = os.path.join(ROOT, "build", "tcpkeep-tsan")
# halt at the first report: a race fails the run with exit code 66. No
# suppressions: libbpf and libmicrohttpd are not instrumented, TSan still
# sees their pthread calls, and they gave no report
TSAN_OPTIONS = "halt_on_error=1 exitcode=66 history_size=4 second_deadlock_stack=1"
SCRAPERS = 4            # more than the endpoint's two threads
SCRAPES = 48            # in all, at least, before the SIGINT
FRAMES = 10             # drawn meanwhile, at least


def connect_and_close(port, stop):
    """Connections to a listener on port until stop: each interval's
    snapshot then has rows that changed, in both directions, to sort."""
    srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.1", port))
    srv.listen(64)
    try:
        while not stop.is_set():
            c = socket.create_connection(("127.0.0.1", port), timeout=10)
            s, _ = srv.accept()
            c.close()
            s.close()
            stop.wait(0.02)
    finally:
        srv.close()


def test_run_listen_is_race_free_under_tsan(tcpkeep):
    assert os.path.exists(TSAN_BIN), "build/tcpkeep-tsan is missing: make tsan " \
        "(make test builds it)"
    port, web = quiet_port(25001), quiet_port(25101)
    env = dict(os.environ, TSAN_OPTIONS=TSAN_OPTIONS)
    t = tcpkeep("--no-defaults", "--listen", f"127.0.0.1:{web}", binary=TSAN_BIN,
                env=env, timeout=120)
    stop, stopping = threading.Event(), threading.Event()
    load = threading.Thread(target=connect_and_close, args=(port, stop))
    load.start()
    scrapes, errors = [], []

    def scrape():
        url = f"http://127.0.0.1:{web}/metrics"
        while not stop.is_set():
            try:
                with urllib.request.urlopen(url, timeout=60) as r:
                    got = (r.status, r.read().decode())
            except (OSError, http.client.HTTPException) as e:
                # refused or cut once tcpkeep stops; before, a report halted it
                if not stopping.is_set():
                    errors.append(repr(e))
                return
            if not stopping.is_set():
                scrapes.append(got)

    scrapers = [threading.Thread(target=scrape) for _ in range(SCRAPERS)]
    frames, failure = [], None
    try:
        # rows of the port before the scraping starts
        f = t.frame(timeout=120)
        while not row(f, port, "in"):
            f = t.frame(timeout=120)
        for s in scrapers:
            s.start()
        # a deadline against a hang, not a measure: tcpkeep-tsan is slow
        deadline = time.monotonic() + 600
        while (len(frames) < FRAMES or len(scrapes) < SCRAPES) and not errors and \
                time.monotonic() < deadline:
            frames.append(t.frame(timeout=120))
    except AssertionError as e:     # no frame: tcpkeep halted; its stderr says why
        failure = e
    finally:
        # SIGINT while the scrapers still scrape: the endpoint stops mid-load
        stopping.set()
        try:
            rc = t.stop(signal.SIGINT)
        finally:
            stop.set()
            for s in scrapers:
                if s.ident:
                    s.join()
            load.join()
    assert "WARNING: ThreadSanitizer" not in t.stderr, t.stderr
    assert rc == 0, f"exit code {rc} (66: a ThreadSanitizer report)\n{t.stderr}"
    assert failure is None, failure
    assert not errors, errors[:3]
    assert len(frames) >= FRAMES and len(scrapes) >= SCRAPES
    # the snapshots had rows to sort, in the frames and in the scrapes
    assert all(row(f, port, "in") and row(f, port, "out") for f in frames)
    series = f'tcpkeep_transitions_total{{port="{port}",direction="in",' \
             'from_state="syn_recv",to_state="established"}'
    bad = [(st, body[:200]) for st, body in scrapes if st != 200 or series not in body]
    assert not bad, bad[:3]
