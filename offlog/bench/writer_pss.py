#!/usr/bin/env python3
"""Memory of offlogd's process tree with N files open (issue 12).

Starts offlogd, opens N distinct files through it with one idle client
each (path, one line, OK, then nothing), and reports the proportional set
size (PSS, /proc/PID/smaps_rollup) of the acceptor, of each child (the
spawner and the writers) and of the whole tree. PSS divides each shared
page among the processes that map it, so the sum over the tree is what the
tree costs the machine.

Usage: writer_pss.py [--offlogd PATH] [--files N] [--rounds R]
"""
import argparse
import os
import resource
import socket
import subprocess
import sys
import tempfile
import time


def pss_kb(pid):
    with open(f"/proc/{pid}/smaps_rollup") as f:
        for line in f:
            if line.startswith("Pss:"):
                return int(line.split()[1])
    return 0


def children(pid):
    with open(f"/proc/{pid}/task/{pid}/children") as f:
        return [int(x) for x in f.read().split()]


def wait_for(path, timeout_s=10):
    deadline = time.monotonic() + timeout_s
    while not os.path.exists(path):
        if time.monotonic() > deadline:
            raise SystemExit(f"no socket at {path}")
        time.sleep(0.01)


def one_round(offlogd, files):
    with tempfile.TemporaryDirectory(prefix="pss.", dir="/tmp") as d:
        sock = os.path.join(d, "s.sock")
        server = subprocess.Popen([offlogd, "-s", sock],
                                  stdout=subprocess.DEVNULL,
                                  stderr=subprocess.DEVNULL)
        try:
            wait_for(sock)
            conns = []
            for i in range(files):
                c = socket.socket(socket.AF_UNIX)
                c.connect(sock)
                c.sendall(f"{d}/f{i}.log\0line {i}\n".encode())
                if c.recv(3) != b"OK\0":
                    raise SystemExit(f"file {i}: no OK")
                conns.append(c)
            # Every line written: each writer has done its work once.
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                done = sum(os.path.getsize(f"{d}/f{i}.log") > 0
                           for i in range(files))
                if done == files:
                    break
                time.sleep(0.05)
            kids = children(server.pid)
            per_child = sorted(pss_kb(k) for k in kids)
            acceptor = pss_kb(server.pid)
            for c in conns:
                c.close()
            return acceptor, per_child
        finally:
            server.terminate()
            server.wait()


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--offlogd", default="bazel-bin/offlog/server/offlogd")
    p.add_argument("--files", type=int, default=1000)
    p.add_argument("--rounds", type=int, default=3)
    a = p.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    for r in range(a.rounds):
        acceptor, kids = one_round(a.offlogd, a.files)
        total = acceptor + sum(kids)
        median = kids[len(kids) // 2]
        print(f"round {r + 1}: {a.files} files, {len(kids)} children; "
              f"writer PSS median {median} kB (max {kids[-1]} kB); "
              f"acceptor {acceptor} kB; tree {total / 1024:.1f} MiB "
              f"({total / a.files:.1f} kB per file)")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
