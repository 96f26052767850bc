"""Path-fidelity cases shared by record_paths.py and path_fidelity_test.py.

A case is a handshake sent to a server: a path (absolute under a fresh tree,
relative, or one of a few absolute paths outside it that always fail),
file data, and how the bytes are cut into send() calls. Cases are generated
from a fixed seed inside a tree built the same way every time, under a
placeholder root, so a recording made against the original server replays
anywhere.

Paths are templates: a list of parts, each ["root"] (the tree's root
directory), ["lit", TEXT] (bytes, as os.fsdecode()d text) or ["fill", N] (as
many bytes as make the whole path N bytes long: used for lengths around
PATH_MAX, whatever the root's own length). Sends are cut at offsets counted
from the end of the message, so that they fall in the same bytes whatever
the root's length.

Answers quote the path as Python's repr() does; the recording stores the
repr of the case's path as {PATH} and the root as {ROOT}, which the replay
fills in with its own.
"""
import errno
import os
import random
import socket
import stat
import time

SEED = 20261130
RANDOM_CASES = 300
# The root of the tree is ROOT_DEPTH directories below the temporary
# directory, so that `..` (at most MAX_DOTDOT per path) never leaves the
# temporary directory, however the kernel resolves it.
ROOT_PARTS = ("r1", "r2", "r3")
MAX_DOTDOT = 3
DEADLINE_S = 20  # Per case; only to detect a hang.

# The tree under the root: directories, files (with content) and symlinks
# (with relative targets, so the tree is the same under any root).
TREE_DIRS = ["d", "d/sub", "e"]
TREE_FILES = {"file": b"seed\n", "d/existing.log": b"old\n"}
TREE_LINKS = {"link": "d", "d/sub/up": "../../e", "d/dangling": "nowhere"}

EXISTING_DIRS = ["d", "sub", "e", "link", "up"]
MISSING = ["missing", "nodir"]
FILES = ["file", "existing.log", "dangling"]
NEW_NAMES = [
    "x.log", "y.log", "new.log", "a b.log", "it's.log", 'say "hi".log',
    "both'\".log", "back\\slash.log", "tab\t.log", "nl\n.log", "\x01ctl.log",
    "\x1b[31m.log", "\x7f.log", "caf\u00e9.log", "\udcff\udcfe.log",
    "\u0085nel.log", "\u202ertl.log", "\udce0\udc80\udc8a.log", "%s%d.log",
    "{}.log", " lead.log", "trail .log", "-dash.log", "\u00a0nbsp.log",
    "\u2028ls.log", "\U0001f600.log", "\udced\udca0\udc80.log",
]
SPECIAL = [".", ".."]

# Absolute paths outside the tree: each fails the same way on any host
# (never a path a server running as root could create or append to).
OUTSIDE = [
    "/", "//", "/.", "/..", "/./", "///", "/../", "/nonexistent-offlog-7f3a/x.log",
    "/nonexistent-offlog-7f3a/../x/y.log", "/nonexistent-offlog-7f3a/",
]
RELATIVE = [
    "", "x.log", "d/x.log", "./x.log", "../x.log", "~/x.log", " /x.log",
    ".", "..", "\\x.log", "relative/../../x", "\udcff", "\n/x.log",
]


def lit(text):
    return ["lit", text]


def under_root(tail):
    return [["root"], lit(tail)]


def fixed_cases():
    """The issue's examples and the edges a random draw may miss."""
    paths = [
        under_root("/d/x.log/"),
        under_root("/d/x.log/y.log"),
        under_root("/d/missing/../x.log"),
        under_root("/d/sub/up/../from-up.log"),
        under_root("/link/../via-link.log"),
        under_root("/d//double.log"),
        under_root("/d/./dot.log"),
        under_root("/d/././/dot.log"),
        under_root("/d/x.log/."),
        under_root("/d/."),
        under_root("/d/.."),
        under_root("/d"),
        under_root("/d/"),
        under_root("/file/x.log"),
        under_root("/file/"),
        under_root("/file/."),
        under_root("/file/../x.log"),
        under_root("/d/existing.log"),
        under_root("/d/existing.log/"),
        under_root("/d/dangling"),
        under_root("/d/dangling/"),
        under_root("/missing/x.log"),
        under_root("/missing/"),
        under_root("/" + "n" * 255),
        under_root("/" + "n" * 256),
        under_root("/d/" + "m" * 255 + "/x.log"),
    ]
    for n in (4094, 4095, 4096, 4097, 4100, 5000):
        paths.append([["root"], ["fill", n], lit("/x.log")])
    paths += [[lit(p)] for p in OUTSIDE + RELATIVE]
    cases = []
    for i, path in enumerate(paths):
        data = b"fixed %d\n" % i
        cases.append({"path": path, "data": data.decode("latin-1"),
                      "cuts": [], "nul": True})
    # No NUL at all: the client shuts down mid-handshake.
    for tail in ("/d/no-nul.log", ""):
        cases.append({"path": under_root(tail) if tail else [lit("")],
                      "data": "", "cuts": [], "nul": False})
    # A path over PATH_MAX that never ends.
    cases.append({"path": [["root"], ["fill", 6000]], "data": "",
                  "cuts": [], "nul": False})
    return cases


def random_segment(rng):
    r = rng.random()
    if r < 0.25:
        return rng.choice(EXISTING_DIRS)
    if r < 0.35:
        return rng.choice(MISSING)
    if r < 0.45:
        return rng.choice(FILES)
    if r < 0.60:
        return rng.choice(SPECIAL)
    if r < 0.65:
        return ""  # A doubled slash.
    return rng.choice(NEW_NAMES)


def random_tail(rng):
    segs = [random_segment(rng) for _ in range(rng.randint(1, 5))]
    if rng.random() < 0.5:
        segs[-1] = rng.choice(NEW_NAMES)  # More paths that can be created.
    dotdots = 0
    kept = []
    for s in segs:
        if s == "..":
            if dotdots == MAX_DOTDOT:
                continue
            dotdots += 1
        kept.append(s)
    tail = "/" + "/".join(kept)
    if rng.random() < 0.15:
        tail += "/"
    if rng.random() < 0.1:
        tail = tail.replace("/", "//", 1)
    return tail


def random_path(rng):
    r = rng.random()
    if r < 0.82:
        return under_root(random_tail(rng))
    if r < 0.88:
        return [lit(rng.choice(RELATIVE))]
    if r < 0.92:
        return [lit(rng.choice(OUTSIDE))]
    # Around PATH_MAX, with a real tail after the fill.
    return [["root"], ["fill", rng.choice([4090, 4095, 4096, 4097, 4200])],
            lit(random_tail(rng))]


def random_data(rng):
    n = rng.choice([0, 1, 10, 100, 300])
    body = bytes(rng.randrange(256) for _ in range(n))
    if n and rng.random() < 0.5:
        body += b"\n"
    return body.decode("latin-1")


def random_case(rng):
    path = random_path(rng)
    data = random_data(rng)
    literal_len = sum(len(os.fsencode(p[1])) for p in path if p[0] == "lit")
    tail_len = literal_len + 1 + len(data.encode("latin-1"))
    cuts = []
    mode = rng.random()
    if mode < 0.35 and tail_len > 1:
        # The path (and what follows) split over several sends.
        cuts = sorted(set(rng.randrange(1, tail_len)
                          for _ in range(rng.randint(1, 4))))
    elif mode < 0.5:
        cuts = [len(data.encode("latin-1"))]  # Data in a send of its own.
    return {"path": path, "data": data, "cuts": cuts, "nul": True}


def generate_cases():
    rng = random.Random(SEED)
    return fixed_cases() + [random_case(rng) for _ in range(RANDOM_CASES)]


def build_tree(top):
    """Builds the tree under `top`; returns the root (a str)."""
    root = os.path.join(top, *ROOT_PARTS)
    os.makedirs(root)
    for d in TREE_DIRS:
        os.makedirs(os.path.join(root, d))
    for f, content in TREE_FILES.items():
        with open(os.path.join(root, f), "wb") as fh:
            fh.write(content)
    for link, target in TREE_LINKS.items():
        os.symlink(target, os.path.join(root, link))
    return root


def fill_bytes(n):
    """`n` bytes of missing directories (components of at most 200 bytes)."""
    unit = b"/" + b"f" * 199
    return (unit * (n // len(unit) + 1))[:n]


def materialise(case, root):
    """The path's bytes, and the whole message's."""
    fixed = b""
    for p in case["path"]:
        if p[0] == "root":
            fixed += os.fsencode(root)
        elif p[0] == "lit":
            fixed += os.fsencode(p[1])
    path = b""
    for p in case["path"]:
        if p[0] == "root":
            path += os.fsencode(root)
        elif p[0] == "lit":
            path += os.fsencode(p[1])
        else:
            path += fill_bytes(max(0, p[1] - len(fixed)))
    msg = path + (b"\0" if case["nul"] else b"") + case["data"].encode("latin-1")
    return path, msg


def sends(case, msg):
    """`msg` cut where the case says, counting from its end."""
    pieces, start = [], 0
    for cut in sorted((len(msg) - c for c in case["cuts"]), key=int):
        if start < cut < len(msg):
            pieces.append(msg[start:cut])
            start = cut
    pieces.append(msg[start:])
    return [p for p in pieces if p] or [b""]


def read_answers(sock):
    got = b""
    sock.settimeout(DEADLINE_S)
    while True:
        try:
            chunk = sock.recv(65536)
        except ConnectionResetError:
            break  # The server closed with our data unread: same as EOF.
        if not chunk:
            break
        got += chunk
    parts = got.split(b"\0")
    return [os.fsdecode(p) for p in parts[:-1]] + (
        [os.fsdecode(parts[-1]) + "<no NUL>"] if parts[-1] else [])


def run_case(sock_path, case, root):
    path, msg = materialise(case, root)
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(sock_path)
    try:
        for piece in sends(case, msg):
            try:
                s.sendall(piece)
            except (BrokenPipeError, ConnectionResetError):
                break  # The server answered and closed already.
        try:
            s.shutdown(socket.SHUT_WR)
        except OSError as e:
            if e.errno != errno.ENOTCONN:
                raise
        return read_answers(s), path
    finally:
        s.close()


def templated(answers, path, root):
    """Answers with this run's path repr and root replaced by placeholders."""
    r = repr(os.fsdecode(path))
    return [a.replace(r, "{PATH}").replace(root, "{ROOT}") for a in answers]


def snapshot(top):
    """Every entry under `top`: type, mode, content or target."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(top):
        for name in dirnames + filenames:
            full = os.path.join(dirpath, name)
            rel = os.path.relpath(full, top)
            st = os.lstat(full)
            entry = {"mode": oct(stat.S_IMODE(st.st_mode))}
            if stat.S_ISLNK(st.st_mode):
                entry["type"] = "link"
                entry["target"] = os.readlink(full)
                entry.pop("mode")
            elif stat.S_ISDIR(st.st_mode):
                entry["type"] = "dir"
            else:
                entry["type"] = "file"
                with open(full, "rb") as fh:
                    entry["data"] = fh.read().hex()
            out[rel] = entry
    return out


def run_all(sock_path, top):
    root = os.path.join(top, *ROOT_PARTS)
    results = []
    for case in generate_cases():
        answers, path = run_case(sock_path, case, root)
        results.append(templated(answers, path, root))
    return results


def wait_for_socket(path, proc, timeout=20):
    """For the original server, which has no readiness notice without
    systemd: polls until it accepts a connection."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError("server exited early")
        try:
            s = socket.socket(socket.AF_UNIX)
            s.connect(path)
            s.close()
            return
        except OSError:
            time.sleep(0.01)
    raise RuntimeError("server did not start")
