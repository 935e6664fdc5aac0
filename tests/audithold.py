# SPDX-License-Identifier: GPL-2.0-only
"""A process that holds TCP connections for tests/test_audit.py, started
inside a network namespace (nsenter --net), so that its sockets are that
namespace's. Unlike tests/nshold.py it binds and connects to any address
(a veth's), and it can write to a connection until the send buffer is
full and wait for the error the kernel then reports. One command a line
on stdin, one line of JSON on stdout; an error is {"error": "..."}.

  listen ADDR PORT      a listener on ADDR:PORT
  accept                accept one connection on it: its index, peer port
  connect ADDR PORT     a connection to ADDR:PORT: its index, local port
  fill I                write to connection I, non-blocking, until the
                        kernel takes no more: the bytes written
  wait_error I SEC      up to SEC for connection I to fail, then recv():
                        {"errno": NAME} or {"errno": null} (no error yet)
  options I             keepalive options of connection I
  netns                 the inode of this process's network namespace
  quit

--name NAME sets the process's command (/proc/PID/comm), which tcpkeep
reports for the connections it holds; --tag TAG is only there to be
found by `pgrep -f` in the test's cleanup."""
import argparse
import ctypes
import errno
import os
import select
import socket

# the line protocol and the options reader of its sibling
from nshold import options, serve

PR_SET_NAME = 15


class Holder:
    def __init__(self):
        self.listener = None
        self.conns = []

    def listen(self, addr, port):
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind((addr, int(port)))
        s.listen(16)
        self.listener = s
        return {"port": int(port)}

    def accept(self):
        s, peer = self.listener.accept()
        self.conns.append(s)
        return {"index": len(self.conns) - 1, "peer_port": peer[1]}

    def connect(self, addr, port):
        s = socket.create_connection((addr, int(port)), timeout=10)
        self.conns.append(s)
        return {"index": len(self.conns) - 1, "local_port": s.getsockname()[1]}

    def fill(self, i):
        s = self.conns[int(i)]
        s.setblocking(False)
        chunk = b"x" * 65536
        sent = 0
        while True:
            try:
                sent += s.send(chunk)
            except BlockingIOError:
                return {"sent": sent}

    def wait_error(self, i, sec):
        s = self.conns[int(i)]
        s.setblocking(False)
        select.select([s], [], [s], float(sec))
        try:
            data = s.recv(4096)
        except BlockingIOError:
            return {"errno": None}
        except OSError as e:
            return {"errno": errno.errorcode.get(e.errno, str(e.errno))}
        return {"errno": None, "data": len(data)}

    def options(self, i):
        return {"options": options(self.conns[int(i)])}

    @staticmethod
    def netns():
        return {"inode": os.stat("/proc/self/ns/net").st_ino}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--name")
    ap.add_argument("--tag")
    args = ap.parse_args()
    if args.name:
        libc = ctypes.CDLL(None)
        libc.prctl(PR_SET_NAME, args.name.encode()[:15], 0, 0, 0)
    serve(Holder(), {"listen", "accept", "connect", "fill", "wait_error", "options",
                      "netns"})


if __name__ == "__main__":
    main()
