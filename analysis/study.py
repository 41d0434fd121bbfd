"""``EventStudy``: the analyst's entry point. Catalog + prices -> firm-event panel -> results.

    >>> from analysis import EventStudy
    >>> res = EventStudy(prices="../shared/prices").fit()
    >>> res.summary()

Data flow: catalog + universe -> prices (Yahoo cache or CSV folder) -> returns on each
security's own sessions -> day 0 per (event, security) -> one batched engine run over all
firm-events -> cross-sectional tests -> :class:`~analysis.results.EventStudyResults`.
One bad symbol or event never sinks the others: it is listed in ``skipped`` with its reason.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from analysis.data import catalog as catalog_mod
from analysis.estimation import engine
from analysis.data.calendars import SessionReturns, day_zero, returns_on, session_returns
from analysis.errors import UserError
from analysis.data.factors import load_factors
from analysis.estimation.models import get_model

DEFAULT_WINDOWS = ((0, 0), (-1, 1), (0, 5), (-5, 5))
DEFAULT_ESTIMATION = (-250, -11)
ALL = "all"


def _as_windows(windows) -> list[tuple[int, int]]:
    out = []
    for w in windows:
        try:
            out.append(engine.parse_window(w) if isinstance(w, str) else (int(w[0]), int(w[1])))
        except (ValueError, TypeError, IndexError):
            raise UserError(f"bad window '{w}': expected START:END in trading days, e.g. -1:1") from None
    if not out:
        raise UserError("no event window given")
    return out


@dataclass
class Panel:
    """The firm-event panel: one row per (event, security) that could be studied."""

    frame: pd.DataFrame  # event_id, symbol, role, exchange, benchmark, day0, sec, p0
    store: engine.ReturnStore
    series: dict[str, SessionReturns] = field(default_factory=dict)
    #: {security index: day-0 positions of every event of the full catalog} (placebo exclusions;
    #: None: the events of the panel)
    catalog_p0: dict[int, list[int]] | None = None


class EventStudy:
    """Configure an event study; :meth:`fit` runs it.

    Parameters
    ----------
    events, universe : DataFrame or path, optional
        Catalog and universe (default ``data/events.csv``, ``data/universe.csv``).
    prices : str, Path, price source or dict of frames, optional
        A folder of ``<SYMBOL>.csv`` (recorded prices), a source object with ``fetch``,
        a ``{symbol: frame}`` dict, or None for Yahoo Finance with the on-disk cache.
    model : str
        ``market`` (default), ``mean``, ``market-adjusted``, ``ff3``, ``carhart``.
    estimation : (int, int) or 'A:B'
        Estimation window in sessions relative to day 0, inclusive (default -250:-11).
    windows : list of (int, int) or 'A:B'
        Event windows in sessions relative to day 0, inclusive.
    min_obs : int
        Minimum estimation returns; fewer skips the firm for that event.
    factors : path or list of paths or DataFrame, optional
        Daily factors (French's files, percent) for ``ff3``/``carhart``.
    event_ids, symbols : list of str, optional
        Restrict to these events / securities.
    placebo_draws : int
        Pseudo-event dates per event for the placebo test (0 turns it off).
    factor_exchanges : tuple of str
        Exchanges whose securities the factor models (ff3, carhart) apply to; French's factors
        are US factors, so by default only XNAS/XNYS securities (others are skipped, listed).
    """

    def __init__(
        self,
        events=None,
        universe=None,
        prices=None,
        model: str = "market",
        estimation=DEFAULT_ESTIMATION,
        windows=DEFAULT_WINDOWS,
        min_obs: int = 120,
        factors=None,
        event_ids=None,
        symbols=None,
        placebo_draws: int = 1000,
        factor_exchanges=("XNAS", "XNYS"),
        seed: int = 20190521,
        progress: bool = False,
        cache_dir=None,
        refresh: bool = False,
    ):
        self.model = get_model(model)
        self.estimation = _as_windows([estimation])[0]
        self.windows = _as_windows(windows)
        first_window_day = min(w[0] for w in self.windows)
        if self.estimation[1] >= first_window_day:
            raise UserError(f"estimation window {self.estimation[0]}:{self.estimation[1]} overlaps the event "
                            f"windows (they start on day {first_window_day}); end it before that day")
        if int(placebo_draws) < 0:
            raise UserError(f"--placebo-draws must be 0 or more, not {placebo_draws}")
        if int(min_obs) < self.model.k + 2:
            raise UserError(f"--min-obs {min_obs} is too small for model '{model}' (needs at least {self.model.k + 2})")
        self.min_obs = int(min_obs)
        self.events = self._load_events(events)
        self.catalog = self.events  # the full catalog: placebo dates avoid all its windows
        self.universe = self._load_universe(universe)
        if event_ids:
            self.events = catalog_mod.select_events(self.events, list(event_ids))
        if symbols:
            self.universe = catalog_mod.select_universe(self.universe, list(symbols))
        self.prices = prices
        self.factors = factors
        self.placebo_draws = int(placebo_draws)
        self.factor_exchanges = tuple(factor_exchanges)
        self.seed = int(seed)
        self.progress = progress
        self.cache_dir = cache_dir
        self.refresh = refresh

    # -- inputs ---------------------------------------------------------------------------
    @staticmethod
    def _load_events(events) -> pd.DataFrame:
        if isinstance(events, pd.DataFrame):
            return events.copy()
        return catalog_mod.load_events(events) if events is not None else catalog_mod.load_events()

    @staticmethod
    def _load_universe(universe) -> pd.DataFrame:
        if isinstance(universe, pd.DataFrame):
            return universe.copy()
        return catalog_mod.load_universe(universe) if universe is not None else catalog_mod.load_universe()

    def _source(self):
        from analysis.data import prices as prices_mod

        if self.prices is None or isinstance(self.prices, (str, bytes)) or hasattr(self.prices, "__fspath__"):
            kwargs = {"refresh": self.refresh}
            if self.cache_dir is not None:
                kwargs["cache_dir"] = self.cache_dir
            return prices_mod.get_source(self.prices, **kwargs)
        return self.prices

    def load_prices(self) -> tuple[dict[str, pd.DataFrame], dict[str, str]]:
        """Frames for every universe symbol and benchmark, and per-symbol load errors."""
        needed = list(dict.fromkeys(list(self.universe["symbol"]) + list(self.universe["benchmark"])))
        if isinstance(self.prices, dict):
            frames = {s: self.prices[s] for s in needed if s in self.prices}
            errors = {s: f"no prices supplied for {s}" for s in needed if s not in self.prices}
            return frames, errors
        from analysis.data import prices as prices_mod

        source = self._source()
        self.source_ = source
        frames, errors = prices_mod.load_prices(source, needed, progress=self.progress)
        if not frames:
            first = next(iter(errors.items()), ("", "no symbols"))
            raise UserError(f"no prices could be loaded ({len(errors)} symbols failed; "
                            f"first: {first[0]}: {first[1]})")
        return frames, errors

    def _factor_frame(self) -> pd.DataFrame | None:
        if self.factors is None:
            return None
        if isinstance(self.factors, pd.DataFrame):
            return self.factors
        return load_factors(self.factors)

    # -- panel ----------------------------------------------------------------------------
    def build_panel(self, frames=None, errors=None) -> tuple[Panel, list[dict]]:
        """Returns on sessions for every usable security, and the firm-event rows."""
        if frames is None:
            frames, errors = self.load_prices()
        errors = dict(errors or {})
        factors = self._factor_frame()
        if self.model.excess and factors is None:
            raise UserError(f"model '{self.model.name}' needs daily factors: pass --factors FILE")
        skipped: list[dict] = []
        series, bases, meta = [], [], []
        for row in self.universe.itertuples(index=False):
            sym, bench = row.symbol, row.benchmark
            why = None
            if sym in errors or sym not in frames:
                why = errors.get(sym, f"no prices for {sym}")
            elif bench in errors or bench not in frames:
                why = f"benchmark {bench}: " + errors.get(bench, "no prices")
            if why is None and self.model.excess and row.exchange not in self.factor_exchanges:
                why = (f"model '{self.model.name}' uses the supplied (US) factors, which do not price "
                       f"{row.exchange} securities; set factor_exchanges to include {row.exchange} "
                       f"only with factors for that market")
            if why is None:
                try:
                    sr = session_returns(frames[sym], sym, row.exchange)
                    base = pd.DataFrame({"mkt": returns_on(sr, frames[bench])}, index=sr.sessions)
                    if factors is not None:
                        f = factors.reindex(sr.sessions)
                        if f.notna().all(axis=1).sum() == 0:
                            raise UserError(f"the factors do not cover any {row.exchange} session of {sym}")
                        for col in f.columns:
                            base[col] = f[col].to_numpy()
                except UserError as exc:
                    why = str(exc)
            if why is not None:
                skipped += [{"event_id": e, "symbol": sym, "reason": why} for e in self.events["event_id"]]
                continue
            series.append(sr)
            bases.append(base)
            meta.append(row)
        store = engine.build_store(self.model, series, bases)
        panel_series = series
        rows = []
        catalog_p0: dict[int, list[int]] = {}
        selected = set(self.events["event_id"])
        for ev in self.catalog.itertuples(index=False):
            announced = getattr(ev, "announced", None)
            if announced is None or (isinstance(announced, float) and np.isnan(announced)):
                announced = ev.announced_at
            studied = ev.event_id in selected
            for s, row in enumerate(meta):
                try:
                    d0 = day_zero(announced, row.exchange)
                except UserError as exc:
                    if studied:
                        skipped.append({"event_id": ev.event_id, "symbol": row.symbol, "reason": str(exc)})
                    continue
                p0 = store.position(s, d0)
                if p0 >= 0:
                    catalog_p0.setdefault(s, []).append(p0)
                if not studied:
                    continue
                if p0 < 0:
                    sess = panel_series[s].sessions
                    skipped.append({"event_id": ev.event_id, "symbol": row.symbol,
                                    "reason": f"day 0 ({d0.date()}) is outside its prices "
                                              f"({sess[0].date()} to {sess[-1].date()})"})
                    continue
                rows.append({"event_id": ev.event_id, "symbol": row.symbol, "name": row.name,
                             "role": row.role, "exchange": row.exchange, "benchmark": row.benchmark,
                             "day0": d0, "sec": s, "p0": p0})
        frame = pd.DataFrame(rows, columns=["event_id", "symbol", "name", "role", "exchange",
                                            "benchmark", "day0", "sec", "p0"])
        frame["sec"] = frame["sec"].astype(np.int64)
        frame["p0"] = frame["p0"].astype(np.int64)
        frame["day0"] = pd.to_datetime(frame["day0"])
        return Panel(frame, store, {sr.symbol: sr for sr in series}, catalog_p0), skipped

    def day0_table(self, frames=None, errors=None) -> pd.DataFrame:
        """Day 0 and the day-0 simple return (decimal) of every (event, security).

        A suspended day 0 has no return (NaN, ``note`` says so); a day-0 return that spans
        earlier suspended sessions is noted with its span.
        """
        panel, skipped = self.build_panel(frames, errors)
        f = panel.frame
        flat = panel.store.start[f["sec"].to_numpy()] + f["p0"].to_numpy()
        span = panel.store.span[flat]
        note = np.where(span == 0, "suspended on day 0", np.where(span > 1, [f"spans {k} sessions" for k in span], ""))
        table = pd.DataFrame({"event_id": f["event_id"], "symbol": f["symbol"], "exchange": f["exchange"],
                              "day0": f["day0"].dt.date, "day0_return": panel.store.ret[flat], "note": note})
        skip = pd.DataFrame(skipped, columns=["event_id", "symbol", "reason"]).rename(columns={"reason": "note"})
        return pd.concat([table, skip], ignore_index=True) if len(skip) else table

    # -- run ------------------------------------------------------------------------------
    def fit(self):
        """Run the study; returns :class:`~analysis.results.EventStudyResults`."""
        from analysis.results import EventStudyResults
        from analysis import tables as assemble

        frames, errors = self.load_prices()
        panel, skipped = self.build_panel(frames, errors)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            out = engine.run(panel.store, panel.frame["sec"].to_numpy(), panel.frame["p0"].to_numpy(),
                             self.estimation, self.windows, self.min_obs)
        tables = assemble.tables(self, panel, out, skipped)
        return EventStudyResults(study=self, panel=panel, engine_result=out, frames=frames, **tables)
