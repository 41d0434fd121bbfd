"""The firm-event panel: returns on each security's own sessions, day 0 per (event, security).

Catalog + universe + price frames -> one :class:`~analysis.estimation.store.ReturnStore` (the
model's regressors built per security) and one row per (event, security) that can be studied.
One bad symbol or event never sinks the others: it is listed in ``skipped`` with its reason.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from analysis.data.calendars import (block_eligible, calendar, day_zero, returns_on, row_spanning_returns,
                                     session_returns, session_returns_block)
from analysis.errors import UserError
from analysis.estimation.kernels import map_on_threads
from analysis.estimation.models import ModelSpec, design_rows
from analysis.estimation.store import _EPOCH, PART_FIELDS, ReturnStore, segment_starts, series_part


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
    why_of: dict[int, str] = {}
    units: list[tuple[dict, list[int], np.ndarray]] = []  # (flat arrays, universe positions, lengths)
    rows = list(universe.itertuples(index=False))
    blocks: dict[tuple[str, str], list[int]] = {}  # (exchange, benchmark) -> universe positions
    by_block = factors is None or _factors_eligible(factors)
    bench_ok: dict[str, bool] = {}
    for i, row in enumerate(rows):
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
        if by_block and why is None and bench not in bench_ok:
            bench_ok[bench] = block_eligible(frames[bench])
        if why is not None:
            why_of[i] = why
        elif by_block and block_eligible(frames[sym]) and bench_ok[bench]:
            blocks.setdefault((row.exchange, bench), []).append(i)
        else:
            try:
                part = _one_part(model, row, frames, factors)
            except UserError as exc:
                why_of[i] = str(exc)
            else:
                units.append((part, [i], np.array([len(part["dates"])], dtype=np.int64)))
    jobs = [(mic, bench, members[k:k + BLOCK_SECURITIES]) for (mic, bench), members in blocks.items()
            for k in range(0, len(members), BLOCK_SECURITIES)]
    for mic in dict.fromkeys(job[0] for job in jobs):  # loaded here, before the threads
        try:
            calendar(mic)
        except UserError:
            pass  # the block reports it

    def build(job):
        mic, bench, chunk = job
        try:
            return _block_parts(model, [rows[i] for i in chunk], mic, frames, frames[bench], factors)
        except UserError as exc:
            return None, None, [str(exc)] * len(chunk)

    for (_, _, chunk), (flat, lengths, why) in zip(jobs, map_on_threads(build, jobs)):
        for i, w in zip(chunk, why):
            if w is not None:
                why_of[i] = w
        if flat is not None:
            units.append((flat, [i for i, w in zip(chunk, why) if w is None], lengths))
    meta = []
    for i, row in enumerate(rows):
        if i in why_of:
            skipped += [{"event_id": e, "symbol": row.symbol, "reason": why_of[i]} for e in events["event_id"]]
        else:
            meta.append(row)
    store = _store_from_units(model, [row.symbol for row in meta], units)
    return _event_rows(store, meta, events, catalog, skipped, exclude_days)


def _store_from_units(model: ModelSpec, symbols: list[str], units: list[tuple[dict, list[int], np.ndarray]]
                      ) -> ReturnStore:
    """One store, securities in universe order, from units of securities built together, each
    (flat arrays of :data:`~analysis.estimation.store.PART_FIELDS`, its securities' universe
    positions in order, their lengths in sessions); each field is written once into the store's
    array (no per-security copies)."""
    ids = np.array([i for _, u_ids, _ in units for i in u_ids], dtype=np.int64)
    lens = np.concatenate([u_len for _, _, u_len in units]) if units else np.zeros(0, np.int64)
    order = np.argsort(ids, kind="stable")
    length = lens[order].astype(np.int64)
    start = segment_starts(length)
    T = int(length.sum())
    p = len(model.regressors)
    at = np.empty(len(ids), np.int64)
    at[order] = start  # store start of each unit member, in unit order
    dests, k = [], 0
    for _, u_ids, u_len in units:
        n, size = len(u_ids), int(u_len.sum())
        first = np.concatenate([[0], np.cumsum(u_len)[:-1]])
        if n and (at[k:k + n] - first == at[k]).all():  # one run of the store (the usual block)
            dests.append(slice(int(at[k]), int(at[k]) + size))
        else:
            dests.append(np.repeat(at[k:k + n] - first, u_len) + np.arange(size))
        k += n

    def field(name):
        a = np.empty((T, p) if name == "X" else T, dtype=np.int64 if name in ("dates", "span") else float)
        for (flat, _, _), dest in zip(units, dests):
            a[dest] = flat[name]
        return a

    names = ["X", *(name for name in PART_FIELDS if name != "X")]  # the largest first
    out = dict(zip(names, map_on_threads(field, names)))
    return ReturnStore(spec=model, symbols=list(symbols), start=start, length=length, **out)


#: Securities built together in one vectorized block (bounds the block's (n, sessions) arrays).
BLOCK_SECURITIES = 1000


def _factors_eligible(factors: pd.DataFrame) -> bool:
    idx = factors.index
    return (isinstance(idx, pd.DatetimeIndex) and idx.tz is None and idx.is_monotonic_increasing
            and idx.is_unique and bool((idx == idx.normalize()).all()))


def _one_part(model: ModelSpec, row, frames: dict, factors: pd.DataFrame | None) -> dict:
    """One security's store part, built on its own (frames the block path does not take)."""
    sr = session_returns(frames[row.symbol], row.symbol, row.exchange)
    base = pd.DataFrame({"mkt": returns_on(sr, frames[row.benchmark])}, index=sr.sessions)
    if factors is not None:
        f = factors.reindex(sr.sessions)
        if f.notna().all(axis=1).sum() == 0:
            raise UserError(f"the factors do not cover any {row.exchange} session of {row.symbol}")
        for col in f.columns:
            base[col] = f[col].to_numpy()
    return series_part(model, sr, base)


def _block_parts(model: ModelSpec, rows: list, mic: str, frames: dict, bench: pd.DataFrame,
                 factors: pd.DataFrame | None) -> list:
    """Store parts of securities of one exchange and benchmark, built together
    (:func:`analysis.data.calendars.session_returns_block`; the same numbers as
    :func:`_one_part`): (flat arrays of :data:`~analysis.estimation.store.PART_FIELDS` over the
    securities that are not skipped, in order; their lengths; per security None or why it is
    skipped)."""
    blk = session_returns_block([frames[row.symbol] for row in rows], mic)
    bret, bspan = row_spanning_returns(blk.on_sessions(bench, "adj_close"))
    bret[bspan != 1] = np.nan  # as returns_on
    base = {"mkt": bret}
    covered = np.ones(len(rows), dtype=bool)
    if factors is not None:
        cols = list(factors.columns)
        fx = blk.align([factors], cols)
        base.update({c: np.where(blk.inside, fx[c][0][None, :], np.nan) for c in cols})
        covered = (np.logical_and.reduce([~np.isnan(base[c]) for c in cols]) & blk.inside).any(axis=1)
    X, offset = design_rows(model, blk.span, base)
    why = [f"{row.symbol}: no adjusted close prices" if blk.empty[i]
           else None if covered[i] else f"the factors do not cover any {row.exchange} session of {row.symbol}"
           for i, row in enumerate(rows)]
    ok = np.array([w is None for w in why], dtype=bool)
    keep = blk.inside & ok[:, None]
    arrays = {"ret": blk.ret, "span": blk.span, "X": X, "offset": offset, "volume": blk.volume, "close": blk.close,
              "prev_close": blk.prev_close, "high": blk.high, "low": blk.low}
    rows = keep.ravel()  # (n, G, p) arrays by rows: numpy's 2-D mask on a 3-D array is ~10x slower
    flat = {name: a[keep] if a.ndim == 2 else np.compress(rows, a.reshape(rows.size, *a.shape[2:]), axis=0)
            for name, a in arrays.items()}
    flat["dates"] = np.broadcast_to(blk.grid, keep.shape)[keep]
    return flat, keep.sum(axis=1)[ok].astype(np.int64), why


def _event_rows(store: ReturnStore, meta: list, events: pd.DataFrame, catalog: pd.DataFrame, skipped: list[dict],
                exclude_days: int, reuse: bool = False) -> tuple[Panel, list[dict]]:
    """The panel's firm-event rows over ``store`` (securities ``meta``: universe rows in store
    order): day 0 of every catalog event and studied event on each security. Day 0 depends on
    the announcement and the exchange only: found once per (event, exchange)."""
    parts = []  # per studied event: (event_id, secs, p0s, day0 per sec)
    catalog_p0: dict[int, list[int]] = {}
    day0_parts = []  # (event_id, secs, p0s) of every catalog event
    selected = set(events["event_id"])
    in_catalog = set(catalog["event_id"])
    extra = events[~events["event_id"].isin(in_catalog)]  # studied, not part of the catalog
    S = len(meta)
    exchange = np.array([row.exchange for row in meta], dtype=object)
    exchanges = list(dict.fromkeys(exchange))
    of_exchange = {x: np.flatnonzero(exchange == x) for x in exchanges}
    lo_day = int(store.dates.min()) if len(store.dates) else 0
    width = (int(store.dates.max()) - lo_day + 2) if len(store.dates) else 1
    find = _DayFinder(store, lo_day, width)
    for ev in list(catalog.itertuples(index=False)) + list(extra.itertuples(index=False)):
        announced = getattr(ev, "announced", None)
        if announced is None or (isinstance(announced, float) and np.isnan(announced)):
            announced = ev.announced_at
        studied = ev.event_id in selected
        listed = ev.event_id in in_catalog
        p0 = np.full(S, -1, dtype=np.int64)
        day0 = np.empty(S, dtype=object)
        failed = np.zeros(S, dtype=bool)
        for x in exchanges:  # day 0 once per (event, exchange)
            secs = of_exchange[x]
            try:
                d0 = day_zero(announced, x)
            except UserError as exc:
                failed[secs] = True
                day0[secs] = exc
                continue
            day0[secs] = d0
            d = (np.datetime64(pd.Timestamp(d0).date(), "D") - _EPOCH).astype(np.int64) - lo_day
            if 0 <= d < width:  # else outside every security's prices
                p0[secs] = find(x, secs, int(d))
        found = np.flatnonzero(p0 >= 0)
        if listed and len(found):
            day0_parts.append((ev.event_id, found, p0[found]))
        if not studied:
            continue
        for s_ in np.flatnonzero(failed | (p0 < 0)).tolist():
            row = meta[s_]
            if failed[s_]:
                skipped.append({"event_id": ev.event_id, "symbol": row.symbol, "reason": str(day0[s_])})
                continue
            first, last = store.date_of(store.dates[[store.start[s_], store.start[s_] + store.length[s_] - 1]])
            skipped.append({"event_id": ev.event_id, "symbol": row.symbol,
                            "reason": f"day 0 ({day0[s_].date()}) is outside its prices "
                                      f"({pd.Timestamp(first).date()} to {pd.Timestamp(last).date()})"})
        parts.append((ev.event_id, found, p0[found], day0[found]))
    if day0_parts:  # {security: its catalog day-0 positions in catalog order}, securities as first met
        c_sec = np.concatenate([d[1] for d in day0_parts])
        c_p0 = np.concatenate([d[2] for d in day0_parts])
        by_sec = np.argsort(c_sec, kind="stable")
        secs, first, counts = np.unique(c_sec, return_index=True, return_counts=True)
        lists = np.split(c_p0[by_sec], np.cumsum(counts)[:-1])
        catalog_p0 = {int(secs[u]): lists[u].tolist() for u in np.argsort(first, kind="stable")}
    if exclude_days > 0 and not reuse:  # a reused store has the same catalog's mask already
        store.set_excluded(event_day_mask(store, catalog_p0, exclude_days))
    catalog_day0 = pd.DataFrame(dict(zip(["event_id", "sec", "p0"], _stack(day0_parts, 3))))
    ev_ids, secs, p0s, day0s = _stack(parts, 4)
    info = {c: np.array([getattr(row, c) for row in meta], dtype=object)
            for c in ("symbol", "name", "role", "exchange", "benchmark")}
    frame = pd.DataFrame({"event_id": ev_ids, **{c: v[secs] for c, v in info.items()}, "day0": day0s,
                          "sec": secs, "p0": p0s},
                         columns=["event_id", "symbol", "name", "role", "exchange", "benchmark", "day0", "sec", "p0"])
    frame["sec"] = frame["sec"].astype(np.int64)
    frame["p0"] = frame["p0"].astype(np.int64)
    frame["day0"] = pd.to_datetime(frame["day0"])
    return Panel(frame, store, catalog_p0, catalog_day0, int(exclude_days)), skipped


class _DayFinder:
    """The position of a day in each security's dates (-1: not one of them), for many days.
    First a guess from the exchange's calendar (a security's dates are usually every session
    from its first: position = sessions from its first date to the day), checked against the
    store; the securities whose guess is wrong are searched in the store (one search over
    keys sec * width + day, built when first needed)."""

    def __init__(self, store: ReturnStore, lo_day: int, width: int):
        self.store, self.lo_day, self.width = store, lo_day, width
        self.keys = None
        self.sessions: dict[str, tuple | None] = {}

    def _calendar(self, mic: str, secs: np.ndarray):
        if mic not in self.sessions:
            try:
                days = (calendar(mic).sessions.values.astype("datetime64[D]") - _EPOCH).astype(np.int64)
            except UserError:
                self.sessions[mic] = None
            else:
                at = np.minimum(self.store.start[secs], max(len(self.store.dates) - 1, 0))
                first = self.store.dates[at] if len(self.store.dates) else np.zeros(len(secs), np.int64)
                self.sessions[mic] = (days, secs, np.searchsorted(days, first))
        return self.sessions[mic]

    def __call__(self, mic: str, secs: np.ndarray, d: int) -> np.ndarray:
        """Positions of day ``lo_day + d`` in the dates of securities ``secs`` (of exchange ``mic``)."""
        store = self.store
        out = np.full(len(secs), -1, dtype=np.int64)
        todo = np.ones(len(secs), dtype=bool)
        cal = self._calendar(mic, secs)
        if cal is not None and len(secs) and cal[1] is secs:
            days, _, first_at = cal
            g = np.searchsorted(days, self.lo_day + d) - first_at
            ok = (g >= 0) & (g < store.length[secs])
            ok[ok] = store.dates[store.start[secs[ok]] + g[ok]] == self.lo_day + d
            out[ok] = g[ok]
            todo = ~ok
        if todo.any():
            if self.keys is None:  # increasing: securities, then dates
                sec_of = np.repeat(np.arange(len(store.length)), store.length)
                self.keys = sec_of * self.width + (store.dates - self.lo_day)
            rest = secs[todo]
            want = rest * self.width + d
            at = np.searchsorted(self.keys, want)
            hit = at < len(self.keys)
            hit[hit] = self.keys[at[hit]] == want[hit]
            out[np.flatnonzero(todo)[hit]] = at[hit] - store.start[rest[hit]]
        return out


def _stack(parts: list[tuple], k: int) -> list[np.ndarray]:
    """Concatenate per-event (event_id, secs, ...) parts into k columns (event_id repeated)."""
    if not parts:
        return [np.zeros(0, dtype=object)] + [np.zeros(0, dtype=np.int64)] * (k - 1)
    ids = np.concatenate([np.full(len(p[1]), p[0], dtype=object) for p in parts])
    return [ids] + [np.concatenate([p[j] for p in parts]) for j in range(1, k)]


def event_day_mask(store: ReturnStore, catalog_p0: dict[int, list[int]], k: int) -> np.ndarray:
    """(T,) bool: the sessions of each security within -k..+k sessions of a catalog event's day 0
    for that security (positions on its own exchange's sessions). Left out of every estimation
    window, so that no event's reaction enters another's normal-return fit (MacKinlay 1997,
    sec. 4: the estimation and event windows must not overlap)."""
    T = len(store.dates)
    if not catalog_p0:
        return np.zeros(T, dtype=bool)
    sec = np.repeat(np.fromiter(catalog_p0.keys(), dtype=np.int64, count=len(catalog_p0)),
                    [len(v) for v in catalog_p0.values()])
    p = np.concatenate([np.asarray(v, dtype=np.int64) for v in catalog_p0.values()])
    start, n = store.start[sec].astype(np.int64), store.length[sec].astype(np.int64)
    a, b = start + np.maximum(p - k, 0), start + np.minimum(p + k + 1, n)  # flat positions a..b-1
    if len(p) * (2 * k + 1) <= T:  # short ranges: set their positions directly
        at = a[:, None] + np.arange(2 * k + 1)
        mask = np.zeros(T, dtype=bool)
        mask[at[at < b[:, None]]] = True
        return mask
    # +1 where a range opens, -1 where it closes (at the latest at the security's end): the
    # running sum over the flat store is each position's count of ranges holding it
    seg = np.bincount(a, minlength=T + 1) - np.bincount(b, minlength=T + 1)
    return np.cumsum(seg)[:T] > 0
