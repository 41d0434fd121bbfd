"""What the event notebook shows and saves, as functions (the notebook itself stays thin).

``build_study`` turns the notebook's parameters into an :class:`~analysis.study.EventStudy`;
the other functions turn its results into the tables and figures of one event:

- :func:`firm_table`   CAR by firm and window (decimals), s.e., t, p, stars, notes;
- :func:`group_tests`  every cross-sectional test of every group and window (long), with stars;
- :func:`robustness`   the same event under other normal-return models and windows;
- :func:`car_path_figure` each group's portfolio CAR path with its 95% interval, sized for print;
- :func:`price_figure`    prices around day 0 indexed to 100 on day -1;
- :func:`fit`             the study's results, with an error that names the notebook parameter
  ``prices`` when Yahoo Finance cannot be reached.

The ``show_*`` functions format a table for the notebook the way the PDF prints it: percent with
the unit in the column header, p-values as "<0.001", stars read from the printed p, "n/a" (with
a note) instead of NaN, no index column.

Columns added to the results by newer versions of the engine (rank tests, placebo rows,
``limit_flag``, volume tests) are shown when present and ignored when absent.
"""
from __future__ import annotations

import warnings
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd

from analysis.errors import UserError
from analysis.tables import requested_windows
from analysis.vocab import US_EXCHANGES
from analysis.paths import PROJECT as REPO, cache_dir as project_cache_dir
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


def select_symbols(groups=None, symbols=None, universe=None, event_ids=None, event_firms=None) -> list[str] | None:
    """Symbols to study: ``symbols`` if given, else the universe's members of ``groups``, named
    as printed (:data:`analysis.vocab.GROUPS`): a universe role (target, peer, supplier), or
    ``named`` (the firms ``event_firms`` says the events ``event_ids`` named, every event when None)."""
    if symbols:
        return [symbols] if isinstance(symbols, str) else list(symbols)
    if not groups:
        return None
    from analysis.data import catalog
    from analysis.vocab import GROUPS, NAMED

    groups = [groups] if isinstance(groups, str) else list(groups)
    uni = catalog.load_universe() if universe is None else universe
    known = [*catalog.ROLES, NAMED]
    unknown = sorted(set(groups) - set(known))
    if unknown:
        raise UserError(f"unknown group(s) {', '.join(unknown)}: choose from {', '.join(g for g in GROUPS if g in known)}")
    chosen = set(uni.loc[uni["role"].isin(groups), "symbol"])
    if NAMED in groups:
        ef = catalog.load_event_firms(event_firms or catalog.DEFAULT_EVENT_FIRMS, strict=False,
                                      events=None, symbols=uni["symbol"])
        ef = ef[ef["relation"] == NAMED]
        if event_ids:
            ef = ef[ef["event_id"].isin([event_ids] if isinstance(event_ids, str) else list(event_ids))]
        chosen |= set(ef["symbol"])
    return [s for s in uni["symbol"] if s in chosen]


def build_study(event_ids=None, groups=None, symbols=None, model: str | None = None, windows=None,
                estimation=None, min_obs: int | None = None, prices=None, factors=None,
                placebo_draws: int | None = None, cache_dir=None, progress: bool = True, refresh: bool = False,
                events=None, universe=None, price_snapshot=None, event_firms=None, spec=None,
                calibration_draws: int | str | None = None):
    """An :class:`~analysis.study.EventStudy` from notebook parameters.

    The run's settings are one :class:`~analysis.inference.spec.StudySpec`: ``spec``, with
    ``model``, ``windows``, ``estimation``, ``min_obs``, ``placebo_draws``,
    ``calibration_draws`` given (not None) replacing its values; None everywhere is the spec's
    defaults.
    ``event_ids``: one id, a list, or None for every catalog event; ``groups`` (as printed:
    named, target, peer, supplier) or ``symbols`` restrict the securities; ``prices``: a folder
    of recorded CSVs or None for Yahoo Finance, cached in :func:`analysis.paths.cache_dir`
    unless ``cache_dir``. ``price_snapshot``: prices already loaded by the report pipeline (see
    :mod:`analysis.report.snapshot`); used instead of ``prices`` while the file exists.
    ``factors`` are passed on only to models that need them (a model with ``excess`` returns).
    ``event_firms``: who each event named (None: ``data/event_firms.csv``; a relative path is
    relative to the repository root).
    """
    from analysis.inference.spec import StudySpec
    from analysis.study import EventStudy

    given = {"model": model, "windows": tuple(windows) if windows else None, "estimation": estimation,
             "min_obs": min_obs, "placebo_draws": placebo_draws, "calibration_draws": calibration_draws}
    given = {k: v for k, v in given.items() if v is not None}
    spec = replace(spec, **given) if spec is not None else StudySpec(**given)
    if isinstance(event_ids, str):
        event_ids = [event_ids]
    if isinstance(factors, (str, Path)):
        factors = [factors]
    if not spec.model_spec.excess:
        factors = None
    if price_snapshot and Path(price_snapshot).is_file():
        from analysis.report.snapshot import SnapshotSource

        prices = SnapshotSource(price_snapshot)
    event_firms = event_firms if event_firms is None or Path(event_firms).is_absolute() else REPO / event_firms
    return EventStudy(
        events=events, universe=universe, prices=prices, spec=spec,
        factors=factors, event_ids=event_ids, symbols=select_symbols(groups, symbols, event_ids=event_ids,
                                                                     event_firms=event_firms),
        progress=progress, refresh=refresh,
        cache_dir=str(cache_dir) if cache_dir else str(DEFAULT_CACHE),
        event_firms=event_firms,
    )


def _load(run_folder) -> dict:
    import pickle

    from analysis.errors import UserError

    path = artifacts.study_dir(Path(run_folder)) / artifacts.RESULTS_FILE
    key = (str(path), path.stat().st_mtime_ns if path.is_file() else 0)
    if key not in _LOADED:
        try:
            with open(path, "rb") as fh:
                _LOADED.clear()
                _LOADED[key] = pickle.load(fh)
        except OSError:
            raise UserError(f"{path}: the run's results are missing (python -m analysis report writes them "
                            "before the notebooks run)") from None
    return _LOADED[key]


_LOADED: dict = {}


def load_results(run_folder, event_ids=None, placebo: bool = True):
    """The run's results (computed once by :func:`analysis.report.study_set.compute_study`) as
    the notebooks view them: the rows of ``event_ids`` (default all), without the pseudo-event
    results when ``placebo`` is False, the multiple-testing columns over those events
    (:meth:`~analysis.results.EventStudyResults.select`): what a study of those events alone
    gives, so a view does not depend on the other events of the run."""
    from analysis.data.catalog import select_events
    from analysis.errors import UserError

    res = _load(run_folder)["results"]
    ids = [event_ids] if isinstance(event_ids, str) else event_ids
    unknown = [e for e in (ids or []) if e not in set(res.event_ids)]
    if unknown:
        select_events(res.study.catalog, unknown)  # an id the catalog lacks: its usual one-line error
        raise UserError(f"event(s) {', '.join(unknown)} not in the run's results")
    # the view's multiple-testing columns are over its own events, as a run of those events gives
    # them (the run's, over all its events, are in study/tests.csv)
    return res.select(ids, placebo=placebo, readjust=True)


def load_robustness(run_folder, event_id: str):
    """The robustness tables of one event and its notes (``(groups, firms, notes)``, as
    :func:`analysis.report.event.robustness` returns them for that event alone)."""
    groups, firms, notes = _load(run_folder)["robustness"]
    return (groups[groups["event_id"] == event_id].reset_index(drop=True),
            firms[firms["event_id"] == event_id].reset_index(drop=True), notes.get(event_id, []))


#: What the event notebook tells its user to set when Yahoo Finance cannot be reached.
OFFLINE_HINT = 'set the notebook parameter prices = "../../shared/prices" (a folder of recorded <SYMBOL>.csv files)'


def fit(study):
    """``study.fit()``; when the prices come from Yahoo Finance and none could be loaded, the
    error says which notebook parameter to set instead (not the make variable)."""
    try:
        return study.fit()
    except UserError as exc:
        if study.prices is not None:
            raise
        text = str(exc).replace("use recorded prices with PRICES=DIR (--prices DIR)", OFFLINE_HINT)
        if OFFLINE_HINT not in text:
            text += f"; to work offline, {OFFLINE_HINT}"
        raise UserError(text) from None


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
    return {"event_id": event_id, "title": ev["title"], "short_title": ev.get("short_title", event_id),
            "kind": ev["kind"], "announced_at": ev["announced_at"], "source": fmt.public_source(ev["source"]),
            "day0": day0, **event_groups(res, event_id)}


#: How a named firm that the act only carried over from an earlier list is marked.
CARRIED_OVER_WORDS = "carried over from an earlier version of the list"


def event_groups(res, event_id: str) -> dict:
    """Who the event named and how its firms are grouped: ``named`` (firm names, a carried-over
    firm marked with :data:`CARRIED_OVER_WORDS`), ``carried_over`` (those firms' names), ``named_source``
    (what ``data/event_firms.csv`` cites, seed file names left out), ``groups`` {group: [{symbol,
    name}]} in display order (firms with prices around the event)."""
    from analysis.vocab import GROUP_ORDER, NAMED

    f = res.panel.frame
    at = f["event_id"].to_numpy() == event_id
    member = f["group" if "group" in f.columns else "role"].to_numpy()[at]
    symbols, names = f["symbol"].to_numpy()[at], f["name"].to_numpy()[at]
    groups = {g: [{"symbol": s, "name": n} for s, n in zip(symbols[member == g], names[member == g])]
              for g in GROUP_ORDER if (member == g).any()}
    ef = getattr(res.study, "event_firms", None)
    named, source, described, carried = [], [], False, []
    if isinstance(ef, pd.DataFrame) and len(ef):
        e = ef[ef["event_id"] == event_id]
        described = len(e) > 0
        names = dict(zip(res.study.universe["symbol"], res.study.universe["name"]))
        hit = e[e["relation"] == NAMED]
        flag = hit["carried_over"] if "carried_over" in hit.columns else pd.Series(False, index=hit.index)
        kept = set(hit.loc[[v is True or str(v).strip().lower() in ("yes", "true") for v in flag], "symbol"])
        carried = [names.get(s, s) for s in hit["symbol"] if s in kept]
        named = [names.get(s, s) + (f" ({CARRIED_OVER_WORDS})" if s in kept else "") for s in hit["symbol"]]
        source = list(dict.fromkeys(fmt.public_source(x) for x in (hit if len(hit) else e)["source"]))
    ec = getattr(res.study, "event_customers", None)  # unlisted firms the event named (Huawei; issue 19)
    unlisted = list(ec.loc[ec["event_id"] == event_id, "customer"]) if isinstance(ec, pd.DataFrame) and len(ec) else []
    if unlisted and not named:
        source = list(dict.fromkeys(fmt.public_source(x) for x in ec.loc[ec["event_id"] == event_id, "source"]))
    return {"named": named, "named_source": source, "described": described or bool(unlisted), "groups": groups,
            "carried_over": carried, "named_unlisted": unlisted}


def show_event(res, event_id: str):
    """A small table describing the event (for the notebook): short title, date, who was named,
    the groups, day 0 on each exchange."""
    from analysis.vocab import exchange_label, group_label

    info = event_info(res, event_id)
    rows = [("Event", info["short_title"]), ("Kind", info["kind"]), ("Announced", info["announced_at"]),
            ("What happened", info["title"]), ("Source", info["source"]),
            ("Named", ", ".join(info["named"] + [f"{c} (unlisted)" for c in info.get("named_unlisted", [])])
             or "none of the studied firms")]
    rows += [(group_label(g), ", ".join(fmt.short_name(m["name"]) for m in members))
             for g, members in info["groups"].items()]
    rows += [(f"Day 0 ({exchange_label(k)})", v) for k, v in info["day0"].items()]
    return escaped(pd.DataFrame(rows, columns=["", "value"]).style.hide(axis="index").set_properties(
        **{"text-align": "left", "white-space": "pre-wrap"}))


# --------------------------------------------------------------------------- tables


#: The car.csv columns :func:`_note` reads.
NOTE_COLUMNS = ("spans_suspension", "suspension_first", "suspension_last", "complete", "n_sessions", "limit_flag")


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


#: car.csv flag columns carried into the firm table (:mod:`analysis.inference.flags`).
FLAG_COLUMNS = ("overlaps", "driver_day", "driver_ar", "off_day0_driver", "confounders")


def firm_table(res, event_id: str | None = None, windows=None) -> pd.DataFrame:
    """CAR by firm and window: CAR and s.e. (decimals), t, p, stars, BHAR (decimal) and notes,
    then the firm's group, the flags of car.csv (overlaps, driver_day, driver_ar,
    off_day0_driver, confounders), the suspension span and, on a window whose day-0 close sat at
    the daily price limit, the limit-extended window 0:k beside it (limit_window, limit_car,
    limit_car_se, limit_p: the CAR until the first close off the limit, decimals)."""
    c = requested_windows(res.car)
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
        "note": [_note(r) for r in c[[k for k in NOTE_COLUMNS if k in c.columns]].to_dict("records")],
    })
    out["group"] = c["group"].to_numpy() if "group" in c else out["role"].to_numpy()
    for col in ("sq_p", "p_history"):  # tail-robust p of the firm (p_history: issue 17b) for the largest moves
        if col in c.columns:
            out[col] = c[col].to_numpy(dtype=float)
    for col in FLAG_COLUMNS + ("spans_suspension", "suspension_first", "suspension_last", "limit_flag"):
        if col in c.columns:
            v = c[col].to_numpy()
            out[col] = v if col not in ("overlaps", "confounders", "limit_flag") else [
                x if isinstance(x, str) else "" for x in v]
    out["limit_window"], out["limit_car"], out["limit_car_se"], out["limit_p"] = "", np.nan, np.nan, np.nan
    if "window_kind" in res.car.columns:
        ext = res.car[res.car["window_kind"] == "limit_extended"]
        first: dict[tuple, tuple] = {}  # (event_id, symbol) -> its first limit-extended row
        for key in zip(ext["event_id"], ext["symbol"], ext["window"], ext["car"], ext["car_se"], ext["car_p"]):
            first.setdefault(key[:2], key[2:])
        ids, syms = out["event_id"].to_numpy(), out["symbol"].to_numpy()
        for i in np.nonzero(out["window"].to_numpy() == "0:0")[0] if first else ():
            e = first.get((ids[i], syms[i]))
            if e is not None:
                out.loc[i, ["limit_window", "limit_car", "limit_car_se", "limit_p"]] = (
                    e[0], float(e[1]), float(e[2]), float(e[3]))
    return out.reset_index(drop=True)


def escaped(st):
    """A Styler whose cells and column labels are HTML-escaped (names, titles and sources come
    from the user's files and reach the notebooks' HTML copies)."""
    return st.format(escape="html").format_index(escape="html", axis=1)


def _styled(frame: pd.DataFrame, caption: str | None = None):
    """A table of formatted text for the notebook: no index column, left-aligned text; every
    cell, column label and the caption HTML-escaped."""
    from analysis.safe_text import html_text

    st = escaped(frame.style.hide(axis="index").set_properties(**{"text-align": "right"}))
    text_cols = [c for c in frame.columns if frame[c].map(lambda x: isinstance(x, str) and not _numberish(x)).any()]
    if text_cols:
        st = st.set_properties(subset=text_cols, **{"text-align": "left"})
    if caption:
        st = st.set_caption(html_text(caption)).set_table_styles(
            [{"selector": "caption", "props": "caption-side: bottom; text-align: left; font-size: 0.85em"}])
    return st


def _numberish(text: str) -> bool:
    t = text.replace(fmt.MINUS, "-").rstrip("*").strip()
    return t in (fmt.NA, "") or t.startswith("<") or t.replace(".", "", 1).lstrip("+-").isdigit()


def show_firm_table(table: pd.DataFrame, window: str | None = None):
    """The per-firm table for the notebook as the PDF prints it: one row per firm, for each
    window CAR % (stars from the printed p) and p; notes once per firm; no index column."""
    from analysis.vocab import group_label

    t = table if window is None else table[table["window"] == window]
    windows = list(dict.fromkeys(t["window"]))
    labels = {w: fmt.window_label(w) for w in windows}
    many = t["event_id"].nunique() > 1
    cols = ["event_id", "symbol", "name", "role", "window", "car", "p", "note"] + (["group"] if "group" in t else [])
    firms: dict[tuple, list[dict]] = {}  # (event_id, symbol) -> its rows, in table order
    for rec in t[cols].to_dict("records"):
        key = (rec["event_id"], rec["symbol"])
        if not (pd.isna(key[0]) or pd.isna(key[1])):  # as groupby: rows without a key are left out
            firms.setdefault(key, []).append(rec)
    rows = []
    for (ev_id, sym), g in firms.items():
        first = g[0]
        row = ({"Event": ev_id} if many else {}) | {
            "Firm": first["name"], "Ticker": sym, "Group": group_label(first.get("group", first["role"]))}
        by_window: dict = {}
        for r in g:
            by_window.setdefault(r["window"], r)
        for w in windows:
            r, wl = by_window.get(w), labels[w]
            if r is None:
                row[f"CAR{wl} %"], row[f"p{wl}"] = fmt.NA, fmt.NA
                continue
            row[f"CAR{wl} %"] = fmt.pct(r["car"]) + fmt.stars(r["p"])
            row[f"p{wl}"] = fmt.pvalue(r["p"])
        row["Notes"] = "; ".join(dict.fromkeys(fmt.prose(r["note"]) for r in g if r["note"]))
        rows.append(row)
    return _styled(pd.DataFrame(rows), f"CAR in percent; {fmt.STAR_NOTE}; n/a: no return in the window.")


#: The star rule of every test table (notebooks and PDF), in words for the table notes.
OVERSIZED_RULE = ("oversized here (its size in this design's simulation exceeds 7%): its stars come from "
                  "the calibrated p only, never from its own p")
#: The same rule for a cell where the run's own calibration finds the test oversized.
RUN_OVERSIZED_RULE = ("oversized in this cell (it rejects more than 7% of the pseudo-event dates of these firms' "
                      "own histories at 5%): its stars come from the calibrated p only")


def small_p(p) -> str:
    """A p-value that may sit at a floor far below 0.001 (history p): :func:`analysis.fmt.pvalue`
    from 0.01 up, two significant digits below (0.00061), so a floor reads as itself."""
    if p is None or not np.isfinite(p):
        return fmt.NA
    return fmt.pvalue(p) if p >= 0.01 else (f"{p:.2g}" if p >= 1e-4 else f"{p:.6f}".rstrip("0"))


def oversized(test: str) -> bool:
    """Is ``test`` oversized in this study's design (:func:`analysis.inference.design.oversized_here`)?"""
    from analysis.inference.design import oversized_here

    return test in oversized_here()


def oversized_in_cell(size_5pct) -> bool:
    """Does the run's own calibration find the test oversized in the cell (its ``size_5pct``
    above :data:`analysis.inference.design.OVERSIZED_SIZE`)?"""
    from analysis.inference.design import OVERSIZED_SIZE

    return size_5pct is not None and np.isfinite(size_5pct) and float(size_5pct) > OVERSIZED_SIZE


def test_stars(test: str, p, p_calibrated=np.nan, size_5pct=np.nan) -> tuple[str, str]:
    """Stars of a test row as (next to its p, next to its calibrated p), each read from the
    printed value. A test oversized in the design, or in the cell by the run's own calibration
    (``size_5pct``), never carries stars from its own p: only its calibrated p earns them.
    Other tests carry them next to their p."""
    if oversized(test) or oversized_in_cell(size_5pct):
        return "", fmt.stars(p_calibrated)
    return fmt.stars(p), ""


def group_tests(res, event_id: str | None = None) -> pd.DataFrame:
    """Every test row (long): event, group, window, n, mean CAR (decimal), test, statistic, p,
    stars (next to p), then the other columns of tests.csv and ``stars_calibrated`` (next to the
    calibrated p; :func:`test_stars`)."""
    t = res.tests if event_id is None else res.tests[res.tests["event_id"] == event_id]
    out = t.copy()
    out["mean_car"] = out["mean_car"].astype(float)
    pcal = out["p_calibrated"] if "p_calibrated" in out.columns else pd.Series(np.nan, index=out.index)
    size = out["size_5pct"] if "size_5pct" in out.columns else pd.Series(np.nan, index=out.index)
    over = {n: oversized(n) for n in set(out["test"])}  # test_stars, with the design read once per test
    over_row = [over[n] or oversized_in_cell(z) for n, z in zip(out["test"], size)]
    out["stars"] = ["" if o else fmt.stars(p) for o, p in zip(over_row, out["p_value"])]
    out["stars_calibrated"] = [fmt.stars(q) if o else "" for o, q in zip(over_row, pcal)]
    cols = ["event_id", "group", "window", "n", "mean_car", "test", "statistic", "p_value", "stars"]
    extra = [c for c in out.columns if c not in cols]
    return out[cols + extra].reset_index(drop=True)


def tests_present(tests: pd.DataFrame) -> list[str]:
    """Test names in display order (the registry's, then any others as they come)."""
    have = list(dict.fromkeys(tests["test"])) if len(tests) else []
    return [t for t in REGISTRY if t in have] + [t for t in have if t not in REGISTRY]


def show_group_tests(tests: pd.DataFrame, window: str | None = None):
    """The group tests for the notebook as the PDF prints them: rows (group, window), N, the
    portfolio CAR % with its 95% interval, then each test as 'statistic (p) [calibrated p]'
    with stars by :func:`test_stars`; no index column."""
    from analysis.vocab import GROUP_ORDER, group_label

    t = tests if window is None else tests[tests["window"] == window]
    if t.empty:
        return _styled(pd.DataFrame({"Note": ["no cross-sectional test (fewer than 2 firms per group)"]}))
    names = tests_present(t)
    labels = {name: describe(name, "label") + (" (oversized here)" if oversized(name) else "") for name in names}
    many = t["event_id"].nunique() > 1
    order = {g: i for i, g in enumerate(GROUP_ORDER)}
    rows = []
    keys = ["event_id", "window", "group"]
    ev_pos = {e: i for i, e in enumerate(dict.fromkeys(t["event_id"]))}
    w_pos = {w: i for i, w in enumerate(dict.fromkeys(t["window"]))}
    cols = keys + [c for c in ("n", "mean_car", "test", "statistic", "p_value", "p_calibrated", "estimate", "ci_low",
                               "ci_high", "p_history", "p_history_floor", "size_5pct") if c in t.columns]
    found: dict[tuple, tuple[dict, dict]] = {}  # (event, window, group) -> (first row, {test: its first row})
    for rec in t[cols].to_dict("records"):
        key = (rec["event_id"], rec["window"], rec["group"])
        if any(pd.isna(k) for k in key):  # as groupby: rows without a key are left out
            continue
        found.setdefault(key, (rec, {}))[1].setdefault(rec["test"], rec)
    cells = sorted(found.items(), key=lambda kv: (ev_pos[kv[0][0]], w_pos[kv[0][1]], order.get(kv[0][2], len(order))))
    for (ev_id, w, g), (first, x) in cells:
        row = ({"Event": ev_id} if many else {}) | {"Window": fmt.window_label(w), "Group": group_label(g),
                                                    "N": int(first["n"])}
        pf = x.get("portfolio")
        if pf is not None and "estimate" in pf and np.isfinite(pf["estimate"]):
            row["Portfolio CAR %"] = fmt.pct(pf["estimate"])
            row["95% CI %"] = f"{fmt.pct(pf['ci_low'])} to {fmt.pct(pf['ci_high'])}"
        else:
            row["Portfolio CAR %"] = fmt.pct(first["mean_car"])
            row["95% CI %"] = fmt.NA
        if "p_history" in t.columns:  # the portfolio's history p and its floor (analysis.inference.history)
            ph = pf.get("p_history", np.nan) if pf is not None else np.nan
            row["History p (floor)"] = (f"{small_p(ph)} ({small_p(pf['p_history_floor'])})"
                                        if np.isfinite(ph) else fmt.NA)
        for name in names:
            r = x.get(name)
            if r is None or not np.isfinite(r["statistic"]):
                row[labels[name]] = fmt.NA
                continue
            pc = r.get("p_calibrated", np.nan)
            st, stc = test_stars(name, r["p_value"], pc, r.get("size_5pct", np.nan))
            cal = f" [{fmt.pvalue(pc)}]{stc}" if np.isfinite(pc) else ""
            row[labels[name]] = f"{fmt.num(r['statistic'])} ({fmt.pvalue(r['p_value'])}){st}{cal}"
        rows.append(row)
    note = (f"Statistic (p) [calibrated p]; {fmt.STAR_NOTE}. A test marked {OVERSIZED_RULE}. "
            "n/a: the test needs more firms than the group has.")
    return _styled(pd.DataFrame(rows), note)


def optional_tables(res) -> dict[artifacts.Artifact, pd.DataFrame]:
    """Result tables that only some runs produce (e.g. volume tests), when present, by artifact."""
    found = {}
    for artifact in (artifacts.VOLUME_TESTS,):
        frame = getattr(res, artifact.name, None)
        if isinstance(frame, pd.DataFrame) and len(frame):
            found[artifact] = frame
    return found


# --------------------------------------------------------------------------- robustness

#: The group tests of the robustness runs: the headline (portfolio) test first.
ROBUST_TESTS = ("portfolio", "t_cs", "bmp", "bmp_kp")


def robustness(res, models=("mean", "market-adjusted", "ff3"), factors=None, extra_windows=(),
               tests=ROBUST_TESTS, primary_symbols=None, headline_symbols=None, by_event: bool = False):
    """Re-run the study of ``res`` (same events, firms, estimation window) under other models and windows.

    Returns ``(groups, firms, notes)``: group tests (long: model, scope, event_id, group, window,
    n, mean_car, estimate (the portfolio test's CAR of the equal-weighted portfolio; else NaN),
    test, statistic, p_value; decimals), per-firm CARs of ``primary_symbols`` (model, scope,
    event_id, symbol, window, car, car_se, car_t, car_p) and notes on what was left out. Each run
    is the run's :class:`~analysis.inference.spec.StudySpec` with the model and windows replaced
    (``dataclasses.replace``); the main model is re-run with the extra windows added. Models that
    read French's factors (``ModelSpec.excess``: ff3, carhart, ...) use US factors, so they
    cover the US suppliers only, and are left out (with a note) when no ``factors`` file is given
    or found. Prices are not read again: the runs reuse ``res.frames``. Each run computes only
    the CARs and these tests (:meth:`~analysis.study.EventStudy.fit_tests`: no placebo draws,
    flags or volume). ``headline_symbols``: the former name of ``primary_symbols``. With
    ``by_event``, the notes are a dict: event_id -> that event's notes (each event's own skips),
    as a run of that event alone gives them (the report computes every event at once).
    """
    from analysis.estimation.models import get_model
    from analysis.study import EventStudy

    primary_symbols = primary_symbols if primary_symbols is not None else headline_symbols
    study = res.study
    windows = list(dict.fromkeys([f"{a}:{b}" for a, b in study.windows] + list(extra_windows or [])))
    if isinstance(factors, (str, Path)):
        factors = [factors]
    if factors:
        missing = [str(f) for f in factors if not Path(f).is_file()]
        if missing:
            factors = None
            factor_note = f"factor file(s) not found: {', '.join(Path(m).name for m in missing)}"
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
        try:
            excess = get_model(model).excess
        except UserError as exc:
            notes.append(f"{model} left out: {exc}")
            continue
        if excess:
            if not factors:
                notes.append(f"{model} left out: {factor_note}")
                continue
            universe = universe[(universe["role"] == "supplier") & universe["exchange"].isin(US_EXCHANGES)]
            scope = "US suppliers"
            if universe.empty:
                notes.append(f"{model} left out: no US supplier among the studied firms")
                continue
        try:
            spec = replace(study.spec, model=model, windows=tuple(windows), placebo_draws=0)
            # the same catalog (clean windows, overlaps), groups and flags; no alternative-date runs
            r_tests, r_car, r_skipped = EventStudy(
                events=study.catalog, event_ids=list(study.events["event_id"]), universe=universe,
                prices=res.frames, spec=spec, factors=factors if excess else None,
                event_firms=study.event_firms, event_dates=study.event_dates.iloc[0:0],
                confounders=study.confounders,
            ).fit_tests(list(tests) if tests else None)
        except UserError as exc:
            notes.append(f"{model} left out: {exc}")
            continue
        t = r_tests.reindex(columns=["event_id", "group", "window", "n", "mean_car", "estimate", "test", "statistic",
                                     "p_value"])
        t.insert(0, "scope", scope)
        t.insert(0, "model", model)
        groups.append(t)
        c = r_car
        if primary_symbols:
            c = c[c["symbol"].isin(list(primary_symbols))]
        c = c[["event_id", "symbol", "window", "car", "car_se", "car_t", "car_p"]].copy()
        c.insert(0, "scope", scope)
        c.insert(0, "model", model)
        firms.append(c)
        if len(r_skipped):
            skips[model] = r_skipped
    gcols = ["model", "scope", "event_id", "group", "window", "n", "mean_car", "estimate", "test", "statistic",
             "p_value"]
    fcols = ["model", "scope", "event_id", "symbol", "window", "car", "car_se", "car_t", "car_p"]
    g = pd.concat(groups, ignore_index=True) if groups else pd.DataFrame(columns=gcols)
    f = pd.concat(firms, ignore_index=True) if firms else pd.DataFrame(columns=fcols)
    if by_event:
        return g, f, {e: notes + _skip_notes({m: int((k["event_id"] == e).sum()) for m, k in skips.items()})
                      for e in study.events["event_id"]}
    return g, f, notes + _skip_notes({m: len(k) for m, k in skips.items()})


def _skip_notes(skips: dict) -> list[str]:
    """One line for all models (the firm-events themselves are listed with the main results)."""
    skips = {m: n for m, n in skips.items() if n}
    if not skips:
        return []
    if len(set(skips.values())) == 1:
        return [f"{next(iter(skips.values()))} firm-event(s) skipped in each of {', '.join(skips)}"]
    return ["firm-events skipped: " + ", ".join(f"{m} {n}" for m, n in skips.items())]


def group_car(row) -> float:
    """The CAR printed for a group beside a test row (decimal): the test's own estimate when it
    has one (the portfolio test: the equal-weighted portfolio's CAR), else the firms' mean CAR."""
    est = row.get("estimate", np.nan)
    return float(est) if pd.notna(est) else float(row["mean_car"])


def group_cars(rows: pd.DataFrame) -> pd.Series:
    """:func:`group_car` of every row of a test frame."""
    if "estimate" not in rows.columns:
        return rows["mean_car"]
    return rows["estimate"].where(rows["estimate"].notna(), rows["mean_car"])


def car_label(test: str, start: bool = True) -> str:
    """'Portfolio CAR' beside the portfolio test, else 'Mean CAR' (see :func:`group_car`);
    lower-case first letter unless ``start``."""
    label = "Portfolio CAR" if test == "portfolio" else "Mean CAR"
    return label if start else label[0].lower() + label[1:]


def show_robustness(groups: pd.DataFrame, window: str = "0:1", test: str = "portfolio"):
    """The robustness view for the notebook: the group's CAR % (:func:`group_car`; stars from
    ``test``, read from its printed p) by event and group, one column per model; no index column."""
    from analysis.estimation.models import MODEL_LABELS
    from analysis.vocab import group_label

    t = groups[(groups["window"] == window) & (groups["test"] == test)]
    if t.empty:
        return _styled(pd.DataFrame({"Note": [f"no robustness rows for window {window}"]}))
    models = list(dict.fromkeys(zip(t["model"], t["scope"])))
    rows = []
    for (ev_id, g), x in t.groupby(["event_id", "group"], sort=False):
        row = {"Event": ev_id, "Group": group_label(g)}
        for m, scope in models:
            r = x[(x["model"] == m) & (x["scope"] == scope)]
            col = f"{MODEL_LABELS.get(m, m)} ({scope}) %"
            row[col] = fmt.NA if r.empty else (f"{fmt.pct(group_car(r.iloc[0]))}"
                                              f"{test_stars(test, r['p_value'].iloc[0])[0]} (N = {int(r['n'].iloc[0])})")
        rows.append(row)
    return _styled(pd.DataFrame(rows), f"{car_label(test)}{fmt.window_label(window)} in percent; stars from the "
                   f"{describe(test, 'label')} test ({fmt.STAR_NOTE}); n/a: not estimated.")


# --------------------------------------------------------------------------- figures


#: Size of the two small figures of an event (prices, CAR path), side by side in the PDF, inches.
SMALL_FIGURE = (PRINT_WIDTH / 2, 2.9)


def car_path_figure(res, event_id: str, group=None, symbols=None, size=SMALL_FIGURE):
    """Each group's portfolio CAR path from the close of day -1 (its value on day 1 is the group
    test's portfolio CAR of window 0:1) with its 95% t-interval (per firm with ``symbols``), one
    colour per group, drawn at the printed size (:func:`analysis.plots.plot_car_path`)."""
    import matplotlib.pyplot as plt

    from analysis.plots import plot_car_path

    fig, ax = plt.subplots(figsize=size)
    plot_car_path(res, event_id=event_id, group=group, ax=ax, symbols=symbols, title="Portfolio CAR by group")
    _small(ax)
    ax.legend(fontsize=6.3, loc="upper center", bbox_to_anchor=(0.5, -0.2), ncol=2, frameon=False)
    fig.tight_layout()
    return fig


def price_figure(res, event_id: str, symbols=None, size=SMALL_FIGURE):
    """Prices around day 0, indexed to 100 on day -1 (:func:`analysis.plots.plot_prices`): the
    named firms, the most exposed US supplier and each market's benchmark, drawn at the printed size."""
    import matplotlib.pyplot as plt

    from analysis.plots import plot_prices

    fig, ax = plt.subplots(figsize=size)
    plot_prices(res, event_id, ax=ax, symbols=symbols)
    _small(ax)
    fig.tight_layout()
    return fig


def exposure_figure(res, event_id: str, window: str | None = None, size=SMALL_FIGURE):
    """The event's suppliers' CAR against their revenue exposure to the firms it named, with the
    OLS line of exposure_fit.csv (main rows); None when the event has no such fit (fewer than
    :data:`analysis.inference.exposure.MIN_FIRMS` firms with exposure data)."""
    import matplotlib.pyplot as plt

    from analysis.inference.exposure import MAIN_CONFIDENCE
    from analysis.plots import exposure_points, plot_exposure_fit
    from analysis.vocab import PRIMARY_WINDOW

    window = window or PRIMARY_WINDOW
    fit = getattr(res, "exposure_fit", None)
    if fit is None or not len(fit):
        return None
    row = fit[(fit["event_id"] == event_id) & (fit["window"] == window)
              & (fit["confidence"] == ",".join(MAIN_CONFIDENCE))]
    if row.empty:
        return None
    points = exposure_points(res, event_id, window)
    fig, ax = plt.subplots(figsize=size)
    plot_exposure_fit(points, float(row["slope"].iloc[0]), ax=ax, window=window,
                      title="Suppliers' CAR by revenue exposure")
    _small(ax)
    fig.tight_layout()
    return fig


#: Suppliers listed in "largest single-firm moves" per event.
MOVES_SHOWN = 3
SUPPLIER_GROUPS = ("supplier", "supplier_other")


def supplier_moves(firms: pd.DataFrame, window: str | None = None, k: int = MOVES_SHOWN) -> pd.DataFrame:
    """The ``k`` largest single-firm moves (|CAR| over ``window``, default the primary window)
    among the event's US suppliers (groups supplier and supplier_other): name, group, car
    (decimal), p_tail (the firm's tail-robust p: ``p_history`` when car.csv has it, else the
    sample-quantile p ``sq_p``) and which p that is."""
    from analysis.vocab import PRIMARY_WINDOW

    window = window or PRIMARY_WINDOW
    cols = ["symbol", "name", "group", "car", "p_tail", "p_kind"]
    if firms is None or not len(firms) or "group" not in firms.columns:
        return pd.DataFrame(columns=cols)
    f = firms[(firms["window"] == window) & firms["group"].isin(SUPPLIER_GROUPS)].copy()
    f = f[np.isfinite(f["car"].astype(float))]
    if f.empty:
        return pd.DataFrame(columns=cols)
    kind = "p_history" if "p_history" in f.columns and f["p_history"].notna().any() else "sq_p"
    f["p_tail"] = f[kind].astype(float) if kind in f.columns else np.nan
    f["p_kind"] = kind
    f = f.iloc[np.argsort(-np.abs(f["car"].to_numpy(dtype=float)), kind="stable")[:k]]
    return f[cols].reset_index(drop=True)


#: How each tail-robust p is named in the text.
P_KIND_WORDS = {"p_history": "p from the firm's whole history", "sq_p": "sample-quantile p"}


def supplier_moves_line(firms: pd.DataFrame, window: str | None = None) -> str:
    """'Largest single-firm moves among the US suppliers, CAR[0, +1]: Lumentum -19.9% (sample-quantile p
    0.026; linked), ...' (empty without suppliers)."""
    from analysis.vocab import PRIMARY_WINDOW

    window = window or PRIMARY_WINDOW
    m = supplier_moves(firms, window)
    if m.empty:
        return ""
    words = P_KIND_WORDS.get(m["p_kind"].iloc[0], "p")
    parts = [f"{fmt.short_name(r['name'])} {fmt.pct(r['car'], 1)}% ({words} {fmt.pvalue(r['p_tail'])}"
             f"{'' if r['group'] == 'supplier' else '; no recorded link to a named firm'})"
             for r in m.to_dict("records")]
    return (f"Largest single-firm moves among the US suppliers, CAR{fmt.window_label(window)}: "
            + "; ".join(parts) + ".")


def _small(ax) -> None:
    ax.title.set_fontsize(8.5)
    ax.xaxis.label.set_fontsize(7.5)
    ax.yaxis.label.set_fontsize(7.5)
    ax.tick_params(labelsize=7)


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
