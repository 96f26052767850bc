#!/usr/bin/env python3
"""A minimal offlog client for systemd_test.sh (runs inside the container).

  client.py append SOCK PATH LINE...
      One connection: the lines, shutdown(SHUT_WR), then waits for BYE.
      Exit 0 on BYE, 1 otherwise (the server's message on stderr).
  client.py hold SOCK PATH GO_FILE LINE1 LINE2
      Sends LINE1, waits (at most 60 s) until GO_FILE exists, sends LINE2,
      then ends as `append` does.
  client.py stream SOCK PATH TAG STOP_FILE STATE_FILE
      Until STOP_FILE exists: connects, sends a batch of lines "TAG N",
      shuts down and waits for BYE; reconnects on any failure. After each
      batch it rewrites STATE_FILE (JSON): the numbers of every line
      confirmed by BYE, how many connects were refused and how many
      batches failed, and the slowest batch in seconds. Every confirmed
      line must be written. So must every line in "sent" (sendall()
      returned: the bytes were in the server's socket), since offlogd
      writes all it can read even when it shuts down.
"""
import json
import os
import socket
import sys
import time

TIMEOUT = 30.0
BATCH = 20


def connect(sock_path):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(TIMEOUT)
    s.connect(sock_path)
    return s


def finish(s):
    """Shuts down the sending side, reads until BYE. Returns an error or None."""
    s.shutdown(socket.SHUT_WR)
    buf = b""
    while True:
        chunk = s.recv(4096)
        if not chunk:
            return "connection closed before BYE; got %r" % buf
        buf += chunk
        while b"\0" in buf:
            msg, buf = buf.split(b"\0", 1)
            if msg == b"BYE":
                return None
            if msg not in (b"OK", b"ROTATED"):
                return msg.decode(errors="replace")


def append(sock_path, path, lines, on_sent=None):
    s = connect(sock_path)
    try:
        s.sendall(path.encode() + b"\0" + b"".join(l.encode() + b"\n" for l in lines))
        if on_sent:
            on_sent()
        return finish(s)
    finally:
        s.close()


def wait_for_file(path, seconds):
    deadline = time.monotonic() + seconds
    while not os.path.exists(path):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def main(argv):
    mode = argv[1]
    if mode == "append":
        err = append(argv[2], argv[3], argv[4:])
    elif mode == "hold":
        sock_path, path, go, first, second = argv[2:7]
        s = connect(sock_path)
        try:
            s.sendall(path.encode() + b"\0" + first.encode() + b"\n")
            if not wait_for_file(go, 60):
                err = "timed out waiting for " + go
            else:
                s.sendall(second.encode() + b"\n")
                err = finish(s)
        finally:
            s.close()
    elif mode == "stream":
        sock_path, path, tag, stop, state_file = argv[2:7]
        state = {"confirmed": [], "sent": [], "refused": 0, "failed": 0,
                 "errors": [], "slowest": 0.0}
        n = 0
        while not os.path.exists(stop):
            numbers = list(range(n, n + BATCH))
            n += BATCH
            start = time.monotonic()
            try:
                e = append(sock_path, path, ["%s %d" % (tag, i) for i in numbers],
                           lambda: state["sent"].extend(numbers))
            except ConnectionRefusedError as ex:
                state["refused"] += 1
                e = repr(ex)
            except OSError as ex:
                e = repr(ex)
            state["slowest"] = max(state["slowest"], time.monotonic() - start)
            if e is None:
                state["confirmed"].extend(numbers)
            else:
                state["failed"] += 1
                state["errors"] = (state["errors"] + [
                    "%s after %.1fs" % (e, time.monotonic() - start)])[-5:]
                time.sleep(0.05)  # A pause before reconnecting, not a wait.
            tmp = state_file + ".tmp"
            with open(tmp, "w") as f:
                json.dump(state, f)
            os.rename(tmp, state_file)
        err = None
    else:
        err = "unknown mode " + mode
    if err:
        print("client.py: " + err, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
