#!/usr/bin/env python3
"""Turns isolation.sh's CSVs into a Markdown summary (medians and ratios).

Usage: isolation_report.py OUT_DIR
"""
import csv
import os
import sys

import report  # The CSV and gnuplot helpers of run.sh's report.

read = report.read
num = report.num


def median(values):
    values = sorted(values)
    n = len(values)
    if n == 0:
        return 0.0
    return values[n // 2] if n % 2 else (values[n // 2 - 1] + values[n // 2]) / 2


def ratio(a, b):
    return f"{a / b:.2f}x" if a and b else "n/a"


def us(v):
    return f"{v / 1000:,.2f} ms" if v >= 1000 else f"{v:,.0f} us"


def group(rows, key):
    out = {}
    for r in rows:
        out.setdefault(r[key], []).append(r)
    return out


def isolation(rows):
    by = group(rows, "disturb")
    print("### Connect-to-OK of a client of an open file (isolation_bench)\n")
    print("| condition | probes (median) | p50 | p99 | max | p99 per round |"
          " p99 / idle (medians) | p99 / idle per round | disturbance |")
    print("|---|---|---|---|---|---|---|---|---|")
    idle_rows = by.get("none", [])
    rows_out = []
    idle = median([num(r, "p99_us") for r in idle_rows])
    for d, name in (("none", "idle"), ("spawn", "1,000 new paths spawning"),
                    ("stall", "1 FIFO stalled, 1,500 clients on it"),
                    ("forks", "control: the bench forks 1,000 processes")):
        rs = by.get(d, [])
        if not rs:
            continue
        p99 = median([num(r, "p99_us") for r in rs])
        rounds = ", ".join(us(num(r, "p99_us")) for r in rs)
        per_round = ", ".join(ratio(num(r, "p99_us"), num(i, "p99_us"))
                              for r, i in zip(rs, idle_rows))
        errors = sum(int(num(r, "probe_errors")) for r in rs)
        what = ""
        if d == "spawn":
            what = (f"{median([num(r, 'disturb_ok') for r in rs]):.0f} OK,"
                    f" {median([num(r, 'disturb_failed') for r in rs]):.0f}"
                    f" failed, in {median([num(r, 'disturb_s') for r in rs]):.2f} s")
        elif d == "stall":
            what = (f"{median([num(r, 'disturb_waiting') for r in rs]):.0f}"
                    f" waiting, {median([num(r, 'disturb_refused') for r in rs]):.0f}"
                    f" refused, {median([num(r, 'disturb_failed') for r in rs]):.0f}"
                    " failed")
        elif d == "forks":
            what = (f"{median([num(r, 'disturb_ok') for r in rs]):.0f}"
                    f" processes in {median([num(r, 'disturb_s') for r in rs]):.2f} s")
        if errors:
            what += f"; {errors} probe errors"
        rows_out.append((name, rs))
        print(f"| {name} | {median([num(r, 'probes') for r in rs]):.0f}"
              f" | {us(median([num(r, 'p50_us') for r in rs]))}"
              f" | {us(p99)} | {us(median([num(r, 'max_us') for r in rs]))}"
              f" | {rounds} | {ratio(p99, idle) if d != 'none' else '1x'}"
              f" | {per_round if d != 'none' else ''} | {what} |")
    print()
    sched(rows_out)


def sched(rows_out):
    """Where the probes' time went: CPU and run-queue wait, per probe."""
    if not any(num(r, "acceptor_cpu_ms") for _, rs in rows_out for r in rs):
        return
    print("While probing, per probe (medians over rounds; from"
          " /proc/PID/schedstat):\n")
    print("| condition | acceptor CPU | acceptor run-queue wait |"
          " hot.log writer CPU | writer run-queue wait |")
    print("|---|---|---|---|---|")
    for name, rs in rows_out:
        cells = []
        for key in ("acceptor_cpu_ms", "acceptor_wait_ms", "writer_cpu_ms",
                    "writer_wait_ms"):
            per = [1000 * num(r, key) / num(r, "probes")
                   for r in rs if num(r, "probes")]
            cells.append(us(median(per)))
        print(f"| {name} | " + " | ".join(cells) + " |")
    print()


def scale_table(label, rows):
    by = group(rows, "server")
    clients = int(num(rows[0], "clients"))
    files = int(num(rows[0], "files"))
    print(f"### {clients:,} connections over {files:,} files (offlog_load)\n")
    print("| server | clients OK (median) | connect-to-OK p50 | p99 | max |"
          " p99 per round | p99 / Python's | first error |")
    print("|---|---|---|---|---|---|---|---|")
    py = median([num(r, "connect_p99_us") for r in by.get("python", [])])
    py_ok = median([num(r, "clients") - num(r, "errors")
                    for r in by.get("python", [])])
    for s, rs in by.items():
        p99 = median([num(r, "connect_p99_us") for r in rs])
        ok = median([num(r, "clients") - num(r, "errors") for r in rs])
        rounds = ", ".join(us(num(r, "connect_p99_us")) for r in rs)
        errs = sorted({r.get("first_error", "") for r in rs} - {""})
        vs = ratio(p99, py) if py_ok else "n/a (Python failed)"
        print(f"| {s} | {ok:,.0f}"
              f" | {us(median([num(r, 'connect_p50_us') for r in rs]))}"
              f" | {us(p99)} | {us(median([num(r, 'connect_max_us') for r in rs]))}"
              f" | {rounds} | {vs} | {'; '.join(errs)} |")
    print()


def scale(rows, forks):
    for label, rs in group(rows, "label").items():
        scale_table(label, rs)
    by = group([r for r in forks if r.get("label") == "forks-1000"],
               "disturb")
    serial, burst = by.get("forks-serial", []), by.get("forks-burst", [])
    if serial:
        print("Process creation on this machine, same run (isolation_bench"
              " --forks 1000; medians of"
              f" {len(serial)}): one after another, fork() + _exit() +"
              f" waitpid(), {median([num(r, 'disturb_s') for r in serial]):.3f} s"
              f" for 1,000 (per process p50"
              f" {us(median([num(r, 'p50_us') for r in serial]))}, p99"
              f" {us(median([num(r, 'p99_us') for r in serial]))})", end="")
    if burst:
        print("; in a burst, 1,000 fork()s whose children stay alive until"
              " all have run:"
              f" {median([num(r, 'disturb_s') for r in burst]):.3f} s", end="")
    if serial or burst:
        print(".\n")
    creation_floor(rows, forks)


def creation_floor(rows, forks):
    """Per round at 9,000 over 900: offlogd's p99 beyond the original's,
    against the time the machine takes to create 900 processes."""
    floor = [num(r, "disturb_s") * 1e6 for r in forks
             if r.get("label") == "forks-900"]
    by = group([r for r in rows if r.get("label") == "s5-9k"], "server")
    ours, py = by.get("offlogd", []), by.get("python", [])
    if not (floor and ours and py):
        return
    print("9,000 over 900, per round: offlogd's p99 beyond the original's,"
          " against the machine's floor for creating the 900 writers"
          " (isolation_bench --forks 900 --fork_mode burst, same round)\n")
    print("| round | offlogd p99 | original p99 | excess | creation floor |"
          " excess / floor |")
    print("|---|---|---|---|---|---|")
    within = 0
    for i, (o, p, f) in enumerate(zip(ours, py, floor), 1):
        excess = num(o, "connect_p99_us") - num(p, "connect_p99_us")
        within += excess <= f
        print(f"| {i} | {us(num(o, 'connect_p99_us'))} |"
              f" {us(num(p, 'connect_p99_us'))} |"
              f" {us(excess) if excess > 0 else 'none'} | {us(f)} |"
              f" {excess / f:.2f} |")
    print(f"\nThe excess is within the creation floor in {within} of"
          f" {min(len(ours), len(py), len(floor))} rounds.\n")


def plots(out, iso_rows, scale_rows):
    """isolation.png: probe p50/p99 per condition; scale.png: p99 per server."""
    if not iso_rows and not scale_rows:
        return
    term = report.terminal()
    names = {"none": "idle", "spawn": "spawning-1000", "stall":
             "stalled-1500", "forks": "control-forks"}
    dat = os.path.join(out, "isolation.dat")
    with open(dat, "w") as f:
        f.write("condition p50 p99\n")
        for d, rs in group(iso_rows, "disturb").items():
            f.write(f"{names.get(d, d)}"
                    f" {median([num(r, 'p50_us') for r in rs]) / 1000:.4f}"
                    f" {median([num(r, 'p99_us') for r in rs]) / 1000:.4f}\n")
    report.plot(out, "isolation", "Connect-to-OK of a client of an open file"
                " (medians of rounds)", "ms", dat, 2, logscale=True, term=term)
    if not scale_rows:
        return
    dat = os.path.join(out, "scale.dat")
    servers = ["offlogd", "python", "offlogd-prefork1000",
               "offlogd-prefork1000-spare0"]
    with open(dat, "w") as f:
        f.write("scenario " + " ".join(servers) + "\n")
        for label, rs in group(scale_rows, "label").items():
            by = group(rs, "server")
            vals = [median([num(r, "connect_p99_us") for r in by.get(s, [])
                            if num(r, "errors") == 0]) / 1000 for s in servers]
            f.write(label + " " + " ".join(f"{v:.1f}" for v in vals) + "\n")
    report.plot(out, "scale", "Connect-to-OK p99 (0: not run, or every client failed)",
                "ms", dat, len(servers), term=term)


def newfiles(rows):
    """Connect-to-OK for files no writer has open yet, per server."""
    if not rows:
        return
    by = group(rows, "server")
    print("\n### Connect-to-OK for a new file, one after another"
          " (isolation_bench --disturb newfiles)\n")
    print("| server | probes (median) | p50 | p99 | p50 per round |"
          " p50 / Python's | p99 / Python's |")
    print("|---|---|---|---|---|---|---|")
    py = by.get("python", [])
    py50 = median([num(r, "p50_us") for r in py])
    py99 = median([num(r, "p99_us") for r in py])
    for server, rs in by.items():
        p50 = median([num(r, "p50_us") for r in rs])
        p99 = median([num(r, "p99_us") for r in rs])
        rounds = ", ".join(us(num(r, "p50_us")) for r in rs)
        n = median([num(r, "probes") for r in rs])
        print(f"| {server} | {n:.0f} | {us(p50)} | {us(p99)} | {rounds} |"
              f" {ratio(p50, py50)} | {ratio(p99, py99)} |")


def main():
    out = sys.argv[1]
    loads = [line.strip().split(",", 1) for line in
             open(os.path.join(out, "loadavg.csv"))] if os.path.exists(
                 os.path.join(out, "loadavg.csv")) else []
    if loads:
        print("Load average (1, 5, 15 min) and CPU busy over 1 s with no"
              " benchmark process running, at the start of each round: " +
              "; ".join(f"{'round ' + r if r != 'end' else 'end'}: {l}"
                        for r, l in loads) + "\n")
    isolation(read(os.path.join(out, "isolation.csv")))
    scale(read(os.path.join(out, "scale.csv")),
          read(os.path.join(out, "forks.csv")))
    newfiles_csv = os.path.join(out, "newfiles.csv")
    if os.path.exists(newfiles_csv):
        newfiles(read(newfiles_csv))
    plots(out, read(os.path.join(out, "isolation.csv")),
          read(os.path.join(out, "scale.csv")))


if __name__ == "__main__":
    main()
