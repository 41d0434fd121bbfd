"""Benchmark: what calibration at every pseudo-event date costs, against a study with it off.

    .venv/bin/python benchmarks/bench_calibration.py [--prices DIR] [--factors FILE] [--rounds 3]
    .venv/bin/python benchmarks/bench_calibration.py --smoke     (CI: one event, a few draws)

Each run is ``python -m analysis study`` in a new process (as a user runs it) on the full
catalog, into a temporary folder removed afterwards, alternately (interleaved rounds, so a
change in the machine's load hits both alike):

- ``off``: ``--calibration-draws 0`` (the placebo's 1,000 pseudo-dates per event still run:
  only the calibration is off);
- ``all``: ``--calibration-draws all`` (the default: every test at every available pseudo-date).

Printed per run: wall seconds, CPU seconds (user + system of that process, from ``os.wait4``),
its peak resident memory (ru_maxrss) and the load average before it. Last line:

    calibration: all X s, off Y s (medians of wall); ratio Z (CPU ratio C); peak P GiB

The issue's target (22): ratio at most 2 and peak at most 1.5 GiB. Both runs' CSVs are
compared (``compare_study.compare_frames``): the calibration must not change any column the
``off`` run also writes but p_calibrated, size_5pct and calibration_draws, and the oversized
flags read from them.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def run_study(args, out: Path, draws: str, extra: list[str]) -> dict:
    """One study in a new process; its wall and CPU seconds and peak memory (GiB)."""
    cmd = [sys.executable, "-m", "analysis", "study", "--prices", args.prices, "--out", str(out), "--quiet",
           "--calibration-draws", draws] + extra
    cmd += ["--factors", args.factors] if args.factors else []
    load = os.getloadavg()[0]
    t0 = time.monotonic()
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.monotonic() - t0
    err = proc.stderr.read()
    proc.stderr.close()
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        sys.exit(f"study failed ({proc.returncode}): {err.strip().splitlines()[-1:]}")
    return {"wall": wall, "cpu": usage.ru_utime + usage.ru_stime, "peak": usage.ru_maxrss / 2**20, "load": load}


def _median(xs: list[float]) -> float:
    xs = sorted(xs)
    return xs[len(xs) // 2]


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--prices", default=str(ROOT.parent / "shared" / "prices"),
                   help="folder of recorded <SYMBOL>.csv (default <repo>/../shared/prices)")
    p.add_argument("--factors", help="daily factor file (French format)")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--smoke", action="store_true", help="one event, 60 placebo draws, one round (CI)")
    args = p.parse_args(argv)
    extra = ["--event", "ft_sdn_2022", "--placebo-draws", "60"] if args.smoke else []
    rounds = 1 if args.smoke else args.rounds
    runs: dict[str, list[dict]] = {"off": [], "all": []}
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from compare_study import compare_frames  # noqa: E402 (a sibling script)
    import pandas as pd

    with tempfile.TemporaryDirectory(prefix="bench-calibration-") as tmp:
        for i in range(1, rounds + 1):
            for kind, draws in (("off", "0"), ("all", "all")):
                out = Path(tmp) / f"{kind}{i}"
                r = run_study(args, out, draws, extra)
                runs[kind].append(r)
                print(f"{kind:<4} round {i}: {r['wall']:6.1f} s wall, {r['cpu']:6.1f} s CPU, peak {r['peak']:.2f} GiB "
                      f"(load before {r['load']:.2f})", flush=True)
        # the calibration adds columns; it changes nothing else
        skip = {"p_calibrated", "size_5pct", "calibration_draws", "oversized_here"}
        diffs = []
        for f in sorted((Path(tmp) / "off1").glob("*.csv")):
            a, b = pd.read_csv(f), pd.read_csv(Path(tmp) / "all1" / f.name)
            keep = [c for c in a.columns if c not in skip]
            why = compare_frames(a[keep], b[[c for c in keep if c in b.columns]], 1e-12) if set(keep) <= set(b.columns) \
                else "columns missing"
            if why:
                diffs.append(f"{f.name}: {why}")
    for d in diffs:
        print(f"differs beyond the calibration's columns: {d}")
    all_w, off_w = _median([r["wall"] for r in runs["all"]]), _median([r["wall"] for r in runs["off"]])
    all_c, off_c = _median([r["cpu"] for r in runs["all"]]), _median([r["cpu"] for r in runs["off"]])
    peak = max(r["peak"] for r in runs["all"])
    print(f"calibration: all {all_w:.1f} s, off {off_w:.1f} s (medians of wall); ratio {all_w / off_w:.2f} "
          f"(CPU ratio {all_c / off_c:.2f}); peak {peak:.2f} GiB")
    return 1 if diffs else 0


if __name__ == "__main__":
    raise SystemExit(main())
