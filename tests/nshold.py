# SPDX-License-Identifier: GPL-2.0-only
"""A process that holds TCP sockets for tests/test_netns.py, started inside
a network namespace (`ip netns exec NS` or `unshare --net`), so that its
sockets are that namespace's. It reads one command a line on stdin and
answers each with one line of JSON on stdout; an error is {"error": "..."}.
Every address is 127.0.0.1, the namespace's own loopback.

  listen PORT BACKLOG   a listener on PORT that accepts only when told to
  connect PORT N        N connections to PORT, each accepted at once; all held
  pending PORT N        N non-blocking connects to PORT, none accepted
  serve PORT            accept from now on, in a thread of its own
  accepted              how many connections were accepted so far
  timewait PORT N       N connections closed by the client first, then by the
                        server: the client ends leave N TIME_WAIT sockets
  options               keepalive options of every socket held
  sysctl NAME [VALUE]   read (after writing VALUE, commas for spaces)
                        /proc/sys/NAME, which for net.* is this namespace's
  netns                 the inode of this process's network namespace
  quit

--tag TAG is only there to be found by `pgrep -f` in the test's cleanup."""
import errno
import json
import os
import socket
import sys
import threading

HOST = "127.0.0.1"
COMMANDS = {"listen", "connect", "pending", "serve", "accepted", "timewait", "options",
            "sysctl", "netns"}


def options(s):
    """(SO_KEEPALIVE, KEEPIDLE, KEEPINTVL, KEEPCNT, USER_TIMEOUT ms)."""
    tcp = socket.IPPROTO_TCP
    return [s.getsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE),
            s.getsockopt(tcp, socket.TCP_KEEPIDLE),
            s.getsockopt(tcp, socket.TCP_KEEPINTVL),
            s.getsockopt(tcp, socket.TCP_KEEPCNT),
            s.getsockopt(tcp, socket.TCP_USER_TIMEOUT)]


class Holder:
    def __init__(self):
        self.listeners = {}     # port -> listening socket
        self.clients = []       # connecting ends, connected or not
        self.servers = []       # accepted ends
        self.lock = threading.Lock()    # servers, once serve runs

    def listen(self, port, backlog):
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind((HOST, int(port)))
        s.listen(int(backlog))
        self.listeners[int(port)] = s
        return {"port": int(port)}

    def connect(self, port, n):
        srv = self.listeners[int(port)]
        for _ in range(int(n)):
            self.clients.append(socket.create_connection((HOST, int(port)), timeout=10))
            self.servers.append(srv.accept()[0])
        return {"connected": int(n)}

    def pending(self, port, n):
        for _ in range(int(n)):
            c = socket.socket()
            c.setblocking(False)
            err = c.connect_ex((HOST, int(port)))
            if err not in (0, errno.EINPROGRESS):
                raise OSError(err, os.strerror(err))
            self.clients.append(c)
        return {"pending": int(n)}

    def serve(self, port):
        """The application accepts again, from now on, in a thread."""
        srv = self.listeners[int(port)]

        def loop():
            while True:
                s, _ = srv.accept()
                with self.lock:
                    self.servers.append(s)

        threading.Thread(target=loop, daemon=True).start()
        return {"serving": int(port)}

    def accepted(self):
        with self.lock:
            return {"accepted": len(self.servers)}

    def timewait(self, port, n):
        srv = self.listeners[int(port)]
        for _ in range(int(n)):
            c = socket.create_connection((HOST, int(port)), timeout=10)
            s, _ = srv.accept()
            c.close()
            s.close()
        return {"closed": int(n)}

    def options(self):
        with self.lock:
            servers = list(self.servers)
        return {"clients": [options(s) for s in self.clients],
                "servers": [options(s) for s in servers],
                "listeners": [options(s) for s in self.listeners.values()]}

    @staticmethod
    def sysctl(name, value=None):
        path = "/proc/sys/" + name.replace(".", "/")
        if value is not None:
            with open(path, "w") as f:
                f.write(value.replace(",", " "))
        with open(path) as f:
            return {"value": f.read().split()}

    @staticmethod
    def netns():
        return {"inode": os.stat("/proc/self/ns/net").st_ino}


def serve(h, commands):
    """Answer each line of stdin, a method of h named in commands and its
    words, with one JSON line, until "quit" or the end of stdin."""
    for line in sys.stdin:
        words = line.split()
        if not words:
            continue
        if words[0] == "quit":
            break
        try:
            if words[0] not in commands:
                raise ValueError("unknown command")
            reply = getattr(h, words[0])(*words[1:])
        except Exception as e:  # the test shows it, with the command
            reply = {"error": f"{type(e).__name__}: {e}"}
        print(json.dumps(reply), flush=True)


def main():
    serve(Holder(), COMMANDS)


if __name__ == "__main__":
    main()
