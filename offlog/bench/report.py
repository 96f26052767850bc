#!/usr/bin/env python3
"""Turns run.sh's results.csv and machine.csv into summary.md and PNG plots.

Usage: report.py OUT_DIR
"""
import csv
import os
import subprocess
import sys


def read(path):
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return list(csv.DictReader(f))


def num(row, key):
    try:
        return float(row[key])
    except (KeyError, TypeError, ValueError):
        return 0.0


def ratio(a, b):
    return f"{a / b:.2f}x" if a and b else "n/a"


def median(values):
    values = sorted(values)
    n = len(values)
    return values[n // 2] if n % 2 else (values[n // 2 - 1] + values[n // 2]) / 2


def merge(rows):
    """One row whose numeric columns are the medians over `rows`."""
    out = dict(rows[0])
    for key in out:
        try:
            vals = [float(r[key]) for r in rows]
        except (TypeError, ValueError):
            continue
        m = median(vals)
        out[key] = f"{m:.3f}".rstrip("0").rstrip(".") if m % 1 else str(int(m))
    out["runs"] = str(len(rows))
    return out


def by_label(rows):
    groups = {}
    for r in rows:
        groups.setdefault(r["label"], {}).setdefault(r["server"], []).append(r)
    return {label: {s: merge(rs) for s, rs in servers.items()}
            for label, servers in groups.items()}


def fmt(v, digits=0):
    return f"{v:,.{digits}f}"


def defects(r):
    if r is None:
        return ""
    return (f"{r['errors']}/{r['missing'] or '-'}/{r['torn'] or '-'}")


def throughput_table(table, labels):
    out = ["| scenario | offlogd rec/s | python rec/s | ratio | offlogd MB/s | "
           "python MB/s | offlogd server CPU us/rec | python server CPU us/rec "
           "| CPU ratio | client CPU us/rec (offlogd/python) | "
           "errors/missing/torn (offlogd; python) |",
           "|---" * 11 + "|"]
    for label in labels:
        o, p = table[label].get("offlogd"), table[label].get("python")
        g = lambda r, k: num(r, k) if r else 0.0
        out.append(
            f"| {label} | {fmt(g(o, 'records_per_s'))} | "
            f"{fmt(g(p, 'records_per_s'))} | "
            f"{ratio(g(o, 'records_per_s'), g(p, 'records_per_s'))} | "
            f"{fmt(g(o, 'mb_per_s'), 1)} | {fmt(g(p, 'mb_per_s'), 1)} | "
            f"{fmt(g(o, 'server_cpu_us_per_record'), 3)} | "
            f"{fmt(g(p, 'server_cpu_us_per_record'), 3)} | "
            f"{ratio(g(o, 'server_cpu_us_per_record'), g(p, 'server_cpu_us_per_record'))} | "
            f"{fmt(g(o, 'client_cpu_us_per_record'), 2)} / "
            f"{fmt(g(p, 'client_cpu_us_per_record'), 2)} | "
            f"{defects(o)}; {defects(p)} |")
    return out


def latency_table(table, labels):
    out = ["| scenario | server | send p50 us | p99 | p99.9 | max | "
           "stalled client: records sent, send p50 us, max us, gave up |",
           "|---" * 7 + "|"]
    for label in labels:
        for server, r in sorted(table[label].items()):
            out.append(
                f"| {label} | {server} | {r['send_p50_us']} | "
                f"{r['send_p99_us']} | {r['send_p999_us']} | "
                f"{r['send_max_us']} | {r['stalled_records']}, "
                f"{r['stalled_send_p50_us']}, {r['stalled_send_max_us']}, "
                f"{r['stalled_gave_up']} |")
    return out


def connect_table(table, labels):
    out = ["| scenario | server | clients | connect p50 us | p99 | max | "
           "server RSS before KiB | peak KiB | KiB per connection | "
           "processes | errors |",
           "|---" * 11 + "|"]
    for label in labels:
        for server, r in sorted(table[label].items()):
            grow = num(r, "server_peak_rss_kb") - num(r, "server_rss_before_kb")
            per = grow / num(r, "clients") if num(r, "clients") and grow else 0
            out.append(
                f"| {label} | {server} | {r['clients']} | "
                f"{r['connect_p50_us']} | {r['connect_p99_us']} | "
                f"{r['connect_max_us']} | {r['server_rss_before_kb']} | "
                f"{r['server_peak_rss_kb']} | {per:.1f} | "
                f"{r['server_procs']} | {r['errors']} |")
    return out


def isolation_lines(table):
    out = []
    for server in ("offlogd", "python"):
        a = table.get("s4-nostall", {}).get(server)
        b = table.get("s4-stall", {}).get(server)
        if a and b:
            out.append(
                f"- {server}: healthy files {fmt(num(a, 'records_per_s'))} "
                f"rec/s without a stall, {fmt(num(b, 'records_per_s'))} with "
                f"one file stalled ({ratio(num(b, 'records_per_s'), num(a, 'records_per_s'))}"
                f"); healthy clients that gave up: {b['gave_up']}.")
    return out


VARIANTS = ("offlogd", "offlogd-noatomic", "offlogd-nopeek")


def feature_table(table):
    out = ["| scenario | " + " | ".join(
        f"{v} rec/s | {v} server CPU us/rec" for v in VARIANTS) + " |",
        "|---" * (1 + 2 * len(VARIANTS)) + "|"]
    for label, servers in table.items():
        if not any(v in servers for v in VARIANTS[1:]):
            continue
        cells = []
        for v in VARIANTS:
            r = servers.get(v)
            cells += [fmt(num(r, "records_per_s")) if r else "",
                      fmt(num(r, "server_cpu_us_per_record"), 3) if r else ""]
        out.append(f"| {label} | " + " | ".join(cells) + " |")
    return out


def machine_table(rows):
    out = ["| mode | size | MB/s | calls | p50 us | p99 us | max us | "
           "mean us | note |", "|---" * 9 + "|"]
    for r in rows:
        out.append(f"| {r['mode']} | {r['size']} | {r['mb_per_s']} | "
                   f"{r['calls']} | {r['p50_us']} | {r['p99_us']} | "
                   f"{r['max_us']} | {r['mean_us']} | {r['note']} |")
    return out


def write_dat(path, labels, table, key, servers):
    with open(path, "w") as f:
        f.write("label " + " ".join(servers) + "\n")
        for label in labels:
            vals = [str(num(table[label].get(s), key)) if table[label].get(s)
                    else "0" for s in servers]
            f.write(label + " " + " ".join(vals) + "\n")


GNUPLOT = """
set terminal {term} size 900,500
set style data histogram
set style histogram cluster gap 1
set style fill solid border -1
set key top left
set xtics rotate by -30
set grid ytics
"""


def plot(out_dir, name, title, ylabel, dat, ncols, logscale=False, term=None):
    script = GNUPLOT.format(term=term) + f"""
set output '{out_dir}/{name}.png'
set title '{title}'
set ylabel '{ylabel}'
{"set logscale y" if logscale else ""}
plot for [i=2:{ncols + 1}] '{dat}' using i:xtic(1) title columnheader
"""
    subprocess.run(["gnuplot"], input=script, text=True, check=False)


def terminal():
    probe = subprocess.run(["gnuplot", "-e", "set terminal pngcairo"],
                           capture_output=True, text=True)
    return "pngcairo" if probe.returncode == 0 and not probe.stderr else "png"


def plots(out_dir, table, machine):
    servers = [s for s in ("offlogd", "python")
               if any(s in v for v in table.values())]
    if not servers:
        return
    term = terminal()
    s1 = [l for l in table if l.startswith("s1-")]
    s2 = [l for l in table if l.startswith("s2-")]
    s3 = [l for l in table if l.startswith("s3-")]
    d = lambda n: os.path.join(out_dir, n + ".dat")
    write_dat(d("throughput"), s1, table, "records_per_s", servers)
    plot(out_dir, "throughput", "100-byte records: records/s", "records/s",
         d("throughput"), len(servers), term=term)
    write_dat(d("cpu"), s1 + s2, table, "server_cpu_us_per_record", servers)
    plot(out_dir, "cpu", "Server CPU per record (acceptor + writers)",
         "us/record", d("cpu"), len(servers), logscale=True, term=term)
    with open(d("bandwidth"), "w") as f:
        f.write("label " + " ".join(servers) + "\n")
        for label in s2:
            f.write(label + " " + " ".join(
                str(num(table[label].get(s), "mb_per_s")) for s in servers)
                + "\n")
        for r in machine:
            if r["mode"] in ("write", "relay", "splice"):
                f.write(f"machine-{r['mode']} " +
                        " ".join([r["mb_per_s"]] * len(servers)) + "\n")
    plot(out_dir, "bandwidth", "64 KiB writes: MB/s (machine rows: one "
         "process, same file system)", "MB/s", d("bandwidth"), len(servers),
         term=term)
    with open(d("latency"), "w") as f:
        f.write("label " + " ".join(f"{s}-p50 {s}-p99" for s in servers)
                + "\n")
        for label in s3:
            vals = []
            for s in servers:
                r = table[label].get(s)
                stalled = label.endswith("stalled")
                vals += [str(max(0.01, num(r, "stalled_send_p50_us" if stalled
                                          else "send_p50_us"))),
                         str(max(0.01, num(r, "stalled_send_max_us" if stalled
                                          else "send_p99_us")))]
            f.write(label + " " + " ".join(vals) + "\n")
        for r in machine:
            if r["mode"] in ("send", "append", "fifo"):
                f.write(f"machine-{r['mode']} " + " ".join(
                    [r["p50_us"], r["p99_us"]] * len(servers)) + "\n")
    plot(out_dir, "latency", "Client send() latency, 1 client at 20k rec/s "
         "(stalled: p50 and max)", "us", d("latency"), 2 * len(servers),
         logscale=True, term=term)


# Issue 12: offlogd against epoll_baseline and the one-process relay.
E12_CPU = (("e12-c8-f1", "100 B, 8 clients, 1 file", 1.1),
           ("e12-c8-f8", "100 B, 8 clients, 8 files", 1.1),
           ("e12-c64-f64", "100 B, 64 clients, 64 files", 1.3))
E12_MB = (("e12-64k-c8-f8", "64 KiB, 8 clients, 8 files", 1.0),
          ("e12-64k-c8-f1", "64 KiB, 8 clients, 1 file", 0.8))


def e12_rounds(rows, label, server):
    return [r for r in rows if r["label"] == label and r["server"] == server]


def e12_lines(rows, machine_rows):
    """Medians and every round of issue 12's comparison, or [] if not run."""
    if not any(r["label"].startswith("e12-") for r in rows):
        return []
    relay = [num(r, "mb_per_s") for r in machine_rows
             if r["label"].startswith("e12-r") and r["mode"] == "relay"]
    out = ["## Server CPU against a minimal epoll server (issue 12)", "",
           "Server CPU us per 100-byte record; medians over the rounds, and "
           "the median of the per-round ratios.", "",
           "| scenario | epoll_baseline | offlogd | ratio of medians | "
           "median of round ratios | target | rounds (epoll/offlogd = ratio) |",
           "|---" * 7 + "|"]
    key = "server_cpu_us_per_record"
    for label, name, target in E12_CPU:
        e = [num(r, key) for r in e12_rounds(rows, label, "epoll")]
        o = [num(r, key) for r in e12_rounds(rows, label, "offlogd")]
        if not e or not o:
            continue
        per = [(a, b) for a, b in zip(e, o)]
        rr = [b / a for a, b in per if a]
        out.append(
            f"| {name} | {median(e):.3f} | {median(o):.3f} | "
            f"{ratio(median(o), median(e))} | "
            f"{median(rr):.2f}x | <= {target}x | "
            + ", ".join(f"{a:.2f}/{b:.2f} = {b / a:.2f}x" if a else "n/a"
                        for a, b in per) + " |")
    out += ["", "64 KiB records: MB/s, against the one-process `recv()`+"
            "`write()` relay of the same round (`disk_baseline --mode relay`)"
            " and against epoll_baseline.", "",
            "| scenario | relay MB/s | epoll_baseline MB/s | offlogd MB/s | "
            "offlogd / relay | offlogd / epoll | target (of relay) | "
            "offlogd server CPU us per 64 KiB (epoll) | "
            "rounds (relay/epoll/offlogd) |", "|---" * 9 + "|"]
    for label, name, target in E12_MB:
        e = e12_rounds(rows, label, "epoll")
        o = e12_rounds(rows, label, "offlogd")
        if not e or not o:
            continue
        em = [num(r, "mb_per_s") for r in e]
        om = [num(r, "mb_per_s") for r in o]
        rounds = ", ".join(
            f"{relay[i]:,.0f}/{em[i]:,.0f}/{om[i]:,.0f}"
            if i < len(relay) else f"-/{em[i]:,.0f}/{om[i]:,.0f}"
            for i in range(min(len(em), len(om))))
        out.append(
            f"| {name} | {fmt(median(relay)) if relay else 'n/a'} | "
            f"{fmt(median(em))} | {fmt(median(om))} | "
            f"{ratio(median(om), median(relay)) if relay else 'n/a'} | "
            f"{ratio(median(om), median(em))} | >= {target}x | "
            f"{median([num(r, key) for r in o]):.0f} "
            f"({median([num(r, key) for r in e]):.0f}) | {rounds} |")
    bad = [r for r in rows if r["label"].startswith("e12-")
           and (num(r, "errors") or num(r, "missing") or num(r, "torn"))]
    out += ["", f"Runs with errors, missing or torn records: {len(bad)}"
            + (": " + ", ".join(f"{r['label']} on {r['server']}" for r in bad)
               if bad else ".")]
    return out


def main():
    out_dir = sys.argv[1]
    rows = read(os.path.join(out_dir, "results.csv"))
    machine_rows = read(os.path.join(out_dir, "machine.csv"))
    machine_runs = {}
    for r in machine_rows:
        if r["label"].startswith("e12-"):
            continue
        machine_runs.setdefault(r["mode"], []).append(r)
    machine = [merge(rs) for rs in machine_runs.values()]
    e12 = e12_lines(rows, machine_rows)
    rows = [r for r in rows if not r["label"].startswith("e12-")]
    table = by_label(rows)
    labels = list(table)
    lines = ["# offlog benchmark summary", "",
             "Medians of each column over the runs of each scenario.", "",
             "## Throughput and server CPU", ""]
    lines += throughput_table(
        table, [l for l in labels if l.startswith(("s1-", "s2-", "s4-n"))])
    lines += ["", "## Machine limits (same run)", ""] + machine_table(machine)
    lines += ["", "## Cost of offlogd's safety features", ""]
    lines += feature_table(table)
    lines += ["", "## Latency (scenario 3)", ""]
    lines += latency_table(table, [l for l in labels if l.startswith("s3-")])
    lines += ["", "## Isolation (scenario 4)", ""] + isolation_lines(table)
    lines += [""] + connect_table(
        table, [l for l in labels if l.startswith(("s4-", "s5-"))])
    if e12:
        lines += [""] + e12
    if not rows:  # run.sh --epoll-only
        lines = ["# offlog benchmark summary", ""] + e12
    with open(os.path.join(out_dir, "summary.md"), "w") as f:
        f.write("\n".join(lines) + "\n")
    print("\n".join(lines))
    if rows:
        plots(out_dir, table, machine)


if __name__ == "__main__":
    main()
