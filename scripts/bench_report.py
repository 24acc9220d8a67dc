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
"""

import argparse
import json
import socket
import statistics


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
    args = parser.parse_args()
    args.run(args)


if __name__ == "__main__":
    main()
