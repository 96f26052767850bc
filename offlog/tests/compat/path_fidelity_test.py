#!/usr/bin/env python3
"""Replays the path-fidelity cases (path_cases.py) against the real offlogd
and compares its answers, and the files it leaves, with the original
server's recorded in testdata/paths.json (see record_paths.py).

Usage: path_fidelity_test.py [OFFLOGD [RECORDING]]; under `bazel test` both
come from the runfiles. Fails on any difference, listing the cases.
"""
import difflib
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile


def runfile(rel):
    base = os.environ.get("TEST_SRCDIR")
    if not base:
        return None
    return os.path.join(base, os.environ.get("TEST_WORKSPACE", "offlog"), rel)


# Under `bazel test` this script runs from a copy outside compat/.
HERE = runfile("offlog/tests/compat") or os.path.dirname(
    os.path.abspath(__file__))
sys.path.insert(0, HERE)
import path_cases  # noqa: E402

# offlogd cuts a message to 4094 bytes and its NUL so that it is sent whole
# or not at all (protocol.h kMaxMessage); the original sends an error quoting
# a path near PATH_MAX in full. That difference is known and kept.
MAX_MESSAGE = 4094


def start_offlogd(offlogd, work):
    """Starts offlogd and waits for its READY=1 on a NOTIFY_SOCKET."""
    notify_path = os.path.join(work, "n.sock")
    notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    notify.bind(notify_path)
    notify.settimeout(path_cases.DEADLINE_S)
    sock = os.path.join(work, "s.sock")
    log = open(os.path.join(work, "offlogd.log"), "wb")
    proc = subprocess.Popen([offlogd, "-s", sock, "--notify"],
                            env=dict(os.environ, NOTIFY_SOCKET=notify_path),
                            stdout=log, stderr=subprocess.STDOUT, cwd=work)
    while b"READY=1" not in notify.recv(4096):
        pass
    notify.close()
    return proc, sock


def expected_answers(answers, path, root):
    r = repr(os.fsdecode(path))
    out = []
    for a in answers:
        a = a.replace("{PATH}", r).replace("{ROOT}", root)
        out.append(a[:MAX_MESSAGE])
    return out


def describe(case, path, root):
    shown = repr(path).replace(repr(os.fsencode(root))[2:-1], "{ROOT}")
    return f"{shown[:300]} cut at {case['cuts']} from the end" + (
        "" if case["nul"] else " (no NUL)")


def main():
    offlogd = (os.path.abspath(sys.argv[1]) if len(sys.argv) > 1
               else runfile("offlog/server/offlogd"))
    recording = (sys.argv[2] if len(sys.argv) > 2
                 else os.path.join(HERE, "testdata", "paths.json"))
    with open(recording) as fh:
        rec = json.load(fh)
    cases = path_cases.generate_cases()
    if [r["case"] for r in rec["cases"]] != json.loads(json.dumps(cases)):
        sys.exit("FAIL: the recording is of other cases; rerun "
                 "record_paths.py")
    os.umask(0o022)
    failures = []
    tmp = os.environ.get("TEST_TMPDIR", "/tmp")
    with tempfile.TemporaryDirectory(prefix="pf-", dir="/tmp") as work, \
            tempfile.TemporaryDirectory(prefix="pf-", dir=tmp) as data:
        top = os.path.join(data, "t")
        os.mkdir(top)
        root = path_cases.build_tree(top)
        proc, sock = start_offlogd(offlogd, work)
        try:
            for i, (case, r) in enumerate(zip(cases, rec["cases"])):
                got, path = path_cases.run_case(sock, case, root)
                got = [g[:MAX_MESSAGE] for g in got]
                want = expected_answers(r["answers"], path, root)
                if got != want:
                    failures.append(
                        f"case {i}: {describe(case, path, root)}\n"
                        f"  original: {want!r:.600}\n"
                        f"  offlogd:  {got!r:.600}")
        finally:
            proc.send_signal(signal.SIGTERM)
            status = proc.wait(timeout=path_cases.DEADLINE_S)
        tree = path_cases.snapshot(top)
    if status != 0:
        failures.append(f"offlogd exited with status {status}")
    if tree != rec["tree"]:
        want = json.dumps(rec["tree"], indent=1, sort_keys=True).splitlines()
        have = json.dumps(tree, indent=1, sort_keys=True).splitlines()
        diff = "\n".join(difflib.unified_diff(want, have, "original",
                                              "offlogd", lineterm=""))
        failures.append("resulting files differ:\n" + diff[:20000])
    for f in failures:
        print(f)
    print(f"{len(cases)} cases; {len(failures)} differences")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
