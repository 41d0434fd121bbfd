"""Build ``report.pdf`` from what the notebooks saved, with typst (the PyPI ``typst`` package).

:func:`collect` reads the tables and figures of a run folder and turns them into one JSON file
(``report_data.json``): every number already formatted (by :mod:`analysis.fmt`), every
table as a small spec (header rows, body rows, column widths and alignment), so the template
(``template.typ``, copied into the run folder as ``report.typ``) only lays things out. Typst
runs with its embedded fonts only, so the PDF looks the same on every machine.
"""
from __future__ import annotations

import json
import shutil
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd

from analysis.report import summary_text
from analysis import fmt
from analysis.vocab import GROUP_ORDER, GROUPS
from analysis.report import provenance as prov
from analysis.report.artifacts import read_json, write_json

TEMPLATE = Path(__file__).resolve().parent / "template.typ"
GROUP_LABEL = {g.name: g.label for g in GROUPS.values()}  # incl. "named" (issue 10)
ROLE_ORDER = ("target", "peer", "supplier")
TEST_LABEL = {"t_cs": "Cross-sect. t", "patell": "Patell Z", "bmp": "BMP t", "bmp_kp": "KP-BMP t",
              "gen_sign": "Gen. sign Z", "corrado": "Corrado", "grank": "GRANK t", "placebo": "Placebo z"}
TEST_LONG = {"t_cs": "cross-sectional t-test", "patell": "Patell test", "bmp": "BMP test (Boehmer, Musumeci & "
             "Poulsen 1991)", "bmp_kp": "BMP test with the Kolari-Pynnönen (2010) adjustment",
             "gen_sign": "generalized sign test (Cowan 1992)", "corrado": "Corrado (1989) rank test",
             "grank": "generalized rank test (Kolari & Pynnönen 2011)", "placebo": "placebo (pseudo-event date) test"}
MODEL_LABEL = {"market": "Market model", "mean": "Constant mean", "market-adjusted": "Market-adjusted",
               "ff3": "Fama-French 3", "carhart": "Carhart 4"}


# --------------------------------------------------------------------------- table specs


def cell(text, sub=None, sup=None, colspan=None, align=None, bold=False, italic=False, mono=False) -> dict:
    """One table cell for the template: main text, optional second line, superscript (stars)."""
    c = {"t": "" if text is None else str(text)}
    if sub:
        c["s"] = str(sub)
    if sup:
        c["sup"] = str(sup)
    if colspan:
        c["colspan"] = int(colspan)
    if align:
        c["align"] = align
    if bold:
        c["b"] = True
    if italic:
        c["i"] = True
    if mono:
        c["mono"] = True
    return c


def table(columns, align, header, rows, caption=None, size="8pt", note=None, lines=None, breakable=None) -> dict:
    """A table spec: ``header``/``rows`` are lists of rows of cells (str or :func:`cell`);
    ``lines`` lists body row indexes to draw a thin rule above (group separators). Long tables
    may break across pages (the header repeats); short ones move whole to the next page."""
    if breakable is None:
        breakable = len(rows) > 24
    return {"columns": list(columns), "align": list(align), "header": header, "rows": rows, "caption": caption,
            "size": size, "note": note, "lines": list(lines or []), "breakable": bool(breakable)}


def _read(path: Path) -> pd.DataFrame | None:
    if not path.is_file():
        return None
    frame = pd.read_csv(path, keep_default_na=True)
    for col in ("stars", "note", "limit_flag", "reason"):
        if col in frame.columns:
            frame[col] = frame[col].fillna("")
    return frame


def _rel(path: Path, root: Path) -> str:
    return str(Path(path).resolve().relative_to(root.resolve()))


def _figure(folder: Path, name: str, root: Path) -> str | None:
    for ext in ("svg", "png"):
        p = folder / f"{name}.{ext}"
        if p.is_file():
            return _rel(p, root)
    return None


def _window_order(windows) -> list[str]:
    def key(w):
        a, b = (int(x) for x in w.split(":"))
        return (b - a, a)

    return sorted(dict.fromkeys(windows), key=key)


# --------------------------------------------------------------------------- per event


def firm_table_spec(firms: pd.DataFrame, windows: list[str], caption: str) -> dict:
    """CAR by firm (rows, grouped by role) and window (column groups: CAR % with s.e. below, t, p)."""
    header = [[cell("")] + [cell(f"CAR{fmt.window_label(w)}", colspan=3, align="center") for w in windows],
              [cell("Firm", align="left")] + [c for _ in windows for c in
                                                (cell("CAR %"), cell("t"), cell("p"))]]
    rows, lines = [], []
    notes = []
    records = firms.to_dict("records")
    at = {(r["symbol"], r["window"]): r for r in records}
    roles = list(dict.fromkeys(r["role"] for r in records))
    for role in [x for x in ROLE_ORDER if x in roles] + sorted(set(roles) - set(ROLE_ORDER)):
        symbols = list(dict.fromkeys(r["symbol"] for r in records if r["role"] == role))
        lines.append(len(rows))
        rows.append([cell(GROUP_LABEL.get(role, role), colspan=1 + 3 * len(windows), align="left", italic=True)])
        for sym in symbols:
            name = next(r["name"] for r in records if r["symbol"] == sym)
            mark = ""
            row = []
            for w in windows:
                r = at.get((sym, w))
                if r is None:
                    row += [cell("n/a"), cell(""), cell("")]
                    continue
                if r["note"]:
                    mark = "†"
                    notes.append(f"{sym} {fmt.window_label(w)}: {fmt.prose(r['note'])}")
                row += [cell(fmt.num(r["car_pct"]), sub=f"({fmt.num(r['se_pct'])})", sup=r["stars"] or None),
                        cell(fmt.num(r["t"])), cell(fmt.pvalue(r["p"]))]
            rows.append([cell(f"{name}{mark}", sub=sym, align="left")] + row)
    note = ("CAR and its standard error (in parentheses) in percent; t = CAR / s.e.; two-sided p from Student t "
            "with the estimation residual degrees of freedom. * p < 0.10, ** p < 0.05, *** p < 0.01.")
    if notes:
        note += " † " + "; ".join(dict.fromkeys(notes)) + "."
    width = f"{max(3.0, 17.4 - 1.17 * 3 * len(windows)):.2f}cm"
    return table([width] + ["1fr"] * (3 * len(windows)), ["left"] + ["right"] * (3 * len(windows)), header, rows,
                 caption=caption, size="7.5pt", note=note, lines=lines)


def test_table_spec(tests: pd.DataFrame, windows: list[str], caption: str) -> dict:
    """Group tests: rows (window, group), columns N, mean CAR %, then each test: statistic with
    stars, p below."""
    names = [t for t in TEST_LABEL if t in set(tests["test"])] + sorted(set(tests["test"]) - set(TEST_LABEL))
    header = [[cell("Group", align="left"), cell("N"), cell("Mean CAR %")] + [cell(TEST_LABEL.get(t, t)) for t in names]]
    rows, lines, untested = [], [], set()
    records = tests.to_dict("records")
    at = {(r["window"], r["group"], r["test"]): r for r in records}
    present = {(r["window"], r["group"]): int(r["n"]) for r in records}
    for w in windows:
        groups = [g for g in GROUP_ORDER if (w, g) in present]
        if not groups:
            continue
        lines.append(len(rows))
        rows.append([cell(f"Window {fmt.window_label(w)}", colspan=3 + len(names), align="left", italic=True)])
        for group in groups:
            n = present[(w, group)]
            if n < 2:
                untested.add(f"{GROUP_LABEL.get(group, group).lower()} (N = {n})")
                continue
            first = next(at[(w, group, t)] for t in names if (w, group, t) in at)
            row = [cell(GROUP_LABEL.get(group, group), align="left"), cell(str(n)), cell(fmt.num(first["mean_car_pct"]))]
            for t in names:
                r = at.get((w, group, t))
                if r is None or not np.isfinite(r["statistic"]):
                    row.append(cell("n/a"))
                else:
                    row.append(cell(fmt.num(r["statistic"]), sub=f"({fmt.pvalue(r['p_value'])})", sup=r["stars"] or None))
            rows.append(row)
    note = ("Statistic with its two-sided p-value in parentheses; * p < 0.10, ** p < 0.05, *** p < 0.01. "
            + "; ".join(f"{TEST_LABEL.get(t, t)}: {TEST_LONG.get(t, t)}" for t in names) + ".")
    if untested:
        note += f" Not tested (fewer than 2 firms): {', '.join(sorted(untested))}."
    return table(["2.2cm", "0.7cm", "1.5cm"] + ["1fr"] * len(names), ["left", "right", "right"] + ["right"] * len(names),
                 header, rows, caption=caption, size="7.5pt", note=note, lines=lines)


def volume_table_spec(vol: pd.DataFrame, windows: list[str], caption: str) -> dict | None:
    need = {"group", "window", "n", "mean_cav", "statistic", "p_value"}
    if vol is None or vol.empty or not need <= set(vol.columns):
        return None
    groups = [g for g in GROUP_ORDER if g in set(vol["group"])]
    header = [[cell("Group", align="left"), cell("N")] + [cell(f"{fmt.window_label(w)}") for w in windows]]
    rows = []
    for g in groups:
        vg = vol[vol["group"] == g]
        n = int(vg["n"].max()) if len(vg) else 0
        row = [cell(GROUP_LABEL.get(g, g), align="left"), cell(str(n))]
        for w in windows:
            r = vg[vg["window"] == w]
            if r.empty or not np.isfinite(r["mean_cav"].iloc[0]):
                row.append(cell("n/a"))
                continue
            r = r.iloc[0]
            p = r["p_value"]
            row.append(cell(fmt.num(r["mean_cav"]), sub=f"({fmt.pvalue(p)})" if np.isfinite(p) else "(no test)",
                            sup=fmt.stars(p) or None))
        rows.append(row)
    note = ("Mean cumulative abnormal log volume: the sum over the window's days of log(1 + volume) minus its "
            "estimation-window mean (on a one-day window 0.69 means twice the normal volume; over L days, "
            "exp(value / L) is the average daily multiple of normal volume). BMP-style test p in parentheses "
            "(Campbell & Wasley 1996).")
    return table(["2.6cm", "0.8cm"] + ["1fr"] * len(windows), ["left", "right"] + ["right"] * len(windows),
                 header, rows, caption=caption, size="7.5pt", note=note)


def _event_base(ev_row) -> dict:
    from analysis.report.compare import short_title

    announced = str(ev_row["announced_at"])
    date = pd.Timestamp(announced[:10])
    return {"event_id": ev_row["event_id"], "title": ev_row["title"], "short_title": short_title(ev_row["title"]),
            "kind": ev_row["kind"], "announced_at": announced, "date": date, "date_text": fmt.date_text(date),
            "source": ev_row["source"]}


EXCHANGE_LABEL = {"XSHE": "Shenzhen", "XSHG": "Shanghai", "XNAS": "Nasdaq", "XNYS": "NYSE", "XHKG": "Hong Kong"}


def event_section(job, ev: dict, root: Path, headline: dict, describe_error) -> tuple[dict, dict]:
    """The PDF section of one event, and the frames the summary needs."""
    sec = {k: (v if k != "date" else v.date().isoformat()) for k, v in ev.items()}
    sec["status"] = job.status if job else "not run"
    frames = {}
    if job is None or job.status == "failed":
        sec["error"] = describe_error(job) if job else "no notebook ran for this event"
        return sec, frames
    out = job.output_dir
    firms, tests = _read(out / "car_by_firm.csv"), _read(out / "group_tests.csv")
    meta = read_json(out / "meta.json") if (out / "meta.json").is_file() else {}
    if firms is None or tests is None:
        sec["status"] = "failed"
        sec["error"] = f"the notebook ran but did not save car_by_firm.csv and group_tests.csv in {out}"
        return sec, frames
    windows = [w for w in meta.get("windows", []) if w in set(firms["window"])] or _window_order(firms["window"])
    sec["windows"] = windows
    sec["day0"] = "; ".join(f"{EXCHANGE_LABEL.get(k, k)} {v}" for k, v in sorted(meta.get("day0", {}).items()))
    sec["figure"] = _figure(out, "car_path", root)
    sec["firm_table"] = firm_table_spec(firms, windows, f"{ev['event_id']}: CAR by firm and window")
    sec["test_table"] = test_table_spec(tests, windows, f"{ev['event_id']}: group tests")
    vol = _read(out / "volume_tests.csv")
    sec["volume_table"] = volume_table_spec(vol, windows, f"{ev['event_id']}: abnormal trading volume")
    skipped = meta.get("skipped", [])
    notes = [f"{s['symbol']} skipped: {s['reason']}" for s in skipped] + list(meta.get("notes", []))
    sec["notes"] = notes
    frames = {"firms": firms, "tests": tests, "robust": _read(out / "robustness.csv"),
              "robust_firms": _read(out / "robustness_firms.csv"), "meta": meta}
    return sec, frames


# --------------------------------------------------------------------------- cross-event


def compare_section(job, root: Path, describe_error, window: str, test: str) -> tuple[dict, dict]:
    sec = {"status": job.status if job else "not run"}
    if job is None or job.status == "failed":
        sec["error"] = describe_error(job) if job else "no comparison notebook in the configuration"
        return sec, {}
    out = job.output_dir
    moved = _read(out / "group_by_event.csv")
    kinds, years = _read(out / "kind_comparison.csv"), _read(out / "year_comparison.csv")
    tvs = _read(out / "targets_vs_suppliers.csv")
    sec["heatmap"] = _figure(out, "heatmap", root)
    sec["groups_figure"] = _figure(out, "groups_by_event", root)
    sec["timeline_figure"] = _figure(out, "reaction_timeline", root)
    wl = fmt.window_label(window)
    if moved is not None and len(moved):
        moved["date"] = pd.to_datetime(moved["date"])
        groups = [g for g in GROUP_ORDER if g in set(moved["group"])]
        has_placebo = "placebo_p" in moved.columns and moved["placebo_p"].notna().any()
        header = [[cell("Date", align="left"), cell("Event", align="left"), cell("Kind", align="left")]
                  + [cell(GROUP_LABEL.get(g, g)) for g in groups]]
        rows = []
        for ev_id in dict.fromkeys(moved["event_id"]):
            m = moved[moved["event_id"] == ev_id]
            row = [cell(fmt.date_text(m["date"].iloc[0]), align="left"), cell(ev_id, align="left"),
                   cell(m["kind"].iloc[0], align="left")]
            for g in groups:
                r = m[m["group"] == g]
                if r.empty:
                    row.append(cell("n/a"))
                    continue
                r = r.iloc[0]
                if int(r["n"]) < 2 or not np.isfinite(r["p_value"]):
                    row.append(cell(fmt.pct(r["mean_car"]), sub=f"(N = {int(r['n'])}, no test)"))
                    continue
                sub = f"(p = {fmt.pvalue(r['p_value'])}"
                if has_placebo and np.isfinite(r.get("placebo_p", np.nan)):
                    sub += f"; placebo {fmt.pvalue(r['placebo_p'])}"
                row.append(cell(fmt.pct(r["mean_car"]), sub=sub + ")", sup=fmt.stars(r["p_value"]) or None))
            rows.append(row)
        note = (f"Mean CAR{wl} in percent of each group's firms; p-value of the {TEST_LONG.get(test, test)}"
                + ("; placebo: two-sided p of the pseudo-event date test" if has_placebo else "")
                + ". * p < 0.10, ** p < 0.05, *** p < 0.01.")
        sec["moved_table"] = table(["1.8cm", "3.4cm", "1.1cm"] + ["1fr"] * len(groups),
                                   ["left", "left", "left"] + ["right"] * len(groups), header, rows,
                                   caption=f"Which announcements moved which groups: mean CAR{wl}", size="8pt", note=note)
    if tvs is not None and len(tvs):
        header = [[cell("Date", align="left"), cell("Event", align="left"), cell("Targets %"), cell("US suppliers %"),
                   cell("Difference %")]]
        rows = []
        for _, r in tvs.iterrows():
            rows.append([cell(fmt.date_text(r["date"]), align="left"), cell(r["event_id"], align="left"),
                         cell(fmt.pct(r["targets_mean_car"]), sub=f"(p = {fmt.pvalue(r['targets_p'])})",
                              sup=fmt.stars(r["targets_p"]) or None),
                         cell(fmt.pct(r["suppliers_mean_car"]), sub=f"(p = {fmt.pvalue(r['suppliers_p'])})",
                              sup=fmt.stars(r["suppliers_p"]) or None),
                         cell(fmt.pct(r["difference"]))])
        sec["tvs_table"] = table(["1.8cm", "3.6cm", "1fr", "1fr", "1fr"], ["left", "left", "right", "right", "right"],
                                 header, rows, caption=f"Targets versus US suppliers: mean CAR{wl}",
                                 note=f"Group means with the p-value of the {TEST_LONG.get(test, test)}; "
                                      "difference = targets minus suppliers (descriptive).")
    for key, frame, by, title in (("kind_table", kinds, "kind", "Press reports versus government actions"),
                                  ("year_table", years, "year", "The reaction in 2019 and in 2022")):
        if frame is None or frame.empty:
            continue
        header = [[cell("Group", align="left"), cell(by.capitalize(), align="left"), cell("Events"), cell("Firm-events"),
                   cell("Mean CAR %"), cell("Median CAR %"), cell("Share < 0"), cell("Events p < 0.10")]]
        rows, lines = [], []
        for g in [g for g in ("target", "supplier", "peer", "all") if g in set(frame["group"])]:
            fg = frame[frame["group"] == g]
            lines.append(len(rows))
            for i, (_, r) in enumerate(fg.iterrows()):
                rows.append([cell(GROUP_LABEL.get(g, g) if i == 0 else "", align="left"), cell(str(r[by]), align="left"),
                             cell(str(int(r["events"]))), cell(str(int(r["firm_events"]))),
                             cell(fmt.pct(r["mean_car"])), cell(fmt.pct(r["median_car"])),
                             cell(f"{100 * r['share_negative']:.0f}%"),
                             cell(f"{int(r['events_significant_10'])} of {int(r['events_tested'])}")])
        sec[key] = table(["2.4cm", "1.4cm", "1fr", "1fr", "1fr", "1fr", "1fr", "1.3fr"],
                         ["left", "left"] + ["right"] * 6, header, rows, caption=f"{title}: CAR{wl}",
                         note="Pooled over the firm-events of each class (descriptive: too few events per class "
                              f"for a test across classes). Last column: events whose group {TEST_LABEL.get(test, test)} "
                              "has p < 0.10.", lines=lines[1:])
    return sec, {"moved": moved, "kinds": kinds, "years": years}


# --------------------------------------------------------------------------- robustness



def _event_group_rows(frame: pd.DataFrame, groups, key: str, values, cell_of):
    """Table rows: one per (event, group), one column per value of ``key``; ``cell_of(row)``
    renders a found row, a dash marks a missing one. Returns (rows, first row of each event)."""
    rows, lines = [], []
    for ev in dict.fromkeys(frame["event_id"]):
        lines.append(len(rows))
        for i, g in enumerate(groups):
            row = [cell(ev if i == 0 else "", align="left"), cell(GROUP_LABEL[g], align="left")]
            for v in values:
                x = frame[(frame["event_id"] == ev) & (frame["group"] == g) & (frame[key] == v)]
                row.append(cell("—") if x.empty else cell_of(x.iloc[0]))
            rows.append(row)
    return rows, lines

def robustness_section(event_frames: dict, headline: dict, main_model: str) -> dict:
    window, test = headline["window"], headline["test"]
    wl = fmt.window_label(window)
    robust = [f["robust"] for f in event_frames.values() if f.get("robust") is not None]
    robust = pd.concat(robust, ignore_index=True) if robust else pd.DataFrame()
    tests = [f["tests"] for f in event_frames.values() if f.get("tests") is not None]
    tests = pd.concat(tests, ignore_index=True) if tests else pd.DataFrame()
    sec = {"notes": sorted({n for f in event_frames.values() for n in f.get("meta", {}).get("notes", [])})}
    groups = ("target", "supplier", "all")
    if len(robust):
        models = list(dict.fromkeys([main_model] + list(robust["model"])))
        r = robust[(robust["window"] == window) & (robust["test"] == test)]
        header = [[cell("Event", align="left"), cell("Group", align="left")]
                  + [cell(MODEL_LABEL.get(m, m) + (" (US suppliers)" if (r[r["model"] == m]["scope"] == "US suppliers").any()
                                                   else "")) for m in models]]
        rows, lines = _event_group_rows(
            r, groups, "model", models,
            lambda x: cell(fmt.pct(x["mean_car"]), sub=f"({fmt.pvalue(x['p_value'])})",
                           sup=fmt.stars(x["p_value"]) or None))
        sec["models_table"] = table(["2.9cm", "2cm"] + ["1fr"] * len(models), ["left", "left"] + ["right"] * len(models),
                                    header, rows, caption=f"Other normal-return models: mean CAR{wl}", lines=lines[1:],
                                    note=f"Mean CAR in percent; {TEST_LONG.get(test, test)} p in parentheses. "
                                         "The factor model uses US factors and covers the US suppliers only "
                                         "(its 'All firms' row is the suppliers). — : not estimated.")
        rm = robust[(robust["model"] == main_model) & (robust["test"] == test)]
        wins = _window_order(rm["window"])
        header = [[cell("Event", align="left"), cell("Group", align="left")] + [cell(fmt.window_label(w)) for w in wins]]
        rows, lines = _event_group_rows(
            rm, groups, "window", wins, lambda x: cell(fmt.pct(x["mean_car"]), sup=fmt.stars(x["p_value"]) or None))
        sec["windows_table"] = table(["2.9cm", "2cm"] + ["1fr"] * len(wins), ["left", "left"] + ["right"] * len(wins),
                                     header, rows, caption=f"Event windows ({MODEL_LABEL.get(main_model, main_model)}): "
                                                           "mean CAR %", lines=lines[1:],
                                     note=f"Stars from the {TEST_LONG.get(test, test)}: * p < 0.10, ** p < 0.05, "
                                          "*** p < 0.01.")
        rf = [f["robust_firms"] for f in event_frames.values() if f.get("robust_firms") is not None]
        rf = pd.concat(rf, ignore_index=True) if rf else pd.DataFrame()
        if len(rf):
            rf = rf[(rf["window"] == window) & (rf["symbol"] == headline["symbol"])]
            fmodels = [m for m in models if m in set(rf["model"])]
            header = [[cell("Event", align="left")] + [cell(MODEL_LABEL.get(m, m)) for m in fmodels]]
            rows = []
            for ev in dict.fromkeys(rf["event_id"]):
                row = [cell(ev, align="left")]
                for m in fmodels:
                    x = rf[(rf["event_id"] == ev) & (rf["model"] == m)]
                    if x.empty:
                        row.append(cell("—"))
                    else:
                        x = x.iloc[0]
                        row.append(cell(fmt.pct(x["car"]), sub=f"(t = {fmt.num(x['car_t'])})", sup=fmt.stars(x["car_p"]) or None))
                rows.append(row)
            if rows:
                sec["firm_models_table"] = table(["4cm"] + ["1fr"] * len(fmodels), ["left"] + ["right"] * len(fmodels),
                                                 header, rows, caption=f"{headline.get('name') or headline['symbol']} "
                                                 f"({headline['symbol']}): CAR{wl} under each model",
                                                 note="CAR in percent, firm t-statistic in parentheses.")
    if len(tests):
        kp = tests[(tests["window"] == window) & tests["test"].isin(["bmp", "bmp_kp"]) & (tests["n"] >= 2)]
        if len(kp):
            header = [[cell("Event", align="left"), cell("Group", align="left"), cell("N"), cell("Mean CAR %"),
                       cell("r̄"), cell("BMP t"), cell("KP-BMP t")]]
            rows, lines = [], []
            for ev in dict.fromkeys(kp["event_id"]):
                lines.append(len(rows))
                for i, g in enumerate([g for g in groups if g in set(kp[kp["event_id"] == ev]["group"])]):
                    x = kp[(kp["event_id"] == ev) & (kp["group"] == g)]
                    b, k = x[x["test"] == "bmp"], x[x["test"] == "bmp_kp"]
                    rbar = k["r_kp"].iloc[0] if "r_kp" in k.columns and len(k) else np.nan
                    row = [cell(ev if i == 0 else "", align="left"), cell(GROUP_LABEL[g], align="left"),
                           cell(str(int(x["n"].iloc[0]))), cell(fmt.num(x["mean_car_pct"].iloc[0])),
                           cell(fmt.num(rbar, 3))]
                    for part in (b, k):
                        if part.empty:
                            row.append(cell("n/a"))
                        else:
                            p = part.iloc[0]
                            row.append(cell(fmt.num(p["statistic"]), sub=f"({fmt.pvalue(p['p_value'])})",
                                            sup=fmt.stars(p["p_value"]) or None))
                    rows.append(row)
            sec["kp_table"] = table(["2.9cm", "2cm", "0.8cm", "1fr", "1fr", "1fr", "1fr"],
                                    ["left", "left"] + ["right"] * 5, header, rows, lines=lines[1:],
                                    caption=f"Kolari-Pynnönen adjustment: BMP with and without it, CAR{wl}",
                                    note="r̄: mean pairwise correlation of the group's estimation-window abnormal "
                                         "returns; the adjusted statistic is BMP × √((1 − r̄) / (1 + (N − 1) r̄)). "
                                         "p in parentheses.")
        pl = tests[(tests["test"] == "placebo")]
        if len(pl):
            wins = _window_order(pl["window"])
            header = [[cell("Event", align="left"), cell("Group", align="left")] + [cell(fmt.window_label(w)) for w in wins]]
            rows, lines = [], []
            for ev in dict.fromkeys(pl["event_id"]):
                lines.append(len(rows))
                for i, g in enumerate([g for g in groups if g in set(pl[pl["event_id"] == ev]["group"])]):
                    row = [cell(ev if i == 0 else "", align="left"), cell(GROUP_LABEL[g], align="left")]
                    for w in wins:
                        x = pl[(pl["event_id"] == ev) & (pl["group"] == g) & (pl["window"] == w)]
                        if x.empty or not np.isfinite(x["p_value"].iloc[0]):
                            row.append(cell("n/a"))
                        else:
                            row.append(cell(fmt.pvalue(x["p_value"].iloc[0]), sup=fmt.stars(x["p_value"].iloc[0]) or None))
                    rows.append(row)
            draws = pl["draws"].dropna() if "draws" in pl.columns else pd.Series(dtype=float)
            dtext = (f"{int(draws.min())}–{int(draws.max())}" if len(draws) and draws.min() != draws.max()
                     else f"{int(draws.iloc[0])}" if len(draws) else "the configured number of")
            sec["placebo_table"] = table(["2.9cm", "2cm"] + ["1fr"] * len(wins), ["left", "left"] + ["right"] * len(wins),
                                         header, rows, lines=lines[1:], caption="Placebo test: two-sided p-values",
                                         note=f"Share of {dtext} pseudo-event dates per event (drawn from the firms' own "
                                              "histories, away from catalog events) whose mean CAR is at least as "
                                              "extreme as the observed one.")
        else:
            sec["placebo_missing"] = "The results of this run have no placebo rows (test = 'placebo' in tests.csv)."
    return sec


# --------------------------------------------------------------------------- provenance


def provenance_section(ctx: dict, root: Path, event_frames: dict, describe_error) -> dict:
    cfg = ctx["cfg"]
    rows = []
    for r in ctx["price_rows"]:
        rows.append([cell(r["symbol"], align="left", mono=True), cell(r.get("source") or "", align="left"),
                     cell(r.get("first") or "—"), cell(r.get("last") or "—"), cell(str(r.get("rows") or 0)),
                     cell(r.get("sha256") or "(no file)", sub=r.get("path") or r.get("error") or "", align="left",
                          mono=True)])
    prices = table(["1.8cm", "1.1cm", "1.7cm", "1.7cm", "1cm", "1fr"], ["left", "left", "right", "right", "right", "left"],
                   [[cell("Symbol", align="left"), cell("Source", align="left"), cell("First"), cell("Last"),
                     cell("Rows"), cell("SHA-256 of the input file, and its path", align="left")]], rows,
                   caption="Price inputs", size="7pt")
    vers = prov.versions()
    git = prov.git_state()
    vrows = [[cell(k, align="left"), cell(v, align="left")] for k, v in vers.items()]
    versions = table(["4cm", "1fr"], ["left", "left"], [[cell("Software", align="left"), cell("Version", align="left")]],
                     vrows, caption="Software versions", size="8pt")
    jobs = []
    for j in ctx["jobs"]:
        status = {"ok": "executed", "reused": f"reused from {j.reused_from}", "failed": "FAILED"}.get(j.status, j.status)
        jobs.append([cell(j.name, align="left"), cell(j.event_id or "all events", align="left"),
                     cell(status, align="left"), cell(f"{j.seconds:.1f}" if j.status != "reused" else "—"),
                     cell(_rel(j.html, root) if j.html.is_file() else "—", align="left", mono=True)])
    notebooks = table(["2.6cm", "3.6cm", "3.4cm", "1.2cm", "1fr"], ["left", "left", "left", "right", "left"],
                      [[cell("Notebook", align="left"), cell("Event", align="left"), cell("Status", align="left"),
                        cell("Seconds"), cell("HTML copy", align="left")]], jobs, caption="Notebook runs", size="7.5pt")
    skipped = []
    for ev, f in event_frames.items():
        for s in f.get("meta", {}).get("skipped", []):
            skipped.append([cell(ev, align="left"), cell(s["symbol"], align="left", mono=True), cell(s["reason"], align="left")])
    for sym, err in ctx["price_errors"].items():
        skipped.append([cell("all events", align="left"), cell(sym, align="left", mono=True),
                        cell(f"prices not loaded: {err}", align="left")])
    skipped_t = (table(["3.6cm", "1.8cm", "1fr"], ["left", "left", "left"],
                       [[cell("Event", align="left"), cell("Symbol", align="left"), cell("Why", align="left")]],
                       skipped, caption="Skipped firm-events", size="8pt") if skipped else None)
    config_sha = prov.sha256_file(cfg.path) if Path(cfg.path).is_file() else None
    return {
        "prices_table": prices, "versions_table": versions, "notebooks_table": notebooks, "skipped_table": skipped_t,
        "git": git["describe"], "price_note": ctx["price_note"],
        "config": f"{cfg.path} (SHA-256 {config_sha})" if config_sha else str(cfg.path),
        "failures": ctx["failed"],
        "factors": (f"{cfg.factors} (SHA-256 {prov.sha256_file(cfg.factors)})" if cfg.factors and cfg.factors.is_file()
                    else f"{cfg.factors} (not found: factor-model robustness left out)" if cfg.factors else "none configured"),
    }


# --------------------------------------------------------------------------- assemble


def collect(run_dir: Path, ctx: dict) -> dict:
    """Everything the template shows, as JSON-ready data."""
    from analysis.report.jobs import describe_error

    cfg, jobs, catalog = ctx["cfg"], ctx["jobs"], ctx["catalog"]
    headline = dict(cfg.headline)
    if not headline.get("name"):
        from analysis.data import catalog as catalog_mod

        uni = catalog_mod.load_universe()
        hit = uni[uni["symbol"] == headline["symbol"]]
        headline["name"] = hit["name"].iloc[0] if len(hit) else headline["symbol"]
    window, test = headline["window"], headline["test"]
    by_id = catalog.set_index("event_id")
    ev_jobs = {j.event_id: j for j in jobs if j.event_id is not None}
    cmp_jobs = [j for j in jobs if j.event_id is None]
    cmp_job = next((j for j in cmp_jobs if j.name == "compare_events"), cmp_jobs[0] if cmp_jobs else None)

    events, event_frames, timeline, summary = [], {}, [], []
    for ev_id in ctx["event_ids"]:
        if ev_id in by_id.index:
            ev = _event_base(by_id.loc[ev_id].to_dict() | {"event_id": ev_id})
        else:
            ev = {"event_id": ev_id, "title": f"{ev_id} (not in the event catalog)", "short_title": ev_id,
                  "kind": "unknown", "announced_at": "", "date": pd.Timestamp("1970-01-01"), "date_text": "—",
                  "source": "—"}
        sec, frames = event_section(ev_jobs.get(ev_id), ev, run_dir, headline, describe_error)
        events.append(sec)
        if frames:
            event_frames[ev_id] = frames
        timeline.append({"date": ev["date_text"], "announced": ev["announced_at"], "kind": ev["kind"],
                         "title": ev["title"], "source": ev["source"], "event_id": ev_id,
                         "day0": sec.get("day0", "")})
        if frames:
            summary += summary_text.event_sentences(ev, frames["firms"], frames["tests"], headline["symbol"],
                                                    headline["name"], window, test)
        else:
            summary.append(f"{ev['short_title']} ({ev['date_text']}): not available in this run — its notebook "
                           "failed (see the appendix).")
    trows = []
    for t in sorted(timeline, key=lambda t: t["announced"]):
        a = t["announced"]
        when = (f"{a[11:16]} (UTC{a[16:].replace('-', fmt.MINUS)})" if len(a) > 10 else "time of day unknown") if a else ""
        trows.append([cell(t["date"], sub=when, align="left"), cell(t["kind"], align="left"),
                      cell(t["title"], sub=f"{t['event_id']} — day 0: {t['day0']}" if t["day0"] else t["event_id"],
                           align="left"),
                      cell(t["source"], align="left")])
    timeline_table = table(["2.1cm", "1.1cm", "1.25fr", "1fr"], ["left"] * 4,
                           [[cell("Date", align="left"), cell("Kind", align="left"), cell("What happened", align="left"),
                             cell("Source", align="left")]], trows, caption="Event timeline", size="7.5pt",
                           note="Announcement dates and times as in data/events.csv (local time with its UTC offset); "
                                "day 0 is the first session of each exchange that closes after the announcement.")
    compare, cmp_frames = compare_section(cmp_job, run_dir, describe_error, window, test)
    summary += summary_text.cross_event_sentences(cmp_frames.get("moved"), cmp_frames.get("kinds"),
                                                  cmp_frames.get("years"), window, test)
    main_model = str(cfg.parameters.get("model", "market"))
    robust_all = [f["robust"] for f in event_frames.values() if f.get("robust") is not None]
    rs = summary_text.robustness_sentence(pd.concat(robust_all, ignore_index=True) if robust_all else None,
                                          window, test, main_model)
    if rs:
        summary.append(rs)
    if ctx["failed"]:
        summary.append(f"This run is incomplete: {len(ctx['failed'])} notebook(s) failed; the appendix names the "
                       "notebook and the cell. The last complete report stays in reports/latest.")

    used = [r for r in ctx["price_rows"] if r.get("first")]
    dates = sorted(pd.Timestamp(r["announced_at"][:10]) for r in catalog.to_dict("records")
                   if r["event_id"] in set(ctx["event_ids"]))
    meta0 = next((f["meta"] for f in event_frames.values() if f.get("meta")), {})
    started = ctx["started"]
    from analysis.data import catalog as catalog_mod

    uni = catalog_mod.load_universe()
    return {
        "title": cfg.title,
        "run": {"id": ctx["run_id"], "date": started.strftime("%-d %B %Y, %H:%M UTC"),
                "status": "complete" if not ctx["failed"] else "INCOMPLETE",
                "failures": ctx["failed"], "git": prov.git_state()["describe"],
                "seconds": f"{ctx['elapsed_before_pdf']:.1f}", "notebooks_seconds": f"{ctx['notebooks_seconds']:.1f}",
                "built": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")},
        "data_range": {"first": min((r["first"] for r in used), default="—"),
                       "last": max((r["last"] for r in used), default="—"), "series": len(used),
                       "source": f"recorded CSV files ({cfg.prices})" if cfg.prices else "Yahoo Finance (cached)",
                       "events_first": fmt.date_text(dates[0]) if dates else "—",
                       "events_last": fmt.date_text(dates[-1]) if dates else "—", "events": len(ctx["event_ids"])},
        "settings": {"model": MODEL_LABEL.get(main_model, main_model).lower(), "model_id": main_model,
                     "estimation": fmt.window_label(str(meta0.get("estimation", cfg.parameters.get("estimation", "-250:-11")))),
                     "windows": ", ".join(fmt.window_label(w) for w in meta0.get("windows", cfg.parameters.get("windows", []))),
                     "min_obs": str(meta0.get("min_obs", cfg.parameters.get("min_obs", 120))),
                     "placebo_draws": str(meta0.get("placebo_draws", cfg.parameters.get("placebo_draws", 0))),
                     "headline_window": fmt.window_label(window), "headline_test": TEST_LONG.get(test, test),
                     "headline_firm": f"{headline['name']} ({headline['symbol']})",
                     "benchmarks": "; ".join(f"{EXCHANGE_LABEL.get(e, e)}: {b}" for e, b in
                                             uni.drop_duplicates("exchange")[["exchange", "benchmark"]].itertuples(index=False)),
                     "firms": str(len(uni))},
        "summary": summary,
        "timeline": timeline,
        "timeline_table": timeline_table,
        "events": events,
        "compare": compare,
        "robustness": robustness_section(event_frames, headline, main_model),
        "provenance": provenance_section(ctx, run_dir, event_frames, describe_error),
    }


def compile_pdf(run_dir: Path) -> int:
    """Compile ``run_dir/report.typ`` (reading ``report_data.json``) to ``report.pdf``; returns the page count."""
    import typst

    compiler = typst.Compiler(str(run_dir / "report.typ"), root=str(run_dir), ignore_system_fonts=True,
                              sys_inputs={"data": "report_data.json"})
    tmp = run_dir / ".report.pdf.tmp"
    compiler.compile(output=str(tmp), format="pdf")
    tmp.replace(run_dir / "report.pdf")
    return int(json.loads(compiler.query("<page-count>", field="value", one=True)))


def build_report(run_dir: Path, ctx: dict) -> int:
    """Write report_data.json and report.typ into ``run_dir`` and build report.pdf; returns the page count."""
    data = collect(run_dir, ctx)
    write_json(data, run_dir / "report_data.json")
    shutil.copyfile(TEMPLATE, run_dir / "report.typ")
    return compile_pdf(run_dir)
