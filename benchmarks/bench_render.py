"""Benchmark: the table and figure helpers the notebooks call, for one event and for the catalog.

    .venv/bin/python benchmarks/bench_render.py [--prices DIR] [--factors FILE] [--event ID]
                                                [--repeat 3] [--dump DIR] [--skip-catalog] [--smoke]

(``--smoke``: the event notebook's calls once with 50 placebo draws, no catalog: checks that
every helper still runs; CI runs it.)

What it does, on the recorded prices (nothing is copied into the repository):

1. Fits one event as ``notebooks/event_study.ipynb`` does with the report's parameters (market
   model, 1,000 placebo draws; robustness under mean, market-adjusted and ff3 with the extra
   windows -2:2 and 0:10) and the whole catalog as ``notebooks/compare_events.ipynb`` does
   (placebo draws off, window 0:1, test ``portfolio``). The fits are timed once and are not
   part of the totals.
2. Times every helper call of the notebooks' table and figure cells, in the notebooks' order:
   a ``show_*`` table up to its HTML (``Styler.to_html()``, what the notebook displays), a
   figure up to its SVG (``artifacts.save_figure`` into a temporary folder, as the notebook
   saves it; then closed). Each call is timed in CPU seconds of this process
   (``time.process_time``: the machine may be shared, wall time is noisy), median of
   ``--repeat`` runs; the caches of the design table are cleared before each run, so a run pays
   what a fresh notebook kernel pays.
3. Prints one line per call and the totals: "event non-fit" (every call of the event notebook
   but ``build_study``/``fit``/``robustness``) and "compare helpers" (every call of the compare
   notebook but the fit).

Measured on the shared 2-core machine (load 2-5, so +-20%), event ft_sdn_2022: event non-fit
calls 1.13-1.15 s before the one-pass tables, 0.30-0.43 s after; compare helpers 7.2-8.2 s
before, 3.4-4.4 s after, of which about 3.3 s is matplotlib laying out and writing the five
figures (car_paths alone 1.6-1.9 s: 17 panels, three layout passes, unchanged output; the compare
notebook has since dropped it: each event's notebook draws that event's CAR path).

``--dump DIR`` also writes each table's HTML, each figure's SVG (fixed ``svg.hashsalt``, no date)
and each returned frame (CSV) to DIR, to compare the output of two versions of the code (the
Styler's random table id ``T_xxxxx`` differs between runs).
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

import matplotlib  # noqa: E402

matplotlib.use("Agg")
matplotlib.rcParams["svg.hashsalt"] = "bench-render"
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

from analysis.inference import design  # noqa: E402
from analysis.report import answer_rows as answer, artifacts, compare  # noqa: E402
from analysis.report import event as ev  # noqa: E402


def parse_args(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--prices", default=str(REPO.parent / "shared" / "prices"),
                    help="folder of recorded <SYMBOL>.csv files (default <repo>/../shared/prices)")
    ap.add_argument("--factors", default=str(REPO.parent / "shared" / "factors" / "F-F_Research_Data_Factors_daily.csv"),
                    help="French daily factors CSV for the ff3 robustness run")
    ap.add_argument("--event", default="ft_sdn_2022", help="the event of the event notebook")
    ap.add_argument("--repeat", type=int, default=3, help="timed runs per call; the median is printed")
    ap.add_argument("--dump", default=None, help="write every table's HTML and figure's SVG here")
    ap.add_argument("--skip-catalog", action="store_true", help="only the event notebook's calls")
    ap.add_argument("--smoke", action="store_true",
                    help="a few seconds: the event notebook's calls once, 50 placebo draws, no catalog")
    args = ap.parse_args(argv)
    if args.smoke:
        args.repeat, args.skip_catalog = 1, True
    args.placebo_draws = 50 if args.smoke else 1000
    if args.repeat < 1:
        ap.error("--repeat must be positive")
    return args


def _clear_caches() -> None:
    for f in (design.design_table, getattr(design, "oversized_here", None)):
        if hasattr(f, "cache_clear"):
            f.cache_clear()


class Bench:
    """Times calls (CPU seconds, median of ``repeat``) and keeps their outputs for ``--dump``."""

    def __init__(self, repeat: int, dump: Path | None, tmp: Path):
        self.repeat, self.dump, self.tmp = repeat, dump, tmp
        self.rows: list[tuple[str, str, float]] = []

    def time(self, section: str, label: str, call, kind: str | None = None):
        """Run ``call`` ``repeat`` times; ``kind`` 'html' (a Styler: time to_html too) or 'svg'
        (a figure: time its save too); returns the last result (HTML text, or the call's value)."""
        times, out = [], None
        for _ in range(self.repeat):
            _clear_caches()
            t0 = time.process_time()
            value = call()
            if kind == "html":
                value = value.to_html()
            elif kind == "svg":
                artifacts.save_figure(value, self.tmp, "figure", formats=("svg",), show=False)
                plt.close(value)
                value = (self.tmp / "figure.svg").read_bytes()
            times.append(time.process_time() - t0)
            out = value
        self.rows.append((section, label, statistics.median(times)))
        if self.dump:
            name = f"{section}.{label}".replace(" ", "_").replace("/", "_").replace("(", "").replace(")", "")
            if kind:
                path = self.dump / f"{name}.{'html' if kind == 'html' else 'svg'}"
                path.write_bytes(out.encode() if isinstance(out, str) else out)
            elif isinstance(out, pd.DataFrame):
                out.to_csv(self.dump / f"{name}.csv", index=False)
            elif out is not None:
                (self.dump / f"{name}.txt").write_text(repr(out))
        return out

    def once(self, section: str, label: str, call):
        t0 = time.process_time()
        value = call()
        self.rows.append((section, label + " [fit, once]", time.process_time() - t0))
        return value


def event_calls(b: Bench, args) -> None:
    eid, s = args.event, f"event {args.event}"
    study = ev.build_study(event_ids=eid, prices=args.prices, placebo_draws=args.placebo_draws, progress=False)
    res = b.once(s, "fit", lambda: ev.fit(study))
    b.time(s, "show_event", lambda: ev.show_event(res, eid), "html")
    b.time(s, "price_figure", lambda: ev.price_figure(res, eid), "svg")
    b.time(s, "car_path_figure", lambda: ev.car_path_figure(res, eid), "svg")
    firms = b.time(s, "firm_table", lambda: ev.firm_table(res, eid))
    b.time(s, "show_firm_table", lambda: ev.show_firm_table(firms), "html")
    tests = b.time(s, "group_tests", lambda: ev.group_tests(res, eid))
    b.time(s, "show_group_tests", lambda: ev.show_group_tests(tests), "html")
    robust, _, notes = b.once(s, "robustness", lambda: ev.robustness(
        res, ["mean", "market-adjusted", "ff3"], [args.factors], ["-2:2", "0:10"], headline_symbols=["002415.SZ"]))
    b.time(s, "show_robustness", lambda: ev.show_robustness(robust, "-1:1"), "html")
    b.time(s, "optional_tables", lambda: ev.optional_tables(res))
    b.time(s, "event_meta", lambda: ev.event_meta(res, eid, notes=notes))


def catalog_calls(b: Bench, args) -> None:
    s, window, test = "catalog", "0:1", "portfolio"
    study = ev.build_study(event_ids=None, prices=args.prices, placebo_draws=0, progress=False)
    res = b.once(s, "fit", study.fit)
    primary = b.time(s, "primary_rows", lambda: answer.primary_rows(res.tests, study.events))
    b.time(s, "forest_figure", lambda: answer.forest_figure(primary), "svg")
    moved = b.time(s, "group_event_table", lambda: compare.group_event_table(res, window, test))
    b.time(s, "show_moved", lambda: compare.show_moved(moved), "html")
    b.time(s, "heatmap_figure", lambda: compare.heatmap_figure(res, window), "svg")
    tvs = b.time(s, "targets_vs_suppliers", lambda: compare.targets_vs_suppliers(res, window, test))
    b.time(s, "show_targets_vs_suppliers", lambda: compare.show_targets_vs_suppliers(tvs), "html")
    b.time(s, "groups_figure", lambda: compare.groups_figure(res, window), "svg")
    kinds = b.time(s, "kind_table", lambda: compare.kind_table(res, window, test))
    b.time(s, "show_pooled(kind)", lambda: compare.show_pooled(kinds, "kind"), "html")
    years = b.time(s, "year_table", lambda: compare.year_table(res, window, test))
    b.time(s, "show_pooled(year)", lambda: compare.show_pooled(years, "year"), "html")
    b.time(s, "reaction_timeline_figure", lambda: compare.reaction_timeline_figure(res, window), "svg")
    firms = b.time(s, "firm_table", lambda: ev.firm_table(res))
    b.time(s, "show_firm_table", lambda: ev.show_firm_table(firms, window), "html")
    tests = b.time(s, "group_tests", lambda: ev.group_tests(res))
    b.time(s, "show_group_tests", lambda: ev.show_group_tests(tests, window), "html")


def main(argv=None) -> int:
    args = parse_args(argv)
    dump = Path(args.dump) if args.dump else None
    if dump:
        dump.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        b = Bench(args.repeat, dump, Path(tmp))
        # warm-up: matplotlib's fonts and the first SVG writer (a one-off of every kernel, untimed)
        fig, ax = plt.subplots()
        ax.plot([0, 1])
        artifacts.save_figure(fig, tmp, "warmup", formats=("svg",), show=False)
        plt.close(fig)
        event_calls(b, args)
        if not args.skip_catalog:
            catalog_calls(b, args)
    print(f"CPU seconds (time.process_time), median of {args.repeat} runs per call")
    totals: dict[str, float] = {}
    for section, label, t in b.rows:
        print(f"  {section:28s} {label:32s} {t:7.3f}")
        if "[fit, once]" not in label:
            totals[section] = totals.get(section, 0.0) + t
    for section, t in totals.items():
        what = "compare helpers" if section == "catalog" else "event non-fit"
        print(f"total {what} ({section}): {t:.3f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
