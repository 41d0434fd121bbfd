"""The return store: many securities' session series, concatenated, with one model's regressors.

A firm-event is (security, day-0 position); relative day d maps to position p0 + d of that
security's own sessions. :class:`RelativeDays` gathers store arrays over consecutive relative days of
many firm-events at once.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from analysis.data.calendars import SessionReturns
from analysis.estimation.kernels import _compiled, map_on_threads
from analysis.estimation.models import ModelSpec, design

_EPOCH = np.datetime64("1970-01-01", "D")


@dataclass
class ReturnStore:
    """Concatenated session series of many securities, with one model's regressors.

    Arrays are flat over all securities' sessions; security s occupies
    ``start[s] : start[s] + length[s]``.
    """

    spec: ModelSpec
    symbols: list[str]
    start: np.ndarray  # (S,) int64
    length: np.ndarray  # (S,) int64
    dates: np.ndarray  # (T,) int64 days since 1970-01-01
    ret: np.ndarray  # (T,) simple return, decimal (NaN = missing)
    span: np.ndarray  # (T,) sessions covered by the return (0 = none)
    X: np.ndarray  # (T, p) regressor rows summed over the span
    offset: np.ndarray  # (T,) summed rf for excess-return models, else 0
    volume: np.ndarray = field(default=None)  # (T,) shares
    close: np.ndarray = field(default=None)  # (T,) raw close
    prev_close: np.ndarray = field(default=None)  # (T,) raw previous close
    high: np.ndarray = field(default=None)  # (T,) raw session high (NaN unknown)
    low: np.ndarray = field(default=None)  # (T,) raw session low (NaN unknown)
    #: (T,) bool: sessions no estimation fit may use (near a catalog event's day 0; see
    #: :meth:`set_excluded`); None: none
    excluded: np.ndarray = field(default=None)

    @property
    def y(self) -> np.ndarray:
        """(T,) the modelled return: ret - offset (rf for excess-return models), cached."""
        if "y" not in self._cache:
            self._cache["y"] = self.ret - self.offset
        return self._cache["y"]

    def __post_init__(self):
        self._cache: dict = {}

    @property
    def XT(self) -> np.ndarray:
        """Regressors as (p, T), one contiguous row per column (fast gathers)."""
        if "XT" not in self._cache:
            self._cache["XT"] = np.ascontiguousarray(self.X.T)
        return self._cache["XT"]

    @property
    def next_return(self) -> np.ndarray:
        """(T,) flat index of the first return (span >= 1) after each position in the same
        security, -1 when there is none (the engine's tail return: the return at resumption
        of a suspension that runs past the event period)."""
        if "next_return" not in self._cache:  # one backward pass per security (:func:`_next_returns`)
            out = np.full(len(self.span), -1, dtype=np.int64)
            _next_returns(np.asarray(self.span, dtype=np.int64), np.asarray(self.start, dtype=np.int64),
                          np.asarray(self.length, dtype=np.int64), out)
            self._cache["next_return"] = out
        return self._cache["next_return"]

    @property
    def usable_return(self) -> np.ndarray:
        """(T,) bool: finite y and X over one session (before the event-day exclusion)."""
        if "usable_return" not in self._cache:
            ok = np.isfinite(self.y) & (self.span == 1)
            for k in range(self.X.shape[1]):  # column by column: about 6x faster than isfinite(X).all(axis=1)
                ok &= np.isfinite(self.X[:, k])
            self._cache["usable_return"] = ok
        return self._cache["usable_return"]

    @property
    def eligible(self) -> np.ndarray:
        """(T,) bool: a return usable in an estimation fit (finite y and X, one session, not
        ``excluded``). Every fit, residual moment, sign count, rank and KP correlation reads it."""
        if "eligible" not in self._cache:
            ok = self.usable_return
            self._cache["eligible"] = ok & ~self.excluded if self.excluded is not None else ok
        return self._cache["eligible"]

    def set_excluded(self, excluded: np.ndarray | None) -> None:
        """Leave the sessions where ``excluded`` (T,) is True out of every estimation window
        (clean estimation windows: MacKinlay 1997, sec. 4, the estimation window must not hold
        event days). Clears the derived caches; the event period is not affected."""
        self.excluded = None if excluded is None else np.asarray(excluded, dtype=bool)
        self._cache.clear()

    def excluded_count(self, sec: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
        """(N,) usable returns of security sec[i] at positions lo[i] .. hi[i] (inclusive, clipped
        to its data) that the exclusion drops: what it removes from an estimation window."""
        sec = np.asarray(sec, dtype=np.int64)
        if self.excluded is None or len(sec) == 0:
            return np.zeros(len(sec), dtype=np.int64)
        if "excluded_prefix" not in self._cache:
            T = len(self.excluded)  # int32 counts where they fit: a quarter of the memory traffic
            pre = np.empty(T + 1, dtype=np.int32 if T < 2**31 else np.int64)
            pre[0] = 0
            np.cumsum(self.usable_return & self.excluded, dtype=pre.dtype, out=pre[1:])
            self._cache["excluded_prefix"] = pre
        pre = self._cache["excluded_prefix"]
        length = self.length[sec]
        a = self.start[sec] + np.clip(np.asarray(lo), 0, length)
        b = self.start[sec] + np.clip(np.asarray(hi) + 1, 0, length)
        return np.maximum(pre[b] - pre[a], 0).astype(np.int64)

    @property
    def calendar(self) -> tuple[np.ndarray, np.ndarray]:
        """(dates, rank): the distinct session dates of all securities, increasing (days since
        1970-01-01), and (T,) the rank of each store position's date among them. Counted by
        day number (O(T + days spanned), no sort)."""
        if "calendar" not in self._cache:
            if len(self.dates) == 0:
                self._cache["calendar"] = (np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64))
            else:
                d0 = int(self.dates.min())
                seen = np.bincount(self.dates - d0) > 0
                code = np.cumsum(seen) - 1
                self._cache["calendar"] = ((np.flatnonzero(seen) + d0).astype(np.int64),
                                           code[self.dates - d0].astype(np.int64))
        return self._cache["calendar"]

    @property
    def date_rank(self) -> np.ndarray:
        """(T,) rank of each session date among all securities' session dates (a compact,
        increasing calendar code: pairs align on equal ranks; :attr:`calendar`)."""
        return self.calendar[1]

    @property
    def used_arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(w, y, XT) with w = eligible as 0/1 and y, X zeroed where not eligible.

        A residual y - x'theta is then exactly 0 on the rows a fit leaves out, so sums over
        a window need neither masks nor NaN handling. XT is (p, T), contiguous rows.
        """
        if "used" not in self._cache:  # one compiled pass (:func:`_used_rows`)
            T, p = self.X.shape
            w, y, XT = np.empty(T), np.empty(T), np.empty((p, T))
            _used_rows(self.eligible, self.y, np.asarray(self.X, dtype=float), w, y, XT)
            self._cache["used"] = (w, y, XT)
        return self._cache["used"]

    def prefix_moments(self):
        """Prefix sums over eligible rows of 1, X'X, X'y and y'y, restarted at every security.

        Layout (T + S, ...): security s occupies rows start[s] + s ... start[s] + s + length[s]
        (one leading zero row each), so a window [lo, hi) of s sums as P[hi + s] - P[lo + s].
        Restarting per security keeps the rounding of a window sum proportional to that
        security's own history instead of the whole store's (X'X, X'y 30x-40x closer to
        the direct sums on the recorded prices: theta vs statsmodels 3e-14 instead of 1e-12).
        One compiled pass (:func:`_segment_moments`; also for equal back-to-back segments such as
        event-time portfolios and simulations, where a numpy cumsum over (T, p, p) products took
        10-20x longer for the same bits).
        """
        if "prefix" not in self._cache:
            w, y, XT = self.used_arrays
            self._cache["prefix"] = _segment_moments(w, y, XT, self.start, self.length)
        return self._cache["prefix"]

    def position(self, s: int, date) -> int:
        """Position (0-based, within security s) of a session date; -1 if absent."""
        d = (np.datetime64(pd.Timestamp(date).date(), "D") - _EPOCH).astype(np.int64)
        seg = self.dates[self.start[s]: self.start[s] + self.length[s]]
        i = int(np.searchsorted(seg, d))
        return i if i < len(seg) and seg[i] == d else -1

    def date_of(self, flat_index) -> np.ndarray:
        return (_EPOCH + np.asarray(flat_index, dtype="int64")).astype("datetime64[ns]")


@_compiled()
def _next_returns(span, start, length, out):
    """out (T,)[t] = the first position after t in t's security whose return covers a session
    (span (T,) >= 1), left as it is (-1) when there is none: one backward pass per security s
    (positions start[s] .. start[s] + length[s] - 1; start, length (S,)) (:attr:`ReturnStore.next_return`;
    a numpy form over the whole store took 1.1 s at 18 million rows)."""
    for s in range(length.shape[0]):
        nxt = -1
        for t in range(start[s] + length[s] - 1, start[s] - 1, -1):
            out[t] = nxt
            if span[t] >= 1:
                nxt = t


@_compiled()
def _used_rows(eligible, y, X, w, y_used, XT_used):
    """The arrays of :attr:`ReturnStore.used_arrays` in one pass: w (T,) = eligible (T,) as 0/1,
    y_used (T,) = y and XT_used (p, T) = X (T, p) transposed where eligible, 0 elsewhere."""
    for t in range(y.shape[0]):
        if eligible[t]:
            w[t] = 1.0
            y_used[t] = y[t]
            for k in range(X.shape[1]):
                XT_used[k, t] = X[t, k]
        else:
            w[t] = 0.0
            y_used[t] = 0.0
            for k in range(X.shape[1]):
                XT_used[k, t] = 0.0


def _segment_moments(w: np.ndarray, y: np.ndarray, XT: np.ndarray, start: np.ndarray, length: np.ndarray):
    """The prefix sums of :meth:`ReturnStore.prefix_moments` (segments in order, each after a
    leading zero row): numpy.cumsum of each security's w, x x', x y and y y, with the same
    products and additions in the same order, in one compiled pass that forms the products as
    it sums them (no (T, p, p) arrays of products), the securities on two threads."""
    p = XT.shape[0]
    start = np.asarray(start, dtype=np.int64)
    length = np.asarray(length, dtype=np.int64)
    at = np.concatenate([[0], np.cumsum(length + 1)]).astype(np.int64)  # each segment's zero row
    rows = int(at[-1])
    pw, pxx, pxy, pyy = np.empty(rows), np.empty((rows, p, p)), np.empty((rows, p)), np.empty(rows)
    half = len(start) // 2
    map_on_threads(lambda ab: _moment_sums(w, y, np.ascontiguousarray(XT, dtype=float), start, length, at, ab[0],
                                           ab[1], pw, pxx, pxy, pyy),
                   [(0, half), (half, len(start))] if half else [(0, len(start))])
    return pw, pxx, pxy, pyy


@_compiled()  # no fastmath: numpy's products and numpy.cumsum's order and rounding
def _moment_sums(w, y, XT, start, length, at, s_lo, s_hi, pw, pxx, pxy, pyy):
    """Segments s_lo .. s_hi - 1 of :func:`_segment_moments`: segment s's rows at[s] (zeros)
    .. at[s] + length[s], the running sums over rows start[s] .. of the store."""
    p = XT.shape[0]
    for s in range(s_lo, s_hi):
        o = at[s]
        pw[o] = 0.0
        pyy[o] = 0.0
        for i in range(p):
            pxy[o, i] = 0.0
            for j in range(p):
                pxx[o, i, j] = 0.0
        for t in range(length[s]):
            src = start[s] + t
            r = o + t + 1
            yt = y[src]
            pw[r] = pw[r - 1] + w[src]
            pyy[r] = pyy[r - 1] + yt * yt
            for i in range(p):
                xi = XT[i, src]
                pxy[r, i] = pxy[r - 1, i] + xi * yt
                for j in range(p):
                    pxx[r, i, j] = pxx[r - 1, i, j] + xi * XT[j, src]


def segment_starts(lengths: np.ndarray) -> np.ndarray:
    """(S,) each security's first flat position from the (S,) lengths of the securities laid one
    after the other: cumsum(length) - length (an empty array for no security; a ``[0]`` prefix
    would give a start without a security, which the compiled passes over ``start`` read past)."""
    lengths = np.asarray(lengths, dtype=np.int64)
    return np.cumsum(lengths) - lengths


def store_from_arrays(spec: ModelSpec, rets, X=None, spans=None, start_date: str = "2005-01-03",
                      dates=None) -> ReturnStore:
    """A store from per-security arrays (tests, simulations, benchmarks).

    rets: list of 1-D return arrays (decimals; NaN = missing), one per security; X: list of
    (len, p) regressor arrays or None (a constant only: zeros for models without regressors,
    ones for the constant); spans: list of span arrays (default 1 everywhere); dates: list
    of day-number arrays (days since 1970-01-01), default consecutive business days from
    ``start_date``. Symbols are S0, S1, ...
    """
    rets = [np.asarray(r, dtype=float) for r in rets]
    lengths = np.array([len(r) for r in rets], dtype=np.int64)
    start = segment_starts(lengths)
    total = int(lengths.sum())
    p = len(spec.regressors)
    if dates is None:
        days = (pd.bdate_range(start_date, periods=int(lengths.max(initial=0))).values.astype("datetime64[D]")
                - _EPOCH).astype(np.int64)
        dates = [days[:n] for n in lengths]
    cat = lambda parts, dtype: (np.concatenate([np.asarray(a, dtype=dtype) for a in parts])  # noqa: E731
                                if parts else np.zeros(0, dtype=dtype))
    if X is None:
        Xa = np.zeros((total, p))
        if "const" in spec.regressors:
            Xa[:, spec.regressors.index("const")] = 1.0
    else:
        Xa = np.vstack([np.asarray(x, dtype=float).reshape(len(r), p) for x, r in zip(X, rets)])
    return ReturnStore(
        spec=spec, symbols=[f"S{k}" for k in range(len(rets))], start=start, length=lengths,
        dates=cat(dates, np.int64), ret=cat(rets, float),
        span=cat(spans, np.int64) if spans is not None else np.ones(total, dtype=np.int64),
        X=Xa, offset=np.zeros(total), volume=np.ones(total), close=np.ones(total), prev_close=np.ones(total))


#: Fields of one security's part of a store (:func:`store_from_parts`), in store order.
PART_FIELDS = ("dates", "ret", "span", "X", "offset", "volume", "close", "prev_close", "high", "low")


def store_from_parts(spec: ModelSpec, symbols: list[str], parts: list[dict]) -> ReturnStore:
    """Concatenate securities' parts ({field: (len,) or (len, p) array}, :data:`PART_FIELDS`;
    dates as days since 1970-01-01) into one store, in the order given."""
    lengths = np.array([len(part["dates"]) for part in parts], dtype=np.int64)
    starts = segment_starts(lengths)
    cat = lambda name: np.concatenate([part[name] for part in parts]) if parts else np.empty(0)  # noqa: E731
    return ReturnStore(
        spec=spec,
        symbols=list(symbols),
        start=starts,
        length=lengths,
        dates=cat("dates").astype(np.int64),
        ret=cat("ret"),
        span=cat("span").astype(np.int64),
        X=np.vstack([part["X"] for part in parts]) if parts else np.empty((0, len(spec.regressors))),
        offset=cat("offset"),
        volume=cat("volume"),
        close=cat("close"),
        prev_close=cat("prev_close"),
        high=cat("high"),
        low=cat("low"),
    )


def series_part(spec: ModelSpec, sr: SessionReturns, base: pd.DataFrame) -> dict:
    """One security's store part from its session returns and its per-session ``base`` frame
    (``mkt`` and the factor columns the model needs, decimals) (:func:`design`)."""
    X, off = design(spec, sr.span, base)
    T = len(sr.sessions)
    return {"dates": (sr.sessions.values.astype("datetime64[D]") - _EPOCH).astype(np.int64), "ret": sr.ret,
            "span": sr.span, "X": X, "offset": off, "volume": sr.volume, "close": sr.close,
            "prev_close": sr.prev_close, "high": sr.high if sr.high is not None else np.full(T, np.nan),
            "low": sr.low if sr.low is not None else np.full(T, np.nan)}


def build_store(spec: ModelSpec, series: list[SessionReturns], bases: list[pd.DataFrame]) -> ReturnStore:
    """Concatenate securities' session returns and build ``spec``'s regressors for each.

    bases[i]: per-session frame aligned on series[i].sessions with ``mkt`` (benchmark
    return) and the factor columns the model needs (decimals).
    """
    return store_from_parts(spec, [sr.symbol for sr in series],
                            [series_part(spec, sr, base) for sr, base in zip(series, bases)])


class RelativeDays:
    """Consecutive relative days [a, b] of N firm-events: gathers rows of store arrays.

    Row i covers store positions start[sec_i] + p0_i + a ... + b. Full rows are copied from
    a sliding-window view (no (N, L) index matrix); the few rows that run past their
    security's data are gathered by index and marked invalid outside it.
    """

    def __init__(self, store: ReturnStore, sec: np.ndarray, p0: np.ndarray, a: int, b: int):
        self.days = np.arange(a, b + 1)
        self.L = b - a + 1
        self.T = len(store.dates)
        length = store.length[sec]
        self.base = store.start[sec] + p0 + a
        self.partial = np.nonzero((p0 + a < 0) | (p0 + b >= length))[0]
        self.pvalid = np.ones((0, self.L), dtype=bool)  # validity of the partial rows only
        if len(self.partial):
            pos = p0[self.partial, None] + self.days[None, :]
            ok = (pos >= 0) & (pos < length[self.partial, None])
            self.pvalid = ok
            self.pflat = store.start[sec[self.partial], None] + np.where(ok, pos, 0)
        self.all_valid = len(self.partial) == 0

    def take(self, arr: np.ndarray) -> np.ndarray:
        """(N, L) copy of ``arr`` (a flat store array) over each firm-event's days."""
        n = len(self.base)
        if self.T < self.L:
            out = np.zeros((n, self.L), dtype=arr.dtype)
        else:
            view = np.lib.stride_tricks.sliding_window_view(arr, self.L)
            out = view[np.clip(self.base, 0, self.T - self.L)]
        if len(self.partial):
            out[self.partial] = arr[self.pflat]
        return out

    def subset(self, rows) -> "RelativeDays":
        """The RelativeDays of some of the firm-events (indices or a boolean mask)."""
        rows = np.asarray(rows)
        rows = np.nonzero(rows)[0] if rows.dtype == bool else rows.astype(np.int64)
        w = RelativeDays.__new__(RelativeDays)
        w.days, w.L, w.T = self.days, self.L, self.T
        w.base = self.base[rows]
        where = np.full(len(self.base), -1)
        where[self.partial] = np.arange(len(self.partial))
        sel = where[rows] >= 0
        w.partial = np.nonzero(sel)[0]
        w.pvalid = self.pvalid[where[rows[sel]]]
        if len(w.partial):
            w.pflat = self.pflat[where[rows[sel]]]
        w.all_valid = len(w.partial) == 0
        return w

    @property
    def valid(self) -> np.ndarray:
        """(N, L) bool: the day lies inside the security's data."""
        valid = np.ones((len(self.base), self.L), dtype=bool)
        if len(self.partial):
            valid[self.partial] = self.pvalid
        return valid

    @property
    def flat(self) -> np.ndarray:
        """(N, L) flat store indices (positions outside the data point at its first row)."""
        flat = self.base[:, None] + np.arange(self.L)[None, :]
        if len(self.partial):
            flat[self.partial] = self.pflat
        return flat
