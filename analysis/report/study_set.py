"""The study of a whole report run, fitted once (:func:`compute_study`): its CSV set in
``reports/<run-id>/study/`` (the CLI's contract: ``python -m analysis study`` with the same
settings and prices writes the same files: ``tests.csv``, ``car.csv``, ``abnormal_returns.csv``,
``estimation.csv``, ``skipped.csv``, ``volume*.csv``, ``sensitivity.csv``, ``pooled.csv``,
``exposure_fit.csv``), the robustness tables and the figures' inputs, so every number of the PDF
can be traced to one set; the event notebooks are views of it. :func:`link_study` reuses a
previous run's set by hard links when nothing changed.
"""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from analysis.report import artifacts

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
