"""The firm-event panel: returns on each security's own sessions, day 0 per (event, security).

Catalog + universe + price frames -> one :class:`~analysis.estimation.store.ReturnStore` (the
model's regressors built per security) and one row per (event, security) that can be studied.
One bad symbol or event never sinks the others: it is listed in ``skipped`` with its reason.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from analysis.data.calendars import day_zero, returns_on, session_returns
from analysis.errors import UserError
from analysis.estimation.models import ModelSpec
from analysis.estimation.store import ReturnStore, build_store


@dataclass
class Panel:
    """The firm-event panel: one row per (event, security) that could be studied."""

    frame: pd.DataFrame  # event_id, symbol, role, exchange, benchmark, day0, sec, p0
    store: ReturnStore
    #: {security index: day-0 positions of every event of the full catalog} (placebo exclusions;
    #: None: the events of the panel)
    catalog_p0: dict[int, list[int]] | None = None
    #: event_id, sec, p0 of every catalog event's day 0 on each security (overlap flags)
    catalog_day0: pd.DataFrame | None = None
    #: sessions around each catalog day 0 left out of the estimation windows (0: none)
    exclude_days: int = 0


def build_panel(model: ModelSpec, universe: pd.DataFrame, events: pd.DataFrame, catalog: pd.DataFrame,
                frames: dict, errors: dict | None, factors: pd.DataFrame | None,
                factor_exchanges=("XNAS", "XNYS"), exclude_days: int = 0,
                base: Panel | None = None) -> tuple[Panel, list[dict]]:
    """The panel of ``events`` (a selection of ``catalog``, or events outside it, e.g. an
    event moved to an alternative date) for the ``universe`` securities.

    frames: {symbol: price frame} for securities and benchmarks; errors: {symbol: why its
    prices failed}; factors: daily factors (decimals) for excess-return models. Day-0
    positions of every ``catalog`` event are kept per security (placebo exclusions, overlap
    flags); with ``exclude_days`` = K > 0 the store leaves every session within K sessions of
    one of them out of the estimation windows (:func:`event_day_mask`).

    ``base``: a panel built from the same universe, frames, factors, model, catalog and
    ``exclude_days`` (e.g. the main run's, for its events moved to other dates): its store is
    reused as it is (no second store; its securities' returns are not rebuilt), and a universe
    security it does not hold is skipped ("no usable prices in the base panel").
    """
    errors = dict(errors or {})
    skipped: list[dict] = []
    if base is not None:
        store = base.store
        by_symbol = {row.symbol: row for row in universe.itertuples(index=False)}
        meta = [by_symbol[sym] for sym in store.symbols]
        held = set(store.symbols)
        for row in universe.itertuples(index=False):
            if row.symbol not in held:
                skipped += [{"event_id": e, "symbol": row.symbol, "reason": "no usable prices in the base panel"}
                            for e in events["event_id"]]
        return _event_rows(store, meta, events, catalog, skipped, exclude_days, reuse=True)
    series, bases, meta = [], [], []
    for row in universe.itertuples(index=False):
        sym, bench = row.symbol, row.benchmark
        why = None
        if sym in errors or sym not in frames:
            why = errors.get(sym, f"no prices for {sym}")
        elif bench in errors or bench not in frames:
            why = f"benchmark {bench}: " + errors.get(bench, "no prices")
        if why is None and model.excess and row.exchange not in factor_exchanges:
            why = (f"model '{model.name}' uses the supplied (US) factors, which do not price "
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
            skipped += [{"event_id": e, "symbol": sym, "reason": why} for e in events["event_id"]]
            continue
        series.append(sr)
        bases.append(base)
        meta.append(row)
    store = build_store(model, series, bases)
    return _event_rows(store, meta, events, catalog, skipped, exclude_days)


def _event_rows(store: ReturnStore, meta: list, events: pd.DataFrame, catalog: pd.DataFrame, skipped: list[dict],
                exclude_days: int, reuse: bool = False) -> tuple[Panel, list[dict]]:
    """The panel's firm-event rows over ``store`` (securities ``meta``: universe rows in store
    order): day 0 of every catalog event and studied event on each security. Day 0 depends on
    the announcement and the exchange only: found once per (event, exchange)."""
    rows = []
    catalog_p0: dict[int, list[int]] = {}
    day0_rows = []  # (event_id, sec, p0) of every catalog event
    selected = set(events["event_id"])
    in_catalog = set(catalog["event_id"])
    extra = events[~events["event_id"].isin(in_catalog)]  # studied, not part of the catalog
    for ev in list(catalog.itertuples(index=False)) + list(extra.itertuples(index=False)):
        announced = getattr(ev, "announced", None)
        if announced is None or (isinstance(announced, float) and np.isnan(announced)):
            announced = ev.announced_at
        studied = ev.event_id in selected
        listed = ev.event_id in in_catalog
        day0_of: dict[str, object] = {}  # exchange -> day 0 (a Timestamp) or the UserError
        for s, row in enumerate(meta):
            if row.exchange not in day0_of:
                try:
                    day0_of[row.exchange] = day_zero(announced, row.exchange)
                except UserError as exc:
                    day0_of[row.exchange] = exc
            d0 = day0_of[row.exchange]
            if isinstance(d0, UserError):
                if studied:
                    skipped.append({"event_id": ev.event_id, "symbol": row.symbol, "reason": str(d0)})
                continue
            p0 = store.position(s, d0)
            if p0 >= 0 and listed:
                catalog_p0.setdefault(s, []).append(p0)
                day0_rows.append((ev.event_id, s, p0))
            if not studied:
                continue
            if p0 < 0:
                first, last = store.date_of(store.dates[[store.start[s], store.start[s] + store.length[s] - 1]])
                skipped.append({"event_id": ev.event_id, "symbol": row.symbol,
                                "reason": f"day 0 ({d0.date()}) is outside its prices "
                                          f"({pd.Timestamp(first).date()} to {pd.Timestamp(last).date()})"})
                continue
            rows.append({"event_id": ev.event_id, "symbol": row.symbol, "name": row.name,
                         "role": row.role, "exchange": row.exchange, "benchmark": row.benchmark,
                         "day0": d0, "sec": s, "p0": p0})
    if exclude_days > 0 and not reuse:  # a reused store has the same catalog's mask already
        store.set_excluded(event_day_mask(store, catalog_p0, exclude_days))
    catalog_day0 = pd.DataFrame(day0_rows, columns=["event_id", "sec", "p0"])
    frame = pd.DataFrame(rows, columns=["event_id", "symbol", "name", "role", "exchange",
                                        "benchmark", "day0", "sec", "p0"])
    frame["sec"] = frame["sec"].astype(np.int64)
    frame["p0"] = frame["p0"].astype(np.int64)
    frame["day0"] = pd.to_datetime(frame["day0"])
    return Panel(frame, store, catalog_p0, catalog_day0, int(exclude_days)), skipped


def event_day_mask(store: ReturnStore, catalog_p0: dict[int, list[int]], k: int) -> np.ndarray:
    """(T,) bool: the sessions of each security within -k..+k sessions of a catalog event's day 0
    for that security (positions on its own exchange's sessions). Left out of every estimation
    window, so that no event's reaction enters another's normal-return fit (MacKinlay 1997,
    sec. 4: the estimation and event windows must not overlap)."""
    mask = np.zeros(len(store.dates), dtype=bool)
    for s, positions in catalog_p0.items():
        n = int(store.length[s])
        seg = np.zeros(n + 1, dtype=np.int64)
        for p in positions:
            seg[max(p - k, 0)] += 1
            seg[min(p + k + 1, n)] -= 1
        start = int(store.start[s])
        mask[start:start + n] = np.cumsum(seg)[:n] > 0
    return mask
