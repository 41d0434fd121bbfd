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

import sys
import warnings

import numpy as np
import pandas as pd

from analysis import tables
from analysis.data import catalog as catalog_mod
from analysis.data.factors import load_factors
from analysis.errors import UserError
from analysis.estimation import engine
from analysis.estimation.models import get_model
from analysis.estimation.panel import Panel, build_panel
from analysis.inference import calibration, limits, multiple, placebo, volume
from analysis.inference.battery import run_battery
from analysis.inference.cells import Cells, build_cells
from analysis.results import EventStudyResults
from analysis.vocab import (ALL, DEFAULT_ESTIMATION, DEFAULT_MIN_OBS, DEFAULT_MODEL, DEFAULT_WINDOWS,
                            PRIMARY_WINDOW, ROLES, as_windows, format_window)


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
    primary_window : str, optional
        Window of the primary family (Holm-adjusted ``p_holm``; default ``0:1``). Given
        explicitly, it must be one of ``windows``; by default a run without 0:1 has no
        primary family.
    factor_exchanges : tuple of str
        Exchanges whose securities the factor models (ff3, carhart) apply to; French's factors
        are US factors, so by default only XNAS/XNYS securities (others are skipped, listed).
    """

    def __init__(
        self,
        events=None,
        universe=None,
        prices=None,
        model: str = DEFAULT_MODEL,
        estimation=DEFAULT_ESTIMATION,
        windows=DEFAULT_WINDOWS,
        min_obs: int = DEFAULT_MIN_OBS,
        factors=None,
        event_ids=None,
        symbols=None,
        placebo_draws: int = 1000,
        factor_exchanges=("XNAS", "XNYS"),
        seed: int = 20190521,
        progress: bool = False,
        cache_dir=None,
        refresh: bool = False,
        primary_window: str | None = None,
    ):
        self.model = get_model(model)
        self.estimation = as_windows([estimation])[0]
        self.windows = as_windows(windows)
        first_window_day = min(w[0] for w in self.windows)
        if self.estimation[1] >= first_window_day:
            raise UserError(f"estimation window {self.estimation[0]}:{self.estimation[1]} overlaps the event "
                            f"windows (they start on day {first_window_day}); end it before that day")
        if int(placebo_draws) < 0:
            raise UserError(f"--placebo-draws must be 0 or more, not {placebo_draws}")
        if int(min_obs) < self.model.k + 2:
            raise UserError(f"--min-obs {min_obs} is too small for model '{model}' (needs at least {self.model.k + 2})")
        self.min_obs = int(min_obs)
        if primary_window is not None:
            pw = format_window(as_windows([primary_window])[0])
            if pw not in [format_window(w) for w in self.windows]:
                raise UserError(f"primary window {pw} is not one of the event windows "
                                f"({', '.join(format_window(w) for w in self.windows)}); add it with --window {pw}")
        self.primary_window = format_window(as_windows([primary_window or PRIMARY_WINDOW])[0])
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
        factors = self._factor_frame()
        if self.model.excess and factors is None:
            raise UserError(f"model '{self.model.name}' needs daily factors: pass --factors FILE")
        return build_panel(self.model, self.universe, self.events, self.catalog, frames, errors, factors,
                           self.factor_exchanges)

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
    def cells(self, panel: Panel, out: engine.EngineResult) -> Cells:
        """The (event, group, window) cells of a fitted panel; groups are the universe roles
        and all firms. With placebo draws, the cells carry their pseudo-event null law."""
        f = panel.frame
        ev_codes, ev_names = pd.factorize(f["event_id"])
        roles = list(dict.fromkeys(list(ROLES) + list(f["role"].unique())))
        role_code = np.array([roles.index(r) for r in f["role"]], dtype=np.int64)
        null = calib = None
        if self.placebo_draws > 0 and len(f):
            null = placebo.placebo_null(self, panel, out, ev_codes, role_code, len(roles), self.placebo_draws,
                                        self.seed)
            # every test again at the same pseudo-event dates: p_calibrated, size_5pct
            calib = calibration.Calibration(null.run, out, role_code, len(roles), roles + [ALL])
        cells = build_cells(out, panel.store, ev_codes, role_code, len(roles), event_names=ev_names,
                            group_names=roles + [ALL], placebo_null=null)
        cells.calibration = calib
        return cells

    def _note_short_draws(self, tests: pd.DataFrame) -> None:
        """Say on stderr when an event has fewer pseudo-event dates than requested (its
        calibrated p-values and placebo test use those; ``calibration_draws`` has the count)."""
        if "calibration_draws" not in tests or not self.placebo_draws:
            return
        d = tests.groupby("event_id")["calibration_draws"].max()
        for ev, n in d[d < self.placebo_draws].items():
            print(f"note: {ev}: only {int(n) if n == n else 0} pseudo-event dates of the {self.placebo_draws} "
                  f"requested exist; its placebo and calibrated p-values use those", file=sys.stderr)

    def fit(self) -> EventStudyResults:
        """Run the study: prices -> panel -> engine -> cells -> every registered test -> frames."""
        frames, errors = self.load_prices()
        panel, skipped = self.build_panel(frames, errors)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            out = engine.run(panel.store, panel.frame["sec"].to_numpy(), panel.frame["p0"].to_numpy(),
                             self.estimation, self.windows, self.min_obs)
        tests = run_battery(self.cells(panel, out)) if len(panel.frame) else pd.DataFrame(
            columns=tables.TEST_COLUMNS)
        self._note_short_draws(tests)
        tests = multiple.adjust(tests, self.primary_window)
        limit_notes, _ = limits.window_flags(panel, out, out.windows)
        volume_daily, volume_tests = volume.volume_frames(panel, out, out.windows)
        frames_out = tables.assemble(self, panel, out, skipped, tests, limit_notes, limits.day_states_frame(panel, out),
                                     volume_daily, volume_tests)
        return EventStudyResults(study=self, panel=panel, engine_result=out, frames=frames, **frames_out)
