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

import dataclasses
import sys
import warnings
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pandas as pd

from analysis import tables
from analysis.data import calendars
from analysis.data import catalog as catalog_mod
from analysis.data import supply as supply_mod
from analysis.data.factors import default_factors, load_factors
from analysis.data.news_days import place_confounders
from analysis.errors import UserError
from analysis.estimation import engine
from analysis.estimation.kernels import map_on_threads
from analysis.estimation.panel import Panel, build_panel
from analysis.inference import calibration, design, history, limits, multiple, placebo, timing, volume
from analysis.inference.battery import run_battery
from analysis.inference.cells import Cells, build_cells, release_calendar_series
from analysis.inference.pooled import pooled_frame
from analysis.inference.portfolio import firm_sq_p
from analysis.inference.spec import StudySpec
from analysis.results import EventStudyResults
from analysis.inference import exposure as exposure_mod
from analysis.inference import flags as flags_mod
from analysis.vocab import ALL, GROUP_ORDER, NAMED, PSEUDO_FIRM_EVENTS_PER_EVENT, REMOVED, SUPPLIER_OTHER, as_windows


#: Firm-events of the date-sensitivity re-run run through the engine and the primary test at
#: a time (whole moved events; memory: the catalog's re-run, about 1,100, is one chunk).
SENSITIVITY_CHUNK = 50_000


class EventStudy:
    """Configure an event study; :meth:`fit` runs it.

    The run's settings (model, windows, estimation window, min_obs, exclusion, primary window
    and test, draws, seed, groups) are one :class:`~analysis.inference.spec.StudySpec`: pass
    ``spec=``, or the settings as keywords (they override ``spec``'s); every default and check
    is the spec's. ``self.spec`` is the run's.

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
        Daily factors (French's files, percent) for ``ff3``/``carhart``; None downloads them from
        Kenneth French's data library into the cache (:class:`~analysis.data.factors.FrenchLibrary`).
    event_ids, symbols : list of str, optional
        Restrict to these events / securities.
    placebo_draws : int
        Pseudo-event dates per event for the placebo test (0 turns it and the calibration off).
    calibration_draws : int or "all"
        How many pseudo-event dates every other test is run at for ``p_calibrated`` and
        ``size_5pct``: the placebo's dates in the order drawn, then (beyond ``placebo_draws``)
        more dates drawn from the rest of the same pool; ``"all"`` (the default): every
        available date, at most :data:`~analysis.vocab.MAX_CALIBRATION_DRAWS` (about
        1,000-1,300 per event on the catalog: the Monte Carlo standard error of a 5% size is
        then about 0.65 points).
        Pseudo-event dates per event for the placebo test (0 turns it off).
    primary_window : str, optional
        Window of the primary family (Holm-adjusted ``p_holm``; default ``0:1``). Given
        explicitly, it must be one of ``windows``; by default a run without 0:1 has no
        primary family.
    factor_exchanges : tuple of str
        Exchanges whose securities the factor models (ff3, carhart) apply to; French's factors
        are US factors, so by default only XNAS/XNYS securities (others are skipped, listed).
    allow_extreme_returns : bool
        Keep a security with a daily return outside -80%..+400% (by default such a return is
        taken for a data error and the security is skipped, the date named).
    event_firms, event_dates, confounders : DataFrame or path, optional
        Who each event named, alternative event dates, known other news (default
        ``data/event_firms.csv``, ``data/event_dates.csv``, ``data/confounders.csv``; rows of
        the default files about events or symbols not in use are left out, a file given
        explicitly must match the catalog and universe). A header-only file turns one off.
    holm_scope : str
        ``run`` (default): Holm's adjustment over the primary rows of the run's events;
        ``catalog``: over the whole catalog's primary family (the other events fitted for their
        primary p-values alone), so a subset's ``p_holm`` is the full run's.
    exclude_event_days : int
        K: every session within K sessions of a catalog event's day 0 for a security is left
        out of that security's estimation windows (default 5; 0 keeps every session).
    event_customers, supply_links, exposure, merger_periods : DataFrame or path, optional
        The unlisted firms each event named (Huawei), who supplies whom, the suppliers' revenue
        exposure (percent) and the periods in which a firm trades on a merger offer (default
        ``data/event_customers.csv``, ``data/supply_links.csv``, ``data/exposure.csv``,
        ``data/merger_periods.csv``; :mod:`analysis.data.supply`). With supply links an event's
        ``supplier`` group is the suppliers of the firms it named, the others ``supplier_other``;
        a firm-event whose day 0 is in a merger period is skipped with the reason.
    """

    def __init__(
        self,
        events=None,
        universe=None,
        prices=None,
        model: str | None = None,
        estimation=None,
        windows=None,
        min_obs: int | None = None,
        factors=None,
        event_ids=None,
        symbols=None,
        placebo_draws: int | None = None,
        calibration_draws: int | None = None,
        factor_exchanges=None,
        seed: int | None = None,
        progress: bool = False,
        cache_dir=None,
        refresh: bool = False,
        allow_extreme_returns: bool = False,
        event_firms=None,
        event_dates=None,
        confounders=None,
        exclude_event_days: int | None = None,
        primary_window: str | None = None,
        event_customers=None,
        supply_links=None,
        exposure=None,
        merger_periods=None,
        holm_scope: str | None = None,
        spec: StudySpec | None = None,
    ):
        given = {"model": model, "estimation": estimation, "windows": windows, "min_obs": min_obs,
                 "placebo_draws": placebo_draws, "calibration_draws": calibration_draws,
                 "factor_exchanges": factor_exchanges, "seed": seed, "exclude_event_days": exclude_event_days,
                 "primary_window": primary_window, "holm_scope": holm_scope}
        given = {k: v for k, v in given.items() if v is not None}
        #: the run's settings, every default and check in one place (:class:`StudySpec`)
        self.spec = dataclasses.replace(spec, **given) if spec is not None else StudySpec(**given)
        spec = self.spec
        self.model = spec.model_spec
        self.estimation = spec.estimation
        self.windows = list(spec.windows)
        self.min_obs = spec.min_obs
        self.primary_window = spec.primary
        self.events = self._load_events(events)
        self.catalog = self.events  # the full catalog: placebo dates avoid all its windows
        self.universe = self._load_universe(universe)
        attrs = getattr(self.universe, "attrs", {}) or {}
        self.universe_file = attrs.get("path", "universe")
        self.universe_rows = dict(attrs.get("rows") or {s: i + 1 for i, s in enumerate(self.universe["symbol"])})
        self.exclude_event_days = spec.exclude_event_days
        ids, syms = self.catalog["event_id"], self.universe["symbol"]
        self.event_firms = self._side(event_firms, catalog_mod.DEFAULT_EVENT_FIRMS, catalog_mod.load_event_firms,
                                      catalog_mod.EVENT_FIRM_COLUMNS, events=ids, symbols=syms)
        self.event_dates = self._side(event_dates, catalog_mod.DEFAULT_EVENT_DATES, catalog_mod.load_event_dates,
                                      [*catalog_mod.EVENT_DATE_COLUMNS, "announced"], events=self.catalog)
        # each item placed on each market by the events' day-0 rule (day_US, day_CN, ...; issue 18)
        self.confounders = place_confounders(self._side(
            confounders, catalog_mod.DEFAULT_CONFOUNDERS, catalog_mod.load_confounders,
            [*catalog_mod.CONFOUNDER_COLUMNS, "announced", "day"], symbols=syms))
        self.event_customers = self._side(event_customers, supply_mod.DEFAULT_EVENT_CUSTOMERS,
                                          supply_mod.load_event_customers, supply_mod.EVENT_CUSTOMER_COLUMNS,
                                          events=ids, symbols=syms)
        self.supply_links = self._side(supply_links, supply_mod.DEFAULT_SUPPLY_LINKS, supply_mod.load_supply_links,
                                       supply_mod.SUPPLY_LINK_COLUMNS, symbols=syms,
                                       customers=set(self.event_customers["customer"]))
        self.exposure = self._side(exposure, supply_mod.DEFAULT_EXPOSURE, supply_mod.load_exposure,
                                   supply_mod.EXPOSURE_COLUMNS, symbols=syms)
        self.merger_periods = self._side(merger_periods, supply_mod.DEFAULT_MERGER_PERIODS,
                                         supply_mod.load_merger_periods,
                                         [*supply_mod.MERGER_COLUMNS, "start_day", "end_day"], symbols=syms)
        if event_ids:
            self.events = catalog_mod.select_events(self.events, list(event_ids))
        if symbols:
            self.universe = catalog_mod.select_universe(self.universe, list(symbols))
        self.prices = prices
        self.factors = factors
        self.placebo_draws = spec.placebo_draws
        self.calibration_draws = spec.calibration_draws
        self.factor_exchanges = spec.factor_exchanges
        self.seed = spec.seed
        self.progress = progress
        self.cache_dir = cache_dir
        self.refresh = refresh
        self.allow_extreme_returns = bool(allow_extreme_returns)

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

    @staticmethod
    def _side(value, default, loader, columns, **known) -> pd.DataFrame:
        """A file describing the events: a frame as given, an explicit path loaded strictly, or
        (None) the shipped default, whose rows about other events or symbols are left out."""
        if isinstance(value, pd.DataFrame):
            return value.copy()
        if value is None:
            if not default.is_file():
                return pd.DataFrame(columns=list(columns))
            return loader(default, strict=False, **known)
        return loader(value, strict=True, **known)

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
        frames, errors = prices_mod.load_prices(source, needed, progress=self.progress,
                                                allow_extreme_returns=self.allow_extreme_returns)
        if not frames:
            first = next(iter(errors.items()), ("", "no symbols"))
            raise UserError(f"no prices could be loaded ({len(errors)} symbols failed; "
                            f"first: {first[0]}: {first[1]})")
        return frames, errors

    def check_data(self, frames: dict) -> None:
        """Refuse a security that is its own benchmark, a universe whose declared exchanges disagree with
        the price files' dates (more than 2% of a file's dates are not sessions of its exchange), and
        windows longer than the longest price history: ``UserError`` naming the universe file and row,
        or the option."""
        for row in self.universe.itertuples(index=False):
            if row.symbol == row.benchmark:  # a universe given as a frame skipped load_universe's check
                n = self.universe_rows.get(row.symbol, "?")
                raise UserError(f"{self.universe_file}: row {n}, field 'benchmark': '{row.benchmark}' is the "
                                "security itself; a benchmark must be another series (its market index)")
            frame = frames.get(row.symbol)
            if frame is None or not len(frame):
                continue
            why = calendars.calendar_mismatch(frame, row.exchange)
            if why:
                n = self.universe_rows.get(row.symbol, "?")
                raise UserError(f"{self.universe_file}: row {n}, field 'exchange': prices of {row.symbol}: {why}")
        if not frames:
            return
        longest, which = max((len(f), s) for s, f in frames.items())
        for option, wins in (("estimation", [self.estimation]), ("window", self.windows)):
            for a, b in wins:
                if b - a + 1 > longest:
                    raise UserError(f"--{option} {a}:{b} spans {b - a + 1} sessions, more than the longest "
                                    f"price history ({longest} days, {which})")

    def _factor_frame(self) -> pd.DataFrame | None:
        if self.factors is None:
            if not self.model.excess:
                return None
            return default_factors(momentum="mom" in self.model.regressors, cache_dir=self.cache_dir,
                                   refresh=self.refresh)
        if isinstance(self.factors, pd.DataFrame):
            return self.factors
        return load_factors(self.factors)

    # -- panel ----------------------------------------------------------------------------
    def build_panel(self, frames=None, errors=None) -> tuple[Panel, list[dict]]:
        """Returns on sessions for every usable security, and the firm-event rows."""
        if frames is None:
            frames, errors = self.load_prices()
        self.check_data(frames)
        factors = self._factor_frame()
        panel, skipped = build_panel(self.model, self.universe, self.events, self.catalog, frames, errors, factors,
                                     self.factor_exchanges, exclude_days=self.exclude_event_days)
        skipped += self.drop_merger_periods(panel)
        panel.frame["group"] = self.firm_groups(panel.frame)
        return panel, skipped

    def drop_merger_periods(self, panel: Panel) -> list[dict]:
        """Leave out of ``panel`` (in place) every firm-event whose day 0 lies in a merger period
        of ``data/merger_periods.csv`` (the price follows the acquirer's offer, not the news);
        returns their skipped rows with the reason."""
        mp, f = self.merger_periods, panel.frame
        if mp is None or not len(mp) or not len(f):
            return []
        day = f["day0"].dt.tz_localize(None) if f["day0"].dt.tz is not None else f["day0"]
        day = day.dt.normalize()
        drop = np.zeros(len(f), dtype=bool)
        why = np.full(len(f), "", dtype=object)
        for r in mp.itertuples(index=False):
            hit = (f["symbol"] == r.symbol).to_numpy() & (day >= r.start_day).to_numpy()
            if not pd.isna(r.end_day):
                hit &= (day <= r.end_day).to_numpy()
            hit &= ~drop
            why[hit] = supply_mod.merger_reason(r.what, r.start)
            drop |= hit
        if not drop.any():
            return []
        skipped = [{"event_id": e, "symbol": s, "reason": w}
                   for e, s, w in zip(f["event_id"][drop], f["symbol"][drop], why[drop])]
        panel.frame = f[~drop].reset_index(drop=True)
        return skipped

    def firm_groups(self, frame: pd.DataFrame, event_of=None) -> np.ndarray:
        """The group of each firm-event (event_id, symbol, role rows): for an event with rows in
        ``event_firms``, ``named`` (relation named), ``removed`` (relation removed: its own group,
        never in the primary family), else ``peer`` for Chinese firms (roles target
        and peer) and ``supplier`` for US suppliers; for an event without rows, its role.
        ``event_of``: the catalog event of each row when ``frame`` holds other ids."""
        ef = self.event_firms
        ec = getattr(self, "event_customers", None)
        links = getattr(self, "supply_links", None)
        covered = set(ef["event_id"]) | (set(ec["event_id"]) if ec is not None else set())
        named = set(zip(ef.loc[ef["relation"] == NAMED, "event_id"], ef.loc[ef["relation"] == NAMED, "symbol"]))
        removed = set(zip(ef.loc[ef["relation"] == REMOVED, "event_id"], ef.loc[ef["relation"] == REMOVED, "symbol"]))
        linked = None
        if links is not None and len(links):
            linked = supply_mod.linked_suppliers(supply_mod.event_customers(ef, ec), links)
        events = frame["event_id"].to_numpy(object) if event_of is None else event_of
        out = []  # over object arrays: iterating a pandas string column is several times slower
        for e, sym, role in zip(events, frame["symbol"].to_numpy(object), frame["role"].to_numpy(object)):
            if e not in covered:
                out.append(role)
            elif (e, sym) in named:
                out.append(NAMED)
            elif (e, sym) in removed:
                out.append(REMOVED)
            elif role == "supplier" and linked is not None:
                out.append("supplier" if sym in linked.get(e, ()) else SUPPLIER_OTHER)
            else:
                out.append({"target": "peer", "peer": "peer", "supplier": "supplier"}.get(role, role))
        return np.array(out, dtype=object)

    # -- run ------------------------------------------------------------------------------
    def cells(self, panel: Panel, out: engine.EngineResult, placebo_draws: int | None = None) -> Cells:
        """The (event, group, window) cells of a fitted panel; groups per firm-event from
        :meth:`firm_groups` (column ``group`` of the panel), and all firms. Groups with no firm
        make no cell. With placebo draws, the cells carry their pseudo-event null law, over the
        same groups."""
        f = panel.frame
        ev_codes, ev_names = pd.factorize(f["event_id"])
        groups = f["group"].to_numpy(object) if "group" in f.columns else self.firm_groups(f)
        codes, seen = pd.factorize(groups)  # seen: the groups in order of first appearance
        names = [g for g in GROUP_ORDER if g != ALL]
        names += [g for g in seen if g not in names]
        group_code = np.array([names.index(g) for g in seen], dtype=np.int64)[codes]
        draws = self.placebo_draws if placebo_draws is None else placebo_draws
        null = calib = None
        if draws > 0 and len(f):
            # every test again at the placebo's pseudo-event dates (and more, when asked for more
            # than the placebo's): p_calibrated, size_5pct; the pseudo-events go through the
            # engine once, chunk by chunk, for both
            more = max(0, self.calibration_draws - draws)
            run = placebo.pseudo_run(self, panel, out, ev_codes, draws, self.seed, more=more)
            ok_firms = np.bincount(ev_codes[out.ok], minlength=len(ev_names))
            #: {event_id: (date limit, firms)} of the events the bound on pseudo firm-events limits
            self.date_limits = {ev_names[e]: (int(run.limit[e]), int(ok_firms[e])) for e in range(len(ev_names))
                                if 0 <= run.limit[e] < draws + more}
            calib = calibration.Calibration(run, out, group_code, len(names), names + [ALL],
                                            draws=self.calibration_draws)
            null = placebo.placebo_null(self, panel, out, ev_codes, group_code, len(names), draws, self.seed,
                                        run=run, on_chunk=calib.add, placebo_draws=draws)
        cells = build_cells(out, panel.store, ev_codes, group_code, len(names), event_names=ev_names,
                            group_names=names + [ALL], placebo_null=null)
        cells.calibration = calib
        return cells

    def _note_short_draws(self, tests: pd.DataFrame) -> None:
        """Say on stderr when an event has fewer pseudo-event dates than requested: because its
        pool of dates is smaller, or because of the bound on pseudo firm-events per event
        (:data:`~analysis.vocab.PSEUDO_FIRM_EVENTS_PER_EVENT`); its calibrated p-values and
        placebo test use those (``draws`` and ``calibration_draws`` have the counts)."""
        if "draws" not in tests or not self.placebo_draws:
            return
        limited = getattr(self, "date_limits", {})
        d = tests.groupby("event_id")["draws"].max()
        for ev, n in d[d < self.placebo_draws].items():
            n = int(n) if n == n else 0
            if ev in limited and n >= limited[ev][0]:
                cap, firms = limited[ev]
                print(f"note: {ev}: {n} pseudo-event dates of the {self.placebo_draws} requested: at most "
                      f"{PSEUDO_FIRM_EVENTS_PER_EVENT:,} pseudo firm-events per event / {firms:,} firms = {cap} "
                      f"dates; its placebo and calibrated p-values use those", file=sys.stderr)
            else:
                print(f"note: {ev}: only {n} pseudo-event dates of the {self.placebo_draws} "
                      f"requested exist; its placebo and calibrated p-values use those", file=sys.stderr)

    def _run_engine(self, panel: Panel) -> engine.EngineResult:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            return engine.run(panel.store, panel.frame["sec"].to_numpy(), panel.frame["p0"].to_numpy(),
                              self.estimation, self.windows, self.min_obs, last_day=flags_mod.LIMIT_RUN_MAX)

    def flag_columns(self, panel: Panel, out: engine.EngineResult, lo, hi, rows=None) -> dict[str, np.ndarray]:
        """The flags of :mod:`analysis.inference.flags` for firm-events ``rows`` (default all)
        over windows lo..hi ((W,) for all, or (n, W) per firm-event): (n, W) arrays."""
        f = panel.frame
        rows = np.arange(len(f)) if rows is None else np.asarray(rows, dtype=np.int64)
        ids, sec = f["event_id"].to_numpy()[rows], f["sec"].to_numpy()[rows]
        p0, sym = f["p0"].to_numpy()[rows], f["symbol"].to_numpy()[rows]
        exchange = f["exchange"].to_numpy()[rows]

        def calendar_flags() -> dict:  # what the catalog and the news say (never reads ``out``)
            return {"overlaps": flags_mod.overlaps(ids, sec, p0, lo, hi, panel.catalog_day0),
                    "confounders": flags_mod.confounders(panel.store, sec, p0, sym, lo, hi, self.confounders,
                                                         exchange),
                    "confounded_by": flags_mod.major_confounders(panel.store, sec, p0, sym, lo, hi,
                                                                 self.confounders, exchange)}

        # the returns' flags and the calendar's side by side (numpy releases the GIL)
        (day, ar, off), found = map_on_threads(lambda job: job(), [lambda: flags_mod.drivers(out, lo, hi, rows),
                                                                   calendar_flags])
        return {"overlaps": found["overlaps"], "driver_day": day, "driver_ar": ar, "off_day0_driver": off,
                "confounders": found["confounders"], "confounded_by": found["confounded_by"]}

    def fit(self) -> EventStudyResults:
        """Run the study: prices -> panel -> engine -> cells -> every registered test -> frames,
        with the flags next to every CAR, the limit-extended windows and the alternative-date
        sensitivity."""
        # The distributions come from scipy.special (analysis.estimation.pvalues), loaded here
        # before any thread starts: imported by the first calibration thread that needs them, the
        # import would hold the interpreter lock while the engine's threads wait. (scipy.stats is
        # never imported: about 1-1.4 s of CPU per process.)
        import scipy.special  # noqa: F401

        frames, errors = self.load_prices()
        panel, skipped = self.build_panel(frames, errors)
        out = self._run_engine(panel)
        lo = np.array([w[0] for w in out.windows], dtype=np.int64)
        hi = np.array([w[1] for w in out.windows], dtype=np.int64)
        row_flags = self.flag_columns(panel, out, lo, hi)
        if len(panel.frame):
            cells = self.cells(panel, out)
            tests = run_battery(cells)
            release_calendar_series(panel.store)  # the last KP correlations (the calibration's are done)
            cell_flags = pd.DataFrame({**{k: v for k, v in cells.keys.items()},
                                       "flags": flags_mod.cell_flags(cells, {
                                           "overlaps": row_flags["overlaps"] != "",
                                           "off_day0_driver": row_flags["off_day0_driver"],
                                           "confounders": row_flags["confounders"] != ""})})
            cell_flags["confounded_by"] = flags_mod.cell_text(cells, row_flags["confounded_by"])
            cell_flags["attributable"] = cell_flags["confounded_by"] == ""
            tests = tests.merge(cell_flags, on=["event_id", "group", "window"], how="left")
            tests = history.with_tests_history(tests, cells, panel.catalog_p0, panel.exclude_days)
        else:
            tests = pd.DataFrame(columns=tables.TEST_COLUMNS)
        self._note_short_draws(tests)
        tests = multiple.adjust(tests, self.primary_window, test=self.spec.primary_test, groups=self.spec.groups,
                                others=self._catalog_family(frames, errors))
        tests["oversized_here"] = design.oversized_cells(tests)  # simulated, or in this cell's own calibration
        # warnings.catch_warnings is process-wide: the re-run's engine (_run_engine) enters it on the worker;
        # the outer one here restores the filters as they were once both threads are done, whatever the order
        with warnings.catch_warnings(), ThreadPoolExecutor(2) as pool:
            # the date-sensitivity re-run (reads the prices, the store and its own copy of the tests; writes
            # nothing shared) on a worker while the frames are built; then pooled.csv and exposure_fit.csv
            # (read only the frames) on the other
            sensitivity = (pool.submit(self.sensitivity, frames, errors, base=panel, baseline=tests.copy())
                           if len(panel.frame) else None)
            limit_notes, _ = limits.window_flags(panel, out, out.windows)
            extended = self._limit_extended(panel, out)
            volume_daily, volume_tests = volume.volume_frames(panel, out, out.windows)
            frames_out = tables.assemble(self, panel, out, skipped, tests, limit_notes,
                                         limits.day_states_frame(panel, out), volume_daily, volume_tests,
                                         row_flags=row_flags, extended=extended)
            frames_out["car"] = history.with_car_history(frames_out["car"], panel.frame, out, panel.store,
                                                          panel.catalog_p0, panel.exclude_days)
            pooled = pool.submit(pooled_frame, frames_out["tests"], self.primary_window, car=frames_out["car"])
            exposure_fit = pool.submit(exposure_mod.study_fit, self, frames_out["car"])
            sensitivity = sensitivity.result() if sensitivity is not None else tables.empty_sensitivity()
            release_calendar_series(panel.store)  # again: a KP primary test in the re-run builds them anew
            pooled, exposure_fit = pooled.result(), exposure_fit.result()
        return EventStudyResults(study=self, panel=panel, engine_result=out, frames=frames, sensitivity=sensitivity,
                                 pooled=pooled, exposure_fit=exposure_fit, **frames_out)

    def _catalog_family(self, frames, errors) -> np.ndarray | None:
        """With ``holm_scope`` catalog, the primary family's p-values of the catalog events not in
        this run (same securities, model, estimation window; the primary window and test alone,
        no placebo draws), so Holm's adjustment of the run's rows counts the whole catalog's
        family; None with scope ``run``. Sets :attr:`holm_events` (events in the family)."""
        run_ids = set(self.events["event_id"])
        self.holm_events = len(run_ids)
        if self.spec.holm_scope != "catalog":
            return None
        rest = [e for e in self.catalog["event_id"] if e not in run_ids]
        self.holm_events = len(run_ids) + len(rest)
        if not rest:
            return np.zeros(0)
        spec = dataclasses.replace(self.spec, windows=(as_windows([self.primary_window])[0],), placebo_draws=0,
                                   primary_window=None, holm_scope="run")
        other = EventStudy(events=self.catalog, universe=self.universe, prices=frames, spec=spec,
                           factors=self.factors, event_ids=rest, event_firms=self.event_firms,
                           event_dates=self.event_dates.iloc[0:0], confounders=self.confounders,
                           cache_dir=self.cache_dir, allow_extreme_returns=self.allow_extreme_returns)
        tests, _, _ = other.fit_tests([self.spec.primary_test])
        if tests.empty:
            return np.zeros(0)
        mask = multiple.primary_mask(tests, self.primary_window, self.spec.primary_test, self.spec.groups)
        return tests.loc[mask, "p_value"].to_numpy(dtype=float)

    def fit_tests(self, names=None) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
        """The CARs and group tests alone, as a robustness run under another model needs them:
        ``(tests, car, skipped)`` with the rows and columns :meth:`fit` gives (tests of the
        registered tests ``names``, default all; car over the requested windows: event_id,
        symbol, window, car, car_se, car_t, car_p, decimals), but no placebo draws, flags,
        limit-extended windows, volume or date sensitivity, and no multiplicity columns."""
        frames, errors = self.load_prices()
        panel, skipped = self.build_panel(frames, errors)
        out = self._run_engine(panel)
        if len(panel.frame):
            tests = tables.order_tests(run_battery(self.cells(panel, out, placebo_draws=0), names=names))
        else:
            tests = pd.DataFrame(columns=tables.TEST_COLUMNS)
        return tests, tables.car_core(panel, out), tables.skipped_frame(panel, out, skipped)

    def _limit_extended(self, panel: Panel, out: engine.EngineResult) -> pd.DataFrame:
        """car.csv rows of the limit-extended windows 0:k (A-shares whose day-0 close is at the
        daily limit; :func:`analysis.inference.flags.limit_extended_k`), with their flags."""
        state, locked = limits.event_limit_arrays(panel, out)
        # a suspended day 0 starts the run at the first trade after it (issue 18: one-price reopenings)
        k = flags_mod.limit_extended_k(state, out.days, start=flags_mod.day0_cover(out.valid, out.span, out.days))
        k[~out.ok] = -1
        parts = []
        for kk in sorted(set(k[k >= 0])):
            w = [(0, int(kk))]
            res_k = dataclasses.replace(out, windows=w, **engine.cumulate(out, w))
            frame = tables.car_frame(self, panel, res_k)
            rows = np.nonzero(out.ok)[0]
            pick = k[rows] == kk
            frame = frame[pick].reset_index(drop=True)
            sel = rows[pick]
            extra = self.flag_columns(panel, res_k, np.array([0]), np.array([kk]), sel)
            for name, values in extra.items():
                frame[name] = values[:, 0]
            frame["limit_flag"] = [limits.describe_window(state[i], out.days, 0, int(kk), locked[i],
                                                          np.where(out.valid[i], out.span[i], 1)) for i in sel]
            frame["sq_p"] = firm_sq_p(res_k)[sel, 0]
            frame["_row"] = sel
            parts.append(frame)
        return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()

    def sensitivity(self, frames=None, errors=None, base: Panel | None = None,
                    baseline: pd.DataFrame | None = None) -> pd.DataFrame:
        """The primary group test (``spec.primary_test``) with day 0 moved to each
        date of ``event_dates`` (and, as the baseline, the catalog's announcement) for the events
        of the run that have an alternative date, and, for every date-only event, to the
        announcement taken as made after the US close (``date_kind`` ``after_close``,
        :mod:`analysis.inference.timing`): rows of tables.SENSITIVITY_COLUMNS.
        The groups are the event's own; the estimation windows leave out the catalog's event
        days as in the main run; no placebo draws. ``base``: the main run's panel, whose store the
        re-run reuses (:func:`~analysis.estimation.panel.build_panel`); ``baseline``: the main
        run's tests, whose rows of the primary test are the announcement rows (the same panel
        rows, groups and engine fits: not run again, only the moved dates are)."""
        ed = self.event_dates
        ed = ed[ed["event_id"].isin(set(self.events["event_id"]))]
        alt = ed[ed["date_kind"] != "announcement"]
        date_only = self.events["date_only"].astype(bool) if "date_only" in self.events.columns else pd.Series(
            [pd.Timestamp(a).tzinfo is None for a in self.events["announced"]], index=self.events.index)
        if alt.empty and not date_only.any():
            return tables.empty_sensitivity()
        rows = []
        has_alt = self.events["event_id"].isin(set(alt["event_id"])) | date_only
        for ev, only in zip(self.events[has_alt].itertuples(index=False), date_only[has_alt]):
            if baseline is None:
                rows.append((ev.event_id, "announcement", ev.announced_at, ev.announced))
            for r in alt[alt["event_id"] == ev.event_id].itertuples(index=False):
                rows.append((ev.event_id, r.date_kind, r.announced_at, r.announced))
            if only:  # the 09:00 assumption's alternative: after the US close (US day 0 one session later)
                rows.append((ev.event_id, timing.AFTER_CLOSE, timing.after_close_text(ev.announced),
                             timing.after_close_instant(ev.announced)))
        moved = pd.DataFrame({"event_id": [f"{e}@{k}" for e, k, _, _ in rows],
                              "announced_at": [a for _, _, a, _ in rows],
                              "announced": pd.Series([t for _, _, _, t in rows], dtype=object)})
        of = dict(zip(moved["event_id"], rows))
        if frames is None:
            frames, errors = self.load_prices()
        factors = None if base is not None else self._factor_frame()  # a reused store has its factors
        panel, _ = build_panel(self.model, self.universe, moved, self.catalog, frames, errors, factors,
                               self.factor_exchanges, exclude_days=self.exclude_event_days, base=base)
        self.drop_merger_periods(panel)
        tests = pd.DataFrame()
        if len(panel.frame):
            base = [of[e][0] for e in panel.frame["event_id"].to_numpy(object)]
            panel.frame["group"] = self.firm_groups(panel.frame, event_of=base)
            parts = []  # moved events in chunks of about SENSITIVITY_CHUNK firm-events (memory)
            ev = panel.frame["event_id"].to_numpy(object)
            cut = np.flatnonzero(ev[1:] != ev[:-1]) + 1  # the panel's rows come event by event
            starts = np.concatenate([[0], cut])
            ends = np.concatenate([cut, [len(ev)]])
            a = 0
            while a < len(starts):
                b = a + 1
                while b < len(starts) and ends[b] - starts[a] <= SENSITIVITY_CHUNK:
                    b += 1
                rows = slice(int(starts[a]), int(ends[b - 1]))
                part = dataclasses.replace(panel, frame=panel.frame.iloc[rows].reset_index(drop=True))
                out = self._run_engine(part)
                parts.append(run_battery(self.cells(part, out, placebo_draws=0), names=[self.spec.primary_test]))
                a = b
            tests = pd.concat(parts, ignore_index=True) if len(parts) > 1 else parts[0]
        if not tests.empty:
            key = tests["event_id"].map(of)
            tests["date_kind"] = [k[1] for k in key]
            tests["announced_at"] = [k[2] for k in key]
            tests["event_id"] = [k[0] for k in key]
            tests = tests[tests["test"] == self.spec.primary_test]
        if baseline is not None and len(baseline):
            at = dict(zip(self.events["event_id"], self.events["announced_at"]))
            keep = baseline[(baseline["test"] == self.spec.primary_test)
                            & baseline["event_id"].isin(set(self.events.loc[has_alt, "event_id"]))]
            keep = keep[[c for c in (tests.columns if len(tests) else keep.columns) if c in keep.columns]].copy()
            keep["date_kind"] = "announcement"
            keep["announced_at"] = keep["event_id"].map(at)
            # the baseline first, event by event, as the re-run listed it
            tests = pd.concat([keep, tests], ignore_index=True) if len(tests) else keep
            first = {e: i for i, e in enumerate(self.events["event_id"])}
            tests = tests.iloc[np.argsort(tests["event_id"].map(first).to_numpy(), kind="stable")]
        if tests.empty:
            return tables.empty_sensitivity()
        extra = ["test"] + [c for c in ("estimate", "se") if c in tests.columns]
        return tables.order_tests(tests, by_kind=True)[tables.SENSITIVITY_COLUMNS + extra].reset_index(drop=True)
