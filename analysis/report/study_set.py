"""The study of a whole report run, fitted once (:func:`compute_study`), and its CSV set (``reports/<run-id>/study/``, the CLI's contract:
``tests.csv``, ``car.csv``, ``abnormal_returns.csv``, ``estimation.csv``, ``skipped.csv``,
``volume*.csv``, ``sensitivity.csv``, ``pooled.csv``), so every number of the PDF can be traced to one set.

Each event notebook fits its own event and saves the set for it; every result of an event is
the same whether it is fitted alone or with the whole catalog (its placebo draws are seeded by
the run's seed and its event_id), except the multiple-testing columns, which span all events.
So the run's set is the events' sets one after the other, with ``primary``, ``p_holm`` and
``q_bh`` computed again over all of them (:func:`analysis.inference.multiple.adjust`) and
``pooled.csv`` computed from the joined ``tests.csv`` (:func:`analysis.inference.pooled.pooled_frame`): the
same files as ``python -m analysis study`` for the run's events, settings and prices.
"""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from analysis.report import artifacts

#: The files of the set, in the order of the CLI's contract.
STUDY_FILES = ("abnormal_returns.csv", "car.csv", "tests.csv", "estimation.csv", "skipped.csv", "volume.csv",
               "volume_tests.csv", "sensitivity.csv", "pooled.csv", "exposure_fit.csv")


def write_study(run_dir: Path, jobs, primary_window: str | None = None) -> str:
    """Write ``run_dir/study/`` from the event notebooks' sets (for each event the first
    per-event notebook of the configuration that saved one); returns one line for the log."""
    from analysis.atomic import write_set
    from analysis.inference.multiple import adjust
    from analysis.inference.pooled import pooled_frame
    from analysis.vocab import PRIMARY_WINDOW

    chosen: dict[str, Path] = {}
    for job in jobs:
        if job.event_id is None or job.event_id in chosen or job.status not in ("ok", "reused"):
            continue
        if (Path(job.output_dir) / "tests.csv").is_file():
            chosen[job.event_id] = Path(job.output_dir)
    wanted = list(dict.fromkeys(j.event_id for j in jobs if j.event_id is not None))
    missing = [e for e in wanted if e not in chosen]
    if not chosen:
        return "no event notebook saved results; no study set written"
    frames = {}
    for name in STUDY_FILES:
        paths = [folder / name for folder in chosen.values() if (folder / name).is_file()]
        text = None if name == "tests.csv" else _joined(paths)
        if text is not None:
            frames[name] = text
            continue
        parts = [pd.read_csv(path, keep_default_na=True, low_memory=False) for path in paths]
        parts = [p for p in parts if len(p.columns)]
        if parts:
            frames[name] = pd.concat([p for p in parts if len(p)] or parts[:1], ignore_index=True)
    if "tests.csv" in frames and len(frames["tests.csv"]):
        tests = frames["tests.csv"].drop(columns=[c for c in ("primary", "p_holm", "q_bh")
                                                  if c in frames["tests.csv"].columns])
        adjusted = adjust(tests, primary_window or PRIMARY_WINDOW)
        frames["tests.csv"] = adjusted[list(frames["tests.csv"].columns)]
        # pooled across the run's events, from the joined tests.csv (as the CLI computes it)
        frames["pooled.csv"] = pooled_frame(frames["tests.csv"], primary_window or PRIMARY_WINDOW,
                                            car=frames.get("car.csv"))
    fit = exposure_fit(frames.get("car.csv"))
    if fit is not None:
        frames["exposure_fit.csv"] = fit
    out = artifacts.study_dir(run_dir)
    write_set(frames, out, owned=STUDY_FILES)
    text = f"{len(frames)} files for {len(chosen)} events in {out.relative_to(run_dir)}/"
    return text + (f" (no results for {', '.join(missing)})" if missing else "")


def exposure_fit(car) -> pd.DataFrame | None:
    """exposure_fit.csv of the whole run, fitted again on the run's car.csv (``car``: a frame or
    the CSV text) so that the pooled rows span every event (the events' own files hold only their
    per-event rows); the firms each event named and the exposure from the shipped data files."""
    import io

    from analysis.data import catalog, supply
    from analysis.inference import exposure as ex

    if car is None:
        return None
    car = pd.read_csv(io.StringIO(car)) if isinstance(car, str) else car
    if "group" not in car.columns or car.empty:
        return None
    ef = catalog.load_event_firms(strict=False) if catalog.DEFAULT_EVENT_FIRMS.is_file() else None
    ec = supply.load_event_customers(strict=False) if supply.DEFAULT_EVENT_CUSTOMERS.is_file() else None
    expo = supply.load_exposure(strict=False) if supply.DEFAULT_EXPOSURE.is_file() else None
    return ex.fit_frame(car, supply.event_customers(ef, ec), expo)


def _joined(paths) -> str | None:
    """The CSV files ``paths`` one after the other as one CSV text, when they share one header
    line (the rows as written, byte for byte); None when their headers differ (or none has one)."""
    texts = [path.read_text(encoding="utf-8") for path in paths]
    heads = {t.split("\n", 1)[0] for t in texts if t.strip()}
    if len(heads) != 1:
        return None
    head = heads.pop()
    bodies = [t.split("\n", 1)[1] if "\n" in t else "" for t in texts if t.strip()]
    return head + "\n" + "".join(b if b.endswith("\n") or not b else b + "\n" for b in bodies)


def day0_lines(run_dir: Path) -> list[str]:
    """Day 0 and the day-0 simple return (adjusted close) of every (event, security) of the run's
    set, one line per event (a quick check for the log; firm-events left out give their reason)."""
    folder = artifacts.study_dir(run_dir)
    try:
        est = pd.read_csv(folder / "estimation.csv", usecols=["event_id", "symbol", "day0"])
        ar = pd.read_csv(folder / "abnormal_returns.csv", usecols=["event_id", "symbol", "day", "return", "span"])
    except (OSError, ValueError):
        return []
    skipped = (pd.read_csv(folder / "skipped.csv") if (folder / "skipped.csv").is_file()
               else pd.DataFrame(columns=["event_id", "symbol", "reason"]))
    day0 = ar[ar["day"] == 0].set_index(["event_id", "symbol"])
    lines = ["day 0 and day-0 return (simple, adjusted close) per event and security:"]
    for event_id in dict.fromkeys(list(est["event_id"]) + list(skipped["event_id"])):
        cells = []
        for r in est[est["event_id"] == event_id].itertuples(index=False):
            key = (event_id, r.symbol)
            ret, span = (day0.loc[key, "return"], day0.loc[key, "span"]) if key in day0.index else (float("nan"), 0)
            note = " (suspended on day 0)" if span == 0 else (f" (spans {int(span)} sessions)" if span > 1 else "")
            cells.append(f"{r.symbol} {r.day0}" + (f" {100 * ret:+.2f}%" if pd.notna(ret) else "") + note)
        for r in skipped[skipped["event_id"] == event_id].itertuples(index=False):
            cells.append(f"{r.symbol} - ({r.reason})")
        lines.append(f"  {event_id}: " + "; ".join(cells))
    return lines if len(lines) > 1 else []


# --------------------------------------------------------------------------- computed once



def event_parameters(cfg) -> dict:
    """The parameters the per-event notebooks run with: the top-level ones and the first
    per-event notebook's own (they win)."""
    own = next((s.parameters for s in cfg.notebooks if s.per_event), {})
    return {**cfg.parameters, **own}


def compute_study(cfg, run_dir: Path, event_ids, snapshot) -> str:
    """Fit the run's whole study once (one :class:`~analysis.inference.spec.StudySpec`: the
    configuration's parameters) and the robustness runs (the spec under
    other models and windows, ``dataclasses.replace``), and write them to ``run_dir/study/``:
    the CLI's CSV set (``python -m analysis study`` with the same settings gives the same
    files), ``results.pkl`` for the notebooks, the robustness tables and notes. Returns one line
    for the log. Ids the catalog lacks are left out (their notebooks fail and say why)."""
    import json
    import pickle

    from analysis.atomic import write_set
    from analysis.data import catalog
    from analysis.plots import figure_inputs
    from analysis.report import event as ev
    from analysis.report.config import run_spec

    params = event_parameters(cfg)
    # the primary family is the spec's default (0:1, portfolio): the PDF's answer page reads it
    # from analysis.vocab; the configuration's `primary` section chooses what the comparison
    # and robustness views show
    spec = run_spec(cfg.path, params, {})
    known = set(catalog.load_events()["event_id"])
    ids = [e for e in event_ids if e in known]
    factors = str(cfg.factors) if cfg.factors else None
    study = ev.build_study(event_ids=ids, groups=params.get("groups"), symbols=params.get("symbols"),
                           prices=None, price_snapshot=str(snapshot), factors=factors, spec=spec,
                           progress=False, event_firms=params.get("event_firms"))
    res = ev.fit(study)
    study.prices = res.frames  # the views never read prices again; the snapshot is temporary
    robust, robust_firms, notes = ev.robustness(
        res, params.get("robustness_models", ("mean", "market-adjusted", "ff3")), factors,
        params.get("robustness_windows", ("0:1", "-2:2", "0:10")), primary_symbols=params.get("primary_symbols") or [cfg.primary["symbol"]],
        by_event=True)
    bands = figure_inputs(res)  # every figure's CAR paths, once (kept in res for the views)
    out = artifacts.study_dir(run_dir)
    written = res.to_csv(out)
    write_set({artifacts.ROBUSTNESS_FILE: robust, artifacts.ROBUSTNESS_FIRMS_FILE: robust_firms,
               artifacts.CAR_BANDS_FILE: bands}, out,
              owned=(artifacts.ROBUSTNESS_FILE, artifacts.ROBUSTNESS_FIRMS_FILE, artifacts.CAR_BANDS_FILE))
    (out / artifacts.ROBUSTNESS_NOTES_FILE).write_text(json.dumps(notes, indent=1), encoding="utf-8")
    with open(out / artifacts.RESULTS_FILE, "wb") as fh:
        pickle.dump({"results": res, "robustness": (robust, robust_firms, notes)}, fh,
                    protocol=pickle.HIGHEST_PROTOCOL)
    return (f"{len(written)} files for {len(ids)} events in {out.relative_to(run_dir)}/, fitted once "
            f"(model {spec.model}, {len(res.estimation)} firm-events; robustness: "
            f"{', '.join(dict.fromkeys(robust['model'])) or 'none'})")


def link_study(prev_dir: Path | None, run_dir: Path) -> str:
    """The previous run's ``study/`` in ``run_dir`` as hard links (every notebook was reused, so
    is the study: nothing is copied); one line for the log."""
    from analysis.report.folders import link_tree

    src = artifacts.study_dir(prev_dir) if prev_dir is not None else None
    if src is None or not src.is_dir():
        return "no study to reuse"
    link_tree(src, artifacts.study_dir(run_dir))
    return f"reused from {prev_dir.name} (hard links)"
