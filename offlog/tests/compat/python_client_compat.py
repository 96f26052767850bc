"""Runs the original Python offlog client (0.3.1) against two servers and
compares what they produce: the README example's file content, and the
exception class and message of every error case.

Usage: python3 python_client_compat.py ORIGINAL_OFFLOG_TREE OFFLOGD_BINARY

ORIGINAL_OFFLOG_TREE is a checkout of chrisjbillington/offlog (not part of
this repository). The original server from that tree is the reference.
Exits non-zero on any difference.
"""
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time


def wait_for_socket(path, proc, timeout=10):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError("server exited early")
        if os.path.exists(path):
            try:
                s = socket.socket(socket.AF_UNIX)
                s.connect(path)
                s.close()
                return
            except OSError:
                pass
        time.sleep(0.01)
    raise RuntimeError("server did not start")


def exercise(offlog, sock, workdir):
    """Everything the client observes, as a list of strings."""
    seen = []
    logfile = os.path.join(workdir, "myapp.log")
    logger = offlog.Logger("my app", logfile, offlog_socket_path=sock)
    logger.info("Hello world, params are %s %d", "foo", 7)
    try:
        1 / 0
    except Exception:
        logger.exception("Got an error")
    logger.close()
    with open(logfile) as f:
        # Timestamps differ between runs; everything else must not.
        seen.append(re.sub(r"^\[[0-9-]+ [0-9:.]+ ", "[T ", f.read(), flags=re.M))
    binary = os.path.join(workdir, "binary.bin")
    pf = offlog.ProxyFile(binary, sock_path=sock)
    pf.write(bytes(range(256)) * 100)
    pf.close()
    with open(binary, "rb") as f:
        seen.append(repr(f.read() == bytes(range(256)) * 100))
    plain = os.path.join(workdir, "plain")
    open(plain, "w").close()
    for path in ["/no/such/dir/a.log", workdir, "/", plain + "/below",
                 "/nonexistent/it's", "/nonexistent/\udcff",
                 "/" + "a" * 5000]:
        try:
            offlog.ProxyFile(path, sock_path=sock).close()
            seen.append(f"{path!r}: no error")
        except Exception as e:
            msg = str(e).replace(workdir, "WORKDIR")
            seen.append(f"{type(e).__name__}: {msg}")
    for raw in [b"relative\0", b"\0"]:
        s = socket.socket(socket.AF_UNIX)
        s.connect(sock)
        s.sendall(raw)
        seen.append(repr(s.recv(4096)))
        s.close()
    return seen


def shutdown_while_writing(offlog, sock, workdir, proc):
    """The exception a writing client sees when the server is stopped."""
    pf = offlog.ProxyFile(os.path.join(workdir, "stopping.log"), sock_path=sock)
    pf.write(b"before\n")
    proc.terminate()
    deadline = time.monotonic() + 10
    try:
        while time.monotonic() < deadline:
            pf.write(b"x" * 1000)
            time.sleep(0.001)
        return "no error"
    except Exception as e:
        return f"{type(e).__name__}: {e}"


def writer_pids(server_pid, path):
    """offlogd's processes (children of the server) that hold `path` open:
    its writer. None for the original server, which has no writers."""
    pids = []
    try:
        with open(f"/proc/{server_pid}/task/{server_pid}/children") as f:
            children = [int(p) for p in f.read().split()]
    except OSError:
        return pids
    for child in children:
        try:
            fds = os.listdir(f"/proc/{child}/fd")
        except OSError:
            continue
        for fd in fds:
            try:
                if os.readlink(f"/proc/{child}/fd/{fd}") == path:
                    pids.append(child)
                    break
            except OSError:
                pass
    return pids


def kill_writer_when(path, proc, size):
    """Waits until `path` holds `size` bytes, then SIGKILLs its writer."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and os.path.getsize(path) < size:
        time.sleep(0.001)
    killed = 0
    for pid in writer_pids(proc.pid, path):
        os.kill(pid, signal.SIGKILL)
        killed += 1
    return killed


def writer_killed(offlog, sock, workdir, proc, at_close):
    """A client whose writer is SIGKILLed (on offlogd; the original server
    has no writer to kill) halfway through its lines, or once all are
    written, just before close(): does close() succeed, and is every line in
    the file? (offlog 0.3.1's close() fails if a second OK comes with BYE.)"""
    path = os.path.join(workdir, "killed-%s.log" % ("close" if at_close else "mid"))
    total = 20000
    line = len(b"line %06d\n" % 0)
    pf = offlog.ProxyFile(path, sock_path=sock)
    killed = 0
    for i in range(total):
        pf.write(b"line %06d\n" % i)
        if i == total // 2 and not at_close:
            killed += kill_writer_when(path, proc, 1)
    if at_close:
        killed += kill_writer_when(path, proc, total * line)
    try:
        pf.close()
        outcome = "closed cleanly"
    except Exception as e:
        outcome = f"{type(e).__name__}: {e}"
    with open(path, "rb") as f:
        lines = set(f.read().splitlines())
    print(f"  writers killed ({'at close' if at_close else 'mid-stream'}): {killed}")
    return f"{outcome}; {len(lines)} distinct lines of {total}"


def run(server_cmd, offlog, label):
    with tempfile.TemporaryDirectory(dir="/tmp") as d:
        sock = os.path.join(d, "s.sock")
        work = os.path.join(d, "files")
        os.mkdir(work)
        env = dict(os.environ, PYTHONPATH=sys.path[0])  # The original's tree.
        proc = subprocess.Popen(server_cmd + ["-s", sock], env=env,
                                stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        try:
            wait_for_socket(sock, proc)
            result = exercise(offlog, sock, work)
            for at_close in (False, True):
                result.append(writer_killed(offlog, sock, work, proc, at_close))
            result.append(shutdown_while_writing(offlog, sock, work, proc))
        finally:
            proc.terminate()
            proc.wait(timeout=10)
        print(f"{label}: {len(result)} observations")
        return result


def main():
    tree, offlogd = sys.argv[1], sys.argv[2]
    sys.path.insert(0, tree)
    import offlog
    reference = run([sys.executable, "-m", "offlog"], offlog, "original server")
    ours = run([offlogd], offlog, "offlogd")
    bad = 0
    for i, (a, b) in enumerate(zip(reference, ours)):
        status = "same" if a == b else "DIFFERENT"
        bad += a != b
        print(f"[{i}] {status}: {a[:200]!r}" + ("" if a == b else f"\n    offlogd: {b[:200]!r}"))
    print(f"{len(reference) - bad} same, {bad} different")
    sys.exit(1 if bad or len(reference) != len(ours) else 0)


if __name__ == "__main__":
    main()
