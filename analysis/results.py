"""The result object of an event study (in the manner of statsmodels / linearmodels).

Tidy frames: ``.abnormal_returns``, ``.car``, ``.tests``, ``.estimation``, ``.skipped``
(and ``.volume`` when computed, ``.sensitivity``, ``.pooled``: the pooled answers across
events, ``.exposure_fit``); typed properties for the run's settings (``.spec``,
``.primary_window``, ``.windows``, ...); ``.summary()`` returns a :class:`Summary` (text when
printed, tables in a notebook, ``.as_latex()``), by default for the primary window and test;
``.primary(event)`` the primary row of an event; ``.car_table()`` the firm x event CARs;
``.plot()`` one CAR-path panel per event with 95% bands; ``.to_csv(dir)`` writes the CSV
contract as one set (all new files or all old ones, never a mix); ``.to_excel(path)`` every
table in one workbook.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from analysis.atomic import write_set  # noqa: F401 - the CSV set is written by analysis.atomic
from analysis import fmt
from analysis.safe_text import csv_frame
from analysis.inference.design import NOT_SIMULATED, OVERSIZED_SIZE, oversized_here, size_verdict
from analysis.inference.exposure import EXPOSURE_FIT_COLUMNS
from analysis.inference.multiple import adjust, primary_groups, verdict
from analysis.inference.pooled import POOLED_COLUMNS
from analysis.inference.spec import StudySpec
from analysis.tables import (AR_COLUMNS, CAR_COLUMNS, EST_COLUMNS, SENSITIVITY_COLUMNS, SKIP_COLUMNS, TEST_COLUMNS,
                             empty_sensitivity, requested_windows)
from analysis.vocab import GROUP_ORDER, GROUPS, PRIMARY_FALLBACK, as_windows, format_window

VOLUME_COLUMNS = ["event_id", "symbol", "day", "date", "volume", "log_volume", "abnormal_log_volume"]
#: tests.csv columns that come from the pseudo-event draws (absent from a run without them).
PSEUDO_COLUMNS = ("p_calibrated", "size_5pct", "calibration_draws", "draws")
#: Every file of the CSV set: a file of an older set that this run does not write is removed.
RESULT_FILES = ("abnormal_returns.csv", "car.csv", "tests.csv", "estimation.csv", "skipped.csv", "volume.csv",
                "volume_tests.csv", "pooled.csv", "exposure_fit.csv")



class Summary:
    """A run's summary (in the manner of statsmodels' ``Summary``): a list of items, each a
    line of text or a table (DataFrame with a caption), rendered as text (``str``, ``print``),
    HTML (``_repr_html_``: a notebook shows it as tables) or LaTeX (:meth:`as_latex`)."""

    def __init__(self, items: list):
        #: ("text", str) or ("table", caption, DataFrame, float formats {column: fmt})
        self.items = items

    def as_text(self) -> str:
        out = []
        for item in self.items:
            if item[0] == "text":
                out.append(item[1])
            else:
                _, caption, frame, _ = item
                out.append(f"   {caption}")
                out += ["   " + line for line in _text_table(frame).splitlines()]
        return "\n".join(out)

    def as_html(self) -> str:
        import html

        out = []
        for item in self.items:
            if item[0] == "text":
                out.append(f"<p>{html.escape(item[1])}</p>" if item[1].strip() else "")
            else:
                _, caption, frame, _ = item
                out.append(f"<p><i>{html.escape(caption)}</i></p>" + frame.to_html(index=False, na_rep="n/a"))
        return "\n".join(x for x in out if x)

    def as_latex(self) -> str:
        """LaTeX: paragraphs and ``tabular`` environments (text escaped; needs no package)."""
        out = []
        for item in self.items:
            if item[0] == "text":
                if item[1].strip():
                    out.append(_latex_escape(item[1].strip()) + "\n")
            else:
                _, caption, frame, _ = item
                cols = list(frame.columns)
                out.append(f"\\textit{{{_latex_escape(caption)}}}\n")
                out.append("\\begin{tabular}{" + "l" * len(cols) + "}\n\\hline")
                out.append(" & ".join(_latex_escape(str(c)) for c in cols) + " \\\\ \\hline")
                for row in frame.itertuples(index=False):
                    out.append(" & ".join(_latex_escape(_cell(v)) for v in row) + " \\\\")
                out.append("\\hline\n\\end{tabular}\n")
        return "\n".join(out)

    def tables(self) -> list[pd.DataFrame]:
        """The summary's tables, in order."""
        return [item[2] for item in self.items if item[0] == "table"]

    def __str__(self) -> str:
        return self.as_text()

    def __repr__(self) -> str:
        return self.as_text()

    def _repr_html_(self) -> str:
        return self.as_html()

    def __contains__(self, text: str) -> bool:
        return text in self.as_text()


def _cell(v) -> str:
    if v is None or (isinstance(v, float) and not np.isfinite(v)):
        return "n/a"
    return str(v)


def _text_table(frame: pd.DataFrame) -> str:
    """A frame as aligned text: text columns left, the others right; NaN as n/a."""
    cols = list(frame.columns)
    cells = [[_cell(v) for v in row] for row in frame.itertuples(index=False)]
    width = [max([len(str(c))] + [len(r[i]) for r in cells]) for i, c in enumerate(cols)]
    left = [frame[c].dtype == object and not any(_numeric_text(r[i]) for r in cells) for i, c in enumerate(cols)]

    def line(values):
        return "  ".join(v.ljust(w) if lf else v.rjust(w) for v, w, lf in zip(values, width, left)).rstrip()

    return "\n".join([line([str(c) for c in cols])] + [line(r) for r in cells])


def _numeric_text(text: str) -> bool:
    t = text.replace("%", "").replace("<", "").replace("+", "").replace("-", "").replace(".", "").replace(" ", "")
    return bool(t) and t.isdigit()


_LATEX = {"&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_", "{": r"\{", "}": r"\}",
          "~": r"\textasciitilde{}", "^": r"\textasciicircum{}", "\\": r"\textbackslash{}"}


def _latex_escape(text: str) -> str:
    return "".join(_LATEX.get(ch, ch) for ch in str(text))


def _sheet_name(name: str) -> str:
    """An Excel sheet name: at most 31 characters, none of []:*?/\\."""
    for ch in "[]:*?/\\":
        name = name.replace(ch, "_")
    return name[:31]


@dataclass
class EventStudyResults:
    """Everything an event-study run produced; frames are tidy (one row per observation).

    Public: the frames (``car``, ``tests``, ``abnormal_returns``, ``estimation``, ``skipped``,
    ``volume``, ``volume_tests``, ``sensitivity``) and the typed properties below (``spec``,
    ``model``, ``estimation_window``, ``windows``, ``primary_window``, ``primary_test``,
    ``event_ids``, ``events``, ``universe``, ``groups``, ``primary_rows``); ``study``, ``panel``
    and ``engine_result`` are the run's internals (plots read them)."""

    study: object
    panel: object
    engine_result: object
    frames: dict
    abnormal_returns: pd.DataFrame
    car: pd.DataFrame
    tests: pd.DataFrame
    estimation: pd.DataFrame
    skipped: pd.DataFrame
    volume: pd.DataFrame | None = None
    volume_tests: pd.DataFrame | None = None
    #: the primary group test with day 0 moved to each alternative date (sensitivity.csv)
    sensitivity: pd.DataFrame | None = None
    #: pooled answers across events (pooled.csv; :mod:`analysis.inference.pooled`)
    pooled: pd.DataFrame | None = None
    #: suppliers' CARs regressed on revenue exposure (exposure_fit.csv; analysis.inference.exposure)
    exposure_fit: pd.DataFrame | None = None
    #: the events this object shows (None: every event of the run; see :meth:`select`)
    shown_events: list | None = None
    #: figure inputs computed once (:func:`analysis.plots.figure_inputs`: portfolio CAR paths)
    figure_inputs: dict = field(default_factory=dict, repr=False)

    def select(self, event_ids=None, placebo: bool = True, readjust: bool = False) -> "EventStudyResults":
        """A view of these results (nothing is fitted again): the rows of ``event_ids`` (default
        all) and, with ``placebo`` False, without the pseudo-event results (the placebo rows and
        the calibration columns), as a run with ``placebo_draws=0`` gives them. The
        multiple-testing columns stay those of the whole run, or with ``readjust`` are computed
        again over the rows kept (as a run of those events alone gives them)."""
        import dataclasses

        keep = None if event_ids is None else [event_ids] if isinstance(event_ids, str) else list(event_ids)

        def rows(frame):
            if frame is None or keep is None or "event_id" not in frame.columns:
                return frame
            return frame[frame["event_id"].isin(keep)].reset_index(drop=True)

        tests = rows(self.tests)
        if not placebo and len(tests.columns):
            tests = tests[tests["test"] != "placebo"].drop(columns=[c for c in PSEUDO_COLUMNS if c in tests.columns])
            tests = tests.reset_index(drop=True)
        sensitivity = rows(self.sensitivity)
        if sensitivity is not None and sensitivity.empty:  # as a run without alternative dates writes it
            sensitivity = empty_sensitivity()
        if readjust and "primary" in tests.columns:
            cols = list(tests.columns)
            tests = adjust(tests.drop(columns=["primary", "p_holm", "q_bh"]), self.spec.primary,
                           self.spec.primary_test, self.spec.groups)[cols]
        return dataclasses.replace(
            self, abnormal_returns=rows(self.abnormal_returns), car=rows(self.car), tests=tests,
            estimation=rows(self.estimation), skipped=rows(self.skipped), volume=rows(self.volume),
            volume_tests=rows(self.volume_tests), sensitivity=sensitivity,
            shown_events=[e for e in self.event_ids if keep is None or e in keep])

    # -- the run's settings and scope ------------------------------------------------------
    @property
    def spec(self) -> StudySpec:
        """The run's :class:`~analysis.inference.spec.StudySpec` (every setting)."""
        return self.study.spec

    @property
    def model(self) -> str:
        """The normal-return model's name (``spec.model``)."""
        return self.spec.model

    @property
    def estimation_window(self) -> str:
        """The estimation window, 'A:B' sessions relative to day 0."""
        return format_window(self.spec.estimation)

    @property
    def windows(self) -> list[str]:
        """The requested event windows, 'A:B' (car.csv may add limit-extended windows)."""
        return self.spec.window_names

    @property
    def primary_window(self) -> str:
        """The primary window ('A:B'), the default of :meth:`summary`, :meth:`primary`, :meth:`car_table`."""
        return self.spec.primary

    @property
    def primary_test(self) -> str:
        """The primary test's name (tests.csv ``test``)."""
        return self.spec.primary_test

    @property
    def event_ids(self) -> list[str]:
        """The run's events (those :meth:`select` kept), in catalog order."""
        ids = list(self.study.events["event_id"])
        return ids if self.shown_events is None else [e for e in ids if e in set(self.shown_events)]

    @property
    def events(self) -> pd.DataFrame:
        """The run's catalog rows (event_id, announced_at, title, kind, ...)."""
        ev = self.study.events
        return (ev if self.shown_events is None else ev[ev["event_id"].isin(self.shown_events)]).reset_index(drop=True)

    @property
    def universe(self) -> pd.DataFrame:
        """The run's securities (symbol, name, role, exchange, benchmark, ...)."""
        return self.study.universe.reset_index(drop=True)

    @property
    def groups(self) -> list[str]:
        """The groups of the run's test rows, in display order (as printed in tests.csv)."""
        have = set(self.tests["group"]) if len(self.tests) else set()
        return [g for g in GROUP_ORDER if g in have] + sorted(have - set(GROUP_ORDER))

    @property
    def primary_rows(self) -> pd.DataFrame:
        """The tests.csv rows of the primary family (``primary`` true)."""
        if "primary" not in self.tests.columns:
            return self.tests.iloc[0:0]
        return self.tests[self.tests["primary"].astype(bool)].reset_index(drop=True)

    def _group_name(self, group: str | None) -> str | None:
        """A group as printed (``named``, ``Named firms``, ``US suppliers``) -> its tests.csv name."""
        if group is None:
            return None
        for g in GROUPS.values():
            if group in (g.name, g.label, g.words):
                return g.name
        return group

    @property
    def default_window(self) -> str:
        """The window shown when none is asked for: the primary window when the run requested it,
        else the first requested window."""
        return self.primary_window if self.primary_window in self.windows else self.windows[0]

    def _window(self, window) -> str:
        return self.default_window if window is None else format_window(as_windows([window])[0])

    def firm_cars(self, event_id=None, window=None) -> pd.DataFrame:
        """Per-firm CAR rows of car.csv (decimal), optionally for one event and/or requested
        window (the limit-extended windows are in ``car`` with ``window_kind`` limit_extended)."""
        df = self.car if window is None else requested_windows(self.car)
        if event_id is not None:
            df = df[df["event_id"] == event_id]
        if window is not None:
            df = df[df["window"] == format_window(as_windows([window])[0])]
        return df.reset_index(drop=True)

    def car_table(self, window=None, value: str = "car") -> pd.DataFrame:
        """Firm x event table of ``value`` (car.csv column: car, car_se, car_t, car_p; decimals)
        in ``window`` (default :attr:`default_window`: the primary window): one row per security (index symbol, in
        universe order), one column per event (run order); NaN where a firm-event was not fitted."""
        w = self._window(window)
        c = requested_windows(self.car)
        c = c[c["window"] == w]
        order = [s for s in self.universe["symbol"] if s in set(c["symbol"])]
        table = c.pivot_table(index="symbol", columns="event_id", values=value, aggfunc="first")
        table = table.reindex(index=order, columns=[e for e in self.event_ids if e in set(c["event_id"])])
        table.columns.name, table.index.name = "event_id", "symbol"
        return table

    def test_table(self, event_id=None, window=None, group=None, wide: bool = True) -> pd.DataFrame:
        """Cross-sectional tests; ``wide`` gives one row per (event, group, window)."""
        df = self.tests
        for col, val in (("event_id", event_id), ("window", window), ("group", group)):
            if val is not None:
                df = df[df[col] == val]
        if not wide:
            return df.reset_index(drop=True)
        keys = ["event_id", "group", "window"]
        base = df.drop_duplicates(keys)[keys + ["n", "mean_car"]]
        tests = list(dict.fromkeys(df["test"]))
        stat = df.pivot(index=keys, columns="test", values="statistic")[tests]
        pval = df.pivot(index=keys, columns="test", values="p_value")[tests]
        pval.columns = [f"p_{c}" for c in pval.columns]
        wide_df = base.merge(stat.join(pval).reset_index(), on=keys, how="left")
        return wide_df.reset_index(drop=True)

    def primary(self, event_id: str, group: str | None = None, window: str | None = None,
                test: str | None = None) -> dict | None:
        """The tests.csv row (dict) of ``test`` (default the primary test) for ``event_id``,
        ``group`` (as printed: ``named``, ``Named firms``, ``supplier``...; default the first
        primary group with a row: named, else target, then supplier) and ``window`` (default
        :attr:`default_window`: the primary window, or the first requested one when the run did
        not request it; then the row's ``primary`` is False); None when the run has no such row."""
        t = self.tests
        if t.empty:
            return None
        window, test = self._window(window), test or self.primary_test
        rows = t[(t["event_id"] == event_id) & (t["window"] == window) & (t["test"] == test)]
        if group is None:
            wanted = primary_groups(rows["group"].unique(), self.spec.groups)
        else:
            g = self._group_name(group)
            wanted = (g, PRIMARY_FALLBACK.get(g, g))
        for g in wanted:
            hit = rows[rows["group"] == g]
            if len(hit):
                return hit.iloc[0].to_dict()
        return None

    def headline(self, event_id: str, group: str | None = None, window: str | None = None) -> dict | None:
        """Deprecated name of :meth:`primary`."""
        import warnings

        warnings.warn("EventStudyResults.headline() is now primary()", DeprecationWarning, stacklevel=2)
        return self.primary(event_id, group, window)

    # -- output ---------------------------------------------------------------------------
    def to_csv(self, out_dir) -> list[Path]:
        """Write the CSV contract into ``out_dir`` as one set (see :func:`write_set`); returns the paths."""
        out = Path(out_dir)
        files = {
            "abnormal_returns.csv": (self.abnormal_returns, AR_COLUMNS),
            "car.csv": (self.car, CAR_COLUMNS),
            "tests.csv": (self.tests, TEST_COLUMNS),
            "estimation.csv": (self.estimation, EST_COLUMNS),
            "skipped.csv": (self.skipped, SKIP_COLUMNS),
        }
        if self.volume is not None:
            files["volume.csv"] = (self.volume, VOLUME_COLUMNS)
            files["volume_tests.csv"] = (self.volume_tests, [])
        if self.sensitivity is not None:
            files["sensitivity.csv"] = (self.sensitivity, SENSITIVITY_COLUMNS)
        if self.pooled is not None:
            files["pooled.csv"] = (self.pooled, POOLED_COLUMNS)
        if self.exposure_fit is not None:
            files["exposure_fit.csv"] = (self.exposure_fit, EXPOSURE_FIT_COLUMNS)
        ordered = {}
        for name, (frame, first) in files.items():
            ordered[name] = frame[list(first) + [c for c in frame.columns if c not in first]]
        return write_set(ordered, out, owned=RESULT_FILES)

    def summary(self, window: str | None = None, test: str | None = None) -> Summary:
        """The run in readable tables (:class:`Summary`: text, HTML, LaTeX): the settings, every
        requested window, then per event the firms' CARs in ``window`` (default the primary
        window, or the first requested window when the run did not request it), its primary rows (CAR, 95% interval, p, Holm p, verdict) and the group tests
        in ``window`` with ``test`` (default the primary test) first; the tests that are
        oversized here or were not simulated; the multiple-testing rule; the skipped firms."""
        window = self.default_window if window is None else str(window)
        test = test or self.primary_test
        items: list = []

        def text(line=""):
            items.append(("text", line))

        a, b = self.spec.estimation
        text(f"Event study: model={self.model}, estimation {a}:{b} sessions, "
             f"windows {', '.join(self.windows)}, min-obs {self.spec.min_obs}")
        text(f"{len(self.event_ids)} events, {self.car['symbol'].nunique()} securities, "
             f"{len(self.estimation)} firm-events fitted, {len(self.skipped)} skipped")
        have = set(requested_windows(self.car)["window"]) if len(self.car) else set()
        shown = f"Shown: window {window}" + ("" if window == self.primary_window else
                                              f" (the primary window is {self.primary_window})")
        text(shown + f"; every requested window is in car.csv and tests.csv: {', '.join(self.windows)}; "
             f"res.summary(window=...) shows another")
        if window not in self.windows:
            text(f"Window {window} was not requested (add it to windows); nothing to show for it")
        events = self.events.set_index("event_id")
        for ev in self.event_ids:
            text()
            meta = events.loc[ev]
            title = meta["title"] if len(meta["title"]) <= 110 else meta["title"][:107].rstrip() + "..."
            text(f"== {ev} ({meta['kind']}, announced {meta['announced_at']}): {title}")
            c = self.firm_cars(ev, window) if window in have else self.car.iloc[0:0]
            if c.empty:
                fitted = self.car[self.car["event_id"] == ev] if len(self.car) else self.car
                if len(fitted):
                    text(f"   no CAR for window {window}; this event's firms have CARs for "
                         f"{', '.join(dict.fromkeys(requested_windows(fitted)['window']))}")
                else:
                    text("   no firm could be studied (reasons under Skipped)")
                continue
            items.append(("table", f"CAR[{window}] by firm (decimal; se from MacKinlay 1997 with estimation error)",
                          self._firm_frame(c), {}))
            for line in self._primary_lines(ev):
                text(line)
            t = self.test_table(ev, window)
            if not t.empty:
                items.append(("table", f"group tests [{window}], exploratory (unadjusted p; not findings): "
                                       "statistic (p)", self._tests_frame(t, test), {}))
        for line in self._pooled_lines():
            text(line)
        names = set(self.tests["test"]) if len(self.tests) else set()
        over = sorted(oversized_here() & names)
        if over:
            text()
            text(f"Oversized here (simulated size above {OVERSIZED_SIZE:.0%} with a few correlated firms; "
                 f"README): {', '.join(over)}; read their p_calibrated in tests.csv.")
        unsimulated = sorted(t for t in names if size_verdict(t) == NOT_SIMULATED)
        if unsimulated:
            text(f"Not simulated (no size on record in this design; read size_5pct in tests.csv): "
                 f"{', '.join(unsimulated)}.")
        text()
        groups = "/".join(primary_groups(self.tests["group"].unique() if len(self.tests) else [], self.spec.groups))
        text(f"Significant means p_holm < 0.05 on a primary row ({self.primary_test} test, window "
             f"{self.primary_window}, groups {groups}, {self._holm_words()}); every other p-value is exploratory.")
        if len(self.skipped):
            text()
            text("Skipped:")
            for r in self.skipped.itertuples(index=False):
                text(f"   {r.event_id} {r.symbol}: {r.reason}")
        return Summary(items)

    def _holm_words(self) -> str:
        """'Holm over the N events of this run' (or of the catalog, with holm_scope catalog)."""
        if "primary" in self.tests.columns and len(self.tests):
            n_run = int(self.tests.loc[self.tests["primary"].astype(bool), "event_id"].nunique())
        else:
            n_run = 0
        if self.spec.holm_scope == "catalog":
            n = int(getattr(self.study, "holm_events", n_run))
            return f"Holm over the {n} events of the catalog"
        return f"Holm over the {n_run} events of this run"

    @staticmethod
    def _firm_frame(c: pd.DataFrame) -> pd.DataFrame:
        """The summary's firm table: symbol, group, CAR, se, t, p (text, as printed), note."""
        rows = []
        for r in c.itertuples(index=False):
            notes = ["spans suspension"] if getattr(r, "spans_suspension", False) else []
            if not getattr(r, "complete", True):
                notes.append("incomplete window (not in group tests)")
            if isinstance(getattr(r, "limit_flag", None), str) and r.limit_flag:
                notes.append(r.limit_flag)
            if isinstance(getattr(r, "overlaps", None), str) and r.overlaps:
                notes.append(f"window holds {r.overlaps.replace(';', ', ')}")
            if getattr(r, "off_day0_driver", False) is True:
                notes.append(f"driven by day {int(r.driver_day):+d} ({100 * r.driver_ar:+.1f}%)")
            if isinstance(getattr(r, "confounders", None), str) and r.confounders:
                notes.append("other news in window")
            if getattr(r, "attributable", True) is False or str(getattr(r, "attributable", "")) == "False":
                notes.append("not attributable (major news on days 0..+1)")
            rows.append({"symbol": r.symbol, "group": getattr(r, "group", None) or r.role,
                         "CAR": f"{r.car:.4f}", "se": f"{r.car_se:.4f}", "t": f"{r.car_t:.2f}",
                         "p": fmt.pvalue(r.car_p), "note": "; ".join(notes)})
        return pd.DataFrame(rows, columns=["symbol", "group", "CAR", "se", "t", "p", "note"])

    @staticmethod
    def _tests_frame(t: pd.DataFrame, first: str) -> pd.DataFrame:
        """The summary's group-test table: group, n, mean CAR, then 'statistic (p)' per test,
        ``first`` first."""
        tests = [c for c in t.columns if not c.startswith("p_") and c not in ("event_id", "group", "window", "n",
                                                                               "mean_car")]
        tests = [x for x in tests if x == first] + [x for x in tests if x != first]
        rows = []
        for r in t.to_dict("records"):
            row = {"group": r["group"], "n": str(int(r["n"])), "mean CAR": f"{r['mean_car']:.4f}"}
            for x in tests:
                stat, p = r.get(x), r.get(f"p_{x}")
                row[x] = "n/a" if stat is None or not np.isfinite(stat) else f"{stat:.2f} ({fmt.pvalue(p)})"
            rows.append(row)
        return pd.DataFrame(rows, columns=["group", "n", "mean CAR", *tests])

    def _primary_lines(self, event_id: str) -> list[str]:
        """The event's primary rows: portfolio CAR, 95% interval, p, Holm p, verdict."""
        t = self.tests
        if "primary" not in t.columns:
            return []
        rows = t[(t["event_id"] == event_id) & t["primary"].astype(bool)]
        if rows.empty:
            return []
        w = rows["window"].iloc[0]
        out = [f"   primary: portfolio CAR[{w}] (95% interval), p, Holm-adjusted p"
               + (", history p (its floor, Holm)" if "p_history" in rows.columns else "")]
        for r in rows.to_dict("records"):
            if not np.isfinite(r.get("estimate", np.nan)):
                out.append(f"   {r['group']:<10}{int(r['n']):>3}  n/a")
                continue
            hist = ""
            if np.isfinite(r.get("p_history", np.nan)):  # the tail-robust p (analysis.inference.history)
                hist = (f"  p_history {r['p_history']:.2g} (floor {r['p_history_floor']:.2g}, "
                        f"Holm {fmt.pvalue(r.get('p_holm_history', np.nan))})")
            out.append(f"   {r['group']:<10}{int(r['n']):>3}{r['estimate']:>10.4f} ({r['ci_low']:.4f}, "
                       f"{r['ci_high']:.4f})  p {fmt.pvalue(r['p_value'])}  p_holm {fmt.pvalue(r['p_holm'])}"
                       f"{hist}  {verdict(r)}" + ("" if r.get("attributable", True) in (True, "True") else
                                            "  (not attributable: major news on days 0..+1)"))
        return out

    def _pooled_lines(self) -> list[str]:
        """The pooled answers across events (scope attributable, the primary window): every
        pooled test per group, the primary ones with their Holm p."""
        p = self.pooled
        if p is None or p.empty:
            return []
        w = self.primary_window
        rows = p[(p["scope"] == "attributable") & (p["window"] == w)]
        if rows.empty:
            return []
        out = ["", f"Pooled across events, CAR[{w}] (decimal; attributable events; pooled.csv has every window "
                   "and scope 'all'): estimate (95% interval), p, Holm p on the primary rows"]
        for r in rows.to_dict("records"):
            head = f"   {r['group']:<10}{r['test']:<18}E={int(r['n_events']):>3}"
            if not np.isfinite(r["p_value"]):
                out.append(f"{head}  n/a ({r.get('note') or 'not applicable'})")
                continue
            ci = (f" ({r['ci_low']:.4f}, {r['ci_high']:.4f})" if np.isfinite(r["ci_low"]) else "")
            extra = f"  tau2 {r['tau2']:.2e}  I2 {100 * r['i2']:.0f}%" if np.isfinite(r["tau2"]) else ""
            holm = f"  p_holm {fmt.pvalue(r['p_holm'])}" if bool(r.get("primary")) else ""
            out.append(f"{head}{r['estimate']:>10.4f}{ci}  p {fmt.pvalue(r['p_value'])}{holm}{extra}")
        return out

    def __repr__(self) -> str:
        return (f"<EventStudyResults model={self.model} events={len(self.event_ids)} "
                f"firm-events={len(self.estimation)} skipped={len(self.skipped)}>")

    def _repr_html_(self) -> str:
        return (f"<p><b>Event study</b> — model {self.model}, {len(self.event_ids)} events, "
                f"{len(self.estimation)} firm-events, {len(self.skipped)} skipped</p>\n" + self.summary().as_html())

    def to_excel(self, path) -> Path:
        """Every result table in one workbook (openpyxl): ``settings`` (the StudySpec),
        ``car_table`` (firm x event CARs of the primary window, ``settings`` names it), then car, tests,
        abnormal_returns, estimation, skipped, volume, volume_tests, sensitivity (decimals, as in
        the CSV files). Returns the path."""
        path = Path(path)
        settings = pd.DataFrame([(k, ", ".join(map(str, v)) if isinstance(v, list) else v)
                                 for k, v in self.spec.describe().items()], columns=["setting", "value"])
        sheets = {"settings": settings, "car_table": self.car_table().reset_index(),
                  "car": self.car, "tests": self.tests, "abnormal_returns": self.abnormal_returns,
                  "estimation": self.estimation, "skipped": self.skipped}
        for name in ("volume", "volume_tests", "sensitivity", "pooled", "exposure_fit"):
            frame = getattr(self, name)
            if frame is not None:
                sheets[name] = frame
        with pd.ExcelWriter(path, engine="openpyxl") as xl:
            for name, frame in sheets.items():
                csv_frame(frame).to_excel(xl, sheet_name=_sheet_name(name), index=False)  # no formulas from data
        return path

    def plot(self, event=None, group=None, ax=None, **kwargs):
        """CAR path (each group's portfolio CAR, or per firm with ``symbols``) with 95% bands:
        one panel per event (``event``: one id or a list; default every event of the run), the
        event's full title above its panel, whole trading days on the x axis. Returns the
        figure (:func:`analysis.plots.plot_car_path`). ``event_id`` is read as ``event``."""
        import textwrap

        import matplotlib.pyplot as plt
        from matplotlib.ticker import MaxNLocator

        event = kwargs.pop("event_id", event)
        events = self.event_ids if event is None else ([event] if isinstance(event, str) else list(event))
        titles = dict(zip(self.events["event_id"], self.events["title"]))
        if ax is not None:
            axes = [ax] if len(events) == 1 else list(np.ravel(ax))
            fig = axes[0].figure
        else:
            ncols = 1 if len(events) == 1 else 2
            nrows = -(-len(events) // ncols)
            fig, grid = plt.subplots(nrows, ncols, figsize=(7.5 * ncols, 4.4 * nrows), squeeze=False)
            axes = list(grid.ravel())
            for extra in axes[len(events):]:
                extra.set_visible(False)
        from analysis.plots import plot_car_path

        for e, a in zip(events, axes):
            title = "\n".join(textwrap.wrap(f"{e}: {titles.get(e, e)}", 70))
            plot_car_path(self, event_id=e, group=group, ax=a, title=kwargs.get("title") or title,
                          symbols=kwargs.get("symbols"))
            a.xaxis.set_major_locator(MaxNLocator(integer=True))
            a.title.set_fontsize(9)
        fig.tight_layout()
        return fig
