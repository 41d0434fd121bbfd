"""PDF section "Robustness": other normal-return models and windows, the Kolari-Pynnönen
adjustment, placebo p-values (template block ``data.robustness``)."""
from __future__ import annotations

import numpy as np
import pandas as pd

from analysis import fmt
from analysis.inference.battery import describe
from analysis.report.context import Headline, ReportInputs
from analysis.report.sections.common import records, window_order
from analysis.report.typst_tables import cell, table
from analysis.report.event import car_label, group_car, test_stars
from analysis.estimation.models import MODEL_LABELS
from analysis.vocab import group_label

#: The groups of the robustness tables, in this order when present.
GROUPS = ("named", "target", "supplier", "all")
#: Event id -> short title, set by :func:`build` for the tables of the run.
TITLES: dict[str, str] = {}


def _groups(frame: pd.DataFrame) -> list[str]:
    have = set(frame["group"]) if "group" in frame.columns else set()
    return [g for g in GROUPS if g in have]


def _ev(ev_id: str) -> str:
    return TITLES.get(ev_id, ev_id)


def _model_label(model: str) -> str:
    return MODEL_LABELS.get(model, model)


def _event_group_rows(frame: pd.DataFrame, groups, key: str, values, cell_of):
    """Table rows: one per (event, group), one column per value of ``key``; ``cell_of(row)``
    renders a found row, a dash marks a missing one. Returns (rows, first row of each event)."""
    rows, lines = [], []
    first = {}  # (event, group, value) -> its first row
    for r in records(frame):
        first.setdefault((r["event_id"], r["group"], r[key]), r)
    have = {(e, g) for e, g, _ in first}
    for ev in dict.fromkeys(frame["event_id"]):
        lines.append(len(rows))
        present = [g for g in groups if (ev, g) in have]
        for i, g in enumerate(present):
            row = [cell(_ev(ev) if i == 0 else "", align="left"), cell(group_label(g), align="left")]
            for v in values:
                x = first.get((ev, g, v))
                row.append(cell("—") if x is None else cell_of(x))
            rows.append(row)
    return rows, lines


def _p_sub(x, test: str) -> str:
    """'(0.0498)**' under a mean CAR (stars after the parenthesis, as in every table of the PDF);
    '(N = 1, no test)' when the group is too small for the test."""
    p = x["p_value"]
    if not np.isfinite(p):
        return f"(N = {int(x['n'])}, no test)"
    return f"({fmt.pvalue(p)}){test_stars(test, p)[0]}"


def models_table(robust: pd.DataFrame, models: list[str], window: str, test: str) -> dict:
    """Mean CAR of each (event, group) under each model, with the test's p."""
    wl = fmt.window_label(window)
    r = robust[(robust["window"] == window) & (robust["test"] == test)]
    header = [[cell("Event", align="left"), cell("Group", align="left")]
              + [cell(_model_label(m) + (" (US suppliers)" if (r[r["model"] == m]["scope"] == "US suppliers").any()
                                         else "") + " %") for m in models]]
    rows, lines = _event_group_rows(
        r, _groups(r), "model", models,
        lambda x: cell(fmt.pct(group_car(x)), sub=_p_sub(x, test)))
    return table(["2.9cm", "2cm"] + ["1fr"] * len(models), ["left", "left"] + ["right"] * len(models),
                 header, rows, caption=f"Other normal-return models: {car_label(test, start=False)}{wl}", lines=lines[1:],
                 note=f"{car_label(test)} in percent; {describe(test, 'description')} p in parentheses ({fmt.STAR_NOTE}). "
                      "The factor model uses US factors and covers the US suppliers only "
                      "(its 'All firms' row is the suppliers). — : not estimated.")


def windows_table(robust: pd.DataFrame, main_model: str, test: str) -> dict:
    """Mean CAR of each (event, group) over every window of the main model, stars from the test."""
    rm = robust[(robust["model"] == main_model) & (robust["test"] == test)]
    wins = window_order(rm["window"])
    header = [[cell("Event", align="left"), cell("Group", align="left")]
              + [cell(f"{fmt.window_label(w)} %") for w in wins]]
    rows, lines = _event_group_rows(
        rm, _groups(rm), "window", wins,
        lambda x: cell(fmt.pct(group_car(x)), sub=_p_sub(x, test)))
    return table(["2.9cm", "2cm"] + ["1fr"] * len(wins), ["left", "left"] + ["right"] * len(wins),
                 header, rows, caption=f"Event windows ({_model_label(main_model)}): {car_label(test, start=False)} %",
                 lines=lines[1:],
                 note=f"{car_label(test)} in percent; p of the {describe(test, 'description')} in parentheses; "
                      f"{fmt.STAR_NOTE}.")


def firm_models_table(robust_firms: pd.DataFrame, models: list[str], headline: Headline) -> dict | None:
    """The headline firm's CAR at each event under each model (None when it has no rows)."""
    rf = robust_firms[(robust_firms["window"] == headline.window) & (robust_firms["symbol"] == headline.symbol)]
    fmodels = [m for m in models if m in set(rf["model"])]
    header = [[cell("Event", align="left")] + [cell(f"{_model_label(m)} %") for m in fmodels]]
    rows = []
    for ev in dict.fromkeys(rf["event_id"]):
        row = [cell(_ev(ev), align="left")]
        for m in fmodels:
            x = rf[(rf["event_id"] == ev) & (rf["model"] == m)]
            if x.empty:
                row.append(cell("—"))
            else:
                x = x.iloc[0]
                row.append(cell(fmt.pct(x["car"]), sub=f"(p = {fmt.pvalue(x['car_p'])}){fmt.stars(x['car_p'])}"))
        rows.append(row)
    if not rows:
        return None
    return table(["4cm"] + ["1fr"] * len(fmodels), ["left"] + ["right"] * len(fmodels),
                 header, rows, caption=f"{headline.name or headline.symbol}: "
                 f"CAR{fmt.window_label(headline.window)} under each model",
                 note=f"CAR in percent, the firm t-test's p in parentheses ({fmt.STAR_NOTE}).")


def kp_table(tests: pd.DataFrame, window: str) -> dict | None:
    """BMP with and without the Kolari-Pynnönen adjustment, with the mean correlation r̄."""
    kp = tests[(tests["window"] == window) & tests["test"].isin(["bmp", "bmp_kp"]) & (tests["n"] >= 2)]
    if not len(kp):
        return None
    header = [[cell("Event", align="left"), cell("Group", align="left"), cell("N"), cell("Mean CAR %"),
               cell("r̄"), cell(describe("bmp", "label")), cell(describe("bmp_kp", "label"))]]
    rows, lines = [], []
    first: dict = {}  # (event, group) -> {test: its first row}, in the frame's order
    for r in records(kp):
        first.setdefault((r["event_id"], r["group"]), {}).setdefault(r["test"], r)
    for ev in dict.fromkeys(kp["event_id"]):
        lines.append(len(rows))
        for i, g in enumerate([g for g in GROUPS if (ev, g) in first]):
            by_test = first[(ev, g)]
            x = next(iter(by_test.values()))
            k = by_test.get("bmp_kp")
            rbar = k.get("r_kp", np.nan) if k is not None else np.nan
            row = [cell(_ev(ev) if i == 0 else "", align="left"), cell(group_label(g), align="left"),
                   cell(str(int(x["n"]))), cell(fmt.pct(x["mean_car"])), cell(fmt.num(rbar, 3))]
            for name in ("bmp", "bmp_kp"):
                p = by_test.get(name)
                if p is None:
                    row.append(cell(fmt.NA))
                else:
                    row.append(cell(fmt.num(p["statistic"]),
                                    sub=f"({fmt.pvalue(p['p_value'])}){test_stars(name, p['p_value'])[0]}"))
            rows.append(row)
    return table(["2.9cm", "2cm", "0.8cm", "1fr", "1fr", "1fr", "1fr"],
                 ["left", "left"] + ["right"] * 5, header, rows, lines=lines[1:],
                 caption=f"Kolari-Pynnönen adjustment: BMP with and without it, CAR{fmt.window_label(window)}",
                 note="r̄: mean pairwise correlation of the group's estimation-window abnormal "
                      "returns; the adjusted statistic is BMP × √((1 − r̄) / (1 + (N − 1) r̄)). "
                      f"p in parentheses; {fmt.STAR_NOTE}. BMP is oversized in this design: its stars are "
                      "left out (the calibrated p of every test is in the event tables).")


def placebo_table(placebo: pd.DataFrame) -> dict:
    """Placebo p-values by (event, group) and window."""
    wins = window_order(placebo["window"])
    header = [[cell("Event", align="left"), cell("Group", align="left")] + [cell(fmt.window_label(w)) for w in wins]]
    rows, lines = [], []
    first: dict = {}  # (event, group, window) -> its first p
    for ev, g, w, pv in zip(placebo["event_id"], placebo["group"], placebo["window"], placebo["p_value"]):
        first.setdefault((ev, g, w), float(pv))
    have = {(ev, g) for ev, g, _ in first}
    for ev in dict.fromkeys(placebo["event_id"]):
        lines.append(len(rows))
        for i, g in enumerate([g for g in GROUPS if (ev, g) in have]):
            row = [cell(_ev(ev) if i == 0 else "", align="left"), cell(group_label(g), align="left")]
            for w in wins:
                pv = first.get((ev, g, w), np.nan)
                row.append(cell(fmt.NA) if not np.isfinite(pv) else cell(fmt.pvalue(pv) + test_stars("placebo", pv)[0]))
            rows.append(row)
    draws = placebo["draws"].dropna() if "draws" in placebo.columns else pd.Series(dtype=float)
    dtext = (f"{int(draws.min())}–{int(draws.max())}" if len(draws) and draws.min() != draws.max()
             else f"{int(draws.iloc[0])}" if len(draws) else "the configured number of")
    return table(["2.9cm", "2cm"] + ["1fr"] * len(wins), ["left", "left"] + ["right"] * len(wins),
                 header, rows, lines=lines[1:], caption="Placebo test: two-sided p-values",
                 note=f"Share of {dtext} pseudo-event dates per event (drawn from the firms' own "
                      "histories, away from catalog events) whose mean CAR is at least as "
                      f"extreme as the observed one; {fmt.STAR_NOTE}.")


def build(inputs: ReportInputs) -> dict:
    """The robustness tables of the studied events (a table is left out when it has no rows)."""
    headline, main_model = inputs.headline, inputs.main_model
    cat = inputs.run.catalog
    TITLES.clear()
    if "short_title" in cat.columns:
        TITLES.update(zip(cat["event_id"], cat["short_title"]))
    window, test = headline.window, headline.test
    robust, tests = inputs.concat("robust"), inputs.concat("tests")
    section = {"notes": sorted({n for e in inputs.studied for n in e.meta.get("notes", [])})}
    if robust is not None and len(robust):
        models = list(dict.fromkeys([main_model] + list(robust["model"])))
        for key, spec in (("models_table", models_table(robust, models, window, test)),
                          ("windows_table", windows_table(robust, main_model, test))):
            if spec["rows"]:
                section[key] = spec
        robust_firms = inputs.concat("robust_firms")
        if robust_firms is not None and len(robust_firms):
            spec = firm_models_table(robust_firms, models, headline)
            if spec is not None:
                section["firm_models_table"] = spec
    if tests is not None and len(tests):
        spec = kp_table(tests, window)
        if spec is not None:
            section["kp_table"] = spec
        placebo = tests[(tests["test"] == "placebo")]
        if len(placebo):
            section["placebo_table"] = placebo_table(placebo)
        else:
            section["placebo_missing"] = "The results of this run have no placebo rows (test = 'placebo' in tests.csv)."
    return section
