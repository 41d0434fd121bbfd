"""The executive summary, written from the results: every number in it comes from the tables
the notebooks saved (:data:`~analysis.report.artifacts.CAR_BY_FIRM`,
:data:`~analysis.report.artifacts.GROUP_TESTS`, the comparison tables; returns in decimals),
never from text typed by hand. Numbers are formatted by :mod:`analysis.fmt`, as in the tables;
group and test names come from :mod:`analysis.vocab` and the test registry.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from analysis import fmt
from analysis.inference.battery import describe
from analysis.vocab import GROUPS


def _words(group: str) -> str:
    return GROUPS[group].words


def _row(frame: pd.DataFrame, **match):
    if frame is None or frame.empty:
        return None
    m = np.ones(len(frame), dtype=bool)
    for k, v in match.items():
        if k not in frame.columns:
            return None
        m &= (frame[k] == v).to_numpy()
    sub = frame[m]
    return None if sub.empty else sub.iloc[0]


def _moved(x) -> str:
    return "fell" if x < 0 else "rose"


def event_sentences(event: dict, firms: pd.DataFrame, tests: pd.DataFrame, symbol: str, name: str,
                    window: str, test: str) -> list[str]:
    """One paragraph on one event: the headline firm's day-0 abnormal return and CAR[window]
    (firm t-test), then the targets' and suppliers' mean CAR with the group test."""
    head = f"{event['short_title']} ({event['kind']}, {fmt.date_text(event['date'])})"
    wl = fmt.window_label(window)
    r0 = _row(firms, symbol=symbol, window="0:0")
    rw = _row(firms, symbol=symbol, window=window)
    if rw is not None and np.isfinite(rw["car"]):
        stats = (f"CAR {fmt.pct(rw['car'])}%, t = {fmt.num(rw['t'])}, {fmt.p_equals(rw['p'])}, "
                 f"{fmt.significance(rw['p'])}")
        if r0 is not None and np.isfinite(r0["car"]):
            same = np.sign(r0["car"]) == np.sign(rw["car"])
            suspended = "suspension" in str(r0.get("note") or "")
            when = ("from day 0 to its first trade after a suspension (abnormal return)" if suspended
                    else "on day 0 (abnormal return)")
            sentence = (f"{head}: {name} {_moved(r0['car'])} {fmt.pct(abs(r0['car']))}% {when} "
                        f"and {'' if same else _moved(rw['car']) + ' '}"
                        f"{fmt.pct(abs(rw['car']))}% over days {wl} ({stats})")
        else:
            sentence = f"{head}: over days {wl} {name} {_moved(rw['car'])} {fmt.pct(abs(rw['car']))}% ({stats})"
        if isinstance(rw.get("note"), str) and rw["note"]:
            sentence += f"; {rw['note']}"
        sentence += "."
    else:
        sentence = f"{head}: {name} could not be studied (see the appendix)."
    groups = []
    for group in ("target", "supplier"):
        g = _row(tests, group=group, window=window, test=test)
        if g is None or not np.isfinite(g["mean_car"]):
            continue
        label = f"{_words(group).capitalize() if not groups else _words(group)} ({int(g['n'])} firms)"
        mean = f"mean CAR{wl} {fmt.pct(g['mean_car'])}%" if not groups else f"{fmt.pct(g['mean_car'])}%"
        if np.isfinite(g["p_value"]):
            what = f"{describe(test, 'words')} " if not groups else ""
            groups.append(f"{label}: {mean}, {what}{fmt.p_equals(g['p_value'])} ({fmt.significance(g['p_value'])})")
        else:
            groups.append(f"{label}: {mean} (no test)")
    if groups:
        sentence += " " + "; ".join(groups) + "."
    mover = _largest_supplier_move(firms, window)
    if mover is not None:
        sentence += (f" Largest US-supplier move: {mover['name']} {fmt.pct(mover['car'])}% over days {wl} "
                     f"(t = {fmt.num(mover['t'])}, {fmt.p_equals(mover['p'])}).")
    return [sentence]


def _largest_supplier_move(firms: pd.DataFrame, window: str):
    """The supplier whose CAR[window] is largest in absolute value (None if there is none)."""
    if firms is None or firms.empty or "role" not in firms.columns:
        return None
    sup = firms[(firms["role"] == "supplier") & (firms["window"] == window)]
    sup = sup[np.isfinite(sup["car"].to_numpy(dtype=float))]
    if sup.empty:
        return None
    return sup.loc[sup["car"].abs().idxmax()]


def cross_event_sentences(moved: pd.DataFrame | None, kinds: pd.DataFrame | None, years: pd.DataFrame | None,
                          window: str, test: str) -> list[str]:
    """Sentences across events: the largest reactions, reports vs actions, the change over years."""
    out = []
    wl = fmt.window_label(window)
    if moved is not None and len(moved):
        for group in ("target", "supplier"):
            g = moved[(moved["group"] == group) & np.isfinite(moved["mean_car"].astype(float))]
            if g.empty:
                continue
            worst = g.loc[g["mean_car"].astype(float).idxmin()]
            sig = g[g["p_value"].astype(float) < 0.10]
            out.append(
                f"Across the {len(g)} events, the {_words(group)}' largest fall in mean CAR{wl} was "
                f"{fmt.pct(worst['mean_car'])}% after {worst['event_id']} ({fmt.date_text(worst['date'])}); "
                f"their mean reaction was significant at 10% under the {describe(test, 'words')} in "
                f"{len(sig)} of {len(g)} events"
                + (f" ({', '.join(sig['event_id'])})." if len(sig) else "."))
    if kinds is not None and len(kinds):
        for group in ("target", "supplier"):
            k = kinds[kinds["group"] == group].set_index("kind")
            if {"report", "action"} <= set(k.index):
                rep, act = k.loc["report"], k.loc["action"]
                out.append(
                    f"Press reports vs government actions ({_words(group)}): mean CAR{wl} "
                    f"{fmt.pct(rep['mean_car'])}% over {int(rep['firm_events'])} firm-events at "
                    f"{int(rep['events'])} reports, {fmt.pct(act['mean_car'])}% over {int(act['firm_events'])} "
                    f"firm-events at {int(act['events'])} actions (descriptive).")
    if years is not None and len(years):
        for group in ("target", "supplier"):
            y = years[years["group"] == group].sort_values("year")
            if len(y) >= 2:
                parts = [f"{fmt.pct(r['mean_car'])}% in {int(r['year'])} ({int(r['events'])} "
                         f"event{'s' if int(r['events']) != 1 else ''})" for _, r in y.iterrows()]
                out.append(f"Over time, the {_words(group)}' mean CAR{wl} was " + ", ".join(parts) + ".")
    return out


def robustness_sentence(robust: pd.DataFrame | None, window: str, test: str, main_model: str) -> str | None:
    """How often the targets' mean CAR keeps its sign and significance under the other models."""
    if robust is None or robust.empty:
        return None
    r = robust[(robust["window"] == window) & (robust["test"] == test) & (robust["group"] == "target")]
    if r.empty:
        return None
    base = r[r["model"] == main_model].set_index("event_id")
    others = sorted(set(r["model"]) - {main_model})
    if base.empty or not others:
        return None
    same_sign = total = 0
    for model in others:
        o = r[r["model"] == model].set_index("event_id")
        for ev in base.index.intersection(o.index):
            total += 1
            same_sign += int(np.sign(base.at[ev, "mean_car"]) == np.sign(o.at[ev, "mean_car"]))
    if not total:
        return None
    names = " and ".join([", ".join(others[:-1]), others[-1]]) if len(others) > 1 else others[0]
    return (f"Robustness: under the {names} model{'s' if len(others) > 1 else ''}, the targets' mean "
            f"CAR{fmt.window_label(window)} has the same sign as under the {main_model} model in {same_sign} of "
            f"{total} event-model pairs.")
