"""PDF section "Caveats" (template block ``data.caveats``), generated from the run's flags.

Categories, each left out when empty: overlapping events (``car.csv`` ``overlaps``), the
largest move of a window falling before or after the news (``off_day0_driver``, ``driver_day``,
``driver_ar``), other news listed in ``data/confounders.csv`` inside a window (firm, day and the
firm's abnormal return that day), suspensions and price-limit runs, firm-events left out,
cells too small for tests that need more firms (the registry's ``min_n``), what the design can
detect (``mde`` of the primary family; tests oversized in this design), the floors of the
tail-robust p-values and the cells the run's own calibration finds oversized, how many tests ran and
what Holm and Benjamini-Hochberg leave standing, the moves that cannot be attributed (a major
confounder on days 0..+1), the pooled answers beside the same averages over every event,
placebo draws short of the request. Firms by
name, events by short title, days relative to day 0, returns in percent.
"""
from __future__ import annotations

import re

import numpy as np
import pandas as pd

from analysis import fmt
from analysis.inference.battery import REGISTRY, describe
from analysis.inference.design import oversized_here
from analysis.inference.multiple import ALPHA
from analysis.report import artifacts
from analysis.report.answer_rows import event_titles
from analysis.report.context import ReportInputs
from analysis.report.sections.common import records
from analysis.report.sections.answer import pooled as pooled_table, primary, study_sensitivity, study_table, timing_pooled
from analysis.report.summary_text import mde_words, pct
from analysis.vocab import GROUPS, PRIMARY_WINDOW, group_label, parse_window

#: Separator of several event ids in car.csv ``overlaps`` and of texts in ``confounders``.
_IDS = re.compile(r"\s*[;|,]\s*")
_TEXTS = " | "


def _titles(inputs: ReportInputs) -> dict[str, str]:
    t = event_titles(inputs.run.catalog)
    return dict(zip(t["event_id"], t["short_title"]))


def _names(inputs: ReportInputs) -> dict[str, str]:
    return dict(zip(inputs.universe["symbol"], inputs.universe["name"]))


def _windows(ws) -> str:
    ws = sorted(set(ws), key=lambda w: (parse_window(w)[1] - parse_window(w)[0], parse_window(w)[0]))
    return ", ".join(fmt.window_label(w) for w in ws)


def _day(d) -> str:
    return "day " + fmt.num(int(d), 0, signed=int(d) != 0)


def _requested(car: pd.DataFrame) -> pd.DataFrame:
    if "window_kind" in car.columns:
        return car[car["window_kind"].fillna("requested") == "requested"]
    return car


def overlaps(car: pd.DataFrame, titles: dict, names: dict) -> list[str]:
    """Which windows of which event contain another event's day 0, and for which firms."""
    if car is None or "overlaps" not in car.columns:
        return []
    c = c_all = _requested(car)
    c = c[c["overlaps"].astype(str).str.strip() != ""]
    out = []
    for ev, sub in c.groupby("event_id", sort=False):
        others = sorted({o for text in sub["overlaps"] for o in _IDS.split(str(text)) if o})
        syms = list(dict.fromkeys(sub["symbol"]))
        everyone = set(syms) >= set(c_all.loc[c_all["event_id"] == ev, "symbol"])
        firms = "every firm" if everyone else ", ".join(names.get(s, s) for s in syms)
        many = sub["window"].nunique() > 1
        out.append(f"{titles.get(ev, ev)}: its window{'s' if many else ''} {_windows(sub['window'])} "
                   f"contain{'' if many else 's'} day 0 of {' and '.join(titles.get(o, o) for o in others)} "
                   f"(for {firms}); a CAR over {'these windows' if many else 'this window'} mixes the two events.")
    return out


def drivers(car: pd.DataFrame, titles: dict, names: dict) -> list[str]:
    """Windows whose largest abnormal return falls before or after day 0: firm, day, size."""
    if car is None or "off_day0_driver" not in car.columns:
        return []
    c = _requested(car)
    c = c[c["off_day0_driver"].astype(str).str.lower() == "true"]
    # per event, per (firm, driver day): the first row's AR and every window (groups in order of appearance)
    found: dict = {}
    for r in records(c[["event_id", "symbol", "driver_day", "driver_ar", "window"]]):
        if not any(pd.isna(r[k]) for k in ("event_id", "symbol", "driver_day")):
            ar, windows = found.setdefault(r["event_id"], {}).setdefault((r["symbol"], r["driver_day"]),
                                                                          (r["driver_ar"], []))
            windows.append(r["window"])
    return [f"{titles.get(ev, ev)}: " + "; ".join(f"{names.get(sym, sym)} {pct(ar)} on {_day(day)} ({_windows(ws)})"
                                                  for (sym, day), (ar, ws) in cells.items()) + "."
            for ev, cells in found.items()]


def confounders(car: pd.DataFrame, ar: pd.DataFrame | None, listed: pd.DataFrame | None, titles: dict,
                names: dict) -> list[str]:
    """Other news (``data/confounders.csv``) inside a window: whose, which day, the firm's
    abnormal return that day (firm news), or the date (market news)."""
    if car is None or "confounders" not in car.columns:
        return []
    c = _requested(car)
    c = c[c["confounders"].astype(str).str.strip() != ""]
    by_what = {}
    if listed is not None and len(listed):
        by_what = {str(r["what"]): r for _, r in listed.iterrows()}
    ar_of: dict = {}  # (event, symbol) -> its abnormal returns, dates parsed
    if ar is not None:
        ar_of = {k: g for k, g in ar.assign(_date=pd.to_datetime(ar["date"])).groupby(["event_id", "symbol"],
                                                                                       sort=False)}
    out = []
    for ev, sub in c.groupby("event_id", sort=False):
        market, firm = [], []
        seen = set()
        for sym, text in zip(sub["symbol"], sub["confounders"]):
            for what in str(text).split(_TEXTS):
                what = what.strip()
                row = by_what.get(what)
                conf_sym = "" if row is None or not isinstance(row["symbol"], str) else row["symbol"]
                key = (what, conf_sym)
                if not what or key in seen or (conf_sym and conf_sym != sym):
                    continue
                seen.add(key)
                date = _landing(row)
                short = _short(what)
                if not conf_sym:
                    market.append(f"{short} ({fmt.date_text(date)})" if date is not None else short)
                    continue
                where = ""
                if ar is not None and date is not None:
                    a = ar_of.get((ev, sym))
                    a = a[a["_date"] >= date] if a is not None else ()
                    if len(a):
                        a = a.sort_values("day").iloc[0]
                        where = f", {_day(a['day'])}, abnormal return {pct(a['abnormal_return'])}"
                firm.append(f"{names.get(sym, sym)}: {short}{where}")
        parts = []
        if firm:
            parts.append("firm news: " + "; ".join(firm))
        if market:
            parts.append("market news: " + "; ".join(market))
        if parts:
            out.append(f"{titles.get(ev, ev)}: " + ". ".join(parts) + ".")
    return out


def _landing(row) -> pd.Timestamp | None:
    """A listed confounder's first session on the markets it reaches (its ``day_<market>`` columns,
    :func:`analysis.data.news_days.place_confounders`), else its calendar day; None if unlisted."""
    if row is None:
        return None
    placed = [pd.Timestamp(row[c]) for c in row.index if str(c).startswith("day_") and pd.notna(row[c])]
    return min(placed) if placed else pd.Timestamp(row["day"])


def _short(what: str, limit: int = 110) -> str:
    what = " ".join(what.split())
    return what if len(what) <= limit else what[:limit].rsplit(" ", 1)[0] + " …"


def suspensions_and_limits(car: pd.DataFrame, titles: dict, names: dict) -> list[str]:
    """Suspended sessions inside windows, and day-0 price-limit runs (window extended)."""
    if car is None:
        return []
    out = []
    if "spans_suspension" in car.columns:
        c = _requested(car)
        c = c[c["spans_suspension"].astype(str).str.lower() == "true"]
        for (ev, sym), sub in c.groupby(["event_id", "symbol"], sort=False):
            r = sub.iloc[0]
            out.append(f"{titles.get(ev, ev)}: {names.get(sym, sym)} suspended from "
                       f"{fmt.date_text(r['suspension_first'])} to {fmt.date_text(r['suspension_last'])}; its first "
                       f"return after the suspension spans those sessions ({_windows(sub['window'])}).")
    if "window_kind" in car.columns:
        ext = car[car["window_kind"] == "limit_extended"]
        for _, r in ext.iterrows():
            flag = str(r.get("limit_flag") or "a price limit")
            out.append(f"{titles.get(r['event_id'], r['event_id'])}: {names.get(r['symbol'], r['symbol'])} closed at "
                       f"{fmt.prose(flag)}; its {fmt.window_label(r['window'])} window runs to the end of the limit "
                       f"run ({fmt.date_text(r['span_last'])}), CAR {pct(r['car'])}.")
    return out


def skipped(sk: pd.DataFrame | None, titles: dict, names: dict) -> list[str]:
    if sk is None or sk.empty:
        return []
    out = []
    for (sym, reason), sub in sk.groupby(["symbol", "reason"], sort=False):
        out.append(f"{names.get(sym, sym)} left out of {', '.join(titles.get(e, e) for e in sub['event_id'])}: "
                   f"{fmt.prose(reason)}.")
    return out


def small_cells(tests: pd.DataFrame | None, titles: dict) -> list[str]:
    """Cells (event, group) with fewer firms than some test needs (the registry's ``min_n``)."""
    if tests is None or tests.empty:
        return []
    cells = tests.drop_duplicates(["event_id", "group", "n"])[["event_id", "group", "n"]]
    out = []
    for (group, n), sub in cells.groupby(["group", "n"], sort=False):
        need = [t for t in REGISTRY.values() if int(n) < t.min_n]
        if not need:
            continue
        evs = list(dict.fromkeys(sub["event_id"]))
        least = min(t.min_n for t in need)
        out.append(f"{group_label(group)}: {int(n)} firm{'s' if int(n) != 1 else ''} at "
                   f"{', '.join(titles.get(e, e) for e in evs)}; the tests that need {least} firms or more are not "
                   f"computed there ({', '.join(t.label for t in need)}); the portfolio, sample-quantile and exact "
                   f"sign tests are.")
    return out


def detectable_lines(rows: pd.DataFrame | None) -> list[str]:
    out = []
    if rows is not None and len(rows):
        for g in [g for g in GROUPS if g in set(rows["group"])]:
            out.append(f"{group_label(g)}: {mde_words(rows[rows['group'] == g])} (the primary test over days "
                       f"{fmt.window_label(PRIMARY_WINDOW)}); smaller true effects are likely missed.")
    over = sorted(oversized_here())
    if over:
        out.append("Tests that reject too often in this design (simulated size above 7%): "
                   f"{', '.join(describe(t, 'label') for t in over)}; read their calibrated p-values, not their "
                   "own (Methods).")
    return out


def _small(p: float) -> str:
    """A small probability with two significant digits, without an exponent (0.00054)."""
    return f"{p:.2g}" if p >= 1e-4 else f"{p:.6f}".rstrip("0")


def _registry_order(names) -> list[str]:
    names = list(names)
    return [t for t in REGISTRY if t in names] + [t for t in names if t not in REGISTRY]


def p_floors(tests: pd.DataFrame | None) -> list[str]:
    """The smallest p each tail-robust p-value of the run can reach (its floor), against the level
    Holm asks of the first primary test: history p 1 / (1 + n) (n reference windows of the
    firm's or portfolio's history), calibrated p 1 / (1 + D) (D pseudo-event dates), placebo p
    2 / (1 + B); and the run's own size of the tests at 5% where it exceeds 7% in a cell."""
    if tests is None or tests.empty:
        return []
    out = []

    def span(values, text):
        v = pd.to_numeric(values, errors="coerce")
        v = v[np.isfinite(v)]
        if not len(v):
            return None
        lo, hi = float(v.min()), float(v.max())
        return text(lo, hi)

    fl = span(tests["p_history_floor"], lambda lo, hi: f"history p (the move's rank among all windows of the same "
                                                       f"length in the firms' whole price history): floor "
                                                       f"{_small(lo)} to {_small(hi)}"
              ) if "p_history_floor" in tests.columns else None
    cal = None
    if "calibration_draws" in tests.columns:
        d = pd.to_numeric(tests["calibration_draws"], errors="coerce")
        cal = span(1.0 / (1.0 + d[d > 0]),
                   lambda lo, hi: f"calibrated p: floor {_small(lo)} to {_small(hi)} (1 / (1 + the "
                                  "pseudo-event dates))")
    pl = None
    if "draws" in tests.columns:
        d = pd.to_numeric(tests["draws"], errors="coerce")
        pl = span(2.0 / (1.0 + d[d > 0]),
                  lambda lo, hi: f"placebo p: floor {_small(lo)} to {_small(hi)}")
    floors = [x for x in (fl, cal, pl) if x]
    prim = tests["primary"].astype(bool) if "primary" in tests.columns else pd.Series(False, index=tests.index)
    m = int(prim.sum())
    if floors:
        out.append("No tail-robust p-value can fall below its floor: " + "; ".join(floors) + "."
                   + (f" Holm over the {m} primary tests asks p < {_small(ALPHA / m)} of the first, so "
                      "only a floor below that can carry a claim." if m else ""))
    if "size_5pct" in tests.columns:
        from analysis.inference.design import OVERSIZED_SIZE

        size = pd.to_numeric(tests["size_5pct"], errors="coerce")
        over = tests[size > OVERSIZED_SIZE]
        if len(over):
            by = over.groupby("test").size()
            tot = tests[np.isfinite(size)].groupby("test").size()
            out.append("At the pseudo-event dates of these firms' own histories some tests reject more than 7% at a "
                       "nominal 5% (oversized in those cells, whatever the simulation says; their stars come from "
                       "the calibrated p): " + ", ".join(f"{describe(t, 'label')} in {int(by[t])} of {int(tot[t])} "
                                                         "cells" for t in _registry_order(by.index)) + ".")
    return out


def multiplicity(tests: pd.DataFrame | None, rows: pd.DataFrame | None, titles: dict) -> list[str]:
    if tests is None or tests.empty:
        return []
    p = tests["p_value"].astype(float)
    n_run = int(np.isfinite(p).sum())
    raw = int((p < ALPHA).sum())
    out = [f"{n_run} tests were run (every test, group, window and event); {raw} have an unadjusted p below "
           f"{ALPHA:.2f}, about {round(ALPHA * n_run)} of which would be expected by chance alone."]
    if rows is not None and len(rows):
        sig = rows[rows["significant"]]
        m = int(np.isfinite(rows["p_value"].astype(float)).sum())
        nominal = int((rows["p_value"].astype(float) < ALPHA).sum())
        left = ", ".join(f"{titles.get(r['event_id'], r['event_id'])} ({GROUPS[r['group']].words if r['group'] in GROUPS else r['group']})"
                         for _, r in sig.iterrows())
        text = (f"Primary family ({m} tests): {nominal} below {ALPHA:.2f} before adjustment; Holm leaves "
                f"{len(sig)} standing" + (f": {left}." if len(sig) else "."))
        if "claimed" in rows.columns:
            n_claimed = int(rows["claimed"].astype(bool).sum())
            text += (f" These p-values rest on the normal tail, which a handful of firms cannot support at Holm's "
                     f"level; The answer claims a single event only when Holm on the tail-robust p (the move against "
                     f"the firms' own price history) is below {ALPHA:.2f} and the move can be attributed: "
                     f"{n_claimed} {'event' if n_claimed == 1 else 'events'} here.")
        out.append(text)
    if "q_bh" in tests.columns:
        q = tests["q_bh"].astype(float)
        by = tests[q < ALPHA].groupby("test").size()
        over = oversized_here()
        present = set(tests["test"])
        names = [t for t in REGISTRY if t in present]
        held = ", ".join(f"{describe(t, 'label')} {int(by.get(t, 0))}" for t in names if t not in over)
        loose = ", ".join(f"{describe(t, 'label')} {int(by.get(t, 0))}" for t in names if t in over)
        out.append(f"Benjamini-Hochberg (false discovery rate {ALPHA:.0%}, each test over all its cells) leaves "
                   f"{int((q < ALPHA).sum())} of {int(np.isfinite(q).sum())} standing: {held or 'none'}"
                   + (f"; and among the tests that reject too often in this design (no evidence on their own): "
                      f"{loose}" if loose else "") + ".")
    return out


def unattributable(rows: pd.DataFrame | None, titles: dict) -> list[str]:
    """The primary cells that are not attributable (a major confounder on days 0..+1), each
    with its move and the news that shares its session."""
    if rows is None or rows.empty or "attributable" not in rows.columns:
        return []
    from analysis.report.sections.answer import _first_clause

    out = []
    for _, r in rows[~rows["attributable"].astype(bool)].iterrows():
        news = "; ".join(dict.fromkeys(_first_clause(w) for w in str(r["confounded_by"]).split(_TEXTS) if w.strip()))
        move = pct(r["estimate"]) if np.isfinite(float(r["estimate"])) else "no CAR"
        out.append(f"{titles.get(r['event_id'], r['event_id'])}, {group_label(r['group']).lower()}: CAR {move} over "
                   f"days {fmt.window_label(PRIMARY_WINDOW)}, in the same sessions as {news or 'other major news'}.")
    return out


def pooled_notes(pooled: pd.DataFrame | None) -> list[str]:
    """How the pooled answers are built and how they change with every event (scope all)."""
    if pooled is None or pooled.empty:
        return []
    out = []
    prim = pooled[pooled["primary"].astype(str).str.lower() == "true"] if "primary" in pooled.columns else pooled[:0]
    for _, r in prim.iterrows():
        every = pooled[(pooled["scope"] == "all") & (pooled["group"] == r["group"]) & (pooled["window"] == r["window"])
                       & (pooled["test"] == r["test"])]
        text = (f"{group_label(r['group'])}: the average over {int(r['n_events'])} attributable events is "
                f"{pct(r['estimate'])}" if np.isfinite(float(r["estimate"])) else
                f"{group_label(r['group'])}: too few attributable events ({int(r['n_events'])}) to pool")
        if len(every) and int(every.iloc[0]["n_events"]) != int(r["n_events"]) and np.isfinite(
                float(every.iloc[0]["estimate"])):
            text += (f"; over all {int(every.iloc[0]['n_events'])} events, including those that cannot be "
                     f"attributed, it is {pct(every.iloc[0]['estimate'])}")
        out.append(text + ".")
    if out:
        out.append("The average treats the events' CARs as independent (they fall on different dates); it says "
                   "whether the news moves the group on average, not at which event.")
    return out


def placebo_short(inputs: ReportInputs, titles: dict) -> list[str]:
    """Events whose placebo test found fewer pseudo-event dates than requested."""
    out = []
    for e in inputs.studied:
        requested = e.meta.get("placebo_draws") or inputs.run.cfg.parameters.get("placebo_draws") or 0
        t = e.tests
        if not requested or t is None or "draws" not in t.columns:
            continue
        have = pd.to_numeric(t["draws"], errors="coerce").max()
        if np.isfinite(have) and have < int(requested):
            out.append(f"{titles.get(e.event_id, e.event_id)}: {int(have)} pseudo-event dates of the "
                       f"{int(requested)} requested; its placebo and calibrated p-values rest on those.")
    return out


def build(inputs: ReportInputs) -> list[dict]:
    """``[{"title", "items": [...]}]``, empty categories left out."""
    from analysis.data.catalog import DEFAULT_CONFOUNDERS, load_confounders
    from analysis.data.news_days import place_confounders

    titles, names = _titles(inputs), _names(inputs)
    car = study_table(inputs, artifacts.STUDY_CAR)
    tests = study_table(inputs, artifacts.STUDY_TESTS)
    ar = study_table(inputs, artifacts.STUDY_AR)
    rows = primary(inputs)
    try:
        listed = place_confounders(load_confounders(inputs.run.cfg.parameters.get("confounders")
                                                    or DEFAULT_CONFOUNDERS, strict=False))
    except Exception:  # noqa: BLE001 - a caveat list must not sink the PDF; the study already checked the file
        listed = None
    cats = [
        ("Overlapping events", overlaps(car, titles, names)),
        ("Largest move off the news day", drivers(car, titles, names)),
        ("Other news inside the windows", confounders(car, ar, listed, titles, names)),
        ("Suspensions and price-limit runs", suspensions_and_limits(car, titles, names)),
        ("Firms left out", skipped(study_table(inputs, artifacts.STUDY_SKIPPED), titles, names)),
        ("Cells too small for some tests", small_cells(tests, titles)),
        ("What this design can detect", detectable_lines(rows)),
        ("What the p-values can show", p_floors(tests)),
        ("Moves that cannot be attributed", unattributable(rows, titles)),
        ("Pooled answers across events", pooled_notes(pooled_table(inputs))),
        ("Number of tests", multiplicity(tests, rows, titles)),
        ("Placebo draws short of the request", placebo_short(inputs, titles)),
        ("Time of day of date-only news", after_close(tests, study_sensitivity(inputs), titles, names,
                                                      car=car, pooled=timing_pooled(inputs))),
    ]
    return [{"title": t, "lead": LEADS.get(t, ""), "items": items} for t, items in cats if items]




def after_close(tests: pd.DataFrame | None, sensitivity: pd.DataFrame | None, titles: dict,
                names: dict, car: pd.DataFrame | None = None, pooled: pd.DataFrame | None = None) -> list[str]:
    """Whether a conclusion of the primary family (Holm at 5%) changes when every date-only
    announcement is taken as made after the US close (:func:`analysis.inference.timing.conclusions`).
    ``pooled``: :func:`analysis.inference.timing.pooled_conclusions` of these tables when already
    computed (None: computed here)."""
    from analysis.inference import timing

    if tests is None or sensitivity is None or "date_kind" not in sensitivity.columns:
        return []
    moved = sensitivity[sensitivity["date_kind"] == timing.AFTER_CLOSE]
    if moved.empty or "p_value" not in tests.columns:
        return []
    c = timing.conclusions(tests, sensitivity)
    pooled = timing.pooled_conclusions(tests, sensitivity, car=car) if pooled is None else pooled
    n_events = moved["event_id"].nunique()
    head = (f"{n_events} event{'s have' if n_events != 1 else ' has'} no time of day and "
            f"{'are' if n_events != 1 else 'is'} taken as announced at 09:00 New York time; taken "
            "instead as announced after the US close (US day 0 one session later, A-share day 0 unchanged), ")
    p_changed = pooled[pooled["changed"]]
    if pooled.empty:
        first = ""
    elif p_changed.empty:
        first = (f"no pooled answer changes (Holm p below 5% for the same {int(pooled['significant_main'].sum())} "
                 f"of {len(pooled)} groups: " + "; ".join(
                     f"{group_label(r.group)} {fmt.pct(r.estimate_main)}% -> {fmt.pct(r.estimate_moved)}%, "
                     f"Holm p {fmt.pvalue(r.p_holm_main)} -> {fmt.pvalue(r.p_holm_moved)}"
                     for r in pooled.itertuples(index=False)) + "); ")
    else:
        first = "the pooled answer changes for " + "; ".join(
            f"{group_label(r.group)} ({'significant' if r.significant_main else 'not significant'} -> "
            f"{'significant' if r.significant_moved else 'not significant'}, Holm p {fmt.pvalue(r.p_holm_main)} -> "
            f"{fmt.pvalue(r.p_holm_moved)})" for r in p_changed.itertuples(index=False)) + "; "
    changed = c[c["changed"]]
    if changed.empty:
        return [head + first + f"among the per-event group tests (normal-tail Holm, exploratory) the same "
                               f"{int(c['significant_main'].sum())} of {len(c)} rows are below 5%."]
    parts = []
    for r in changed.itertuples(index=False):
        was = "significant" if r.significant_main else "not significant"
        now = "significant" if r.significant_moved else "not significant"
        parts.append(f"{titles.get(r.event_id, r.event_id)}, {group_label(r.group).lower()}: {was} -> {now} "
                     f"(Holm p {fmt.pvalue(r.p_holm_main)} -> {fmt.pvalue(r.p_holm_moved)})")
    return [head + first + f"{len(changed)} of {len(c)} per-event group tests (normal-tail Holm, exploratory) "
                           "change: " + "; ".join(parts) + "."]


#: One sentence under each category's heading: what the flag means for the numbers.
LEADS = {
    "Overlapping events": "Another event's day 0 falls inside these windows: their CARs hold the reaction to both.",
    "Largest move off the news day": "In these windows the largest abnormal return is not on day 0: before the news "
                                     "it cannot be the reaction, after it it may be other news.",
    "Other news inside the windows": "News in the study's record of other news falls inside a window of the event; "
                                     "firm news with the firm's abnormal return that day.",
    "Suspensions and price-limit runs": "A suspended firm has no return until it trades again; a firm closing at "
                                        "its daily price limit has a censored reaction that continues the next "
                                        "session, so its window is extended through the limit run.",
    "Firms left out": "",
    "Cells too small for some tests": "",
    "What this design can detect": "The smallest true move the primary test finds in 80% of samples, at 5%; "
                                   "\"not distinguishable\" is not \"no effect\".",
    "What the p-values can show": ("A p-value read off the data (history, calibration, placebo) is a rank among "
                                   "the comparable values the data hold, so it cannot be smaller than one over "
                                   "their number."),
    "Moves that cannot be attributed": "Other news graded major in the study's record was priced in the "
                                      "same sessions: these moves are left out of the averages and never claimed.",
    "Pooled answers across events": "The answer's averages over the attributable events, beside the same "
                                    "averages over every event.",
    "Number of tests": "",
    "Placebo draws short of the request": "",
    "Time of day of date-only news": "The headline test again with the US day 0 of every date-only event one "
                                     "session later (the news taken as after the US close).",
}
