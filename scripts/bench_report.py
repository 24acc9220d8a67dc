#!/usr/bin/env python3
"""scripts/bench's Python side, one subcommand per job.

Inputs: a free port, the big manifest, the rko share of a Bazel profile.
Summaries: the medians and the ratios the README quotes.

Results files are lines of "NAME VALUE..." appended by scripts/bench, one
line per run.

    bench_report.py free-port
    bench_report.py yaml-input DIR
    bench_report.py bazel-profile PROFILE.json
    bench_report.py layer|push|big-push|build|crane|resolve|bazel RESULTS
    bench_report.py measure RESULTS NAME LOG -- COMMAND...
    bench_report.py ko|far RESULTS
"""

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import time


def free_port(_args):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    print(s.getsockname()[1])


def yaml_input(args):
    """DIR/big.yaml, ~10 MB in 1,000 documents with one ko:// reference each,
    and DIR/big-images.json mapping every reference to a digest."""
    docs, images = [], {}
    for i in range(1000):
        ip = f"example.com/app/cmd/svc{i}"
        images[ip] = f"registry.example/svc{i}@sha256:{i:064x}"
        data = "\n".join(f"    key{j}: \"value {j} of document {i}, padded to look like real configuration\"" for j in range(122))
        docs.append(f"# document {i}\napiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: svc{i}\n"
                    f"spec:\n  template:\n    spec:\n      containers:\n        - name: c\n          image: ko://{ip}\n  data:\n{data}\n")
    with open(f"{args.dir}/big.yaml", "w") as f:
        f.write("---\n".join(docs))
    with open(f"{args.dir}/big-images.json", "w") as f:
        json.dump(images, f)


def bazel_profile(args):
    """The time Bazel spent running rko's actions: their progress messages
    start with their mnemonic, RkoLayer, RkoAppend, ..."""
    with open(args.profile) as f:
        events = json.load(f)
    events = events["traceEvents"] if isinstance(events, dict) else events
    total = sum(e.get("dur", 0) for e in events if e.get("cat") == "action processing" and str(e.get("name", "")).startswith("Rko"))
    print(f"bazel-rko-actions {total // 1000}")


def runs_by_name(path):
    """{name: [(value, ...) per run]}, names in the order they first appear."""
    rows = {}
    with open(path) as f:
        for line in f:
            name, *values = line.split()
            rows.setdefault(name, []).append(tuple(int(v) for v in values))
    return rows


def medians(rows, column=0):
    return {name: statistics.median(v[column] for v in values) for name, values in rows.items()}


def ratio(block, a, b):
    """How many times as fast row a is as row b, and a's size over b's."""
    ta, tb = float(block[a][1]), float(block[b][1])
    sa, sb = int(block[a][3]), int(block[b][3])
    return tb / ta, sa / sb


def layer(args):
    # Names have spaces ("tar | gzip -1"): the last three fields are the
    # numbers.
    with open(args.results) as f:
        rows = [l.rsplit(" ", 3) for l in f.read().splitlines()]
    # Results come in blocks: binary (3 rows), tree (3 + levels), 1 GB (2).
    for title, block in (("Go binary", rows[0:3]), ("mixed tree", rows[3:6])):
        gz_speed, gz_size = ratio(block, 0, 1)
        pz_speed, pz_size = ratio(block, 0, 2)
        print(f"{title}: rko is {gz_speed:.2f}x as fast as tar|gzip -1 and {pz_speed:.2f}x as fast as tar|pigz -1;"
              f" output size {pz_size:.3f}x pigz -1's")
    big = rows[-2]
    print(f"1 GB tree: rko peak RSS {int(big[2]) / 1024:.1f} MB")


def push(args):
    rows = runs_by_name(args.results)
    ms, reqs = medians(rows, 0), medians(rows, 1)
    print(f"{'tool':<18} {'wall':>8} {'requests':>9}")
    for name in rows:
        print(f"{name:<18} {ms[name]:>6.0f} ms {reqs[name]:>9.0f}")
    print(f"first push: rko is {ms['skopeo-copy'] / ms['rko-push']:.2f}x as fast as skopeo copy;"
          f" re-push: {ms['rko-re-push']:.0f} ms ({ms['skopeo-re-copy'] / ms['rko-re-push']:.2f}x as fast as skopeo)")


def big_push(args):
    runs = runs_by_name(args.results)
    print(f"{'tool':<8} {'wall':>21} {'peak RSS':>10}")
    walls = {}
    for tool in ("rko", "crane", "skopeo"):
        walls[tool] = med_min([r[0] for r in runs[tool]])
        kb = max(r[1] for r in runs[tool])
        print(f"{tool:<8} {walls[tool][0]:>7.0f} ms (min {walls[tool][1]:>5.0f}) {kb / 1024:>7.1f} MB")
    print(f"first push: rko is {walls['crane'][0] / walls['rko'][0]:.2f}x as fast as crane push"
          f" and {walls['skopeo'][0] / walls['rko'][0]:.2f}x as fast as skopeo copy")


def build(args):
    m = medians(runs_by_name(args.results))
    print(f"{'step':<14} {'rko build':>10} {'go build':>10}")
    for step in ("cold", "warm", "noop", "change"):
        print(f"{step:<14} {m['rko-' + step]:>7.0f} ms {m['go-' + step]:>7.0f} ms")
    print(f"crane-style pipeline (go build, tar|gzip, append, push): {m['pipeline']:.0f} ms;"
          f" rko build after a change is {m['pipeline'] / m['rko-change']:.2f}x as fast")
    print(f"no-op rebuild: {m['rko-noop']:.0f} ms against a target of 1.2 x {m['go-noop']:.0f} + 50 = {1.2 * m['go-noop'] + 50:.0f} ms")
    print(f"one-line change: {m['rko-change']:.0f} ms against a target of {m['go-change']:.0f} + 150 = {m['go-change'] + 150:.0f} ms")


def med_min(values):
    return statistics.median(values), min(values)


def crane(args):
    runs = runs_by_name(args.results)
    rows = (("one-line change, pushed", "change"), ("10 commands, shared package changed", "ten"))
    print(f"{'':<36} {'rko build':>20} {'crane pipelines':>20} {'go build alone':>20}")
    for label, key in rows:
        cells = [med_min([r[0] for r in runs[f"{tool}-{key}"]]) for tool in ("rko", "crane", "go")]
        print(f"{label:<36} " + " ".join(f"{m:>7.0f} ms (min {n:>5.0f})" for m, n in cells))
        print(f"{'':<36} rko is {cells[1][0] / cells[0][0]:.2f}x as fast as crane; go build + {cells[0][0] - cells[2][0]:.0f} ms")


def resolve(args):
    runs = runs_by_name(args.results)
    (rm, rn), (gm, gn) = (med_min([r[0] for r in runs[k]]) for k in ("rko-noop", "go-noop"))
    print(f"rko resolve, no-op          {rm:>7.0f} ms (min {rn:.0f})")
    print(f"10 go build no-ops          {gm:>7.0f} ms (min {gn:.0f})")
    print(f"rko is {gm / rm:.1f}x as fast as the go build no-ops alone")


def jobs(args):
    runs = runs_by_name(args.results)
    (am, an), (bm, bn) = (med_min([r[0] for r in runs[k]]) for k in ("jobs-2", "jobs-8"))
    print(f"--jobs 2                    {am:>7.0f} ms (min {an:.0f})")
    print(f"--jobs 8                    {bm:>7.0f} ms (min {bn:.0f})")
    print(f"8 transfers at a time are {am / bm:.2f}x as fast as 2")


def bazel(args):
    m = medians(runs_by_name(args.results))
    print(f"bazel build //:image_amd64  {m['bazel']:>6.0f} ms  (of which rko actions {m['bazel-rko-actions']:.0f} ms)")
    print(f"make                        {m['make']:>6.0f} ms")
    print(f"rko build --push=false      {m['rko-build']:>6.0f} ms")


# ---- rko beside the real ko (scripts/bench ko, far) -------------------------


def vm_hwm_kb(pid):
    """The process's own peak RSS so far (VmHWM), or 0 once it has exited."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return 0


def measure(args):
    """Runs COMMAND once, its output to LOG, and appends "NAME MS OWN_KB
    TREE_KB" to RESULTS: wall milliseconds; the peak RSS of the process
    itself (its VmHWM, read every 2 ms until it exits: growth in its last
    2 ms can be missed); and the largest peak RSS of it or any process it
    started (the rusage wait4 returns, what GNU time's %M reports), which
    for a build is usually the Go linker's; Linux counts the forked Python
    before the exec in it too, so it never reads below this script's ~16 MB.
    Exits 1 if COMMAND fails."""
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    with open(args.log, "wb") as log:
        start = time.monotonic()
        proc = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
        own = 0
        while True:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            own = max(own, vm_hwm_kb(proc.pid))
            time.sleep(0.002)
        ms = round((time.monotonic() - start) * 1000)
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        with open(args.log, errors="replace") as f:
            tail = f.read()[-3000:]
        sys.exit(f"error: {args.name} failed (exit {proc.returncode}): {' '.join(command)}\n{tail}")
    with open(args.results, "a") as f:
        f.write(f"{args.name} {ms} {own} {usage.ru_maxrss}\n")


def med(runs, key, column=0):
    return statistics.median(r[column] for r in runs[key])


def peak(runs, key, column):
    return max(r[column] for r in runs[key])


def fmt_ms(ms):
    return f"{ms:,.0f} ms"


def fmt_mb(kb):
    return f"{kb / 1024:.0f}"


def ratio_row(runs, label, key, goal, other="ko"):
    """One table row: rko's median, the other tool's, how many times as fast
    rko is, the goal (a ratio) and whether it is met; then peak RSS."""
    r, o = med(runs, f"{key}:rko"), med(runs, f"{key}:{other}")
    x = o / r
    met = "-" if goal is None else ("yes" if x >= goal else "MISSED")
    goal_text = "-" if goal is None else f">= {goal}x"
    rss = (f"{fmt_mb(peak(runs, f'{key}:rko', 1))}/{fmt_mb(peak(runs, f'{key}:rko', 2))}"
           f" vs {fmt_mb(peak(runs, f'{key}:{other}', 1))}/{fmt_mb(peak(runs, f'{key}:{other}', 2))}")
    rss_met = "yes" if peak(runs, f"{key}:rko", 1) <= peak(runs, f"{key}:{other}", 1) else "MISSED"
    print(f"{label:<58} {fmt_ms(r):>10} {fmt_ms(o):>10} {x:>6.2f}x {goal_text:>8} {met:>7}  {rss:>18} {rss_met:>6}")
    return r, o, x


def table_header(other="ko"):
    print(f"{'':<58} {'rko':>10} {other:>10} {'ratio':>7} {'goal':>8} {'met':>7}  {'peak RSS MB':>18} {'RSS met':>6}")


KO_ROWS = (
    ("cold-1", "cold: fresh rko cache, warm Go cache, 1 image", 1.3),
    ("cold-deps", "cold: fresh rko and Go caches, examples/deps", 1.1),
    ("noop-build", "no-op build, 1 image", 10),
    ("noop-resolve-10", "no-op resolve, 10 commands x 300 packages", 20),
    ("change-resolve-10", "one-line change in the package all 10 import, resolve", 3),
    ("platforms-2", "one-line change, 2 platforms (amd64, arm64), 1 command", 1.5),
)


def sizes_of(runs, prefix):
    return sorted({int(k.split(":")[0][len(prefix):]) for k in runs if k.startswith(prefix)})


def ko(args):
    """scripts/bench ko: every row's medians, ratio, goal; peak RSS as
    "own/tree" (the tool's process / the largest of it and its children)."""
    runs = runs_by_name(args.results)
    table_header()
    for key, label, goal in KO_ROWS:
        ratio_row(runs, label, key, goal)
        if key == "cold-deps":
            g, r, o = med(runs, "cold-deps:go"), med(runs, "cold-deps:rko"), med(runs, "cold-deps:ko")
            print(f"{'':<4}go build alone (fresh Go cache): {fmt_ms(g)}, {100 * g / r:.0f}% of rko's time,"
                  f" {100 * g / o:.0f}% of ko's")
    print("\nscaling: resolve of N commands x 300 packages (goals at 1,000: no-op <= 1 s, >= 20x ko,"
          " rko RSS <= 64 MB; cold >= 3x ko)")
    table_header()
    for kind, label, goal in (("noop", "no-op resolve", 20), ("cold", "cold resolve (fresh rko cache, warm Go)", 3)):
        prev = None
        for n in sizes_of(runs, f"{kind}-resolve-"):
            r, o, _ = ratio_row(runs, f"{label}, {n:,} commands", f"{kind}-resolve-{n}", goal if n >= 1000 else None)
            if prev:
                pn, pr, po = prev
                print(f"{'':<4}x{n / pn:.0f} commands: rko x{r / pr:.1f} time, ko x{o / po:.1f} time;"
                      f" rko peak RSS x{peak(runs, f'{kind}-resolve-{n}:rko', 1) / peak(runs, f'{kind}-resolve-{pn}:rko', 1):.2f}")
            if kind == "noop" and n >= 1000:
                kb = peak(runs, f"noop-resolve-{n}:rko", 1)
                print(f"{'':<4}no-op at {n:,}: {fmt_ms(r)} (goal <= 1,000 ms: {'yes' if r <= 1000 else 'MISSED'});"
                      f" rko peak RSS {kb / 1024:.0f} MB (goal <= 64 MB: {'yes' if kb <= 65536 else 'MISSED'})")
            prev = (n, r, o)


def far(args):
    """scripts/bench far: rko beside ko (and crane for the big push) with the
    registry 20 and 50 ms away."""
    runs = runs_by_name(args.results)
    table_header()
    r, _, _ = ratio_row(runs, "one-line change, pushed, 20 ms", "change-20", None)
    g = med(runs, "change-20:go")
    print(f"{'':<4}go build alone {fmt_ms(g)}; rko is go build + {fmt_ms(r - g)}"
          f" (goal <= go build + 150 ms = {fmt_ms(g + 150)}: {'yes' if r <= g + 150 else 'MISSED'})")
    ratio_row(runs, "one-line change, pushed, 50 ms", "change-50", 2)
    ratio_row(runs, "10 commands, shared package changed, 20 ms", "ten-20", 3.5)
    print()
    table_header("crane")
    for ms in (20, 50):
        if f"big-{ms}:rko" in runs:
            ratio_row(runs, f"first push of a 200 MB image, {ms} ms", f"big-{ms}", 1, other="crane")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("free-port", help="a free loopback TCP port").set_defaults(run=free_port)
    p = commands.add_parser("yaml-input", help="write big.yaml and big-images.json into DIR")
    p.add_argument("dir")
    p.set_defaults(run=yaml_input)
    p = commands.add_parser("bazel-profile", help="print 'bazel-rko-actions MS' from a JSON profile")
    p.add_argument("profile")
    p.set_defaults(run=bazel_profile)
    for name, run in (("layer", layer), ("push", push), ("big-push", big_push), ("build", build), ("crane", crane),
                      ("resolve", resolve), ("bazel", bazel), ("jobs", jobs)):
        p = commands.add_parser(name, help=f"summarize scripts/bench {name}'s results")
        p.add_argument("results")
        p.set_defaults(run=run)
    for name, run in (("ko", ko), ("far", far)):
        p = commands.add_parser(name, help=f"summarize scripts/bench {name}'s rko-beside-ko results")
        p.add_argument("results")
        p.set_defaults(run=run)
    p = commands.add_parser("measure", help="run a command; append NAME MS OWN_KB TREE_KB to RESULTS")
    p.add_argument("results")
    p.add_argument("name")
    p.add_argument("log")
    p.add_argument("command", nargs=argparse.REMAINDER)
    p.set_defaults(run=measure)
    args = parser.parse_args()
    args.run(args)


if __name__ == "__main__":
    main()
