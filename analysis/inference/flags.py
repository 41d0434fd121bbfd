"""Flags next to every CAR: what a reader should weigh before reading a window's CAR as the
event's reaction.

- ``overlaps``: other catalog events whose day 0 for this security lies inside the window (their
  reactions are in this CAR too);
- ``driver_day`` / ``driver_ar``: the relative day of the window's largest |AR| and that AR;
  ``off_day0_driver`` when that day is not day 0, |AR| > 3 sigma (the firm's estimation-window
  residual sd) and |AR| > 0.5 |CAR|: most of the CAR is one day other than the event's own.
  Windows of one day are never flagged;
- ``confounders``: known firm or market news (``data/confounders.csv``) that lands inside the
  window: on the first session of the security's market closing after the news (the events' day-0
  rule, :mod:`analysis.data.news_days`), and only on the markets the item names.
- ``confounded_by`` / ``attributable``: the *major* confounders (``severity`` major) placed as
  above on the window's days within day 0 to day +1 (:data:`ATTRIBUTION_DAYS`), and whether
  there is none. A cell (tests.csv) is attributable when none of its firms has one
  (:func:`cell_text`); a cell that is not is never claimed as the event's effect and is left
  out of the primary pooled answers (:mod:`analysis.inference.pooled`).

Windows are given per firm-event: ``lo``, ``hi`` (N, W) relative days, so the same functions
serve the requested windows and the limit-extended ones (:func:`limit_extended_k`).
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from analysis.data.news_days import day_column, market_of
from analysis.estimation.kernels import ranges

#: How many estimation sigmas a day's AR must exceed to be an off-day-0 driver.
DRIVER_SIGMAS = 3.0
#: ... and which share of |CAR| it must exceed.
DRIVER_SHARE = 0.5
#: The longest limit run followed after day 0 (sessions).
LIMIT_RUN_MAX = 10
#: Separators in the text columns (confounder texts hold ';').
OVERLAP_SEP = ";"
CONFOUNDER_SEP = " | "
#: tests.csv ``flags``: the names of the row flags any member of the cell carries.
CELL_FLAGS = ("overlaps", "off_day0_driver", "confounders")
#: The days (relative, inclusive) whose major confounders make a window not attributable: the
#: reaction days of the primary window 0:1.
ATTRIBUTION_DAYS = (0, 1)


def _per_row(lo, hi, n):
    """Windows as (n, W) arrays: given per firm-event (n, W) or once for all (W,)."""
    lo, hi = np.asarray(lo, dtype=np.int64), np.asarray(hi, dtype=np.int64)
    if lo.ndim == 1:
        lo, hi = np.broadcast_to(lo[None, :], (n, len(lo))), np.broadcast_to(hi[None, :], (n, len(hi)))
    return lo, hi


def overlaps(event_ids, sec, p0, lo, hi, catalog_day0: pd.DataFrame | None) -> np.ndarray:
    """(N, W) ';'-joined ids of other catalog events whose day 0 for the same security lies in
    [p0 + lo, p0 + hi] (positions on the security's own sessions); '' when none.

    catalog_day0: event_id, sec, p0 of every catalog event (:class:`~analysis.estimation.panel.Panel`).
    """
    N = len(event_ids)
    lo, hi = _per_row(lo, hi, N)
    out = np.full(lo.shape, "", dtype=object)
    if catalog_day0 is None or not len(catalog_day0):
        return out
    codes, names = pd.factorize(np.concatenate([np.asarray(catalog_day0["event_id"], dtype=object),
                                                np.asarray(event_ids, dtype=object)]))
    n_cat = len(catalog_day0)
    c_ev, f_ev = codes[:n_cat], codes[n_cat:]
    c_sec = catalog_day0["sec"].to_numpy(dtype=np.int64)
    order = np.argsort(c_sec, kind="stable")  # per security, in catalog_day0's row order
    c_sec, c_ev, c_p = c_sec[order], c_ev[order], catalog_day0["p0"].to_numpy(dtype=np.int64)[order]
    sec = np.asarray(sec, dtype=np.int64)
    first, last = np.searchsorted(c_sec, sec, side="left"), np.searchsorted(c_sec, sec, side="right")
    count = last - first
    row = np.repeat(np.arange(N), count)  # pairs (firm-event, catalog day 0 on its security)
    k = ranges(first, count)
    other = c_ev[k] != f_ev[row]
    row, k = row[other], k[other]
    p0 = np.asarray(p0, dtype=np.int64)
    for j in range(lo.shape[1]):
        hit = (c_p[k] >= p0[row] + lo[row, j]) & (c_p[k] <= p0[row] + hi[row, j])
        hr, hk = row[hit], k[hit]
        if not len(hr):
            continue
        # each firm-event's sequence of other events (padded with -1): one text per distinct sequence
        first = np.concatenate([[0], np.flatnonzero(np.diff(hr)) + 1])
        count = np.diff(np.append(first, len(hr)))
        seq = np.full((len(first), int(count.max())), -1, dtype=np.int64)
        seq[np.repeat(np.arange(len(first)), count), np.arange(len(hr)) - np.repeat(first, count)] = c_ev[hk]
        uniq, inv = np.unique(seq, axis=0, return_inverse=True)
        text = np.array([OVERLAP_SEP.join(dict.fromkeys(names[u[u >= 0]])) for u in uniq], dtype=object)
        out[hr[first], j] = text[inv.ravel()]
    return out


def _entering(out, rows, lo, hi):
    """The returns entering each window as in the CAR (coverage meets [a, b]): the event-period
    rows and the tail return after them (:func:`analysis.estimation.engine.tail_returns`), as
    (days (n, W, L + 1), ar (n, 1, L + 1), enters (n, W, L + 1))."""
    n, L = len(rows), len(out.days)
    days = np.broadcast_to(np.asarray(out.days, dtype=np.int64)[None, :], (n, L))
    valid, span, ar = out.valid[rows], out.span[rows], out.ar[rows]
    if getattr(out, "tail_valid", None) is not None:
        days = np.concatenate([days, out.tail_day[rows][:, None]], axis=1)
        valid = np.concatenate([valid, out.tail_valid[rows][:, None]], axis=1)
        span = np.concatenate([span, out.tail_span[rows][:, None]], axis=1)
        ar = np.concatenate([ar, out.tail_ar[rows][:, None]], axis=1)
    start = days - span + 1
    enters = (valid[:, None, :] & (days[:, None, :] >= lo[:, :, None]) & (start[:, None, :] <= hi[:, :, None]))
    return days[:, None, :], ar[:, None, :], enters


def drivers(out, lo, hi, rows=None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Largest-|AR| day of each window and the off-day-0 rule (module docstring).

    out: the engine result; rows: its firm-events (default all); lo, hi: (n, W) windows.
    A return enters window [a, b] as in the CAR (its coverage meets [a, b], the return at
    resumption after the event period included); its day is its own.
    Returns driver_day (n, W) float (NaN: no return), driver_ar (n, W), off_day0_driver (n, W) bool.
    """
    rows = np.arange(out.ar.shape[0]) if rows is None else np.asarray(rows, dtype=np.int64)
    lo, hi = _per_row(lo, hi, len(rows))
    days, ars, enters = _entering(out, rows, lo, hi)
    ars0 = np.nan_to_num(ars)
    absar = np.where(enters, np.abs(ars0), -1.0)
    k = absar.argmax(axis=2)
    has = enters.any(axis=2)
    day = np.where(has, np.take_along_axis(np.broadcast_to(days, absar.shape), k[:, :, None], axis=2)[:, :, 0],
                   np.nan).astype(float)
    ar = np.where(has, np.take_along_axis(np.broadcast_to(ars, absar.shape), k[:, :, None],
                                          axis=2)[:, :, 0], np.nan)
    sigma = np.sqrt(out.sigma2[rows])[:, None]
    car = np.where(enters, ars0, 0.0).sum(axis=2)  # the CAR: the sum of the ARs entering the window
    with np.errstate(invalid="ignore"):
        off = ((lo != hi) & has & (day != 0) & (np.abs(ar) > DRIVER_SIGMAS * sigma)
               & (np.abs(ar) > DRIVER_SHARE * np.abs(car)))
    return day, ar, off


def confounder_hits(store, sec, p0, symbols, lo, hi, table: pd.DataFrame, exchanges=None) -> np.ndarray:
    """(N, W, len(table)) bool: row k of ``table`` lands inside [p0 + lo, p0 + hi] of the
    firm-event's security (the placement rule of :func:`confounder_rows`), by array
    operations: one search per (security, market column), one comparison per window."""
    N = len(sec)
    lo, hi = _per_row(lo, hi, N)
    C = len(table)
    sec = np.asarray(sec, dtype=np.int64)
    syms = table["symbol"].fillna("").to_numpy()
    symbols = np.asarray(symbols, dtype=object)
    placed = exchanges is not None
    if placed:
        ex_names, ex_of = np.unique(np.asarray(exchanges).astype(str), return_inverse=True)
        col_names = [day_column(market_of(x)) for x in ex_names]
        col_of = np.array([c if c in table.columns else "day" for c in col_names], dtype=object)[ex_of.ravel()]
    else:
        col_of = np.full(N, "day", dtype=object)
    pos = np.empty((N, C), dtype=np.int64)
    for col in dict.fromkeys(col_of):
        d = pd.to_datetime(table[col])
        num = (d.to_numpy().astype("datetime64[D]") - np.datetime64("1970-01-01", "D")).astype(np.int64)
        ok = d.notna().to_numpy()
        rows = np.flatnonzero(col_of == col)
        secs, inv = np.unique(sec[rows], return_inverse=True)
        at = np.empty((len(secs), C), dtype=np.int64)
        for u, s in enumerate(secs.tolist()):
            seg = store.dates[store.start[s]: store.start[s] + store.length[s]]
            q = np.searchsorted(seg, num)
            at[u] = np.where(ok & (q < len(seg)), q, -10**9)
        pos[rows] = at[inv.ravel()]
    applies = np.broadcast_to(syms == "", (N, C)).copy()
    for sym in dict.fromkeys(syms[syms != ""]):
        applies[:, syms == sym] |= (symbols == sym)[:, None]
    a = (np.asarray(p0, dtype=np.int64)[:, None] + lo)[:, :, None]
    b = (np.asarray(p0, dtype=np.int64)[:, None] + hi)[:, :, None]
    return applies[:, None, :] & (pos[:, None, :] >= a) & (pos[:, None, :] <= b)


def _hit_patterns(hits: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The distinct non-empty rows of ``hits`` (N, W, C): (flat (N*W) positions with a hit,
    the pattern of each, (U, C) the patterns)."""
    flat = hits.reshape(-1, hits.shape[-1])
    where = np.flatnonzero(flat.any(axis=1))
    if not len(where):
        return where, np.zeros(0, dtype=np.int64), np.zeros((0, flat.shape[1]), dtype=bool)
    packed = np.packbits(flat[where], axis=1)
    nb = packed.shape[1]
    if nb <= 8:  # each pattern as one 64-bit key: a 1-D unique (several times faster than rows)
        wide = np.zeros((len(packed), 8), dtype=np.uint8)
        wide[:, :nb] = packed
        keys, inv = np.unique(wide.view(np.uint64).ravel(), return_inverse=True)
        uniq = keys.view(np.uint8).reshape(-1, 8)[:, :nb]
    else:
        uniq, inv = np.unique(packed, axis=0, return_inverse=True)
    patterns = np.unpackbits(uniq, axis=1, count=flat.shape[1]).astype(bool)
    return where, inv.ravel(), patterns


def confounder_rows(store, sec, p0, symbols, lo, hi, table: pd.DataFrame | None, exchanges=None) -> np.ndarray:
    """(N, W) object array of int arrays: the rows of ``table`` (positions) whose news lands inside
    [p0 + lo, p0 + hi] for the firm-event's security.

    Where an item lands: with ``exchanges`` (N,) and a placed table
    (:func:`analysis.data.news_days.place_confounders`: ``day_<market>`` columns), the session on
    which it first reaches the security's market (NaT: it does not reach that market); otherwise
    the first session on or after its calendar ``day``. A firm item (``symbol`` set) applies to
    that security only. Readers of ``severity`` (major / minor) index the table with these rows.
    Firm-events with the same rows share one array.
    """
    N = len(sec)
    lo, hi = _per_row(lo, hi, N)
    out = np.empty(lo.shape, dtype=object)
    empty = np.zeros(0, dtype=np.int64)
    out.ravel()[:] = [empty] * out.size
    if table is None or not len(table):
        return out
    where, inv, patterns = _hit_patterns(confounder_hits(store, sec, p0, symbols, lo, hi, table, exchanges))
    arrays = np.empty(len(patterns), dtype=object)
    arrays[:] = [np.flatnonzero(pt) for pt in patterns]
    flat = out.ravel()
    flat[where] = arrays[inv]
    return flat.reshape(lo.shape)


def confounders(store, sec, p0, symbols, lo, hi, table: pd.DataFrame | None, exchanges=None) -> np.ndarray:
    """(N, W) ' | '-joined ``what`` of the confounders landing in [p0 + lo, p0 + hi] for the
    security (:func:`confounder_rows`: on its market's first session after the news when
    ``exchanges`` and a placed table are given), '' when none (each distinct set joined once)."""
    lo, hi = _per_row(lo, hi, len(sec))
    out = np.full(lo.shape, "", dtype=object)
    if table is None or not len(table):
        return out
    where, inv, patterns = _hit_patterns(confounder_hits(store, sec, p0, symbols, lo, hi, table, exchanges))
    whats = table["what"].to_numpy()
    text = np.array([CONFOUNDER_SEP.join(dict.fromkeys(whats[pt])) for pt in patterns] or [""], dtype=object)
    flat = out.ravel()
    flat[where] = text[inv]
    return flat.reshape(lo.shape)


def day0_cover(valid: np.ndarray, span: np.ndarray, days: np.ndarray) -> np.ndarray:
    """(N,) column of the first return covering day 0: day 0's own, or, when day 0 is suspended,
    the first trade after it, whose return spans back over day 0 (its coverage [d - span + 1, d]
    holds 0); -1 when none. valid, span: (N, L) of the engine result on relative ``days``."""
    days = np.asarray(days)
    covers = valid & (days[None, :] >= 0) & (days[None, :] - np.maximum(span, 1) + 1 <= 0)
    return np.where(covers.any(axis=1), covers.argmax(axis=1), -1)


def major_confounders(store, sec, p0, symbols, lo, hi, table: pd.DataFrame | None, exchanges=None) -> np.ndarray:
    """(N, W) ' | '-joined ``what`` of the major confounders (``severity`` major) placed as in
    :func:`confounders` (on the security's market when ``exchanges`` is given) on the days of
    [lo, hi] within :data:`ATTRIBUTION_DAYS` ('' when none, and for a window with no day in
    0..+1). A table without ``severity`` has no major rows."""
    lo, hi = _per_row(lo, hi, len(sec))
    a, b = ATTRIBUTION_DAYS
    if table is not None and len(table) and "severity" in table.columns:
        table = table[table["severity"].astype(str) == "major"]
    else:
        table = None
    return confounders(store, sec, p0, symbols, np.maximum(lo, a), np.minimum(hi, b), table, exchanges)


def cell_text(cells, row_text: np.ndarray) -> np.ndarray:
    """(C,) the distinct non-empty ``row_text`` values of each cell's members, ' | '-joined in
    member order ('' when none). row_text: (R, W) per firm-event and window of the engine result."""
    C = cells.n_cells
    out: list[dict] = [{} for _ in range(C)]
    text = row_text[cells.rows, cells.member_window]
    for c, t in zip(cells.cell, text):
        if isinstance(t, str) and t:
            for part in t.split(CONFOUNDER_SEP):
                out[c][part] = None
    return np.array([CONFOUNDER_SEP.join(x) for x in out], dtype=object)


def limit_extended_k(state: np.ndarray, days: np.ndarray, max_k: int = LIMIT_RUN_MAX, start=None) -> np.ndarray:
    """(N,) k of the limit-extended window 0:k, or -1: for a firm-event whose day-0 close is at
    the daily limit, the first later session whose close is off the limit, at most ``max_k``.

    state: (N, L) limit states (+1 up, -1 down, 0 off or no return) on relative ``days``
    (:func:`analysis.inference.limits.event_limit_states`). Counting stops at a session that is
    off the limit in the same direction; when every session up to ``max_k`` is at the limit, k =
    ``max_k``. ``start`` (N,): the column of the return covering day 0 (:func:`day0_cover`;
    default day 0's own): a suspended day 0 whose first trade after it closes at the limit (a
    one-price reopening) starts the run there.
    """
    days = np.asarray(days)
    N = state.shape[0]
    k = np.full(N, -1, dtype=np.int64)
    zero = np.nonzero(days == 0)[0]
    if not len(zero):
        return k
    z = zero[0]
    start = np.full(N, z, dtype=np.int64) if start is None else np.asarray(start, dtype=np.int64)
    has = start >= 0
    first = np.where(has, state[np.arange(N), np.where(has, start, 0)], 0)
    for i in np.nonzero(first != 0)[0]:
        direction, c = first[i], int(start[i])
        k[i] = max_k
        for col in range(c + 1, len(days)):
            d = int(days[col])
            if d > max_k:
                break
            if state[i, col] != direction:
                k[i] = d
                break
        else:
            k[i] = max_k
        k[i] = max(k[i], int(days[c]))
    return k


def cell_flags(cells, row_flags: dict[str, np.ndarray]) -> np.ndarray:
    """(C,) ';'-joined names of the flags any member of each cell carries ('' when none).

    row_flags: {name: (R, W) bool} per firm-event and window of the engine result."""
    C = cells.n_cells
    out = [[] for _ in range(C)]
    for name in CELL_FLAGS:
        if name not in row_flags:
            continue
        hit = row_flags[name][cells.rows, cells.member_window].astype(float)
        any_ = np.bincount(cells.cell, weights=hit, minlength=C) > 0
        for c in np.nonzero(any_)[0]:
            out[c].append(name)
    return np.array([";".join(x) for x in out], dtype=object)
