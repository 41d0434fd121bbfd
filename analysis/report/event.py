"""What the event notebook shows and saves, as functions (the notebook itself stays thin).

``build_study`` turns the notebook's parameters into an :class:`~analysis.study.EventStudy`;
the other functions turn its results into the tables and figures of one event:

- :func:`firm_table`   CAR by firm and window (decimals), s.e., t, p, stars, notes;
- :func:`group_tests`  every cross-sectional test of every group and window (long), with stars;
- :func:`robustness`   the same event under other normal-return models and windows;
- :func:`car_path_figure` mean CAR path by group with 95% bands, sized for print.

Columns added to the results by newer versions of the engine (rank tests, placebo rows,
``limit_flag``, volume tests) are shown when present and ignored when absent.
"""
from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from analysis.errors import UserError
from analysis.tables import requested_windows
from analysis.vocab import DEFAULT_WINDOWS, US_EXCHANGES
from analysis.paths import cache_dir as project_cache_dir
from analysis import fmt
from analysis.inference.battery import describe
from analysis.inference.registry import REGISTRY
from analysis.report import artifacts
from analysis.report.artifacts import PRINT_WIDTH

DEFAULT_CACHE = project_cache_dir()  # the one cache of study and report (analysis.paths)

# Without ipywidgets tqdm.auto falls back to a text bar in notebooks: fine, but it warns about it
# in every notebook (and every HTML copy) even when no bar is shown.
warnings.filterwarnings("ignore", message="IProgress not found")


# --------------------------------------------------------------------------- the study


def select_symbols(groups=None, symbols=None, universe=None) -> list[str] | None:
    """Symbols to study: ``symbols`` if given, else the universe's members of ``groups``."""
    if symbols:
        return [symbols] if isinstance(symbols, str) else list(symbols)
    if not groups:
        return None
    from analysis.data import catalog

    groups = [groups] if isinstance(groups, str) else list(groups)
    uni = catalog.load_universe() if universe is None else universe
    unknown = sorted(set(groups) - set(catalog.ROLES))
    if unknown:
        raise UserError(f"unknown group(s) {', '.join(unknown)}: choose from {', '.join(catalog.ROLES)}")
    return list(uni.loc[uni["role"].isin(groups), "symbol"])


def build_study(event_ids=None, groups=None, symbols=None, model: str = "market", windows=None,
                estimation="-250:-11", min_obs: int = 120, prices=None, factors=None,
                placebo_draws: int = 1000, cache_dir=None, progress: bool = True, refresh: bool = False,
                events=None, universe=None, price_snapshot=None, event_firms=None):
    """An :class:`~analysis.study.EventStudy` from notebook parameters.

    ``event_ids``: one id, a list, or None for every catalog event; ``groups`` (target, peer,
    supplier) or ``symbols`` restrict the securities; ``prices``: a folder of recorded CSVs or
    None for Yahoo Finance, cached in :func:`analysis.paths.cache_dir` unless ``cache_dir``.
    ``price_snapshot``: prices already loaded by the report pipeline (see
    :mod:`analysis.report.snapshot`); used instead of ``prices`` while the file exists.
    ``factors`` are passed on only to models that need them (``ff3``, ``carhart``).
    ``event_firms``: who each event named (None: ``data/event_firms.csv``; a relative path is
    relative to the repository root).
    """
    from analysis.estimation.models import get_model
    from analysis.study import EventStudy

    if isinstance(event_ids, str):
        event_ids = [event_ids]
    if isinstance(factors, (str, Path)):
        factors = [factors]
    if not get_model(model).excess:
        factors = None
    if price_snapshot and Path(price_snapshot).is_file():
        from analysis.report.snapshot import SnapshotSource

        prices = SnapshotSource(price_snapshot)
    return EventStudy(
        events=events, universe=universe, prices=prices, model=model,
        estimation=estimation, windows=list(windows or DEFAULT_WINDOWS), min_obs=min_obs,
        factors=factors, event_ids=event_ids, symbols=select_symbols(groups, symbols),
        placebo_draws=placebo_draws, progress=progress, refresh=refresh,
        cache_dir=str(cache_dir) if cache_dir else str(DEFAULT_CACHE),
        event_firms=(event_firms if event_firms is None or Path(event_firms).is_absolute() else REPO / event_firms),
    )


def event_info(res, event_id: str) -> dict:
    """Catalog row of an event plus its day 0 on each exchange (from the fitted firms)."""
    ev = res.study.events.set_index("event_id").loc[event_id]
    est = res.estimation
    day0 = {}
    if len(est):
        e = est[est["event_id"] == event_id]
        if "exchange" in e.columns:
            for exch, d in e.groupby("exchange")["day0"].first().items():
                day0[str(exch)] = str(d)
    return {"event_id": event_id, "title": ev["title"], "kind": ev["kind"], "announced_at": ev["announced_at"],
            "source": ev["source"], "day0": day0}


def show_event(res, event_id: str):
    """A small table describing the event (for the notebook)."""
    info = event_info(res, event_id)
    rows = [("Event", info["event_id"]), ("Kind", info["kind"]), ("Announced", info["announced_at"]),
            ("What happened", info["title"]), ("Source", info["source"])]
    rows += [(f"Day 0 ({k})", v) for k, v in info["day0"].items()]
    return pd.DataFrame(rows, columns=["", "value"]).style.hide(axis="index").set_properties(
        **{"text-align": "left", "white-space": "pre-wrap"})


# --------------------------------------------------------------------------- tables


def _note(row) -> str:
    notes = []
    if bool(row.get("spans_suspension", False)):
        first, last = row.get("suspension_first"), row.get("suspension_last")
        cover = (f": the return at resumption covers the sessions {first} to {last}"
                 if first is not None and last is not None else "")
        notes.append(f"spans a suspension{cover}")
    if not bool(row.get("complete", True)):
        notes.append(f"incomplete window: returns cover {row.get('n_sessions')} sessions; "
                     "left out of the group tests")
    flag = row.get("limit_flag")
    if isinstance(flag, str) and flag.strip():
        notes.append(flag.strip())
    return "; ".join(notes)


def firm_table(res, event_id: str | None = None, windows=None) -> pd.DataFrame:
    """CAR by firm and window: CAR and s.e. (decimals), t, p, stars, BHAR (decimal) and notes."""
    c = requested_windows(res.car)  # limit-extended windows: in res.car (window_kind)
    c = c if event_id is None else c[c["event_id"] == event_id]
    if windows is not None:
        c = c[c["window"].isin(list(windows))]
    out = pd.DataFrame({
        "event_id": c["event_id"].to_numpy(),
        "symbol": c["symbol"].to_numpy(),
        "name": c["name"].to_numpy() if "name" in c else c["symbol"].to_numpy(),
        "role": c["role"].to_numpy() if "role" in c else "",
        "window": c["window"].to_numpy(),
        "car": c["car"].to_numpy(dtype=float),
        "car_se": c["car_se"].to_numpy(dtype=float),
        "t": c["car_t"].to_numpy(dtype=float),
        "p": c["car_p"].to_numpy(dtype=float),
        "stars": [fmt.stars(p) for p in c["car_p"]],
        "bhar": c["bhar"].to_numpy(dtype=float) if "bhar" in c else np.nan,
        "note": [_note(r) for r in c.to_dict("records")],
    })
    return out.reset_index(drop=True)


def show_firm_table(table: pd.DataFrame, window: str | None = None):
    """Styled per-firm table for the notebook: one row per firm, windows side by side (CAR in percent)."""
    t = table if window is None else table[table["window"] == window]
    t = t.assign(car_pct=100 * t["car"], se_pct=100 * t["car_se"])
    keys = (["event_id"] if t["event_id"].nunique() > 1 else []) + ["symbol", "name", "role"]
    wide = t.pivot_table(index=keys, columns="window",
                         values=["car_pct", "se_pct", "t", "p"], sort=False, aggfunc="first")
    windows = list(dict.fromkeys(t["window"]))
    order = [(v, w) for w in windows for v in ("car_pct", "se_pct", "t", "p")]
    wide = wide.reindex(columns=order)
    wide.columns = pd.MultiIndex.from_tuples([(f"CAR{fmt.window_label(w)}", {"car_pct": "CAR %", "se_pct": "s.e. %",
                                               "t": "t", "p": "p"}[v]) for v, w in order])
    notes = t.groupby(keys[:-2], sort=False)["note"].agg(lambda s: "; ".join(sorted({x for x in s if x})))
    wide[("", "notes")] = [notes.get(k[:-2] if len(k) > 3 else k[0], "") for k in wide.index]
    formats = {col: "{:.2f}" for col in wide.columns if col[1] in ("CAR %", "s.e. %", "t")}
    formats.update({col: "{:.3f}" for col in wide.columns if col[1] == "p"})
    return wide.style.format(formats, na_rep="n/a").apply(
        lambda s: ["font-weight: bold" if (isinstance(v, float) and v < 0.05) else "" for v in s],
        subset=[c for c in wide.columns if c[1] == "p"])


def group_tests(res, event_id: str | None = None) -> pd.DataFrame:
    """Every test row (long): event, group, window, n, mean CAR (decimal), test, statistic, p, stars."""
    t = res.tests if event_id is None else res.tests[res.tests["event_id"] == event_id]
    out = t.copy()
    out["mean_car"] = out["mean_car"].astype(float)
    out["stars"] = [fmt.stars(p) for p in out["p_value"]]
    cols = ["event_id", "group", "window", "n", "mean_car", "test", "statistic", "p_value", "stars"]
    extra = [c for c in out.columns if c not in cols]
    return out[cols + extra].reset_index(drop=True)


def tests_present(tests: pd.DataFrame) -> list[str]:
    """Test names in display order (the registry's, then any others as they come)."""
    have = list(dict.fromkeys(tests["test"])) if len(tests) else []
    return [t for t in REGISTRY if t in have] + [t for t in have if t not in REGISTRY]


def show_group_tests(tests: pd.DataFrame, window: str | None = None):
    """Styled test table for the notebook: rows (group, window), cells 'statistic (p)***'."""
    t = tests if window is None else tests[tests["window"] == window]
    if t.empty:
        return pd.DataFrame({"note": ["no cross-sectional test (fewer than 2 firms per group)"]})
    names = tests_present(t)
    keys = (["event_id"] if t["event_id"].nunique() > 1 else []) + ["group", "window"]
    base = t.drop_duplicates(keys)[keys + ["n", "mean_car"]].set_index(keys)
    base["mean_car"] = 100 * base["mean_car"]
    for name in names:
        sub = t[t["test"] == name].set_index(keys)
        base[describe(name, "label")] = [
            "n/a" if not np.isfinite(r.statistic) else f"{fmt.num(r.statistic)} ({fmt.pvalue(r.p_value)}){r.stars}"
            for r in sub.reindex(base.index).itertuples()
        ]
    base = base.rename(columns={"mean_car": "mean CAR %"})
    return base.style.format({"mean CAR %": "{:.2f}"})


def optional_tables(res) -> dict[artifacts.Artifact, pd.DataFrame]:
    """Result tables that only some runs produce (e.g. volume tests), when present, by artifact."""
    found = {}
    for artifact in (artifacts.VOLUME_TESTS,):
        frame = getattr(res, artifact.name, None)
        if isinstance(frame, pd.DataFrame) and len(frame):
            found[artifact] = frame
    return found


# --------------------------------------------------------------------------- robustness

ROBUST_TESTS = ("t_cs", "bmp", "bmp_kp")


def robustness(res, models=("mean", "market-adjusted", "ff3"), factors=None, extra_windows=(),
               tests=ROBUST_TESTS, headline_symbols=None):
    """Re-run the study of ``res`` (same events, firms, estimation window) under other models and windows.

    Returns ``(groups, firms, notes)``: group tests (long: model, scope, event_id, group, window,
    n, mean_car, test, statistic, p_value), per-firm CARs (model, scope, event_id, symbol, window,
    car, car_se, car_t, car_p) and notes on what was left out. The main model is re-run with the
    extra windows added. Factor models (``ff3``, ``carhart``) use US factors, so they cover the US
    suppliers only, and are left out (with a note) when no ``factors`` file is given or found.
    Prices are not read again: the runs reuse ``res.frames``. Placebo draws are off here.
    """
    from analysis.study import EventStudy

    study = res.study
    windows = list(dict.fromkeys([f"{a}:{b}" for a, b in study.windows] + list(extra_windows or [])))
    if isinstance(factors, (str, Path)):
        factors = [factors]
    if factors:
        missing = [str(f) for f in factors if not Path(f).is_file()]
        if missing:
            factors = None
            factor_note = f"factor file(s) not found: {', '.join(missing)}"
        else:
            factor_note = ""
    else:
        factor_note = "no factors file configured"
    runs = [study.model.name] + [m for m in models if m != study.model.name]
    groups, firms, notes = [], [], []
    skips: dict[str, int] = {}
    for model in runs:
        scope = "all firms"
        universe = study.universe
        if model in ("ff3", "carhart"):
            if not factors:
                notes.append(f"{model} left out: {factor_note}")
                continue
            universe = universe[(universe["role"] == "supplier") & universe["exchange"].isin(US_EXCHANGES)]
            scope = "US suppliers"
            if universe.empty:
                notes.append(f"{model} left out: no US supplier among the studied firms")
                continue
        try:
            # the same catalog (clean windows, overlaps), groups and flags; no alternative-date runs
            r = EventStudy(events=study.catalog, event_ids=list(study.events["event_id"]), universe=universe,
                           prices=res.frames, model=model, estimation=study.estimation, windows=windows,
                           min_obs=study.min_obs, factors=factors if model in ("ff3", "carhart") else None,
                           placebo_draws=0, event_firms=study.event_firms, event_dates=study.event_dates.iloc[0:0],
                           confounders=study.confounders, exclude_event_days=study.exclude_event_days).fit()
        except UserError as exc:
            notes.append(f"{model} left out: {exc}")
            continue
        t = r.tests[r.tests["test"].isin(list(tests))] if tests else r.tests
        t = t[["event_id", "group", "window", "n", "mean_car", "test", "statistic", "p_value"]].copy()
        t.insert(0, "scope", scope)
        t.insert(0, "model", model)
        groups.append(t)
        c = requested_windows(r.car)
        if headline_symbols:
            c = c[c["symbol"].isin(list(headline_symbols))]
        c = c[["event_id", "symbol", "window", "car", "car_se", "car_t", "car_p"]].copy()
        c.insert(0, "scope", scope)
        c.insert(0, "model", model)
        firms.append(c)
        if len(r.skipped):
            skips[model] = len(r.skipped)
    if skips:  # one line for all models (the firm-events themselves are listed with the main results)
        if len(set(skips.values())) == 1:
            n = next(iter(skips.values()))
            notes.append(f"{n} firm-event(s) skipped in each of {', '.join(skips)}")
        else:
            notes.append("firm-events skipped: " + ", ".join(f"{m} {n}" for m, n in skips.items()))
    gcols = ["model", "scope", "event_id", "group", "window", "n", "mean_car", "test", "statistic", "p_value"]
    fcols = ["model", "scope", "event_id", "symbol", "window", "car", "car_se", "car_t", "car_p"]
    g = pd.concat(groups, ignore_index=True) if groups else pd.DataFrame(columns=gcols)
    f = pd.concat(firms, ignore_index=True) if firms else pd.DataFrame(columns=fcols)
    return g, f, notes


def show_robustness(groups: pd.DataFrame, window: str = "-1:1", test: str = "bmp_kp"):
    """Styled view: mean CAR % (stars from ``test``) by event and group, one column per model."""
    t = groups[(groups["window"] == window) & (groups["test"] == test)]
    if t.empty:
        return pd.DataFrame({"note": [f"no robustness rows for window {window}"]})
    cell = [f"{fmt.pct(m)}{fmt.stars(p)} (n={n})" for m, p, n in zip(t["mean_car"], t["p_value"], t["n"])]
    t = t.assign(cell=cell, column=[f"{m} ({s})" for m, s in zip(t["model"], t["scope"])])
    return t.pivot_table(index=["event_id", "group"], columns="column", values="cell", aggfunc="first", sort=False)


# --------------------------------------------------------------------------- figures


def car_path_figure(res, event_id: str, group=None, symbols=None, height: float = 3.0):
    """Mean CAR path by group (or per firm with ``symbols``) with 95% bands, drawn at print width."""
    import matplotlib.pyplot as plt

    from analysis.plots import plot_car_path

    fig, ax = plt.subplots(figsize=(PRINT_WIDTH, height))
    plot_car_path(res, event_id=event_id, group=group, ax=ax, symbols=symbols,
                  title=f"{event_id}: mean CAR with 95% band")
    return fig


def event_meta(res, event_id: str, notes=()) -> dict:
    """What the PDF needs to know about the run besides the tables: event, model, windows, skips."""
    study = res.study
    sk = res.skipped[res.skipped["event_id"] == event_id] if len(res.skipped) else res.skipped
    return {
        **event_info(res, event_id),
        "model": study.model.name,
        "estimation": f"{study.estimation[0]}:{study.estimation[1]}",
        "windows": [f"{a}:{b}" for a, b in study.windows],
        "min_obs": study.min_obs,
        "placebo_draws": study.placebo_draws,
        "firms": int(res.car.loc[res.car["event_id"] == event_id, "symbol"].nunique()) if len(res.car) else 0,
        "tests": tests_present(res.tests[res.tests["event_id"] == event_id]) if len(res.tests) else [],
        "skipped": sk[["symbol", "reason"]].to_dict("records") if len(sk) else [],
        "notes": list(notes),
    }
