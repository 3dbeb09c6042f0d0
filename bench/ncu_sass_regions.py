#!/usr/bin/env python3
"""Where a kernel's warps spend their time, per stretch of SASS: reads ncu's per-instruction source page
and prints the stall reasons over the kernel, the straight-line regions (consecutive instructions
executed equally often) with their instructions per unit of work and their share of the stall samples,
and the instructions that hold the most samples.

The source page comes from a report taken with source counters, e.g. (bench/README.md, v8-v11):
  ncu -k regex:flash_fwd_sm90 --launch-skip 3 --launch-count 1 --set full --import-source yes -o win \\
      ./build/attnscope_gpu_bench --cases gpt-oss-20b_n4096_d64_window128_sinks --impls sink --min-ms 1
  ncu -i win.ncu-rep --page source --csv --print-source sass > win_sass.csv

  python3 bench/ncu_sass_regions.py win_sass.csv[.gz] --per 16384   # 16384 = consumer warp-items
"""
import argparse
import collections
import csv
import gzip
import io
import sys


def read_rows(path):
    """(offset, executed, samples, sass text, {stall reason: samples}) per instruction."""
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rt", newline="") as f:
        lines = f.read().splitlines()
    # The page starts with the kernel's name on a line of its own, then the header.
    start = next((i for i, l in enumerate(lines) if l.startswith('"Address"')), None)
    if start is None:
        raise ValueError(f"{path}: no \"Address\" header line (not an ncu --page source --csv file)")
    reader = csv.reader(io.StringIO("\n".join(lines[start:])))
    header = next(reader)
    col = {h: i for i, h in enumerate(header)}
    for need in ("Address", "Source", "# Samples", "Instructions Executed"):
        if need not in col:
            raise ValueError(f"{path}: column {need!r} missing from the header")
    stalls = [h for h in header if h.startswith("stall_") and "Not Issued" not in h]
    rows, base = [], None
    for r in reader:
        if len(r) < len(header):
            continue
        addr = int(r[col["Address"]], 16)
        base = addr if base is None else base
        num = lambda h: int(r[col[h]] or 0)
        rows.append((addr - base, num("Instructions Executed"), num("# Samples"), r[col["Source"]].strip(),
                     {h[len("stall_"):]: num(h) for h in stalls}))
    return rows


def regions(rows):
    """Consecutive executed instructions with the same execution count."""
    out = []
    for off, execd, samples, text, _ in rows:
        if execd == 0:
            continue
        if out and out[-1]["executed"] == execd:
            g = out[-1]
            g["n"] += 1
            g["samples"] += samples
            g["end"] = off
        else:
            out.append({"start": off, "end": off, "executed": execd, "n": 1, "samples": samples})
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("csv", help="ncu --page source --csv --print-source sass output (.gz allowed)")
    ap.add_argument("--per", type=float, default=1.0,
                    help="units of work to divide instruction counts by (e.g. warp-items)")
    ap.add_argument("--min-share", type=float, default=0.5, help="smallest region shown, %% of samples")
    ap.add_argument("--top", type=int, default=15, help="instructions with the most samples to list")
    a = ap.parse_args(argv)
    try:
        rows = read_rows(a.csv)
    except (OSError, ValueError) as e:
        print(f"ncu_sass_regions: {e}", file=sys.stderr)
        return 2
    total = sum(r[2] for r in rows)
    executed = sum(r[1] for r in rows)
    if total == 0:
        print(f"ncu_sass_regions: {a.csv}: no stall samples (was the report taken with source counters?)",
              file=sys.stderr)
        return 2
    reasons = collections.Counter()
    for r in rows:
        reasons.update(r[4])
    print(f"{len(rows)} instructions, {executed} executed ({executed / a.per:.1f} per unit), {total} samples")
    print("stall reasons: " + ", ".join(f"{k} {100 * v / total:.1f}%" for k, v in reasons.most_common(9) if v))
    print(f"\n{'region':>13} {'runs/unit':>9} {'instr':>6} {'instr/unit':>10} {'samples':>8}")
    for g in regions(rows):
        share = 100 * g["samples"] / total
        if share >= a.min_share:
            print(f"{g['start']:05x}-{g['end']:05x} {g['executed'] / a.per:9.2f} {g['n']:6d} "
                  f"{g['n'] * g['executed'] / a.per:10.1f} {g['samples']:6d} {share:4.1f}%")
    print(f"\ninstructions with the most samples:")
    for off, execd, samples, text, st in sorted(rows, key=lambda r: -r[2])[:a.top]:
        why = ", ".join(f"{k} {v}" for k, v in sorted(st.items(), key=lambda kv: -kv[1])[:2] if v)
        print(f"{off:05x} {samples:6d}  {text[:60]:60s} {why}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
