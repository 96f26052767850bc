"""Records the original offlog server's answers to the path-fidelity cases
(path_cases.py) as test data for //offlog/tests:path_fidelity_test.

Usage: python3 record_paths.py ORIGINAL_OFFLOG_TREE [OUT.json]

ORIGINAL_OFFLOG_TREE is a checkout of chrisjbillington/offlog (not part of
this repository); its server (`python3 -m offlog -s SOCK`) answers every
case in a fresh temporary tree, and the answers and the resulting tree are
written to OUT.json (default: testdata/paths.json next to this script).
Only the recording is committed, none of the original's code.
"""
import json
import os
import signal
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import path_cases  # noqa: E402


def main():
    if len(sys.argv) not in (2, 3):
        sys.exit(__doc__)
    orig = os.path.abspath(sys.argv[1])
    out = sys.argv[2] if len(sys.argv) == 3 else os.path.join(
        os.path.dirname(os.path.abspath(__file__)), "testdata", "paths.json")
    os.umask(0o022)
    with tempfile.TemporaryDirectory(prefix="offlog-rec-") as work:
        top = os.path.join(work, "t")
        os.mkdir(top)
        path_cases.build_tree(top)
        sock = os.path.join(work, "s.sock")
        env = dict(os.environ, PYTHONPATH=orig)
        with open(os.path.join(work, "server.log"), "wb") as log:
            proc = subprocess.Popen(
                [sys.executable, "-m", "offlog", "-s", sock],
                env=env, stdout=log, stderr=subprocess.STDOUT, cwd=work)
            try:
                path_cases.wait_for_socket(sock, proc)
                answers = path_cases.run_all(sock, top)
            finally:
                proc.send_signal(signal.SIGTERM)
                proc.wait(timeout=20)
        tree = path_cases.snapshot(top)
    cases = path_cases.generate_cases()
    recording = {
        "about": "offlog 0.3.1's server (python3 -m offlog) answering "
                 "path_cases.py's cases; regenerate with record_paths.py",
        "seed": path_cases.SEED,
        "cases": [{"case": c, "answers": a} for c, a in zip(cases, answers)],
        "tree": tree,
    }
    with open(out, "w") as fh:
        json.dump(recording, fh, indent=1, sort_keys=True)
        fh.write("\n")
    print(f"{len(cases)} cases, {len(tree)} tree entries -> {out}")


if __name__ == "__main__":
    main()
