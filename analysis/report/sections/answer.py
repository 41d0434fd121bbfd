"""PDF page "The answer" (the first page after the cover; template block ``data.answer``): four
questions answered from the pooled answers across events (``pooled.csv``) and the primary family
of the whole run (:mod:`analysis.report.answer_rows`, :mod:`analysis.report.summary_text`), and the
forest plot of those rows with each group's pooled diamond.

The rows come from the study's ``tests.csv`` of the whole run (:data:`~analysis.report.artifacts.STUDY_TESTS`):
``<run>/study/`` when the pipeline saved the study there, else the comparison notebook's output
folder. ``source`` (in ``report_data.json``) names the file read, relative to the run folder, so
a test can check every printed percentage against the same file.
"""
from __future__ import annotations

import re
from pathlib import Path

import pandas as pd

from analysis import fmt
from analysis.report import artifacts
from analysis.report import answer_rows as answer_mod
from analysis.report import exposure_text, summary_text
from analysis.report.context import ReportInputs
from analysis.vocab import PRIMARY_TEST, PRIMARY_WINDOW



def study_folder(inputs: ReportInputs, artifact=artifacts.STUDY_TESTS) -> Path | None:
    """The folder holding the whole run's ``artifact`` (``<run>/study``, else the comparison
    notebook's output folder); None when neither has it."""
    candidates = [artifacts.study_dir(inputs.root)]
    job = inputs.compare.job
    if job is not None and inputs.compare.error is None:
        candidates.append(Path(job.output_dir))
    return next((c for c in candidates if artifact.path(c).is_file()), None)


def study_table(inputs: ReportInputs, artifact) -> pd.DataFrame | None:
    """The whole run's table ``artifact`` (None when no folder has it); read once per build."""
    cache = inputs.__dict__.setdefault("_study_tables", {})
    if artifact.name not in cache:
        folder = study_folder(inputs, artifact)
        cache[artifact.name] = None if folder is None else artifacts.read_table(folder, artifact)
    return cache[artifact.name]


def primary(inputs: ReportInputs) -> pd.DataFrame | None:
    """The primary family's rows of the whole run (:func:`analysis.report.answer_rows.primary_rows`)."""
    tests = study_table(inputs, artifacts.STUDY_TESTS)
    return None if tests is None else answer_mod.primary_rows(tests, inputs.run.catalog)


def pooled(inputs: ReportInputs):
    """The whole run's pooled.csv (computed from its tests.csv when the folder has none)."""
    table = study_table(inputs, artifacts.STUDY_POOLED)
    if table is None:
        from analysis.inference.pooled import pooled_frame

        tests = study_table(inputs, artifacts.STUDY_TESTS)
        table = None if tests is None else pooled_frame(tests, car=study_table(inputs, artifacts.STUDY_CAR))
    return table


def _window_rows(inputs: ReportInputs, window: str) -> pd.DataFrame | None:
    """The run's car.csv rows of the requested ``window`` (None without a grouped car.csv)."""
    car = study_table(inputs, artifacts.STUDY_CAR)
    if car is None or "group" not in car.columns:
        return None
    c = car[car["window"] == window]
    if "window_kind" in c.columns:
        c = c[c["window_kind"].fillna("requested") == "requested"]
    return c


def members(inputs: ReportInputs, window: str = PRIMARY_WINDOW) -> dict:
    """(event_id, group) -> names of the firms in the primary cell (from the run's car.csv)."""
    c = _window_rows(inputs, window)
    if c is None:
        return {}
    return {k: list(dict.fromkeys(v["name"])) for k, v in c.groupby(["event_id", "group"], sort=False)}


def study_sensitivity(inputs: ReportInputs) -> pd.DataFrame | None:
    """The run's sensitivity.csv (its study folder), None when absent or unreadable; read once per build."""
    cache = inputs.__dict__.setdefault("_study_tables", {})
    if "sensitivity" not in cache:
        path = artifacts.study_dir(inputs.root) / "sensitivity.csv"
        try:
            cache["sensitivity"] = pd.read_csv(path) if path.is_file() else None
        except (OSError, ValueError, pd.errors.ParserError):
            cache["sensitivity"] = None
    return cache["sensitivity"]


def timing_pooled(inputs: ReportInputs) -> pd.DataFrame | None:
    """The primary pooled answers under the main dates and with date-only news taken as after the
    US close (:func:`analysis.inference.timing.pooled_conclusions` of the run's tests.csv,
    sensitivity.csv and car.csv), computed once per build (The answer and Caveats both print
    them); None without a sensitivity.csv that has ``date_kind``. Only the primary window's rows
    go in (every other window's pooled rows would be computed and dropped: 5/6 of the cost),
    unless that leaves out a group of the portfolio rows (the primary family's groups depend on
    them: :func:`~analysis.inference.multiple.primary_groups`)."""
    from analysis.inference import timing

    cache = inputs.__dict__.setdefault("_study_tables", {})
    if "timing_pooled" not in cache:
        tests, sens = study_table(inputs, artifacts.STUDY_TESTS), study_sensitivity(inputs)
        car = study_table(inputs, artifacts.STUDY_CAR)
        if tests is None or sens is None or "date_kind" not in sens.columns:
            cache["timing_pooled"] = None
        else:
            primary_tests = tests[tests["window"] == PRIMARY_WINDOW]
            if set(_portfolio_groups(primary_tests)) == set(_portfolio_groups(tests)):
                tests, sens = primary_tests, sens[sens["window"] == PRIMARY_WINDOW]
                car = None if car is None else car[car["window"] == PRIMARY_WINDOW]
            cache["timing_pooled"] = timing.pooled_conclusions(tests, sens, car=car)
    return cache["timing_pooled"]


def _portfolio_groups(tests: pd.DataFrame):
    return tests.loc[tests["test"] == PRIMARY_TEST, "group"].unique()


def timing_fragility(inputs: ReportInputs) -> list[str]:
    """Per primary group (named, supplier) a sentence when its pooled answer changes with the
    time of day of date-only news (taken as after the US close;
    :func:`analysis.inference.timing.pooled_conclusions`), else ''."""
    pooled = timing_pooled(inputs)
    if pooled is None:
        return ["", ""]
    c = pooled.set_index("group")
    out = []
    for g in ("named", "supplier"):
        if g in c.index and bool(c.at[g, "changed"]):
            out.append(f"This answer depends on the time of day of the news without one: taken as released after "
                       f"the US close, Holm p = {fmt.pvalue(c.at[g, 'p_holm_moved'])} (Caveats, time of day).")
        else:
            out.append("")
    return out


def _first_clause(text: str, limit: int = 130) -> str:
    """A confounder's description shortened for a sentence: no parentheses, its first sentence
    and the part before the first ';' or ':', at most ``limit`` characters."""
    s = re.sub(r"\s*\([^)]*\)", "", str(text))
    s = re.split(r";|:\s|\.\s", s)[0]  # the first sentence ('. Timing and severity: ...' is the file's note)
    s = " ".join(s.split()).strip(" ,")
    if len(s) > limit:
        s = s[: limit].rsplit(" ", 1)[0].rstrip(" ,") + "…"
    return s


def _names(names) -> str:
    """'A, B and C' with each name once."""
    return fmt.and_list(dict.fromkeys(names))


def limit_notes(flags) -> list[str]:
    """What the daily price limit means for a cell's number, from its firms' ``(name, limit_flag)``
    (car.csv): a firm still at the limit on the window's last day (:data:`~analysis.inference.limits.CENSORED`
    in its flag) makes the
    move a censored lower bound; a firm whose limit run ended inside the window does not."""
    flags = [(n, f) for n, f in flags if isinstance(f, str) and f.strip()]
    from analysis.inference.limits import CENSORED

    cut = [n for n, f in flags if CENSORED in f]
    free = [n for n, f in flags if CENSORED not in f]
    notes = []
    if cut:
        notes.append(f"{_names(cut)} still sat at the daily price limit at the window's end, so the move is a "
                     f"censored lower bound")
    if free:
        notes.append(f"{_names(free)} closed at the daily price limit within the window and traded freely "
                     f"again before its end, so the move is not cut short")
    return notes


def carried_note(names) -> str:
    """The caution for named firms that the act only carried over from an earlier list."""
    names = list(dict.fromkeys(names))
    if not names:
        return ""
    verb = "was" if len(names) == 1 else "were"
    return (f"{_names(names)} {verb} already on an earlier version of this list (carried over, not newly "
            f"named), so for {'it' if len(names) == 1 else 'them'} the act was not new")


def cautions(inputs: ReportInputs, rows: pd.DataFrame, window: str = PRIMARY_WINDOW) -> dict:
    """(event_id, group) -> what the reader must weigh next to that primary number: other
    catalog events in the same days, a move driven by a day other than the news day, other
    news in the window (from the run's car.csv flags of the cell's firms)."""
    c = _window_rows(inputs, window)
    if c is None:
        return {}
    titles = dict(zip(rows["event_id"], rows["short_title"]))
    titles.update(answer_mod.event_titles(inputs.run.catalog).set_index("event_id")["short_title"].to_dict())
    carried = {e.event_id: set(e.meta.get("carried_over") or []) for e in inputs.studied}
    out = {}
    # the cells' columns as lists, read by row position (one pass; no sub-frame per cell)
    col = {k: c[k].tolist() for k in ("name", "overlaps", "off_day0_driver", "driver_day", "limit_flag",
                                      "spans_suspension", "confounders") if k in c.columns}
    true = {k: [str(v).lower() == "true" for v in col[k]] for k in ("off_day0_driver", "spans_suspension") if k in col}
    for (ev, group), idx in c.groupby(["event_id", "group"], sort=False).indices.items():
        notes = []
        names = [col["name"][i] for i in idx]
        if group == "named":
            note = carried_note(n for n in names if n in carried.get(ev, ()))
            if note:
                notes.append(note)
        over = sorted({o for i in idx if "overlaps" in col and pd.notna(v := col["overlaps"][i])
                       for o in str(v).split(";") if o})
        if over:
            notes.append("the same days also follow " + ", ".join(titles.get(o, o) for o in over))
        if "off_day0_driver" in col:
            for i in idx:
                if true["off_day0_driver"][i]:
                    notes.append(f"{col['name'][i]}'s move came mostly on day {int(col['driver_day'][i]):+d}")
        if "limit_flag" in col:
            notes += limit_notes(zip(names, [col["limit_flag"][i] for i in idx]))
        if "spans_suspension" in col:
            sus = [col["name"][i] for i in idx if true["spans_suspension"][i]]
            if sus:
                notes.append(f"{_names(sus)} did not trade on some of these days (suspended)")
        if "confounders" in col:
            news = list(dict.fromkeys(_first_clause(w) for i in idx if pd.notna(v := col["confounders"][i])
                                      for w in str(v).split(" | ") if w.strip()))
            if news:
                notes.append("other news in the same days: " + "; ".join(news[:2])
                             + (f" (and {len(news) - 2} more)" if len(news) > 2 else ""))
        if notes:
            out[(ev, group)] = "; ".join(notes) + " (see Caveats)"
    return out


def build(inputs: ReportInputs) -> dict:
    folder = study_folder(inputs)
    rows = primary(inputs)
    out = {"source": None, "figure": None, "basis": "", "questions": [], "missing": None,
           "window": PRIMARY_WINDOW, "test": PRIMARY_TEST}
    if rows is None or rows.empty:
        why = ("the study's tests.csv of the whole run is not in this run folder (the comparison notebook "
               "did not run or failed)" if rows is None else
               f"the run has no primary rows (the primary window {PRIMARY_WINDOW} was not among the event windows)")
        out["missing"] = f"The answer is not available in this run: {why}."
        return out
    out["source"] = str(artifacts.STUDY_TESTS.path(folder).resolve().relative_to(inputs.root.resolve())) \
        if folder is not None and Path(folder).resolve().is_relative_to(inputs.root.resolve()) else None
    import matplotlib.pyplot as plt

    pooled_table = pooled(inputs)
    main = answer_mod.pooled_rows(pooled_table)
    spread = answer_mod.pooled_rows(pooled_table, test="pooled_re")
    fig = answer_mod.forest_figure(rows, pooled=main)
    path = artifacts.save_figure(fig, inputs.root, artifacts.ANSWER_FOREST)[0]
    plt.close(fig)
    out["figure"] = str(path.resolve().relative_to(inputs.root.resolve()))
    out["basis"] = summary_text.basis_sentence(rows)
    notes = cautions(inputs, rows)
    rows = rows.assign(caution=[notes.get((e, g), "") for e, g in zip(rows["event_id"], rows["group"])],
                       confounder_words=["; ".join(dict.fromkeys(_first_clause(w) for w in str(c).split(" | ")
                                                                 if w.strip())) for c in rows["confounded_by"]])
    firms = summary_text.robust_firms(_window_rows(inputs, PRIMARY_WINDOW), answer_mod.event_titles(inputs.run.catalog))
    out["questions"] = summary_text.question_paragraphs(rows, members(inputs), pooled=main, spread=spread,
                                                        firms=firms)
    out["pooled_source"] = (str(artifacts.STUDY_POOLED.path(folder).resolve().relative_to(inputs.root.resolve()))
                            if out["source"] and artifacts.STUDY_POOLED.path(folder).is_file() else None)
    for q, fragile in zip(out["questions"][:2], timing_fragility(inputs)):  # named, supplier
        if fragile:
            q["text"] = f"{q['text']} {fragile}"
    exposure = exposure_text.supplier_exposure_sentence(study_table(inputs, artifacts.STUDY_EXPOSURE_FIT))
    for q in out["questions"] if exposure else ():  # the slope on exposure, beside the supplier answer
        if "supplier" in q["question"]:
            q["text"] = f"{q['text']} {exposure}"
    out["n_primary"] = str(len(rows))
    out["n_claimed"] = str(int(rows["claimed"].sum()))
    return out
