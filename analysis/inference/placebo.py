"""Placebo (pseudo-event) inference: is the observed mean CAR unusual for these firms?

For each event of the run, ``draws`` pseudo day-0 calendar dates are drawn (without
replacement, from a random stream seeded by the run's seed and the event_id, so the draws do
not depend on which other events are in the run) from the firms' own histories; every firm of
the event gets day 0 at the first of its sessions on or after the pseudo date, so the draws
keep the event's cross-sectional correlation. Dates whose event period would overlap the
window of any event of the whole catalog (also events not in the run) for a firm, or whose
estimation/event period runs outside a firm's data, are not used for that firm.
The same firms, model, estimation window and event windows are used, in one batched engine
run. For each (event, group, window) cell, with X_b the group's mean CAR at draw b and x
the observed mean CAR (Nguyen & Wolf 2023 call this the "placebo"/"bootstrap-date" test;
cf. Brown & Warner 1985 for simulation with pseudo-events):

    p_lower = (1 + #{X_b <= x}) / (B + 1),   p_upper = (1 + #{X_b >= x}) / (B + 1)
    p_value = min(1, 2 * min(p_lower, p_upper))        (two-sided, equal-tailed)
    statistic = (x - mean(X_b)) / sd(X_b)               (standardized against the placebo law)

B, the number of draws actually used for the cell, is reported in the ``draws`` column.

Bound on the pseudo firm-events (:data:`~analysis.vocab.PSEUDO_FIRM_EVENTS_PER_EVENT`, cap
K = 50,000 per event): an event of n fitted firms draws at most floor(K / n) pseudo-event
dates (:func:`date_limit`), the first of the dates it would draw without the bound, for the
placebo and the calibration alike. Every pseudo-date costs one engine run and every test over
all n firms, so without it an event's cost grows as n x dates: 10,000 firms x 1,000 dates x
17 events are 170M pseudo firm-events, beyond any 2-core machine in a minute. The catalog's
events (at most 30 firms, at most about 1,300 dates: 39,000 pseudo firm-events) stay under
it, so their outputs are unchanged; an event of 10,000 firms gets 5 dates (its placebo
p-value is then at least 2/6, and ``draws``/``calibration_draws`` say so; the study notes
each bounded event on stderr). A large cell's parametric tests rest on many firms, which is
where the pseudo-event law matters least; what the bound gives up is the precision of that
cell's placebo and calibrated p-values, never their validity (the dates used are a random
subset of the same pool).
Rejecting when p_value <= alpha has size exactly alpha under exchangeability when
alpha (B + 1) / 2 is a whole number (e.g. B = 199 or 999 at 5%).
"""
from __future__ import annotations

import warnings
import zlib
from dataclasses import dataclass

import numpy as np

from analysis.estimation import engine
from analysis.estimation.kernels import _compiled, ranges
from analysis.inference.registry import CellTest, TestOutcome, register
from analysis.vocab import PSEUDO_FIRM_EVENTS_PER_EVENT


def empirical_p(observed: np.ndarray, null: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Two-sided empirical p-values, z-scores and draw counts for each row.

    observed: (C,); null: (C, B) with NaN for unused draws.
    """
    ok = np.isfinite(null)
    B = ok.sum(axis=1)
    x = observed[:, None]
    with np.errstate(invalid="ignore", divide="ignore"):
        lower = (1 + (ok & (null <= x)).sum(axis=1)) / (B + 1)
        upper = (1 + (ok & (null >= x)).sum(axis=1)) / (B + 1)
        p = np.minimum(1.0, 2 * np.minimum(lower, upper))
        mean = np.nansum(null, axis=1) / B
        sd = np.sqrt(np.nansum((null - mean[:, None]) ** 2, axis=1) / (B - 1))
        z = (observed - mean) / sd
    p = np.where((B > 0) & np.isfinite(observed), p, np.nan)
    return p, z, B


@_compiled()
def _present(rank, start, length, secs, R):
    """(R,) bool: calendar ranks on which one of the securities ``secs`` has a session."""
    out = np.zeros(R, np.bool_)
    for s in secs:
        for u in range(start[s], start[s] + length[s]):
            out[rank[u]] = True
    return out


@_compiled()
def _insertion(dates, start, length, secs, chosen):
    """(N, B) position at which each date ``chosen[b]`` falls among security secs[i]'s
    session dates (the first of its sessions on or after it; its length when none)."""
    out = np.empty((secs.shape[0], chosen.shape[0]), np.int64)
    for i in range(secs.shape[0]):
        a = start[secs[i]]
        seg = dates[a:a + length[secs[i]]]
        out[i] = np.searchsorted(seg, chosen)
    return out


def _catalog_table(catalog_p0: dict, n_sec: int) -> tuple[np.ndarray, np.ndarray]:
    """{security: catalog day-0 positions} as CSR arrays: security s's positions are
    ``p0[ptr[s]:ptr[s + 1]]``, in the dict's order (securities outside 0..n_sec - 1 left out)."""
    keys = [int(s) for s in catalog_p0 if 0 <= int(s) < n_sec]
    count = np.zeros(n_sec, dtype=np.int64)
    count[keys] = [len(catalog_p0[s]) for s in keys]
    ptr = np.concatenate([[0], np.cumsum(count)]).astype(np.int64)
    p0 = np.zeros(int(ptr[-1]), dtype=np.int64)
    for s in keys:
        p0[ptr[s]:ptr[s + 1]] = catalog_p0[s]
    return ptr, p0


def _catalog_pairs(ptr: np.ndarray, p0: np.ndarray, secs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(security, catalog day-0 position) of every catalog day 0 of each of ``secs``: securities
    in the order of ``secs``, each one's positions in catalog order."""
    count = ptr[secs + 1] - ptr[secs]
    return np.repeat(secs, count), p0[ranges(ptr[secs], count)]


def date_limit(n_firms: int, cap: int | None) -> int | None:
    """Pseudo-event dates an event of ``n_firms`` firms may draw under ``cap`` pseudo
    firm-events per event: floor(cap / n_firms) (None: no limit). E.g. cap 50,000: 30 firms
    -> 1,666 dates (the catalog's events have at most about 1,300: unchanged), 10,000 firms -> 5."""
    if cap is None or n_firms == 0:
        return None
    return int(cap) // int(n_firms)


def draw_pseudo_events(store, sec_by_event, p0_by_event, estimation, windows, draws, seed,
                       buffer=engine.SPAN_BUFFER, event_keys=None, catalog_p0=None, more: int = 0,
                       cap: int | None = None):
    """Pseudo firm-events for every event: arrays (event, draw, sec, p0) of equal length.

    sec_by_event / p0_by_event: lists (one per event) of arrays of the event's firms'
    security indices and actual day-0 positions. Excluded for a security: pseudo day-0
    positions within (hi - lo) sessions of any catalog day 0 of that security (windows
    would overlap), and positions where the estimation or event period leaves its data.
    ``catalog_p0``: {security: day-0 positions of every catalog event}, also events not in
    this run (default: the events given). Each event draws from its own random stream,
    seeded by (seed, its key from ``event_keys``, default its index), so its pseudo-dates do
    not depend on which other events are in the run. ``more``: after the ``draws`` dates, up
    to ``more`` further dates drawn (from the same stream) among the pool's other dates, as
    draws ``draws``, ``draws + 1``, ...: the first ``draws`` are the same with or without them.
    ``cap``: at most :func:`date_limit` (floor(cap / firms)) dates per event, the first of
    those drawn without it (so an event under the limit draws exactly as without a cap).
    """
    lo = min(estimation[0], min(w[0] for w in windows))
    ev_lo = min(w[0] for w in windows)
    hi = max(w[1] for w in windows) + buffer
    gap = (hi - buffer) - ev_lo
    if catalog_p0 is None:
        catalog_p0 = {}
        for secs, p0s in zip(sec_by_event, p0_by_event):
            for s, p in zip(secs, p0s):
                catalog_p0.setdefault(int(s), []).append(int(p))
    cat_ptr, cat_p0 = _catalog_table(catalog_p0, len(store.start))
    keys = [str(k) for k in event_keys] if event_keys is not None else [str(e) for e in range(len(sec_by_event))]
    calendar, rank = store.calendar
    dates, start, length = store.dates, store.start, store.length.astype(np.int64)
    top, bottom = np.iinfo(np.int64).max, np.iinfo(np.int64).min
    out_e, out_b, out_s, out_p = [], [], [], []
    sessions_of = {}
    for e, secs in enumerate(sec_by_event):
        rng = np.random.default_rng([int(seed) % 2**63, zlib.crc32(keys[e].encode())])
        secs = np.asarray(secs, dtype=np.int64)
        if len(secs) == 0:
            continue
        n = length[secs]
        # pseudo day 0 must leave room for the estimation window before it and the event period
        # (incl. the span buffer) after it: positions -lo .. len - 1 - max(hi, 0)
        first = np.where(n > -lo, dates[start[secs] + np.minimum(-lo, n - 1)], top).max()
        last = np.where(n > max(hi, 0), dates[start[secs] + np.maximum(n - 1 - max(hi, 0), 0)], bottom).min()
        firms = secs.tobytes()
        if firms not in sessions_of:  # the firms' session dates, once per set of firms
            sessions_of[firms] = calendar[_present(rank, start, length, secs, len(calendar))]
        pool = sessions_of[firms]
        pool = pool[(pool >= first) & (pool <= last)]
        # drop pool dates that would overlap a catalog window for any firm of the event: date D
        # falls at position pos (first session on or after D) of a firm; bad when |pos - cp| <= gap
        # for one of its catalog day 0s cp, i.e. d[cp - gap - 1] < D <= d[cp + gap] (open-ended
        # where those positions are outside its data)
        ps, pc = _catalog_pairs(cat_ptr, cat_p0, secs)
        if len(ps) and len(pool):
            a_pos, b_pos = pc - gap - 1, pc + gap
            ok = (b_pos >= 0) & (a_pos < length[ps])  # else no pool date's position is that close
            ps, a_pos, b_pos = ps[ok], a_pos[ok], b_pos[ok]
            lo_d = np.where(a_pos >= 0, dates[start[ps] + np.maximum(a_pos, 0)], bottom)
            hi_d = np.where(b_pos < length[ps], dates[start[ps] + np.minimum(b_pos, length[ps] - 1)], top)
            i0 = np.searchsorted(pool, lo_d, side="right")  # first pool date > lo_d
            i1 = np.searchsorted(pool, hi_d, side="right")  # first pool date > hi_d
            cover = np.bincount(i0, minlength=len(pool) + 1) - np.bincount(i1, minlength=len(pool) + 1)
            pool = pool[np.cumsum(cover)[:-1] == 0]
        if len(pool) == 0:
            continue
        chosen = rng.choice(pool, size=min(draws, len(pool)), replace=False)
        if more > 0 and len(chosen) < len(pool):
            rest = np.setdiff1d(pool, chosen, assume_unique=True)
            chosen = np.concatenate([chosen, rng.permutation(rest)[:more]])
        limit = date_limit(len(secs), cap)
        if limit is not None:
            chosen = chosen[:limit]
        pos = _insertion(dates, start, length, secs, np.ascontiguousarray(chosen, dtype=np.int64))
        ok = (pos + lo >= 0) & (pos + hi < n[:, None])
        i, bb = np.nonzero(ok)  # firm by firm, draws in order
        out_e.append(np.full(len(i), e))
        out_b.append(bb)
        out_s.append(secs[i])
        out_p.append(pos[i, bb])
    cat = lambda x: np.concatenate(x).astype(np.int64) if x else np.zeros(0, dtype=np.int64)  # noqa: E731
    return cat(out_e), cat(out_b), cat(out_s), cat(out_p)


#: Pseudo firm-events per batched engine run: the pseudo-events are run in chunks of whole
#: pseudo-events (:meth:`PseudoRun.chunks`), so memory does not grow with the number of draws
#: (a chunk's engine arrays are a few KB per firm-event).
CHUNK_FIRM_EVENTS = 16_384
#: A chunk's pseudo firm-events share their fits when the distinct (security, day 0) are fewer
#: than this share of them (the catalog's chunks: about 7%; a synthetic universe's: none).
SHARE_FITS_BELOW = 0.8


@dataclass(frozen=True, eq=False)
class PseudoRun:
    """The pseudo-event firm-events of a run, run through the engine in chunks of whole pseudo-events.

    Pseudo firm-event k is security ``sec[k]`` with day 0 at ``p0[k]`` for draw ``draw[k]`` of
    event ``event[k]``, standing for the observed firm-event (row of the observed result)
    ``act[k]``. ``windows`` starts with the run's windows; the observed windows a suspension
    extended follow (``act_col``: (R, W) the column each observed firm-event's window reads).
    ``requested``: draws asked for per event; ``available``: (events,) dates actually drawn
    per event (fewer when the pool of dates is smaller); ``limit``: (events,) the most dates an
    event may draw under the cap on pseudo firm-events per event (:func:`date_limit`; -1: no
    limit). :meth:`chunks` yields the engine
    results of the pseudo-events of a few dates at a time (never all pseudo firm-events at once).
    """

    event: np.ndarray
    draw: np.ndarray
    sec: np.ndarray
    p0: np.ndarray
    act: np.ndarray
    act_col: np.ndarray
    n_windows: int
    requested: int
    available: np.ndarray
    limit: np.ndarray
    store: object = None
    estimation: tuple = (0, 0)
    windows: list = None
    min_obs: int = 0

    def chunks(self, draws: int | None = None, size: int | None = None):
        """(pseudo firm-event indices, their engine result) for draws 0..``draws`` - 1 (default
        all), in chunks of whole pseudo-events (event, draw) of about ``size`` (default
        :data:`CHUNK_FIRM_EVENTS`) firm-events, ascending within a chunk; a pseudo-event larger
        than that is a chunk of its own. The pseudo-events are taken in order of their dates,
        so a chunk holds the pseudo-events of every event on the same dates (a chunk's edge may
        split a date): a security's firm-event on one date is fitted once for all of them
        (:meth:`_fit`; the events' pools of dates overlap: the catalog's 539k pseudo
        firm-events are 36k distinct). The tests of every pseudo cell are the same bits
        whatever its chunk (the tests' sharing of fits keeps them so; tests)."""
        size = CHUNK_FIRM_EVENTS if size is None else int(size)
        top = self.requested if draws is None else min(int(draws), self.requested)
        if top <= 0 or not len(self.draw):
            return
        sel = np.flatnonzero(self.draw < top)
        if not len(sel):
            return
        units, of_unit = np.unique(self.event[sel] * top + self.draw[sel], return_inverse=True)
        store = self.store
        date = store.date_rank[store.start[self.sec[sel]] + self.p0[sel]]
        first_date = np.full(len(units), np.iinfo(np.int64).max)
        np.minimum.at(first_date, of_unit, date)
        order = np.lexsort((units, first_date))  # pseudo-events by date (then event, draw)
        n_fe = np.bincount(of_unit, minlength=len(units))[order]
        chunk_of = np.empty(len(units), dtype=np.int64)
        chunk, filled = 0, 0
        for k, n in zip(order.tolist(), n_fe.tolist()):
            if filled and filled + n > size:
                chunk, filled = chunk + 1, 0
            chunk_of[k] = chunk
            filled += n
        by_chunk = np.argsort(chunk_of[of_unit], kind="stable")
        bounds = np.searchsorted(chunk_of[of_unit][by_chunk], np.arange(chunk + 2))
        for c in range(chunk + 1):
            part = sel[by_chunk[bounds[c]:bounds[c + 1]]]
            yield part, self._fit(part)

    def _fit(self, part: np.ndarray):
        """The engine result of pseudo firm-events ``part``, each distinct (security, day 0)
        fitted once (:meth:`EngineResult.expanded`) when the distinct ones are fewer than
        :data:`SHARE_FITS_BELOW` of them; else as they are (gathering would cost more than it
        saves; the same numbers)."""
        key = self.sec[part] * (int(self.p0[part].max()) + 1) + self.p0[part]
        _, first, inverse = np.unique(key, return_index=True, return_inverse=True)
        shared = len(first) < SHARE_FITS_BELOW * len(part)
        sec, p0 = (self.sec[part][first], self.p0[part][first]) if shared else (self.sec[part], self.p0[part])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            res = engine.run(self.store, sec, p0, self.estimation, self.windows, self.min_obs)
        return res.expanded(inverse) if shared else res


def _observed_row(ev: np.ndarray, sec: np.ndarray, e: np.ndarray, s: np.ndarray) -> np.ndarray:
    """(len(e),) index of the observed firm-event (ev, sec) of each pseudo one (e, s) (the last
    such row if several); KeyError if one has none."""
    width = int(max(sec.max(initial=0), s.max(initial=0))) + 1
    key = ev * width + sec
    order = np.argsort(key, kind="stable")
    ks = key[order]
    want = e * width + s
    pos = np.searchsorted(ks, want, side="right") - 1
    found = (pos >= 0) & (ks[np.maximum(pos, 0)] == want) if len(ks) else np.zeros(len(want), dtype=bool)
    if not found.all():
        k = int(np.argmin(found))
        raise KeyError((int(e[k]), int(s[k])))
    return order[pos].astype(np.int64)


def pseudo_run(study, panel, out, event_code: np.ndarray, draws: int, seed: int, more: int = 0,
               cap: int | None = PSEUDO_FIRM_EVENTS_PER_EVENT) -> PseudoRun:
    """Draw the pseudo-event dates of every event (:func:`draw_pseudo_events`); the engine runs
    over them chunk by chunk (:meth:`PseudoRun.chunks`; see :func:`placebo_null` for the
    windows). ``more``: further dates after the ``draws`` (:func:`draw_pseudo_events`);
    ``requested`` is then ``draws + more``. ``cap``: pseudo firm-events per event
    (:func:`date_limit`; None: no cap); ``limit`` (events,) holds each event's date limit."""
    f = panel.frame
    n_ev = int(event_code.max()) + 1 if len(event_code) else 0
    events = list(dict.fromkeys(f["event_id"].to_numpy(object).tolist()))
    sec_by, p0_by = [], []
    for ei in range(n_ev):
        m = (event_code == ei) & out.ok
        sec_by.append(f["sec"].to_numpy()[m])
        p0_by.append(f["p0"].to_numpy()[m])
    e, b, s, p = draw_pseudo_events(panel.store, sec_by, p0_by, study.estimation, study.windows, draws, seed,
                                    event_keys=events, catalog_p0=getattr(panel, "catalog_p0", None), more=more,
                                    cap=cap)
    limit = np.array([-1 if date_limit(len(x), cap) is None else date_limit(len(x), cap) for x in sec_by],
                     dtype=np.int64)
    # each pseudo firm-event -> the observed firm-event of the same event and security
    act = _observed_row(np.asarray(event_code, dtype=np.int64), f["sec"].to_numpy().astype(np.int64),
                        np.asarray(e, dtype=np.int64), np.asarray(s, dtype=np.int64))
    windows = [tuple(w) for w in study.windows]
    W = len(windows)
    act_col = np.tile(np.arange(W), (len(f), 1))
    for i, j in zip(*np.nonzero(out.spans_gap)):  # the few observed windows extended by a suspension
        if np.isfinite(out.cover_first[i, j]) and np.isfinite(out.cover_last[i, j]):
            w = (int(out.cover_first[i, j]), int(out.cover_last[i, j]))
            if w not in windows:
                windows.append(w)
            act_col[i, j] = windows.index(w)
    available = np.zeros(n_ev, dtype=np.int64)
    if len(e):
        np.maximum.at(available, e, b + 1)
    # draws are without replacement from each event's pool of dates: never more than the largest
    # pool, so the per-draw arrays are bounded by the data, not by the number asked for
    requested = min(int(draws) + int(more), int(available.max()) if len(available) else 0)
    return PseudoRun(e, b, s, p, act, act_col, W, requested, available, limit, store=panel.store,
                     estimation=tuple(study.estimation), windows=windows, min_obs=study.min_obs)


def placebo_null(study, panel, out, event_code: np.ndarray, group_code: np.ndarray, n_groups: int,
                 draws: int, seed: int, run: PseudoRun | None = None, on_chunk=None, placebo_draws: int | None = None):
    """The pseudo-event null law of every cell's mean CAR: a function ``cells -> (C, B)``
    (its attribute ``run`` is the :class:`PseudoRun` it came from).

    event_code, group_code: (R,) the cell codes of the observed firm-events (as given to
    :func:`analysis.inference.cells.build_cells`; group ``n_groups`` is all firms). The
    pseudo-events of a firm use the sessions its observed CAR actually covers: where the
    observed window holds a return spanning a suspension (e.g. [0, 0] covered by a return over
    days 0..2), its pseudo-events cumulate over that span ([0, 2]), so like is compared with
    like. Only the firms in the observed cell (fitted, complete window) enter its null.
    The engine runs over the pseudo-events in chunks (:meth:`PseudoRun.chunks`); only the (events, groups,
    windows, B) means are kept. ``on_chunk(keep, result)``: called with every chunk (e.g. the
    calibration, :mod:`analysis.inference.calibration`); ``placebo_draws``: the first B draws
    make the law (default all of the run's).
    """
    if run is None:
        run = pseudo_run(study, panel, out, event_code, draws, seed)
    n_ev = int(event_code.max()) + 1 if len(event_code) else 0
    W = run.n_windows
    B = run.requested if placebo_draws is None else min(int(placebo_draws), run.requested)
    member_all = np.isfinite(out.car) & out.complete  # the firm is in the observed cell
    null = np.full((n_ev, n_groups + 1, W, B), np.nan)
    sums = np.zeros((n_ev * B, n_groups + 1, W))
    cnt = np.zeros((n_ev * B, n_groups + 1, W))
    top = run.requested if on_chunk is not None else B
    for keep, res in run.chunks(top):
        if on_chunk is not None:
            on_chunk(keep, res)
        inb = run.draw[keep] < B
        if not inb.any():
            continue
        keep, sub = keep[inb], np.nonzero(inb)[0]
        e, b, act = run.event[keep], run.draw[keep], run.act[keep]
        col = run.act_col[act]
        rows_ix = sub[:, None]
        car = np.where(res.complete[rows_ix, col], res.car[rows_ix, col], np.nan)
        member = member_all[act]
        g_code = group_code[act]
        # sum and count per (event, draw, group, window): one bincount over the flat bins of
        # ``sums`` for the firms' own groups and for all firms; each bin adds its firms in row
        # order (as a bincount per group and window would)
        rows, js = np.nonzero(np.isfinite(car) & member)
        own = g_code[rows] < n_groups
        key = (e * B + b)[rows] * (n_groups + 1)
        bins = np.concatenate([((key + g_code[rows]) * W + js)[own], (key + n_groups) * W + js])
        vals = car[rows, js]
        sums.reshape(-1)[:] += np.bincount(bins, weights=np.concatenate([vals[own], vals]), minlength=sums.size)
        cnt.reshape(-1)[:] += np.bincount(bins, minlength=cnt.size)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(cnt >= 1, sums / np.where(cnt >= 1, cnt, 1), np.nan)
    null[:] = mean.reshape(n_ev, B, n_groups + 1, W).transpose(0, 2, 3, 1)

    def of_cells(cells) -> np.ndarray:
        return null[cells.cell_event, cells.cell_group, cells.cell_window]

    of_cells.run = run
    return of_cells


@register
class Placebo(CellTest):
    """Empirical two-sided p of the cell's mean CAR against its pseudo-event law (above)."""

    name = "placebo"
    null = "the group's mean CAR is a draw from the law of the same firms' mean CARs at pseudo-event dates"
    label = "Placebo z"
    description = "placebo (pseudo-event date) test"
    words = "placebo test"
    plain = ("compares the group's mean CAR with the mean CARs of the same firms at many dates drawn from "
             "their own histories, away from every catalog event")
    reference = "Brown & Warner (1985); Nguyen & Wolf (2023)"
    distribution = "pseudo-event dates"
    min_n = 1

    def available(self, cells) -> bool:
        return cells.placebo_null is not None

    def compute(self, cells) -> TestOutcome:
        pv, z, nb = empirical_p(np.asarray(cells.mean_car, dtype=float), cells.placebo_null(cells))
        return TestOutcome(z, pv, extra={"draws": nb.astype(float)})
