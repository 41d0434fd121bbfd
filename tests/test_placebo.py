"""Placebo (pseudo-event-date) test: p-value arithmetic, draw rules, the real catalog, size/power."""
from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from analysis.estimation import engine
from analysis.estimation import store as store_mod
from analysis.inference import placebo
from analysis.inference.cells import build_cells
from analysis.estimation.models import get_model


def test_empirical_p_by_hand():
    null = np.array([[0.1, 0.2, 0.6, 0.7, -0.3], [0.1, 0.2, 0.6, 0.7, -0.3]])
    obs = np.array([0.5, 1.0])
    p, z, B = placebo.empirical_p(obs, null)
    # obs 0.5: 3 draws <= 0.5, 2 draws >= 0.5 -> lower 4/6, upper 3/6 -> p = min(1, 2 * 3/6) = 1
    # obs 1.0: 5 draws <= 1.0, 0 draws >= 1.0 -> upper 1/6 -> p = 2/6
    assert p == pytest.approx([1.0, 2 / 6])
    mean, sd = 0.26, np.sqrt(((np.array([0.1, 0.2, 0.6, 0.7, -0.3]) - 0.26) ** 2).sum() / 4)
    assert z[1] == pytest.approx((1.0 - mean) / sd)
    assert list(B) == [5, 5]


def test_empirical_p_ignores_missing_draws():
    null = np.array([[np.nan, 1.0, 2.0, np.nan]])
    p, _, B = placebo.empirical_p(np.array([3.0]), null)
    assert B[0] == 2 and p[0] == pytest.approx(2 * 1 / 3)


def _store(n_sec: int, length: int, rng) -> store_mod.ReturnStore:
    rm = rng.normal(0.0005, 0.01, length)
    X = np.column_stack([np.ones(length), rm])
    rets = [0.0002 + 1.0 * rm + rng.normal(0, 0.02, length) for _ in range(n_sec)]
    return store_mod.store_from_arrays(get_model("market"), rets, X=[X] * n_sec)


def test_draws_avoid_catalog_windows_and_data_ends():
    rng = np.random.default_rng(0)
    store = _store(3, 800, rng)
    est, windows = (-250, -11), [(-1, 1), (-5, 5)]
    secs = [np.array([0, 1, 2]), np.array([0, 1])]
    p0s = [np.array([400, 400, 400]), np.array([600, 600])]
    e, b, s, p = placebo.draw_pseudo_events(store, secs, p0s, est, windows, draws=1000, seed=3)
    gap = 5 - (-5)
    for sec in range(3):
        pos = p[s == sec]
        assert (pos + est[0] >= 0).all() and (pos + 5 + engine.SPAN_BUFFER < 800).all()
        for cat in (400, 600) if sec < 2 else (400,):
            assert (np.abs(pos - cat) > gap).all()
    # fewer candidate dates than requested draws: all are used, each once per firm and event
    for ev in (0, 1):
        for sec in np.unique(s[e == ev]):
            draws = b[(e == ev) & (s == sec)]
            assert len(np.unique(draws)) == len(draws)
    again = placebo.draw_pseudo_events(store, secs, p0s, est, windows, draws=1000, seed=3)
    assert all((x == y).all() for x, y in zip((e, b, s, p), again))  # fixed seed


def test_an_events_draws_do_not_depend_on_the_other_events_in_the_run():
    rng = np.random.default_rng(0)
    store = _store(3, 800, rng)
    est, windows = (-250, -11), [(-1, 1)]
    catalog = {0: [400, 600], 1: [400, 600], 2: [400]}  # day 0 of both catalog events
    both = placebo.draw_pseudo_events(store, [np.array([0, 1, 2]), np.array([0, 1])],
                                      [np.array([400, 400, 400]), np.array([600, 600])], est, windows,
                                      draws=50, seed=3, event_keys=["a", "b"], catalog_p0=catalog)
    alone = placebo.draw_pseudo_events(store, [np.array([0, 1])], [np.array([600, 600])], est, windows,
                                       draws=50, seed=3, event_keys=["b"], catalog_p0=catalog)
    e, b, s, p = both
    in_b = e == 1
    np.testing.assert_array_equal(np.c_[b[in_b], s[in_b], p[in_b]], np.c_[alone[1], alone[2], alone[3]])
    # event "a" is not in the second run, yet its window stays excluded for "b"'s firms
    assert (np.abs(alone[3] - 400) > 2).all() and (np.abs(alone[3] - 600) > 2).all()


#: The placebo runs on the recorded prices: 1,000 draws, no calibration beyond them.
CATALOG_PLACEBO = dict(windows=["0:0", "-1:1"], placebo_draws=1000, calibration_draws=0)


@pytest.fixture(scope="module")
def catalog_placebo(shared_prices):
    """The whole catalog with :data:`CATALOG_PLACEBO` (one fit for the two tests below)."""
    from analysis.study import EventStudy

    return EventStudy(prices=shared_prices, **CATALOG_PLACEBO).fit()


@pytest.mark.shared_prices
def test_placebo_p_value_is_the_same_alone_and_in_the_whole_catalog(shared_prices, catalog_placebo):
    from analysis.study import EventStudy

    def placebo_rows(t):
        t = t[(t["test"] == "placebo") & (t["event_id"] == "entity_list_28_2019")]
        return t.set_index(["group", "window"])[["p_value", "statistic", "draws"]].sort_index()

    alone = EventStudy(prices=shared_prices, event_ids=["entity_list_28_2019"], **CATALOG_PLACEBO).fit()
    rows = placebo_rows(catalog_placebo.tests)
    assert len(rows) >= 2 * 3  # both windows, named/peer/supplier/all groups
    pd.testing.assert_frame_equal(rows, placebo_rows(alone.tests))


@pytest.mark.shared_prices
def test_placebo_rows_for_the_real_catalog(catalog_placebo):
    t = catalog_placebo.tests
    pl = t[t["test"] == "placebo"]
    cells = t[t["test"] == "bmp"][["event_id", "group", "window"]]
    assert len(pl) == len(cells) > 0
    # all 1000 where the event's firms share enough history; fewer (>= 800) where the pool of dates is
    # the overlap of the firms' histories (ACIA from its 2016 IPO, NPTN/IPHI/ACIA to 2020-12-11)
    assert (pl["draws"] <= 1000).all() and (pl["draws"] >= 800).all() and (pl["draws"] == 1000).any()
    assert pl["p_value"].between(1 / 1001, 1).all()
    # the observed mean CAR is the same statistic the other tests report
    merged = pl.merge(t[t["test"] == "t_cs"], on=["event_id", "group", "window"])
    assert np.allclose(merged["mean_car_x"], merged["mean_car_y"])


def _simulated_rejection(shock: float, n_samples=1000, n_firms=5, draws=199, seed=11) -> float:
    """Share of samples whose placebo p <= 0.05: each sample its own market and firms."""
    rng = np.random.default_rng(seed)
    length = 700
    est, windows = (-250, -11), [(0, 0)]
    rejected = 0
    chunk = 50
    for c0 in range(0, n_samples, chunk):
        S = min(chunk, n_samples - c0)
        rm = rng.normal(0.0005, 0.01, (S, length))
        beta = rng.uniform(0.5, 1.5, (S, n_firms, 1))
        sig = rng.uniform(0.01, 0.03, (S, n_firms, 1))
        ret = beta * rm[:, None, :] + sig * rng.standard_normal((S, n_firms, length))
        ev_pos = rng.integers(260, length - 20, S)
        ret[np.arange(S), :, ev_pos] += shock
        store = store_mod.store_from_arrays(
            get_model("market"), list(ret.reshape(S * n_firms, length)),
            X=[np.column_stack([np.ones(length), rm[k]]) for k in range(S) for _ in range(n_firms)])
        secs = [np.arange(k * n_firms, (k + 1) * n_firms) for k in range(S)]
        p0s = [np.full(n_firms, ev_pos[k]) for k in range(S)]
        # the production path: the placebo null law and the registered test, one event per sample
        sec_all, p0_all = np.concatenate(secs), np.concatenate(p0s)
        frame = pd.DataFrame({"event_id": np.repeat([f"s{c0 + k}" for k in range(S)], n_firms),
                              "sec": sec_all, "p0": p0_all, "role": "target"})
        real = engine.run(store, sec_all, p0_all, est, windows, 120)
        ev = np.repeat(np.arange(S), n_firms)
        grp = np.zeros(len(ev), dtype=np.int64)
        study = SimpleNamespace(estimation=est, windows=windows, min_obs=120)
        null = placebo.placebo_null(study, SimpleNamespace(frame=frame, store=store), real, ev, grp, 1, draws,
                                    seed + c0)
        cells = build_cells(real, store, ev, grp, 1, with_all=False, placebo_null=null)
        pv = placebo.Placebo().run(cells).p_value
        rejected += int((pv <= 0.05).sum())
    return rejected / n_samples


@pytest.mark.slow
def test_placebo_size_and_power_by_simulation():
    """Under the null the placebo test rejects at 5% in 3-7% of 1,000 samples (exactly 5% in
    expectation with 199 draws: p <= 0.05 for the five most extreme ranks on each side of
    200); with a 3% day-0 shock in every firm it rejects in most of 400 samples (87% of 1,000;
    400 keep the 80% bound four Monte Carlo standard errors below that, at 40% of the CPU)."""
    size = _simulated_rejection(0.0)
    power = _simulated_rejection(0.03, n_samples=400)
    assert 0.03 <= size <= 0.07, size
    assert power > 0.8, power


def test_observed_row_of_pseudo_firm_events():
    """Observed rows (event, sec): 0:(0,3) 1:(0,5) 2:(1,3) 3:(1,5) 4:(0,3) -> pseudo (1,3) is row 2,
    (0,3) the last such row 4, (0,5) row 1, (1,5) row 3; (2,3) has no observed row: KeyError."""
    ev, sec = np.array([0, 0, 1, 1, 0]), np.array([3, 5, 3, 5, 3])
    got = placebo._observed_row(ev, sec, np.array([1, 0, 0, 1]), np.array([3, 3, 5, 5]))
    assert got.tolist() == [2, 4, 1, 3]
    with pytest.raises(KeyError):
        placebo._observed_row(ev, sec, np.array([2]), np.array([3]))


def test_more_draws_leave_the_first_draws_unchanged_and_use_each_date_once():
    """``more``: dates after the first ``draws`` come from the rest of the pool: the first 30
    draws are those of a run without them, and with more than the pool every date is drawn once."""
    rng = np.random.default_rng(0)
    store = _store(2, 800, rng)
    est, windows = (-250, -11), [(0, 0)]
    secs, p0s = [np.array([0, 1])], [np.array([400, 400])]
    e, b, s, p = placebo.draw_pseudo_events(store, secs, p0s, est, windows, draws=30, seed=3)
    e2, b2, s2, p2 = placebo.draw_pseudo_events(store, secs, p0s, est, windows, draws=30, seed=3, more=10_000)
    first = b2 < 30
    np.testing.assert_array_equal(np.c_[b2[first], s2[first], p2[first]], np.c_[b, s, p])
    every = placebo.draw_pseudo_events(store, secs, p0s, est, windows, draws=10_000, seed=3)
    for sec in (0, 1):  # the same set of dates as asking for the whole pool at once
        assert sorted(p2[s2 == sec]) == sorted(every[3][every[2] == sec])
        assert len(np.unique(p2[s2 == sec])) == (s2 == sec).sum() > 30


@pytest.mark.shared_prices
def test_calibration_and_placebo_do_not_depend_on_the_chunks(shared_prices, monkeypatch):
    """The pseudo-events run through the engine in chunks of whole pseudo-events; chunks of ~50
    firm-events (a pseudo-event or a few) give the same tests.csv as the default chunks, bit for
    bit, also with calibration draws beyond the placebo's."""
    from analysis import EventStudy

    kw = dict(prices=shared_prices, event_ids=["entity_list_28_2019"], windows=["0:0", "-1:1"],
              placebo_draws=30, calibration_draws=45)
    one = EventStudy(**kw).fit().tests
    monkeypatch.setattr(placebo, "CHUNK_FIRM_EVENTS", 50)
    small = EventStudy(**kw).fit().tests
    pd.testing.assert_frame_equal(one, small, check_exact=True)
    cal = one[one["test"] != "placebo"]
    assert cal["calibration_draws"].max() == 45 and one.loc[one["test"] == "placebo", "draws"].max() == 30


def test_calibration_draws_all_is_every_date_up_to_the_cap():
    from analysis import EventStudy
    from analysis.cli import build_parser
    from analysis.vocab import MAX_CALIBRATION_DRAWS

    assert EventStudy(calibration_draws="all").calibration_draws == MAX_CALIBRATION_DRAWS == 5000
    args = build_parser().parse_args(["study", "--out", "x", "--calibration-draws", "all"])
    assert args.calibration_draws == "all"


@pytest.mark.shared_prices
def test_draws_beyond_the_pool_of_dates_change_nothing_and_cost_nothing(shared_prices):
    """Issue 21 (also): draws are without replacement from the event's pool of dates, so asking for
    100,000 is asking for the whole pool: the same tests as 5,000 (more than any pool here), and the
    per-draw arrays are sized by the pool (PseudoRun.requested), not by the number asked for."""
    from analysis.inference import placebo
    from analysis.study import EventStudy

    seen = []
    original = placebo.pseudo_run

    def spy(*args, **kwargs):
        run = original(*args, **kwargs)
        seen.append((run.requested, int(run.available.max())))
        return run

    def fit(draws):
        return EventStudy(prices=shared_prices, event_ids=["ft_sdn_2022"], windows=["0:1"], placebo_draws=draws,
                          calibration_draws=0).fit().tests

    placebo.pseudo_run = spy
    try:
        big, pool = fit(100_000), fit(5_000)
    finally:
        placebo.pseudo_run = original
    pd.testing.assert_frame_equal(big, pool)
    assert seen and all(requested == available <= 5_000 for requested, available in seen)


def test_bound_on_pseudo_firm_events_per_event_by_hand():
    """date_limit: floor(K / n). K = 50,000: 30 firms -> 1,666 dates (the catalog: unchanged),
    10,000 firms -> 5, 50,001 firms -> 0; no cap -> None. Drawn: an event of 3 firms under a
    cap of 20 pseudo firm-events gets floor(20 / 3) = 6 dates, the first 6 of those drawn
    without the cap; an event of 2 firms under the same cap gets 10 (its pool is larger)."""
    assert placebo.date_limit(30, 50_000) == 1666
    assert placebo.date_limit(10_000, 50_000) == 5
    assert placebo.date_limit(50_001, 50_000) == 0
    assert placebo.date_limit(30, None) is None
    rng = np.random.default_rng(0)
    store = _store(3, 800, rng)
    est, windows = (-250, -11), [(0, 0)]
    secs, p0s = [np.array([0, 1, 2]), np.array([0, 1])], [np.array([400, 400, 400]), np.array([600, 600])]
    free = placebo.draw_pseudo_events(store, secs, p0s, est, windows, draws=30, seed=3)
    capped = placebo.draw_pseudo_events(store, secs, p0s, est, windows, draws=30, seed=3, cap=20)
    e, b, s, p = free
    e2, b2, s2, p2 = capped
    for ev, dates in ((0, 6), (1, 10)):
        assert sorted(set(b2[e2 == ev])) == list(range(dates))
        keep = (e == ev) & (b < dates)
        np.testing.assert_array_equal(np.c_[b2[e2 == ev], s2[e2 == ev], p2[e2 == ev]], np.c_[b[keep], s[keep], p[keep]])
    assert (e2 == 0).sum() == 6 * 3 and (e2 == 1).sum() == 10 * 2


def test_calibration_workers_reraise_an_error_and_stop(monkeypatch):
    """A chunk's error on a worker thread reaches the caller when the calibration is read
    (null), and the workers stop: no chunk is left queued, the pool is gone."""
    from analysis.inference.calibration import Calibration

    run = SimpleNamespace(requested=4, available=np.array([4]), n_windows=1, draw=np.arange(4))
    cal = Calibration(run, out=None, group_code=np.zeros(4, dtype=np.int64), n_groups=1, threads=2)

    def broken(keep, res):
        raise RuntimeError("chunk failed")

    monkeypatch.setattr(cal, "_add", broken)
    cal.add(np.array([0]), None)
    cal.add(np.array([1]), None)  # two queued: the next add waits for the first, and meets its error
    with pytest.raises(RuntimeError, match="chunk failed"):
        cal.add(np.array([2]), None)
    assert cal._pending == [] and cal._pool is None
    cal.add(np.array([3]), None)  # a new queue; its error reaches the reader
    cells = SimpleNamespace(n_cells=0, cell_event=np.zeros(0, int), cell_group=np.zeros(0, int),
                            cell_window=np.zeros(0, int))
    with pytest.raises(RuntimeError, match="chunk failed"):
        cal.null(cells, "t_cs")
    assert cal._pending == [] and cal._pool is None


def test_ranges_concatenate_each_run_of_positions():
    """first [5, 0, 9], count [2, 0, 3] -> 5, 6 (none from 0) 9, 10, 11."""
    from analysis.estimation.kernels import ranges

    assert ranges(np.array([5, 0, 9]), np.array([2, 0, 3])).tolist() == [5, 6, 9, 10, 11]
    assert ranges(np.array([], dtype=np.int64), np.array([], dtype=np.int64)).tolist() == []


def test_catalog_pairs_list_each_securitys_catalog_day0s_in_order():
    """{2: [40, 10], 0: [7], 5: [3]} over 6 securities: secs [2, 1, 0, 2] -> (2, 40), (2, 10),
    (0, 7), (2, 40), (2, 10) (security 1 has none; security 5 is not asked for)."""
    ptr, p0 = placebo._catalog_table({2: [40, 10], 0: [7], 5: [3]}, 6)
    ps, pc = placebo._catalog_pairs(ptr, p0, np.array([2, 1, 0, 2]))
    assert ps.tolist() == [2, 2, 0, 2, 2] and pc.tolist() == [40, 10, 7, 40, 10]
    ps, pc = placebo._catalog_pairs(ptr, p0, np.array([1, 3]))
    assert ps.tolist() == [] and pc.tolist() == []


def test_placebo_law_is_each_draws_mean_car_of_the_cells_firms():
    """The placebo null law of every (event, group, window) against a loop over the pseudo
    firm-events: per draw, the mean pseudo CAR of the firms that are in the observed cell (a
    finite, complete observed CAR), by group and for all firms; one firm's observed window cut
    (no CAR) leaves that firm out of the window's law."""
    rng = np.random.default_rng(4)
    store = _store(6, 900, rng)
    est, windows = (-250, -11), [(0, 0), (-1, 1)]
    sec = np.array([0, 1, 2, 3, 2, 4, 5])
    p0 = np.array([400, 400, 400, 400, 650, 650, 650])
    ev = np.array([0, 0, 0, 0, 1, 1, 1])
    grp = np.array([0, 1, 0, 1, 1, 0, 0])
    frame = pd.DataFrame({"event_id": np.where(ev == 0, "a", "b"), "sec": sec, "p0": p0})
    real = engine.run(store, sec, p0, est, windows, 120)
    real.car[1, 1] = np.nan  # firm 1 of event a: no CAR over -1:1
    study = SimpleNamespace(estimation=est, windows=windows, min_obs=120)
    draws = 12
    null = placebo.placebo_null(study, SimpleNamespace(frame=frame, store=store), real, ev, grp, 2, draws, 7)
    run = null.run
    pseudo = engine.run(store, run.sec, run.p0, est, run.windows, 120)
    cells = SimpleNamespace(cell_event=np.repeat([0, 1], 6), cell_group=np.tile(np.repeat([0, 1, 2], 2), 2),
                            cell_window=np.tile([0, 1], 6))
    got = null(cells)
    assert got.shape == (12, draws)
    for c in range(12):
        e, g, j = cells.cell_event[c], cells.cell_group[c], cells.cell_window[c]
        for b in range(draws):
            vals = []
            for k in range(len(run.sec)):
                act = run.act[k]
                in_cell = (run.event[k] == e and run.draw[k] == b and (g == 2 or grp[act] == g)
                           and np.isfinite(real.car[act, j]) and real.complete[act, j])
                col = run.act_col[act, j]
                if in_cell and pseudo.complete[k, col] and np.isfinite(pseudo.car[k, col]):
                    vals.append(pseudo.car[k, col])
            want = np.mean(vals) if vals else np.nan
            np.testing.assert_allclose(got[c, b], want, rtol=1e-13, atol=0)


@pytest.mark.shared_prices
def test_chunks_hold_whole_pseudo_events_by_date_and_fit_each_date_once(shared_prices, monkeypatch):
    """PseudoRun.chunks: every pseudo firm-event of the draws asked for comes exactly once, in
    ascending order within its chunk, each pseudo-event (event, draw) whole in one chunk; the
    chunks follow the pseudo-events' dates, so a security on one date is fitted once for all
    the events that drew it (fewer fits than firm-events), with the numbers of a direct run."""
    from analysis import EventStudy
    from analysis.estimation import engine

    runs = []
    original = placebo.pseudo_run

    def spy(*args, **kwargs):
        runs.append(original(*args, **kwargs))
        return runs[-1]

    monkeypatch.setattr(placebo, "pseudo_run", spy)
    events = ["entity_list_28_2019", "dod_1237_list_2020", "eo13959_2020", "far889_partb_rule_2020"]
    EventStudy(prices=shared_prices, event_ids=events, windows=["0:1"], placebo_draws=300, calibration_draws=0).fit()
    run = runs[0]
    monkeypatch.setattr(placebo, "CHUNK_FIRM_EVENTS", 1000)
    seen, fits = [], 0
    for part, res in run.chunks(250):
        assert (np.diff(part) > 0).all()
        seen.append(part)
        fits += len(res.source[0].ok) if res.source is not None else len(part)
        direct = engine.run(run.store, run.sec[part], run.p0[part], run.estimation, run.windows, run.min_obs)
        np.testing.assert_array_equal(res.car, direct.car)
        np.testing.assert_array_equal(res.car_se, direct.car_se)
    every = np.concatenate(seen)
    assert sorted(every.tolist()) == np.flatnonzero(run.draw < 250).tolist()
    unit = run.event * run.requested + run.draw
    chunk_of = np.empty(len(run.draw), dtype=np.int64)
    for c, part in enumerate(seen):
        chunk_of[part] = c
    for u in np.unique(unit[every]):
        assert len(np.unique(chunk_of[unit == u])) == 1
    distinct = len(np.unique(run.sec[every] * 10**6 + run.p0[every]))
    # the dates several events drew are fitted once (a chunk's edge may split a date: a few twice)
    assert len(seen) > 10 and distinct <= fits <= distinct + 4 * 29 * len(seen) and fits < 0.8 * len(every)


@pytest.mark.shared_prices
def test_tests_csv_is_the_same_with_and_without_shared_fits(shared_prices, monkeypatch):
    """Three events drawing most of their dates (so most pseudo-dates are drawn by two or three
    of them): the study with each chunk's repeated fits shared (engine, rank sorts, portfolios,
    KP correlations) and with nothing shared gives the same tests.csv, bit for bit."""
    from analysis import EventStudy

    shared_chunks = []
    fit = placebo.PseudoRun._fit

    def spy(self, part):
        res = fit(self, part)
        shared_chunks.append(res.source is not None)
        return res

    monkeypatch.setattr(placebo.PseudoRun, "_fit", spy)
    kw = dict(prices=shared_prices, event_ids=["entity_list_28_2019", "dod_1237_list_2020", "eo13959_2020"],
              windows=["0:1"], placebo_draws=100, calibration_draws=500)
    shared = EventStudy(**kw).fit().tests
    assert sum(shared_chunks) >= 2
    monkeypatch.setattr(placebo, "SHARE_FITS_BELOW", 0.0)
    shared_chunks.clear()
    alone = EventStudy(**kw).fit().tests
    assert not any(shared_chunks)
    pd.testing.assert_frame_equal(shared, alone, check_exact=True)
