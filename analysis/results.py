"""The result object of an event study (in the manner of statsmodels / linearmodels).

Tidy frames: ``.abnormal_returns``, ``.car``, ``.tests``, ``.estimation``, ``.skipped``
(and ``.volume`` when computed); ``.summary()`` returns readable tables (a str that displays as
text in notebooks and prints as text); ``._repr_html_``
renders them in notebooks; ``.plot()`` draws the CAR path with 95% bands; ``.to_csv(dir)``
writes the CSV contract as one set (all new files or all old ones, never a mix).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from analysis.atomic import write_set  # noqa: F401 - the CSV set is written by analysis.atomic
from analysis import fmt
from analysis.inference.battery import describe
from analysis.inference.design import oversized_here
from analysis.inference.multiple import primary_groups, verdict
from analysis.tables import (AR_COLUMNS, CAR_COLUMNS, EST_COLUMNS, SENSITIVITY_COLUMNS, SKIP_COLUMNS, TEST_COLUMNS,
                             requested_windows)
from analysis.vocab import PRIMARY_TEST as HEADLINE_TEST, PRIMARY_WINDOW

VOLUME_COLUMNS = ["event_id", "symbol", "day", "date", "volume", "log_volume", "abnormal_log_volume"]
#: Every file of the CSV set: a file of an older set that this run does not write is removed.
RESULT_FILES = ("abnormal_returns.csv", "car.csv", "tests.csv", "estimation.csv", "skipped.csv", "volume.csv",
                "volume_tests.csv")



class Summary(str):
    """Summary text: ``print(res.summary())`` prints it; a notebook shows it as text once."""

    def __repr__(self) -> str:
        return str(self)


@dataclass
class EventStudyResults:
    """Everything an event-study run produced; frames are tidy (one row per observation)."""

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
    #: the headline group test with day 0 moved to each alternative date (sensitivity.csv)
    sensitivity: pd.DataFrame | None = None

    # -- small helpers --------------------------------------------------------------------
    @property
    def windows(self) -> list[str]:
        return [f"{a}:{b}" for a, b in self.study.windows]

    @property
    def event_ids(self) -> list[str]:
        return list(self.study.events["event_id"])

    def car_table(self, event_id=None, window=None) -> pd.DataFrame:
        """Per-firm CARs (decimal), optionally for one event and/or requested window (the
        limit-extended windows are in ``car`` with ``window_kind`` limit_extended)."""
        df = self.car if window is None else requested_windows(self.car)
        if event_id is not None:
            df = df[df["event_id"] == event_id]
        if window is not None:
            df = df[df["window"] == window]
        return df.reset_index(drop=True)

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

    def headline(self, event_id: str, group: str = "target", window: str = "-1:1") -> dict:
        """The headline test's row (:data:`~analysis.vocab.HEADLINE_TEST`) of a group (None if
        not available)."""
        t = self.tests
        row = t[(t["event_id"] == event_id) & (t["group"] == group) & (t["window"] == window)
                & (t["test"] == HEADLINE_TEST)]
        return None if row.empty else row.iloc[0].to_dict()

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
        ordered = {}
        for name, (frame, first) in files.items():
            ordered[name] = frame[list(first) + [c for c in frame.columns if c not in first]]
        return write_set(ordered, out, owned=RESULT_FILES)

    def summary(self, window: str = "-1:1") -> "Summary":
        """A readable text summary: per-event firm CARs and group tests for one window."""
        lines = []
        spec = self.study.model
        a, b = self.study.estimation
        lines.append(f"Event study: model={spec.name}, estimation {a}:{b} sessions, "
                     f"windows {', '.join(self.windows)}, min-obs {self.study.min_obs}")
        lines.append(f"{len(self.event_ids)} events, {self.car['symbol'].nunique()} securities, "
                     f"{len(self.estimation)} firm-events fitted, {len(self.skipped)} skipped")
        for ev in self.event_ids:
            lines.append("")
            meta = self.study.events.set_index("event_id").loc[ev]
            title = meta["title"] if len(meta["title"]) <= 110 else meta["title"][:107].rstrip() + "..."
            lines.append(f"== {ev} ({meta['kind']}, announced {meta['announced_at']}): {title}")
            c = self.car_table(ev, window)
            if c.empty:
                lines.append("   no firm could be studied")
                continue
            lines.append(f"   CAR[{window}] by firm (decimal; se from MacKinlay 1997 with estimation error)")
            lines.append(f"   {'symbol':<11}{'group':<9}{'CAR':>9}{'se':>8}{'t':>8}{'p':>8}  note")
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
                group = getattr(r, "group", None) or r.role
                lines.append(f"   {r.symbol:<11}{group:<9}{r.car:>9.4f}{r.car_se:>8.4f}{r.car_t:>8.2f}"
                             f"{fmt.pvalue(r.car_p):>8}    {'; '.join(notes)}")
            lines += self._primary_lines(ev)
            t = self.test_table(ev, window)
            if not t.empty:
                lines.append(f"   group tests [{window}], exploratory (unadjusted p; not findings): statistic (p)")
                tests = [c for c in t.columns if not c.startswith("p_") and c not in
                         ("event_id", "group", "window", "n", "mean_car")]
                lines.append(f"   {'group':<10}{'n':>3}{'mean CAR':>10}  " + "  ".join(f"{x:>17}" for x in tests))
                for r in t.itertuples(index=False):
                    rd = r._asdict()
                    cells = []
                    for x in tests:
                        s, p = rd.get(x), rd.get(f"p_{x}")
                        cells.append("n/a".rjust(17) if s is None or not np.isfinite(s)
                                     else f"{s:>6.2f} ({fmt.pvalue(p)})".rjust(17))
                    lines.append(f"   {r.group:<10}{r.n:>3}{r.mean_car:>10.4f}  " + "  ".join(cells))
        over = sorted(oversized_here() & set(self.tests["test"] if len(self.tests) else []))
        if over:
            lines.append("")
            lines.append(f"Oversized here (simulated size above 7% with a few correlated firms; README): "
                         f"{', '.join(over)}; read their p_calibrated in tests.csv.")
        lines.append("")
        lines.append("Significant means p_holm < 0.05 on a primary row (portfolio test, window "
                     f"{getattr(self.study, 'primary_window', PRIMARY_WINDOW)}, groups "
                     f"{'/'.join(primary_groups(self.tests['group'].unique() if len(self.tests) else []))}, "
                     "Holm over all events); every other p-value is exploratory.")
        if len(self.skipped):
            lines.append("")
            lines.append("Skipped:")
            for r in self.skipped.itertuples(index=False):
                lines.append(f"   {r.event_id} {r.symbol}: {r.reason}")
        return Summary("\n".join(lines))

    def _primary_lines(self, event_id: str) -> list[str]:
        """The event's primary rows: portfolio CAR, 95% interval, p, Holm p, verdict."""
        t = self.tests
        if "primary" not in t.columns:
            return []
        rows = t[(t["event_id"] == event_id) & t["primary"].astype(bool)]
        if rows.empty:
            return []
        w = rows["window"].iloc[0]
        out = [f"   primary: portfolio CAR[{w}] (95% interval), p, Holm-adjusted p"]
        for r in rows.to_dict("records"):
            if not np.isfinite(r.get("estimate", np.nan)):
                out.append(f"   {r['group']:<10}{int(r['n']):>3}  n/a")
                continue
            out.append(f"   {r['group']:<10}{int(r['n']):>3}{r['estimate']:>10.4f} ({r['ci_low']:.4f}, "
                       f"{r['ci_high']:.4f})  p {fmt.pvalue(r['p_value'])}  p_holm {fmt.pvalue(r['p_holm'])}"
                       f"  {verdict(r)}")
        return out

    def __repr__(self) -> str:
        return (f"<EventStudyResults model={self.study.model.name} events={len(self.event_ids)} "
                f"firm-events={len(self.estimation)} skipped={len(self.skipped)}>")

    def _repr_html_(self) -> str:
        parts = [f"<p><b>Event study</b> — model {self.study.model.name}, "
                 f"{len(self.event_ids)} events, {len(self.estimation)} firm-events, "
                 f"{len(self.skipped)} skipped</p>"]
        window = "-1:1" if "-1:1" in self.windows else self.windows[0]
        c = requested_windows(self.car)
        c = c[c["window"] == window][["event_id", "symbol", "group" if "group" in c.columns else "role", "car",
                                      "car_se", "car_t", "car_p"]]
        parts.append(f"<p>CAR[{window}] by firm</p>" + c.to_html(index=False, float_format="%.4f"))
        t = self.tests[(self.tests["window"] == window) & (self.tests["test"] == HEADLINE_TEST)]
        parts.append(f"<p>{describe(HEADLINE_TEST, 'words')} by group, CAR[{window}]</p>"
                     + t[["event_id", "group", "n", "mean_car", "statistic", "p_value"]].to_html(index=False, float_format="%.4f"))
        return "\n".join(parts)

    def plot(self, event_id=None, group=None, ax=None, **kwargs):
        """CAR path (mean over firms, or per firm) with 95% bands; see :mod:`analysis.plots`."""
        from analysis.plots import plot_car_path

        return plot_car_path(self, event_id=event_id, group=group, ax=ax, **kwargs)
