"""Benchmark: wall time of the report pipeline, ``--refresh`` and cold, several runs in one go.

    .venv/bin/python benchmarks/bench_report.py --prices ../shared/prices \
        --factors ../shared/factors/F-F_Research_Data_Factors_daily.csv [--runs 3] [--event ID ...]
    .venv/bin/python benchmarks/bench_report.py --smoke     (CI: no report, the script's own checks)

Each run is ``python -m analysis report`` in a new process (as ``make report`` runs it), into a
temporary reports folder removed afterwards:

- ``refresh``: ``--refresh`` (every notebook executed, nothing reused) into a folder that already
  holds one run;
- ``reuse``: nothing changed since the last run (the study and every notebook's results linked
  from it: hard links, no copy);
- ``cold``: the first report after install: the package's bytecode and the numba kernels'
  disk cache are deleted, ``python -m analysis compile`` (the install step ``make`` runs) fills
  the kernel cache again untimed, then a report into an empty reports folder.

Printed per run: wall seconds, CPU seconds (user + system of the report process and its
kernels), the pipeline's own phases from its ``manifest.json`` (study fitted
once, notebooks, total), and the machine's load average before the run (the machine may be shared: a load
above ~0.5 on 2 cores means the numbers are slower than they would be).
"""
from __future__ import annotations

import argparse
import json
import os
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _report(args, reports: Path, refresh: bool) -> dict:
    cmd = [sys.executable, "-m", "analysis", "report", "--prices", args.prices, "--reports-dir", str(reports)]
    cmd += ["--factors", args.factors] if args.factors else []
    cmd += ["--refresh"] if refresh else []
    for e in args.event or []:
        cmd += ["--event", e]
    load = os.getloadavg()[0]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.monotonic()
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    wall = time.monotonic() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if done.returncode != 0:
        sys.exit(f"report failed ({done.returncode}): {done.stderr.strip().splitlines()[-1:]}")
    same = re.search(r"nothing changed since run \S+ .*\((\d+\.\d) s;", done.stdout)
    if same:  # no new run folder: latest still points to the last run
        return {"wall": wall, "cpu": cpu, "total": float(same.group(1)), "notebooks": 0.0, "study": 0.0,
                "pages": "same", "load": load}
    manifest = json.loads((reports / "latest" / "manifest.json").read_text())
    return {"wall": wall, "cpu": cpu, "total": manifest["seconds"], "notebooks": manifest["notebooks_seconds"],
            "study": manifest.get("study_seconds", float("nan")), "pages": manifest["pdf_pages"], "load": load}


def _clear_caches() -> None:
    """Delete the package's bytecode and numba cache files (analysis/**/__pycache__)."""
    for cache in (ROOT / "analysis").rglob("__pycache__"):
        shutil.rmtree(cache, ignore_errors=True)


def _line(kind: str, i: int, r: dict) -> str:
    return (f"{kind:<8} run {i}: {r['wall']:5.1f} s wall, {r['cpu']:5.1f} s CPU (pipeline {r['total']:5.1f} s: study "
            f"{r['study']:4.1f} s, notebooks {r['notebooks']:5.1f} s; {r['pages']} pages; load before {r['load']:.2f})")


def _smoke(args) -> int:
    """What runs without a report: the manifest fields this script reads, its line, and the
    report command's option parsing (``--help``)."""
    manifest = {"seconds": 12.5, "notebooks_seconds": 10.0, "study_seconds": 4.0, "pdf_pages": 30}
    r = {"wall": 13.0, "cpu": 11.0, "total": manifest["seconds"], "notebooks": manifest["notebooks_seconds"],
         "study": manifest["study_seconds"], "pages": manifest["pdf_pages"], "load": os.getloadavg()[0]}
    line = _line("smoke", 1, r)
    done = subprocess.run([sys.executable, "-m", "analysis", "report", "--help"], cwd=ROOT, capture_output=True,
                          text=True)
    ok = done.returncode == 0 and "--reports-dir" in done.stdout and "13.0 s wall" in line
    print(line)
    print(f"report smoke: {'ok' if ok else 'FAILED'}")
    return 0 if ok else 1


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--prices", default=str(ROOT.parent / "shared" / "prices"),
                   help="folder of recorded <SYMBOL>.csv (default <repo>/../shared/prices)")
    p.add_argument("--factors", help="daily factor file (French format)")
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--event", action="append", help="only these events (repeatable)")
    p.add_argument("--skip-cold", action="store_true")
    p.add_argument("--smoke", action="store_true",
                   help="no report (one takes minutes): check the script's reading of a manifest and its "
                        "lines on a generated one, and that the report command parses its options")
    args = p.parse_args(argv)
    if args.smoke:
        return _smoke(args)
    results = {"refresh": [], "reuse": [], "cold": []}
    with tempfile.TemporaryDirectory(prefix="bench-report-") as tmp:
        warm = Path(tmp) / "warm"
        _report(args, warm, refresh=False)  # a first run to refresh over (untimed)
        for i in range(1, args.runs + 1):
            results["refresh"].append(_report(args, warm, refresh=True))
            print(_line("refresh", i, results["refresh"][-1]), flush=True)
        for i in range(1, args.runs + 1):
            results["reuse"].append(_report(args, warm, refresh=False))
            print(_line("reuse", i, results["reuse"][-1]), flush=True)
        for i in range(1, 0 if args.skip_cold else args.runs + 1):
            _clear_caches()
            subprocess.run([sys.executable, "-m", "analysis", "compile"], cwd=ROOT, check=True, capture_output=True)
            cold = Path(tmp) / f"cold{i}"
            results["cold"].append(_report(args, cold, refresh=False))
            print(_line("cold", i, results["cold"][-1]), flush=True)
    for kind, runs in results.items():
        if runs:
            walls = sorted(r["wall"] for r in runs)
            cpus = sorted(r["cpu"] for r in runs)
            print(f"{kind}: {', '.join(f'{w:.1f}' for w in walls)} s wall (median {walls[len(walls) // 2]:.1f} s; "
                  f"CPU median {cpus[len(cpus) // 2]:.1f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
