"""Trading sessions, day 0 of an event, and returns on a security's own sessions.

Sessions and close times come from ``exchange_calendars`` (no hand-written holiday lists).
It has no Shenzhen calendar: XSHE trades on Shanghai's (XSHG) sessions and hours.

Day-0 rule: day 0 of an event for a security is the first session of its exchange whose
close is strictly after the announcement instant; for a date-only announcement it is that
date if it is a session, else the next session. Relative days count sessions of the
security's own exchange (day -1 is the session before day 0, whatever the calendar date).

Calendars start in 1990 (1990-01-02; XSHG: its first day, 1990-12-03), so they cover every
price from then on; an announcement before a calendar's first session has no day 0 (an error).
A price file whose dates disagree with its exchange's sessions (more than
:data:`MAX_OFF_CALENDAR` of them are not sessions) most likely belongs to another exchange:
:func:`calendar_mismatch` says so.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd

from analysis.errors import UserError
from analysis.vocab import DATE_ONLY_HOUR, NEWS_TIMEZONE

#: exchange_calendars has no XSHE: Shenzhen keeps Shanghai's calendar.
CALENDAR_ALIASES = {"XSHE": "XSHG"}
#: Calendars cover prices from this date on (or the calendar's own first day, if later).
CALENDAR_START = "1990-01-01"
#: Largest share of a price file's dates that may fall on non-sessions of its exchange (a few
#: vendor rows on holidays are dropped); more means the declared exchange is wrong.
MAX_OFF_CALENDAR = 0.02


@dataclass(frozen=True)
class Schedule:
    """What the package reads of an exchange's ``exchange_calendars`` calendar: its sessions
    (tz-naive dates, ascending) and each session's close instant (UTC, indexed by the sessions)."""

    sessions: pd.DatetimeIndex
    closes: pd.Series


#: Folder of :func:`calendar`'s on-disk copies, under the package's cache folder.
SCHEDULE_CACHE = "calendars"
#: Version of the copies' layout (part of their name: a copy of another layout is never read).
SCHEDULE_FORMAT = 1


def _schedule_file(name: str) -> Path:
    """Where the schedule of calendar ``name`` built today by this exchange_calendars version is
    kept (a calendar runs one year past the day it is built, so a copy serves that day only)."""
    from importlib.metadata import version

    from analysis.paths import cache_dir

    stamp = f"{name}_{CALENDAR_START}_{date.today():%Y%m%d}_{version('exchange_calendars')}_v{SCHEDULE_FORMAT}"
    return cache_dir() / SCHEDULE_CACHE / f"{stamp}.npz"


def _read_schedule(path: Path) -> Schedule | None:
    """The schedule kept in ``path`` (two int64 arrays of nanoseconds, no pickle), or None when the
    file is missing or not a well-formed schedule (then it is built again)."""
    try:
        with np.load(path, allow_pickle=False) as z:
            days, closes = z["sessions"], z["closes"]
    except Exception:  # noqa: BLE001 - whatever the damage (a truncated zip, a bare .npy, bad zlib data): build again
        return None
    if (days.dtype != np.int64 or closes.dtype != np.int64 or days.ndim != 1 or days.shape != closes.shape
            or not len(days) or (np.diff(days) <= 0).any()):
        return None
    index = pd.DatetimeIndex(days.view("datetime64[ns]"))
    return Schedule(index, pd.Series(pd.DatetimeIndex(closes.view("datetime64[ns]"), tz="UTC"), index=index,
                                     name="close"))


def _write_schedule(path: Path, schedule: Schedule) -> None:
    """Keep ``schedule`` in ``path`` (atomically, compressed: about 100 KB) and remove the copies of
    the same calendar from other days or versions (the folder holds one per calendar); a folder
    that cannot be written is no error."""
    import io

    from analysis.atomic import atomic_write

    buf = io.BytesIO()
    np.savez_compressed(buf, sessions=schedule.sessions.values.astype("datetime64[ns]").view(np.int64),
             closes=schedule.closes.dt.tz_convert("UTC").values.astype("datetime64[ns]").view(np.int64))
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(path, lambda fh: fh.write(buf.getvalue()), mode="wb")
        for old in path.parent.glob(f"{path.name.split('_', 1)[0]}_*.npz"):
            if old.name != path.name:
                old.unlink(missing_ok=True)
    except OSError:
        pass


def _build_schedule(name: str) -> Schedule:
    """Build calendar ``name`` with ``exchange_calendars`` (from :data:`CALENDAR_START` or its own
    first day) and keep its sessions and closes."""
    import warnings

    import exchange_calendars as xcals

    with warnings.catch_warnings():
        # exchange_calendars 4.x calls Series.values on tz-aware data (deprecated in pandas 3.1)
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", FutureWarning)
        factory = getattr(xcals.calendar_utils, "_default_calendar_factories", {}).get(name)
        bound = getattr(factory, "bound_min", None)
        start = pd.Timestamp(CALENDAR_START)
        if callable(bound) and bound() is not None:
            start = max(start, pd.Timestamp(bound()))
        cal = xcals.get_calendar(name, start=start)
        index = pd.DatetimeIndex(cal.sessions.values.astype("datetime64[ns]"))
        closes = pd.DatetimeIndex(cal.closes.values.astype("datetime64[ns]"), tz="UTC")
    return Schedule(index, pd.Series(closes, index=index, name="close"))


def _known_calendar(name: str) -> bool:
    import exchange_calendars as xcals

    return name in xcals.get_calendar_names(include_aliases=True)


@lru_cache(maxsize=None)
def calendar(mic: str) -> Schedule:
    """The sessions and session closes of an ISO MIC's calendar (XSHE maps to XSHG), from
    ``exchange_calendars``. Building the calendars costs about 1.5 s of CPU with the import; each
    is kept in the package's cache folder (:data:`SCHEDULE_CACHE`) for the day, so other
    processes read it (about 10 ms) instead; the copy equals a fresh build (test)."""
    name = CALENDAR_ALIASES.get(mic, mic)
    path = _schedule_file(name)
    kept = _read_schedule(path) if path.is_file() else None
    if kept is not None:
        return kept
    if not _known_calendar(name):
        raise UserError(f"unknown exchange '{mic}' (exchange_calendars has no such calendar)")
    schedule = _build_schedule(name)
    _write_schedule(path, schedule)
    return schedule


def sessions(mic: str, start=None, end=None) -> pd.DatetimeIndex:
    """Sessions of ``mic`` between ``start`` and ``end`` (inclusive), tz-naive dates."""
    cal = calendar(mic)
    idx = cal.sessions
    if start is not None:
        idx = idx[idx >= pd.Timestamp(start)]
    if end is not None:
        idx = idx[idx <= pd.Timestamp(end)]
    return pd.DatetimeIndex(idx, name="date")


def _as_instant(announced) -> tuple[pd.Timestamp, bool]:
    """(timestamp, date_only): a tz-aware timestamp or an ISO string with a UTC offset is an
    instant; a tz-naive timestamp, a date or a ``YYYY-MM-DD`` string is date-only."""
    if isinstance(announced, str):
        from analysis.data.catalog import parse_announced_at

        try:
            announced = parse_announced_at(announced)
        except ValueError as exc:  # e.g. a year outside the catalog's 1900..2100
            raise UserError(f"announcement {announced[:40]!r}: {exc}") from None
    ts = pd.Timestamp(announced)
    return (ts, False) if ts.tzinfo is not None else (ts.normalize(), True)


@lru_cache(maxsize=65536)
def day_zero(announced, mic: str) -> pd.Timestamp:
    """Day 0 (a session date, tz-naive) of an announcement for a security on ``mic``: the first
    session whose close is strictly after the announcement instant.

    ``announced``: ISO string, Timestamp (tz-aware = instant; naive = date only) or date. A
    date-only announcement is taken as made at :data:`~analysis.vocab.DATE_ONLY_HOUR`:00 in
    :data:`~analysis.vocab.NEWS_TIMEZONE` (US official acts and US press appear in US business
    hours): a US security's day 0 is that date when it is a session, and a Shanghai/Shenzhen or
    Hong Kong security's day 0 is its next session, since those markets closed before New York
    woke up. Cached per (announcement, exchange): every firm of an exchange and every fit of a
    run share the answer.
    """
    ts, date_only = _as_instant(announced)
    if date_only:
        ts = (ts + pd.Timedelta(hours=DATE_ONLY_HOUR)).tz_localize(NEWS_TIMEZONE)
    cal = calendar(mic)
    closes = cal.closes  # UTC close per session, sorted
    first = cal.sessions[0]
    if ts.tz_convert("UTC") < closes.iloc[0] - pd.Timedelta(days=1):
        day = ts.date() if date_only else ts
        raise UserError(f"announcement {day} is before the first {mic} session of the calendar ({first.date()})")
    pos = closes.searchsorted(ts.tz_convert("UTC"), side="right")
    if pos >= len(closes):
        raise UserError(f"announcement {ts.date() if date_only else ts} is after the last {mic} session")
    return pd.Timestamp(closes.index[pos])


@dataclass
class SessionReturns:
    """Simple returns of one security on its exchange's sessions.

    Attributes (all aligned on ``sessions``):
      ret   -- simple return (decimal) on adjusted close since the previous session that has
               a price; NaN where there is no price (suspension) or no earlier price.
      span  -- sessions the return covers: 1 normally, n > 1 for the first return after
               n - 1 suspended sessions (flagged: its normal return spans all n sessions).
      price -- adjusted close (NaN on suspended sessions).
      close, prev_close -- raw close and raw previous close (for price-limit checks).
      volume -- shares traded (NaN when suspended or unknown).
      high, low -- raw session high and low (NaN when suspended or unknown): high == low at the
               daily limit is a one-price (locked) session.
    """

    symbol: str
    exchange: str
    sessions: pd.DatetimeIndex
    ret: np.ndarray
    span: np.ndarray
    price: np.ndarray
    close: np.ndarray = field(default=None)
    prev_close: np.ndarray = field(default=None)
    volume: np.ndarray = field(default=None)
    off_calendar: int = 0  # price rows dropped because they are not sessions of the exchange
    high: np.ndarray = field(default=None)
    low: np.ndarray = field(default=None)

    def position(self, date) -> int:
        """Index of session ``date`` in ``sessions`` (KeyError if not a session)."""
        return int(self.sessions.get_loc(pd.Timestamp(date)))


def _spanning_returns(price: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Return (ret, span) from a price series with NaN gaps (vectorized)."""
    n = len(price)
    have = ~np.isnan(price)
    pos = np.arange(n)
    last = np.where(have, pos, -1)
    last = np.maximum.accumulate(last)  # last position with a price, at or before p
    prev = np.empty(n, dtype=np.int64)
    prev[0] = -1
    prev[1:] = last[:-1]  # last priced position strictly before p
    ok = have & (prev >= 0)
    ret = np.full(n, np.nan)
    span = np.zeros(n, dtype=np.int64)
    ret[ok] = price[ok] / price[prev[ok]] - 1.0
    span[ok] = pos[ok] - prev[ok]
    return ret, span


@lru_cache(maxsize=None)
def _session_array(mic: str) -> np.ndarray:
    """``mic``'s sessions as a datetime64[ns] array (read-only, computed once)."""
    out = calendar(mic).sessions.values.astype("datetime64[ns]")
    out.flags.writeable = False
    return out


_DAY_NS = 86_400 * 10**9


@lru_cache(maxsize=None)
def _session_table(mic: str) -> tuple[int, np.ndarray]:
    """(first session's midnight in ns since 1970, bool per calendar day from it to the last
    session: a session of ``mic``); read-only, computed once."""
    ns = _session_array(mic).view(np.int64)
    table = np.zeros(int((ns[-1] - ns[0]) // _DAY_NS) + 1, dtype=bool)
    table[(ns - ns[0]) // _DAY_NS] = True
    table.flags.writeable = False
    return int(ns[0]), table


def calendar_mismatch(prices: pd.DataFrame, mic: str) -> str | None:
    """Why the dates of a price frame do not fit ``mic``'s sessions, or None when they do.

    More than :data:`MAX_OFF_CALENDAR` of the priced dates (from the calendar's first session on)
    falling on days the exchange is closed means the file belongs to another market.
    """
    cal = calendar(mic)
    idx = prices.index
    if isinstance(idx, pd.DatetimeIndex) and idx.tz is None and cal.sessions.tz is None:
        # the same test on datetime64 arrays (no pandas Series per security)
        # (as int64 nanoseconds: numpy's datetime64 comparisons are several times slower)
        ns = idx.values.astype("datetime64[ns]").view(np.int64)
        first, is_session = _session_table(mic)
        ns = ns[~np.isnan(float_columns(prices, ("adj_close",))["adj_close"])]
        ns = ns[(ns >= first) & (ns <= first + (len(is_session) - 1) * _DAY_NS)]
        if not len(ns):
            return None
        day, rest = np.divmod(ns - first, _DAY_NS)
        off = (rest != 0) | ~is_session[day]  # not midnight, or not a session
        days = ns.view("datetime64[ns]")
        if off.mean() <= MAX_OFF_CALENDAR:  # the usual case: no index built
            return None
        dates = pd.DatetimeIndex(days)
    else:
        px = prices["adj_close"].dropna()
        px = px[(px.index >= cal.sessions[0]) & (px.index <= cal.sessions[-1])]
        if px.empty:
            return None
        off = ~px.index.isin(cal.sessions)
        dates = px.index
    if off.mean() <= MAX_OFF_CALENDAR:
        return None
    first = dates[int(np.argmax(off))].date()
    return (f"{int(off.sum())} of {len(dates)} price dates ({off.mean():.0%}; first {first}) are not {mic} sessions "
            f"(at most {MAX_OFF_CALENDAR:.0%} may be): is the exchange right?")


def session_returns(prices: pd.DataFrame, symbol: str, mic: str) -> SessionReturns:
    """Returns of ``symbol`` on the sessions of ``mic`` from its price frame.

    ``prices``: index date, columns ``adj_close`` (required), ``close``, ``volume``.
    Sessions run from the first to the last priced date; a session with no price is a
    suspension (missing, never zero), and the next return spans it (``span`` > 1).
    Price rows on dates that are not sessions of ``mic`` are dropped and counted.
    """
    px = prices["adj_close"].dropna()
    if px.empty:
        raise UserError(f"{symbol}: no adjusted close prices")
    sess = sessions(mic, px.index[0], px.index[-1])
    aligned = prices.reindex(sess)
    off = int((~px.index.isin(sess)).sum())
    price = aligned["adj_close"].to_numpy(dtype=float)
    ret, span = _spanning_returns(price)
    close = aligned["close"].to_numpy(dtype=float) if "close" in aligned else np.full(len(sess), np.nan)
    # Raw previous close: the last raw close before the session (limits apply to it).
    prev_close = pd.Series(close).ffill().shift(1).to_numpy()
    volume = aligned["volume"].to_numpy(dtype=float) if "volume" in aligned else np.full(len(sess), np.nan)
    high, low = (aligned[c].to_numpy(dtype=float) if c in aligned else np.full(len(sess), np.nan)
                 for c in ("high", "low"))
    return SessionReturns(symbol, mic, sess, ret, span, price, close, prev_close, volume, off, high, low)


def returns_on(base: SessionReturns, benchmark: pd.DataFrame) -> np.ndarray:
    """Benchmark simple returns (decimal) on the sessions of ``base``'s exchange.

    A session where the benchmark has no price, and the one after it, get NaN (the
    benchmark's return there would span several sessions).
    """
    px = benchmark["adj_close"].reindex(base.sessions).to_numpy(dtype=float)
    ret, span = _spanning_returns(px)
    ret[span != 1] = np.nan
    return ret


def row_spanning_returns(price: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """:func:`_spanning_returns` of every row of a (n, G) price array (NaN outside each row's
    data), the same arithmetic row by row."""
    n, G = price.shape
    have = ~np.isnan(price)
    pos = np.broadcast_to(np.arange(G), (n, G))
    last = np.maximum.accumulate(np.where(have, pos, -1), axis=1)
    prev = np.empty((n, G), dtype=np.int64)
    prev[:, :1] = -1
    prev[:, 1:] = last[:, :-1]
    ok = have & (prev >= 0)
    before = np.take_along_axis(price, np.maximum(prev, 0), axis=1)  # the price at prev (where ok)
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        ret = np.where(ok, price / before - 1.0, np.nan)
    span = np.where(ok, pos - prev, 0)
    return ret, span


def _row_ffill_shift(x: np.ndarray) -> np.ndarray:
    """Each row forward-filled, then shifted one place right (NaN first): the last value
    strictly before each position."""
    n, G = x.shape
    idx = np.maximum.accumulate(np.where(~np.isnan(x), np.arange(G), -1), axis=1)
    filled = np.where(idx >= 0, np.take_along_axis(x, np.maximum(idx, 0), axis=1), np.nan)
    out = np.full((n, G), np.nan)
    out[:, 1:] = filled[:, :-1]
    return out


@dataclass
class SessionBlock:
    """:func:`session_returns` of several securities of one exchange at once, on one grid.

    ``grid`` (G,) the exchange's sessions (days since 1970-01-01) from the block's first to its
    last priced date; security i's sessions are grid[first[i] .. last[i]] (``inside``: (n, G)
    bool). Arrays (n, G) hold NaN (span 0) outside each security's sessions; their values
    inside are :func:`session_returns`'s, element for element. ``empty[i]``: no adjusted
    close (the security has no sessions).
    """

    grid: np.ndarray
    first: np.ndarray
    last: np.ndarray
    inside: np.ndarray
    empty: np.ndarray
    ret: np.ndarray
    span: np.ndarray
    price: np.ndarray
    close: np.ndarray
    prev_close: np.ndarray
    volume: np.ndarray
    high: np.ndarray
    low: np.ndarray

    def on_sessions(self, frame: pd.DataFrame, column: str) -> np.ndarray:
        """(n, G) ``frame[column]`` (e.g. a benchmark's adjusted close) on each security's
        sessions, NaN outside them (the frame's index: session dates)."""
        v = self.align([frame], [column])[column][0]
        return np.where(self.inside, v[None, :], np.nan)

    def align(self, frames: list, columns) -> dict[str, np.ndarray]:
        """{column: (len(frames), G)} each frame's column on the grid (NaN where absent)."""
        return self._align_read([(_day_numbers(f.index), float_columns(f, columns)) for f in frames], columns)

    def _align_read(self, read: list, columns) -> dict[str, np.ndarray]:
        """:meth:`align` of frames already read: (day numbers, {column: float values}) each."""
        G = len(self.grid)
        out = {c: np.full((len(read), G), np.nan) for c in columns}
        for i, (d, values) in enumerate(read):
            pos = np.searchsorted(self.grid, d).clip(0, max(G - 1, 0))
            hit = (self.grid[pos] == d) if G else np.zeros(len(d), dtype=bool)
            at = pos[hit]
            for c, v in values.items():
                out[c][i, at] = v[hit]
        return out


def _day_numbers(index) -> np.ndarray:
    return (np.asarray(index.values).astype("datetime64[D]") - np.datetime64("1970-01-01", "D")).astype(np.int64)


def _flat_labels(frame: pd.DataFrame) -> list | None:
    """A frame's column labels as a list, None for MultiIndex columns (where pandas looks up a
    partial key: those go through pandas). A few names as a list: the index's own ``is_unique``,
    ``get_loc`` and ``in`` build a hash table per frame (for pandas' string columns, by way of an
    object copy; 0.1 ms a frame, a second at 10,000 securities)."""
    return None if isinstance(frame.columns, pd.MultiIndex) else list(frame.columns)


def float_columns(frame: pd.DataFrame, names) -> dict[str, np.ndarray]:
    """{name: ``frame[name].to_numpy(dtype=float)``} for the ``names`` the frame has. A frame
    whose columns are all numeric is read once (``to_numpy``: one float64 array, each column
    converted as on its own) instead of one pandas column lookup per name (about 10x the cost);
    the labels checked and looked up as a list (:func:`_flat_labels`)."""
    labels = _flat_labels(frame)
    if labels is not None and len(set(labels)) == len(labels):
        values = frame.to_numpy()
        if values.dtype == np.float64 and values.ndim == 2:
            return {c: values[:, labels.index(c)] for c in names if c in labels}
    return {c: frame[c].to_numpy(dtype=float) for c in names if c in frame}


def block_eligible(prices: pd.DataFrame) -> bool:
    """True when ``session_returns_block`` treats the frame exactly as :func:`session_returns`
    does: a tz-naive, increasing, duplicate-free index of midnight dates."""
    idx = prices.index
    labels = _flat_labels(prices)
    if not isinstance(idx, pd.DatetimeIndex) or idx.tz is not None or \
            "adj_close" not in (prices if labels is None else labels):
        return False
    vals = np.asarray(idx.values)
    if len(vals) > 1 and not (np.diff(vals) > np.timedelta64(0)).all():  # increasing, no duplicates
        return False
    return bool((vals == vals.astype("datetime64[D]")).all())


def session_returns_block(frames: list, mic: str) -> SessionBlock:
    """:func:`session_returns` of ``frames`` (securities of exchange ``mic``, each
    :func:`block_eligible`) as (n, G) arrays on the exchange's session grid, with no per-session
    Python (a vectorized pass over the block; one ``searchsorted`` per frame to align it)."""
    n = len(frames)
    firsts, lasts = np.zeros(n, np.int64), np.zeros(n, np.int64)
    empty = np.zeros(n, dtype=bool)
    names = ("adj_close", "close", "volume", "high", "low")
    read = [(_day_numbers(f.index), float_columns(f, names)) for f in frames]  # each frame read once
    for i, (days, values) in enumerate(read):
        have = np.flatnonzero(~np.isnan(values["adj_close"]))
        if len(have) == 0:
            empty[i] = True
            continue
        firsts[i], lasts[i] = days[have[0]], days[have[-1]]
    cal_days = _day_numbers(calendar(mic).sessions)
    if (~empty).any():
        lo = np.searchsorted(cal_days, firsts[~empty].min())
        hi = np.searchsorted(cal_days, lasts[~empty].max(), side="right")
        grid = cal_days[lo:hi]
    else:
        grid = cal_days[:0]
    G = len(grid)
    first = np.searchsorted(grid, firsts)  # first session >= the first priced date
    last = np.searchsorted(grid, lasts, side="right") - 1  # last session <= the last priced date
    pos = np.arange(G)
    inside = (pos >= first[:, None]) & (pos <= last[:, None]) & ~empty[:, None]
    block = SessionBlock(grid, first, last, inside, empty, *([None] * 8))
    cols = block._align_read(read, names)
    for c in cols:
        cols[c][~inside] = np.nan
    price = cols["adj_close"]
    ret, span = row_spanning_returns(price)
    block.ret, block.span, block.price = ret, span, price
    block.close, block.volume, block.high, block.low = cols["close"], cols["volume"], cols["high"], cols["low"]
    block.prev_close = _row_ffill_shift(cols["close"])
    return block
