# SPDX-License-Identifier: GPL-2.0-only
"""The live view on a real terminal: tcpkeep run in tmux at 80x24 and
160x50, read back with capture-pane. Every line fits the width (nothing
wraps), the frame is redrawn in place (nothing scrolls), the column set
suits the width, and the numbers are those of the connections made.
Through a pipe the view keeps every column, whatever the terminal."""
import contextlib
import itertools
import os
import signal
import socket
import subprocess
import time

import pytest

from conftest import TCPKEEP, quiet_port

NARROW = ["PORT", "DIR", "NEW/s", "CLOSE/s", "RST/s", "ESTAB", "CLOSEW", "TIMEWT",
          "KA_APPL", "KAERR", "DEAD"]
FULL = ["PORT", "DIR", "NEW/s", "CLOSE/s", "RST/s", "REFU/s", "NEW", "CLOSED", "RESET",
        "REFUSED", "LISTEN", "ESTAB", "SYN", "FINW", "CLOSEW", "LASTACK", "TIMEWT",
        "KA_APPL", "KAERR", "DEAD"]
MIDDLE = [c for c in FULL if c not in ("NEW", "CLOSED", "RESET", "REFUSED", "LISTEN", "SYN")]
OPEN, CLOSED = 3, 5  # connections held open, and made and closed
_sockets = itertools.count()


class Pane:
    """tcpkeep in a detached tmux session of its own server (-L)."""

    def __init__(self, width, height, command):
        self.socket = f"tk-view-{os.getpid()}-{next(_sockets)}"
        self.pid = self.path = None
        # the pane stays when tcpkeep exits, to show why
        self.tmux("new-session", "-d", "-x", str(width), "-y", str(height),
                  "exec " + command, ";", "set-option", "remain-on-exit", "on")
        try:
            self.path = self.display("#{socket_path}")
            self.pid = int(self.display("#{pane_pid}"))
        except BaseException:
            self.close()
            raise

    def tmux(self, *args):
        return subprocess.run(["tmux", "-L", self.socket, *args], check=True,
                              capture_output=True, text=True, timeout=10).stdout

    def display(self, fmt):
        return self.tmux("display-message", "-p", fmt).strip()

    def size(self):
        return tuple(int(n) for n in self.display("#{window_width} #{window_height}").split())

    def lines(self):
        """The screen, lines the terminal wrapped joined back (-J): a line
        longer than the width is one that wrapped."""
        return self.tmux("capture-pane", "-p", "-J").split("\n")[:-1]

    def wait_for(self, ok, what, timeout=20):
        """The screen's lines once ok(lines) holds (polled)."""
        deadline = time.monotonic() + timeout
        while True:
            lines = self.lines()
            if ok(lines):
                return lines
            if time.monotonic() > deadline:
                raise AssertionError(f"{what}; the screen:\n" + "\n".join(lines))
            time.sleep(0.1)

    def close(self):
        """Kill the server (tcpkeep gets SIGHUP), then make sure tcpkeep is gone."""
        subprocess.run(["tmux", "-L", self.socket, "kill-server"], capture_output=True,
                       timeout=10)
        if self.path:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.path)
        if self.pid is None:
            return
        deadline = time.monotonic() + 10
        while os.path.exists(f"/proc/{self.pid}") and time.monotonic() < deadline:
            time.sleep(0.1)
        if os.path.exists(f"/proc/{self.pid}"):
            os.kill(self.pid, signal.SIGKILL)


@contextlib.contextmanager
def view(width, height, port, tail=""):
    """tcpkeep run on a width x height terminal, only port shown and given a policy."""
    pane = Pane(width, height, f"{TCPKEEP} -i 0.3 -p {port} --no-defaults -k {port}{tail}")
    try:
        yield pane
    finally:
        pane.close()


@contextlib.contextmanager
def connections(port):
    """OPEN connections to port held open, after CLOSED made and closed
    (client first: its end goes to TIME_WAIT)."""
    srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.1", port))
    srv.listen(64)
    held = [srv]
    try:
        for _ in range(CLOSED):
            c = socket.create_connection(("127.0.0.1", port))
            s, _ = srv.accept()
            c.close()
            s.close()
        for _ in range(OPEN):
            held.append(socket.create_connection(("127.0.0.1", port)))
            held.append(srv.accept()[0])
        yield
    finally:
        for s in held:
            s.close()


def heading(lines):
    return next((ln.split() for ln in lines if ln.startswith(" PORT DIR")), None)


def table(lines, port):
    """{direction: {column: value}} of port's rows, by the heading's columns."""
    names = heading(lines)
    rows = {}
    for ln in lines:
        cells = ln.split()
        if names and len(cells) == len(names) and cells[0] == str(port):
            rows[cells[1]] = dict(zip(names, cells))
    return rows


def shows(port, names, want):
    """A test of the screen: port's two rows show want in each of their
    columns under the heading names."""
    def ok(lines):
        rows = table(lines, port)
        return heading(lines) == names and all(
            d in rows and all(rows[d][k] == v for k, v in want[d].items())
            for d in ("in", "out"))
    return ok


def assert_fits(pane, lines):
    width, height = pane.size()
    assert len(lines) == height
    too_long = [ln for ln in lines if len(ln) > width]
    assert not too_long, f"lines wrapped at {width} columns: {too_long}"
    # the frame starts at the top: it was redrawn in place, not scrolled up
    assert lines[0].startswith("tcpkeep "), lines


def next_second(pane, lines):
    """The screen once the frame's clock moved on: at -i 0.3, frames later."""
    shown = lines[0].split()[1]
    return pane.wait_for(lambda ls: ls[0].startswith("tcpkeep ") and ls[0].split()[1] != shown,
                         "the view stopped")


# What both rows of the port show once the connections are made: each
# end's connections established, held open, and given keepalive; the
# closing client's ends in TIME_WAIT.
NUMBERS = {"in": {"ESTAB": str(OPEN), "KA_APPL": str(OPEN + CLOSED), "TIMEWT": "0",
                  "DEAD": "0", "KAERR": "0"},
           "out": {"ESTAB": str(OPEN), "KA_APPL": str(OPEN + CLOSED), "TIMEWT": str(CLOSED),
                   "DEAD": "0", "KAERR": "0"}}
TOTALS = {"NEW": str(OPEN + CLOSED), "CLOSED": str(CLOSED), "RESET": "0"}


def test_80x24_narrow_columns_nothing_wraps_or_scrolls(root, time_wait_room):
    port = quiet_port(21600)
    with view(80, 24, port) as pane:
        pane.wait_for(lambda ls: heading(ls) == NARROW, "no narrow heading at 80 columns")
        with connections(port):
            lines = pane.wait_for(shows(port, NARROW, NUMBERS),
                                  "the rows do not show the connections")
            assert_fits(pane, lines)
            assert any("9 columns hidden" in ln for ln in lines), lines
            # lifetime histograms with shorter bars, or said to be left out
            assert any("connection lifetime" in ln or "left out" in ln for ln in lines)
            history = pane.display("#{history_size}")
            lines = next_second(pane, next_second(pane, lines))
            assert_fits(pane, lines)
            assert pane.display("#{history_size}") == history, "frames went into the scrollback"


def test_160x50_full_columns_and_histograms(root, time_wait_room):
    port = quiet_port(21600)
    with view(160, 50, port) as pane:
        pane.wait_for(lambda ls: heading(ls) == FULL, "no full heading at 160 columns")
        with connections(port):
            want = {d: {**NUMBERS[d], **TOTALS} for d in NUMBERS}
            lines = pane.wait_for(shows(port, FULL, want), "the rows do not show the connections")
            titles = [f"port {port} {d}: connection lifetime, {CLOSED} closed"
                      for d in ("in", "out")]
            lines = pane.wait_for(lambda ls: all(t in "\n".join(ls) for t in titles),
                                  "no histogram of each row")
            assert_fits(pane, lines)
            assert not any("columns hidden" in ln for ln in lines)
            bars = [ln for ln in lines if ln.rstrip().endswith("|") and " -> " in ln]
            assert bars and max(len(ln.rstrip()) for ln in bars) == 80  # the full 40 stars
            history = pane.display("#{history_size}")
            lines = next_second(pane, next_second(pane, lines))
            assert_fits(pane, lines)
            assert pane.display("#{history_size}") == history, "frames went into the scrollback"


def test_resize_changes_the_columns(root):
    port = quiet_port(21600)
    with view(80, 24, port) as pane:
        assert_fits(pane, pane.wait_for(lambda ls: heading(ls) == NARROW, "no narrow heading"))
        pane.tmux("resize-window", "-x", "160", "-y", "50")
        assert_fits(pane, pane.wait_for(lambda ls: heading(ls) == FULL,
                                        "no full heading after widening to 160"))
        # narrowing: tmux rewraps the wide lines; the view clears them away
        pane.tmux("resize-window", "-x", "100", "-y", "30")
        lines = pane.wait_for(lambda ls: heading(ls) == MIDDLE,
                              "no middle heading after narrowing to 100")
        lines = next_second(pane, lines)
        assert_fits(pane, lines)


def test_a_resize_redraws_at_once(root):
    """At -i 3600 no frame is due for an hour: what the pane shows after a
    resize was drawn because of the resize, for the new size."""
    port = quiet_port(21600)
    pane = Pane(80, 24, f"{TCPKEEP} -i 3600 -p {port} --no-defaults")
    try:
        pane.wait_for(lambda ls: "attached" in "\n".join(ls), "tcpkeep did not attach")
        assert heading(pane.lines()) is None
        pane.tmux("resize-window", "-x", "160", "-y", "50")
        assert_fits(pane, pane.wait_for(lambda ls: heading(ls) == FULL,
                                        "no full frame right after widening to 160"))
        pane.tmux("resize-window", "-x", "80", "-y", "24")
        assert_fits(pane, pane.wait_for(lambda ls: heading(ls) == NARROW,
                                        "no narrow frame right after narrowing to 80"))
    finally:
        pane.close()


def test_pipe_keeps_every_column_on_a_narrow_terminal(root, tmp_path):
    port = quiet_port(21600)
    out = tmp_path / "frames"
    with view(80, 24, port, f" -c 2 | cat > {out}") as pane:
        deadline = time.monotonic() + 30
        while pane.display("#{pane_dead}") != "1":
            assert time.monotonic() < deadline, "tcpkeep did not exit"
            time.sleep(0.1)
        text = out.read_text()
    assert "\033" not in text  # no terminal control in a pipe
    headings = [ln for ln in text.split("\n") if ln.startswith(" PORT DIR")]
    assert [h.split() for h in headings] == [FULL, FULL]
    assert max(len(ln) for ln in text.split("\n")) > 80
