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


def main():
    out_dir = sys.argv[1]
    rows = read(os.path.join(out_dir, "results.csv"))
    machine_runs = {}
    for r in read(os.path.join(out_dir, "machine.csv")):
        machine_runs.setdefault(r["mode"], []).append(r)
    machine = [merge(rs) for rs in machine_runs.values()]
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
    with open(os.path.join(out_dir, "summary.md"), "w") as f:
        f.write("\n".join(lines) + "\n")
    print("\n".join(lines))
    plots(out_dir, table, machine)


if __name__ == "__main__":
    main()
