"""China A-share daily price limits: which event-window closes sat at the limit.

A close at the limit means the day's reaction was censored: the price could not move further,
and the rest of the reaction shows on the following session(s). A limit-down day 0 is
reported next to the number ("reaction censored; continues on day +1").

Limits (SSE/SZSE trading rules), as a fraction of the reference previous close:
- main boards (600xxx, 601xxx, 603xxx, 605xxx, 000xxx, 001xxx, 002xxx, 003xxx): 10%;
- ChiNext (300xxx, 301xxx .SZ): 10% until 2020-08-21, 20% from 2020-08-24 (registration reform);
- STAR Market (688xxx .SS): 20%;
- ST / *ST names: 5% (set ``st_symbols``; the recorded data carry no ST status).
Limit prices are the reference previous close times (1 +/- limit), rounded to 0.01 CNY.
The reference previous close is the exchange's ex-rights one, recovered from the data as
close_t * adj_close_{t-1} / adj_close_t (equal to the raw previous close on ordinary days).

A one-price (locked) session closes at the limit with high == low: no trade happened at any
other price, the clearest censoring. The first trade after a suspension is such a session more
often than not (Sugon, 27 Jun 2019), and its return spans the suspended sessions: a window whose
CAR takes that return in (its coverage meets the window) carries its limit note, and the
limit-extended window runs from the return covering day 0 through the limit run.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

A_SHARE_EXCHANGES = ("XSHE", "XSHG")
CHINEXT_REFORM = np.datetime64("2020-08-24", "D")
TICK = 0.01


def limit_fraction(symbol: str, dates: np.ndarray, st: bool = False) -> np.ndarray:
    """Daily limit (decimal, e.g. 0.10) for ``symbol`` on each of ``dates`` (datetime64[D])."""
    dates = np.asarray(dates, dtype="datetime64[D]")
    code = symbol.split(".")[0]
    if st:
        return np.full(dates.shape, 0.05)
    if code.startswith("688"):
        return np.full(dates.shape, 0.20)
    if code.startswith(("300", "301")):
        return np.where(dates >= CHINEXT_REFORM, 0.20, 0.10)
    return np.full(dates.shape, 0.10)


def limit_state(close: np.ndarray, ref_prev_close: np.ndarray, fraction: np.ndarray) -> np.ndarray:
    """+1 where the close is at the upper limit, -1 at the lower limit, 0 otherwise (NaN-safe).

    close, ref_prev_close: raw CNY prices; fraction: daily limit (decimal). Arrays broadcast.
    """
    with np.errstate(invalid="ignore"):
        # the exchanges round half up to the tick; +1e-9 absorbs binary error (30.05 * 0.9 = 27.045)
        up = np.floor(ref_prev_close * (1 + fraction) / TICK + 0.5 + 1e-9) * TICK
        down = np.floor(ref_prev_close * (1 - fraction) / TICK + 0.5 + 1e-9) * TICK
        state = np.where(close >= up - TICK / 2, 1, np.where(close <= down + TICK / 2, -1, 0))
    state = np.where(np.isfinite(close) & np.isfinite(ref_prev_close), state, 0)
    return state.astype(np.int8)


def reference_prev_close(close: np.ndarray, ret: np.ndarray, span: np.ndarray) -> np.ndarray:
    """Exchange reference previous close: close_t / (1 + r_t) for one-session returns r_t."""
    with np.errstate(invalid="ignore", divide="ignore"):
        ref = close / (1.0 + ret)
    return np.where(span >= 1, ref, np.nan)


def one_price(state: np.ndarray, high: np.ndarray, low: np.ndarray) -> np.ndarray:
    """True where a session closes at the limit (``state`` != 0) and traded at one price only:
    high == low (within half a tick; NaN high or low: unknown, False). Arrays broadcast."""
    with np.errstate(invalid="ignore"):
        flat = np.abs(np.asarray(high, dtype=float) - np.asarray(low, dtype=float)) < TICK / 2
    return (np.asarray(state) != 0) & flat


def event_limit_arrays(panel, out, st_symbols=()) -> tuple[np.ndarray, np.ndarray]:
    """(state, locked), each (N, L) on the event-period days: the limit state (+1 up, -1 down, 0
    off, no return or not an A-share) and :func:`one_price` (a locked session at the limit)."""
    store = panel.store
    f = panel.frame
    N, L = out.flat.shape
    state = np.zeros((N, L), dtype=np.int8)
    locked = np.zeros((N, L), dtype=bool)
    is_a = f["exchange"].isin(A_SHARE_EXCHANGES).to_numpy()
    if not is_a.any():
        return state, locked
    rows = np.nonzero(is_a)[0]
    flat = out.flat[rows]
    close = store.close[flat]
    ref = reference_prev_close(close, store.ret[flat], np.where(out.valid[rows], out.span[rows], 0))
    dates = store.date_of(store.dates[flat]).astype("datetime64[D]")
    frac = np.vstack([
        limit_fraction(sym, dates[i], sym in st_symbols) for i, sym in enumerate(f["symbol"].to_numpy()[rows])
    ])
    st = limit_state(close, ref, frac)
    st[~out.valid[rows]] = 0
    state[rows] = st
    if getattr(store, "high", None) is not None and getattr(store, "low", None) is not None:
        locked[rows] = one_price(st, store.high[flat], store.low[flat])
    return state, locked


def event_limit_states(panel, out, st_symbols=()) -> np.ndarray:
    """Limit state (N, L) of every firm-event on each event-period day (0 for non-A-shares)."""
    return event_limit_arrays(panel, out, st_symbols)[0]


#: The words of a window note whose window ends at the limit (readers of car.csv's
#: ``limit_flag`` test for them).
CENSORED = "reaction censored"


def describe_window(state_row: np.ndarray, days: np.ndarray, a: int, b: int, locked_row=None,
                    span_row=None) -> str:
    """Human note for one firm-event window, e.g. 'limit-down on day 0 (reaction censored; ...)'.

    A return enters the window as in the CAR: its coverage [d - span + 1, d] meets [a, b] (so the
    first trade after a suspension covering the window enters it, whatever its own day). The note
    says 'one price' for a locked session (``locked_row``) and 'first trade after an n-session
    suspension' for a return spanning n + 1 sessions; the window is censored when its last limit
    session is on or after its end ('continues after' that session)."""
    days = np.asarray(days)
    span = np.ones(len(days), dtype=np.int64) if span_row is None else np.maximum(np.asarray(span_row), 1)
    locked = np.zeros(len(days), dtype=bool) if locked_row is None else np.asarray(locked_row, dtype=bool)
    inw = (days >= a) & (days - span + 1 <= b)
    notes = []
    for d, s, lk, sp in zip(days[inw], state_row[inw], locked[inw], span[inw]):
        if s == 0:
            continue
        text = f"limit-{'down' if s == -1 else 'up'} on day {d:+d}" if d else f"limit-{'down' if s == -1 else 'up'} on day 0"
        extra = []
        if lk:
            extra.append("one price, high = low")
        if sp > 1:
            extra.append(f"first trade after a {sp - 1}-session suspension")
        notes.append(text + (f" ({'; '.join(extra)})" if extra else ""))
    if not notes:
        return ""
    text = "; ".join(notes)
    last = int(days[inw][state_row[inw] != 0].max())
    if last >= b:
        text += f" ({CENSORED}; continues on day +1)" if last == 0 else f" ({CENSORED}; continues after day {last:+d})"
    return text


def window_flags(panel, out, windows, st_symbols=()) -> tuple[np.ndarray, np.ndarray]:
    """Per firm-event and window: (limit note strings (N, W), limit-down day-0 bool (N,))."""
    state, locked = event_limit_arrays(panel, out, st_symbols)
    N = state.shape[0]
    W = len(windows)
    notes = np.full((N, W), "", dtype=object)
    hit = np.nonzero((state != 0).any(axis=1))[0]
    for i in hit:  # only the few firm-events that touched a limit
        span = np.where(out.valid[i], out.span[i], 1)
        for j, (a, b) in enumerate(windows):
            notes[i, j] = describe_window(state[i], out.days, a, b, locked[i], span)
    zero = np.nonzero(out.days == 0)[0]
    day0_down = state[:, zero[0]] == -1 if len(zero) else np.zeros(N, dtype=bool)
    return notes, day0_down


def day_states_frame(panel, out) -> pd.DataFrame:
    """Tidy per-day limit states for A-shares: event_id, symbol, day, limit ('up'/'down')."""
    state = event_limit_states(panel, out)
    i, j = np.nonzero(state)
    f = panel.frame
    return pd.DataFrame({
        "event_id": f["event_id"].to_numpy()[i], "symbol": f["symbol"].to_numpy()[i],
        "day": out.days[j], "limit": np.where(state[i, j] > 0, "up", "down"),
    })
