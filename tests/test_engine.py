"""The engine's statistics against numbers worked out independently.

- Real firm-events: statsmodels OLS on returns computed here with pandas from the recorded
  CSV files, Var(CAR) = sigma^2 * 1'(I + X*(X'X)^-1 X*')1 from explicit matrices, and the
  Student-t p-value from scipy (see ``study_reference.Reference``).
- Tiny synthetic cases whose expected values are worked out on paper and written as literals.
- Suspensions: synthetic (hand numbers) and the real Hikvision/Dahua 2019-10-08/09 halt.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from analysis.estimation import store as store_mod
from frames import one

RTOL = 1e-8
WINDOWS = ("0:0", "-1:1", "-5:5")


def close(actual, expected, rtol=RTOL, atol=1e-12):
    np.testing.assert_allclose(np.asarray(actual, dtype=float), np.asarray(expected, dtype=float),
                               rtol=rtol, atol=atol)


def check_windows(res, ref, event_id, symbol, windows=WINDOWS):
    """car.csv rows (car, se, t, p, bhar) and the per-day ARs against the reference."""
    for w in windows:
        a, b = map(int, w.split(":"))
        exp = ref.window(a, b)
        row = one(res.car, event_id=event_id, symbol=symbol, window=w)
        close(row["car"], exp["car"])
        close(row["car_se"], exp["se"])
        close(row["car_t"], exp["t"])
        close(row["car_p"], exp["p"], rtol=1e-7)
        close(row["bhar"], exp["bhar"])
        assert row["n_returns"] == b - a + 1 and not row["spans_suspension"]
        ars = res.abnormal_returns
        ars = ars[(ars["event_id"] == event_id) & (ars["symbol"] == symbol)].set_index("day")
        days = list(range(a, b + 1))
        assert [pd.Timestamp(d) for d in ars.loc[days, "date"]] == list(exp["dates"])
        close(ars.loc[days, "return"], exp["ret"])
        close(ars.loc[days, "normal_return"], exp["normal"])
        close(ars.loc[days, "abnormal_return"], exp["ar"])


# ----------------------------------------------------------------------------- real data

# (event, symbol, benchmark, day 0, M). 300188.SZ was suspended 2019-03-27..04-01 (4 sessions)
# inside its estimation window: those 4 sessions and the spanning return are left out.
MARKET_CASES = [
    ("nyt_hikvision_2019", "002415.SZ", "000300.SS", "2019-05-22", 240),
    ("entity_list_28_2019", "AMBA", "^GSPC", "2019-10-08", 240),
    ("huawei_entity_list_2019", "002236.SZ", "000300.SS", "2019-05-16", 240),
    ("entity_list_28_2019", "300188.SZ", "000300.SS", "2019-10-08", 235),
    ("ft_sdn_2022", "INTC", "^GSPC", "2022-05-04", 240),
]


@pytest.mark.shared_prices
@pytest.mark.parametrize("event_id,symbol,bench,day0,M", MARKET_CASES)
def test_market_model_matches_statsmodels(run_study, ref, event_id, symbol, bench, day0, M):
    res = run_study(events=[event_id], symbols=[symbol])
    model = ref.Model(ref.adj(symbol), ref.adj(bench), ref.sessions(bench), day0)
    assert model.M == M  # the reference itself agrees with the documented data
    est = one(res.estimation, event_id=event_id, symbol=symbol)
    assert str(est["day0"]) == day0
    assert est["benchmark"] == bench
    assert est["m"] == M
    close([est["alpha"], est["beta"]], model.params)
    close(est["sigma"], np.sqrt(model.fit.ssr / (M - 2)))
    check_windows(res, model, event_id, symbol)


@pytest.mark.shared_prices
@pytest.mark.parametrize("model_name", ["mean", "market-adjusted"])
@pytest.mark.parametrize("event_id,symbol,bench,day0,M", [MARKET_CASES[0], MARKET_CASES[1], MARKET_CASES[3]])
def test_mean_and_market_adjusted_models(run_study, ref, model_name, event_id, symbol, bench, day0, M):
    res = run_study(events=[event_id], symbols=[symbol], model=model_name)
    model = ref.Model(ref.adj(symbol), ref.adj(bench), ref.sessions(bench), day0, model=model_name)
    est = one(res.estimation, event_id=event_id, symbol=symbol)
    assert est["m"] == M
    if model_name == "mean":
        # OLS on a constant: mu = sample mean, sigma^2 = SSR / (M - 1)
        r = model.data.loc[model.est_dates, "r"]
        close(model.params[0], r.mean())
        close(est["alpha"], r.mean())
        close(est["sigma"], r.std(ddof=1))
        assert np.isnan(est["beta"])
    else:
        ar = model.data.loc[model.est_dates, "r"] - model.data.loc[model.est_dates, "rm"]
        close(est["sigma"], ar.std(ddof=1))
        assert est["beta"] == 1.0
    assert model.dof == M - 1
    check_windows(res, model, event_id, symbol)
    # closed forms: Var(CAR) = sigma^2 (L + L^2 / M) for the mean model, L sigma^2 market-adjusted
    for w in WINDOWS:
        a, b = map(int, w.split(":"))
        L = b - a + 1
        s2 = est["sigma"] ** 2
        expected = s2 * (L + L * L / M) if model_name == "mean" else s2 * L
        close(one(res.car, event_id=event_id, symbol=symbol, window=w)["car_se"] ** 2, expected)


@pytest.mark.shared_prices
@pytest.mark.parametrize("model_name", ["ff3", "carhart"])
@pytest.mark.parametrize("event_id,symbol,day0", [("entity_list_28_2019", "AMBA", "2019-10-08"),
                                                  ("ft_sdn_2022", "INTC", "2022-05-04")])
def test_factor_models_match_statsmodels(run_study, ref, shared_factors, model_name, event_id, symbol, day0):
    files = [str(shared_factors / "F-F_Research_Data_Factors_daily.csv")]
    if model_name == "carhart":
        files.append(str(shared_factors / "F-F_Momentum_Factor_daily.csv"))
    res = run_study(events=[event_id], symbols=[symbol], model=model_name, factors=files)
    fac = ref.factors(shared_factors, model_name == "carhart")  # percent / 100
    model = ref.Model(ref.adj(symbol), ref.adj("^GSPC"), ref.sessions("^GSPC"), day0, model=model_name, factors=fac)
    assert len(res.skipped) == 0, res.skipped
    est = one(res.estimation, event_id=event_id, symbol=symbol)
    assert est["m"] == model.M == 240
    names = ["alpha", "beta", "s", "h"] + (["mom"] if model_name == "carhart" else [])
    close(est[names].to_numpy(dtype=float), model.params)
    close(est["sigma"], np.sqrt(model.fit.ssr / (model.M - len(names))))
    assert model.dof == model.M - len(names)
    check_windows(res, model, event_id, symbol)
    # the normal return adds rf back: return - normal_return == abnormal return of the excess return
    ar = res.abnormal_returns
    day0_row = ar[(ar["symbol"] == symbol) & (ar["day"] == 0)].iloc[0]
    rf = fac.loc[pd.Timestamp(day0), "rf"]
    x = model.rows([pd.Timestamp(day0)])[0]
    close(day0_row["normal_return"], x @ model.params + rf)


# ----------------------------------------------------------------------------- tiny hand case

# XNYS sessions 2019-03-01 .. 2019-03-13 (no holiday); day 0 = 2019-03-12, estimation -6:-1.
TINY_DATES = ["2019-03-01", "2019-03-04", "2019-03-05", "2019-03-06", "2019-03-07", "2019-03-08",
              "2019-03-11", "2019-03-12", "2019-03-13"]
# Estimation: Rm = -2,-1,0,1,2,0 %; R = 0.001 + 1.5 Rm + e, e = (1,-2,1,-2,1,1)e-3 (sum e = 0, sum Rm e = 0),
# so alpha = 0.001, beta = 1.5 exactly, SSR = 12e-6, sigma^2 = 12e-6 / (6 - 2) = 3e-6.
# X'X = [[6, 0], [0, 10e-4]] -> (X'X)^-1 = diag(1/6, 1000).
TINY_RM = [-0.02, -0.01, 0.0, 0.01, 0.02, 0.0, 0.01, -0.03]
TINY_R = [-0.028, -0.016, 0.002, 0.014, 0.032, 0.002, 0.03, -0.05]


@pytest.fixture
def tiny(synthetic_study, make_prices):
    def run(model):
        return synthetic_study(
            {"SYN": ("XNYS", "BNCH", "target")},
            {"SYN": make_prices(TINY_DATES, TINY_R), "BNCH": make_prices(TINY_DATES, TINY_RM, 1000.0)},
            {"tiny_event": "2019-03-12"},
            model=model, estimation=(-6, -1), windows=["0:0", "0:1"], min_obs=6)
    return run


def test_tiny_market_model_by_hand(tiny):
    res = tiny("market")
    est = one(res.estimation, symbol="SYN")
    assert est["m"] == 6 and str(est["day0"]) == "2019-03-12"
    close([est["alpha"], est["beta"], est["sigma"]], [0.001, 1.5, 0.0017320508075688774])
    ar = res.abnormal_returns.set_index("day")
    # day 0: normal 0.001 + 1.5*0.01 = 0.016, AR 0.03 - 0.016 = 0.014
    # day 1: normal 0.001 - 1.5*0.03 = -0.044, AR -0.05 + 0.044 = -0.006
    close(ar.loc[[0, 1], "normal_return"], [0.016, -0.044])
    close(ar.loc[[0, 1], "abnormal_return"], [0.014, -0.006])
    w00 = one(res.car, window="0:0")
    # Var = 3e-6 (1 + [1, .01] diag(1/6, 1000) [1, .01]') = 3e-6 (1 + 1/6 + 0.1) = 3.8e-6
    close(w00[["car", "car_se", "car_t", "car_p", "bhar"]].to_numpy(dtype=float),
          [0.014, 0.0019493588689617927, 7.181848464596079, 0.001990943023476577, 0.014])
    w01 = one(res.car, window="0:1")
    # g = [2, -0.02]: Var = 3e-6 (2 + 4/6 + 0.4) = 9.2e-6; BHAR = 1.03*0.95 - 1.016*0.956 = 0.007204
    # p from the closed-form t(4) cdf: F(t) = 1/2 + 3/8 (t/sqrt(1+t^2/4)) (1 - t^2/(12 (1+t^2/4)))
    close(w01[["car", "car_se", "car_t", "car_p", "bhar"]].to_numpy(dtype=float),
          [0.008, 0.00303315017762062, 2.6375218935831484, 0.05772982650357328, 0.007204])


def test_tiny_mean_model_by_hand(tiny):
    res = tiny("mean")
    est = one(res.estimation, symbol="SYN")
    # mu = 0.006/6 = 0.001; deviations -29,-17,1,13,31,1 (e-3): SSR = 2262e-6, sigma^2 = 452.4e-6
    close([est["alpha"], est["sigma"] ** 2], [0.001, 452.4e-6])
    # [0:0]: AR 0.029, Var = 452.4e-6 (1 + 1/6) = 527.8e-6;  [0:1]: CAR 0.029 - 0.051, Var = 452.4e-6 * 8/3
    close(one(res.car, window="0:0")[["car", "car_se"]].to_numpy(dtype=float), [0.029, np.sqrt(527.8e-6)])
    close(one(res.car, window="0:1")[["car", "car_se"]].to_numpy(dtype=float), [-0.022, np.sqrt(1206.4e-6)])


def test_tiny_market_adjusted_by_hand(tiny):
    res = tiny("market-adjusted")
    est = one(res.estimation, symbol="SYN")
    # estimation ARs R - Rm = -8,-6,2,4,12,2 (e-3), mean 1e-3, squared deviations sum 262e-6, / 5
    close(est["sigma"] ** 2, 52.4e-6)
    assert est["m"] == 6
    w00 = one(res.car, window="0:0")
    close(w00[["car", "car_se", "car_t"]].to_numpy(dtype=float),
          [0.02, np.sqrt(52.4e-6), 0.02 / np.sqrt(52.4e-6)])
    # t(M - 1 = 5): two-sided p of 2.7628948199776886 is 0.03969816876877505
    close(w00["car_p"], 0.03969816876877505, rtol=1e-7)
    w01 = one(res.car, window="0:1")  # ARs 0.02 and -0.02: CAR 0, Var = 2 sigma^2
    close(w01[["car", "car_se"]].to_numpy(dtype=float), [0.0, np.sqrt(104.8e-6)])


# ----------------------------------------------------------------------------- suspensions

# XNYS sessions 2019-02-25 (day -11, base price) .. 2019-03-15 (day 3); day 0 = 2019-03-12.
SUSP_DATES = ["2019-02-25", "2019-02-26", "2019-02-27", "2019-02-28", "2019-03-01", "2019-03-04",
              "2019-03-05", "2019-03-06", "2019-03-07", "2019-03-08", "2019-03-11", "2019-03-12",
              "2019-03-13", "2019-03-14", "2019-03-15"]
NAN = float("nan")
# days:       -10     -9     -8    -7    -6    -5     -4     -3     -2     -1     0      1      2     3
SUSP_RM = [-0.02, -0.01, 0.0, 0.01, 0.02, -0.01, 0.01, 0.02, 0.0, 0.005, 0.01, -0.03, 0.03, 0.0]
# security: the tiny estimation returns at -10..-8 and -4..-2; suspended on -7, -6 with a +50% return
# at resumption (-5), which must not enter the fit; suspended on days 0 and 1, resumes on day 2.
SUSP_R = [-0.028, -0.016, 0.002, NAN, NAN, 0.5, 0.014, 0.032, 0.002, 0.01, NAN, NAN, 0.02, 0.001]


@pytest.fixture
def suspended(synthetic_study, make_prices):
    return synthetic_study(
        {"HALT": ("XNYS", "BNCH", "target")},
        {"HALT": make_prices(SUSP_DATES, SUSP_R), "BNCH": make_prices(SUSP_DATES, SUSP_RM, 1000.0)},
        {"halt_event": "2019-03-12"},
        estimation=(-10, -2), windows=["0:0", "-1:1", "3:3"], min_obs=6)


def test_spanning_return_left_out_of_the_fit(suspended):
    est = one(suspended.estimation, symbol="HALT")
    # 9 estimation sessions - 2 suspended - 1 spanning return = the 6 tiny returns: same fit
    assert est["m"] == 6
    close([est["alpha"], est["beta"], est["sigma"] ** 2], [0.001, 1.5, 3e-6])


def test_suspended_event_window_takes_the_resumption_return(suspended):
    ar = suspended.abnormal_returns.set_index("day")
    # suspended days: missing, never zero
    assert ar.loc[[0, 1], ["return", "normal_return", "abnormal_return"]].isna().all().all()
    assert str(ar.loc[2, "date"]) == "2019-03-14" and ar.loc[2, "span"] == 3
    # normal return over the 3 sessions: 3 alpha + beta (0.01 - 0.03 + 0.03) = 0.003 + 0.015
    close(ar.loc[2, ["return", "normal_return", "abnormal_return"]].to_numpy(dtype=float), [0.02, 0.018, 0.002])

    w00 = one(suspended.car, window="0:0")  # day 0 is suspended; resumption (day 2) is after the window end
    # g = [3, 0.01]: Var = 3e-6 (3 + 9/6 + 1000 * 1e-4) = 13.8e-6  (identity term counts the span, 3)
    close(w00[["car", "car_se", "bhar"]].to_numpy(dtype=float), [0.002, np.sqrt(13.8e-6), 1.02 - 1.018])
    close(w00["car_t"], 0.5383819020581655)
    close(w00["car_p"], 0.6188752427517639, rtol=1e-7)  # t(4)
    assert bool(w00["spans_suspension"]) and w00["n_returns"] == 1 and w00["n_sessions"] == 3
    assert (str(w00["span_first"]), str(w00["span_last"])) == ("2019-03-12", "2019-03-14")

    w = one(suspended.car, window="-1:1")
    # day -1: AR 0.01 - (0.001 + 1.5 * 0.005) = 0.0015; plus 0.002. g = [1, .005] + [3, .01] = [4, .015]
    # Var = 3e-6 (4 + 16/6 + 1000 * 0.015^2) = 20.675e-6
    close(w[["car", "car_se"]].to_numpy(dtype=float), [0.0035, np.sqrt(20.675e-6)])
    close(w["car_t"], 0.7697421795475463)
    assert bool(w["spans_suspension"]) and w["n_returns"] == 2 and w["n_sessions"] == 4
    assert (str(w["span_first"]), str(w["span_last"])) == ("2019-03-11", "2019-03-14")

    w33 = one(suspended.car, window="3:3")  # after resumption: an ordinary one-session return
    close(w33["car"], 0.001 - 0.001)
    assert not bool(w33["spans_suspension"]) and w33["n_sessions"] == 1


def test_car_path_beyond_the_event_period_is_refused(suspended):
    from analysis.estimation import engine

    out = suspended.engine_result
    taus, car, se = engine.car_path(out, -1, 3)
    close(car[0, [2, 4]], [0.0035, 0.0035])  # CAR[-1, 1] and CAR[-1, 3] (day 3's AR is 0)
    last = int(out.days[-1])  # the last window end plus the span buffer
    with pytest.raises(ValueError, match=rf"window -1:{last + 1} is outside the engine's event period"):
        engine.car_path(out, -1, last + 1)


def test_car_path_from_the_close_of_day_minus_1(suspended):
    """Anchored at day -1's close: day -2 takes back day -1's AR, day -1 is 0, days 0..3 are
    CAR[0, tau] (the resumption return of day 2 spans 0..2, so every window from day 0 holds it)."""
    from analysis.estimation import engine

    taus, car, se = engine.car_path(suspended.engine_result, -2, 3, anchor=-1)
    assert list(taus) == [-2, -1, 0, 1, 2, 3]
    # day -1: AR 0.01 - (0.001 + 1.5 * 0.005) = 0.0015, taken back on day -2
    close(car[0], [-0.0015, 0.0, 0.002, 0.002, 0.002, 0.002])
    # day -2: Var(CAR[-1, -1]) = 3e-6 (1 + 1/6 + 1000 * 0.005^2); days 0..2: g = [3, 0.01], 13.8e-6
    close(se[0, [0, 1, 2, 3]], [np.sqrt(3e-6 * (1 + 1 / 6 + 0.025)), 0.0, np.sqrt(13.8e-6), np.sqrt(13.8e-6)])


@pytest.mark.shared_prices
@pytest.mark.parametrize("symbol", ["002415.SZ", "002236.SZ"])
def test_real_suspension_entity_list_28(cli_entity_list_28, ref, symbol):
    """Hikvision and Dahua were halted 2019-10-08/09 (day 0 and day 1) and resumed 2019-10-10."""
    car, est = cli_entity_list_28
    model = ref.Model(ref.adj(symbol), ref.adj("000300.SS"), ref.sessions("000300.SS"), "2019-10-08")
    e = one(est, symbol=symbol)
    close([e["alpha"], e["beta"], e["sigma"]], [*model.params, model.sigma])
    px, pm = ref.adj(symbol), ref.adj("000300.SS")
    R = px[pd.Timestamp("2019-10-10")] / px[pd.Timestamp("2019-09-30")] - 1  # day 2 over day -1
    rm = [pm[pd.Timestamp(d)] / pm[pd.Timestamp(p)] - 1 for p, d in
          [("2019-09-30", "2019-10-08"), ("2019-10-08", "2019-10-09"), ("2019-10-09", "2019-10-10")]]
    g = np.array([3.0, sum(rm)])
    normal = g @ model.params  # 3 alpha + beta * sum(Rm)
    var = model.sigma2 * (3 + g @ model.xtx_inv @ g)
    for w in ("0:0", "0:1"):
        row = one(car, symbol=symbol, window=w)
        close(row["car"], R - normal, rtol=1e-8)
        close(row["car_se"], np.sqrt(var), rtol=1e-8)
        assert bool(row["spans_suspension"]) is True
        assert (row["span_first"], row["span_last"]) == ("2019-10-08", "2019-10-10")
        assert row["n_returns"] == 1 and row["n_sessions"] == 3
    # [-1:1]: day -1 (2019-09-30, one session) plus the spanning return
    d = model.window(-1, -1)
    row = one(car, symbol=symbol, window="-1:1")
    g2 = g + model.rows([pd.Timestamp("2019-09-30")])[0]
    close(row["car"], R - normal + d["car"], rtol=1e-8)
    close(row["car_se"], np.sqrt(model.sigma2 * (4 + g2 @ model.xtx_inv @ g2)), rtol=1e-8)
    assert (row["span_first"], row["span_last"]) == ("2019-09-30", "2019-10-10")


@pytest.fixture(scope="module")
def cli_entity_list_28(shared_prices, tmp_path_factory):
    from analysis.cli import main

    out = tmp_path_factory.mktemp("el28")
    rc = main(["study", "--prices", str(shared_prices), "--out", str(out), "--event", "entity_list_28_2019",
               "--symbol", "002415.SZ", "--symbol", "002236.SZ", "--window=0:0", "--window=0:1",
               "--window=-1:1", "--placebo-draws", "0", "--exclude-event-days", "0", "--quiet"])
    assert rc == 0
    car = pd.read_csv(out / "car.csv", dtype={"span_first": str, "span_last": str})
    return car, pd.read_csv(out / "estimation.csv")


# ----------------------------------------------------------------------------- engine API


def test_parse_window():
    from analysis.vocab import format_window, parse_window

    assert parse_window("-1:1") == (-1, 1) and parse_window("0:0") == (0, 0)
    assert format_window((-5, 5)) == "-5:5"
    for bad in ("1:-1", "a:b", "1", "1:2:3"):
        with pytest.raises(ValueError):
            parse_window(bad)


def test_too_few_estimation_returns_are_skipped_with_a_reason(tiny, synthetic_study, make_prices):
    res = synthetic_study(
        {"SYN": ("XNYS", "BNCH", "target")},
        {"SYN": make_prices(TINY_DATES, TINY_R), "BNCH": make_prices(TINY_DATES, TINY_RM, 1000.0)},
        {"tiny_event": "2019-03-12"}, estimation=(-7, -1), windows=["0:0"], min_obs=7)  # day -7 has no return
    assert res.estimation.empty and res.car.empty
    reason = one(res.skipped, symbol="SYN")["reason"]
    assert "6" in reason and "min-obs 7" in reason


def test_french_raw_factor_files_are_read_as_decimals(tmp_path):
    from analysis.data.factors import load_factors

    (tmp_path / "ff.csv").write_text(
        "This file was created by CMPT_ME_BEME_RETS_DAILY using the 202412 CRSP database.\n\n"
        ",Mkt-RF,SMB,HML,RF\n19260701,    0.10,   -0.25,   -0.27,    0.009\n"
        "20191008,   -1.59,   -0.76,    0.52,    0.008\n\n Annual Factors: January-December \n"
        ",Mkt-RF,SMB,HML,RF\n1927,   29.47,   -2.46,   -3.75,    3.12\n\nCopyright 2024 Kenneth R. French\n")
    (tmp_path / "mom.csv").write_text(
        "This file was created by CMPT_ME_PRIOR_RETS_DAILY.\n\n,Mom   \n19261103,    0.56\n"
        "20191008,   -1.93\n\nCopyright 2024 Kenneth R. French\n")
    f = load_factors([tmp_path / "ff.csv", tmp_path / "mom.csv"])
    assert list(f.index) == [pd.Timestamp("2019-10-08")]  # inner join on date
    close(f.loc["2019-10-08", ["mkt_rf", "smb", "hml", "rf", "mom"]].to_numpy(dtype=float),
          [-0.0159, -0.0076, 0.0052, 0.00008, -0.0193])


def test_tight_fit_in_a_large_store_keeps_full_precision(reference_model):
    """sigma^2 of a near-perfect fit must not depend on what else is in the store (no SSR from
    y'y - 2 theta'X'y + theta'X'X theta over store-wide prefix sums, which cancels)."""
    from analysis.estimation import engine
    from analysis.data.calendars import calendar, returns_on, session_returns
    from analysis.estimation.models import get_model

    rng = np.random.default_rng(11)
    s = calendar("XNYS").sessions  # the package's calendar (built under its warning filter)
    s = pd.DatetimeIndex(s[(s >= "2010-01-04") & (s <= "2019-12-31")])
    bench = pd.Series(100 * np.cumprod(1 + rng.normal(0, 0.01, len(s))), index=s)
    bframe = pd.DataFrame({"adj_close": bench, "close": bench, "volume": 1.0})
    rb = bench.pct_change().fillna(0).to_numpy()
    series, bases, prices = [], [], {}
    for i in range(100):  # 99 noisy securities, then one tracking the benchmark to 1e-6 a day
        noise = 0.05 if i < 99 else 1e-6
        px = pd.Series(50 * np.cumprod(1 + 0.0001 + rb + rng.normal(0, noise, len(s))), index=s)
        sr = session_returns(pd.DataFrame({"adj_close": px, "close": px, "volume": 1.0}), f"S{i}", "XNYS")
        series.append(sr)
        bases.append(pd.DataFrame({"mkt": returns_on(sr, bframe)}, index=sr.sessions))
        prices[i] = px
    store = store_mod.build_store(get_model("market"), series, bases)
    p0 = len(s) - 20
    out = engine.run(store, np.array([99]), np.array([p0]), (-250, -11), [(0, 0)], 120)
    ref = reference_model(prices[99], bench, s, s[p0])
    assert out.ok[0] and out.m[0] == ref.M == 240
    close(out.theta[0], ref.params, rtol=1e-9)
    close(out.sigma2[0], ref.sigma2, rtol=1e-9, atol=0)


# ------------------------------------------------- a window's numbers never depend on the others

# A security of 400 sessions (constant-mean model): estimation returns 0.001 +/- 0.01 alternating
# (mu = 0.001 exactly, SSR = 240e-4); day 0 at position 300; days -1, 0, 1 return 0.005, 0.03,
# -0.01; days 2..40 suspended (39 sessions) and the return at resumption (day 41) is -0.2,
# spanning 40 sessions (covers days 2..41); every other return 0.001 (AR 0).
LONG_P0, LONG_M = 300, 240
LONG_S2 = 240e-4 / (LONG_M - 1)  # sigma^2 = SSR / (M - 1)


def _long_suspension_store():
    from analysis.estimation.models import get_model

    n = 400
    r = np.full(n, 0.001)
    est = np.arange(LONG_P0 - 250, LONG_P0 - 10)
    r[est] = 0.001 + 0.01 * np.where(np.arange(len(est)) % 2 == 0, 1.0, -1.0)
    r[LONG_P0 - 1:LONG_P0 + 2] = [0.005, 0.03, -0.01]
    span = np.ones(n, dtype=np.int64)
    r[LONG_P0 + 2:LONG_P0 + 41], span[LONG_P0 + 2:LONG_P0 + 41] = np.nan, 0
    r[LONG_P0 + 41], span[LONG_P0 + 41] = -0.2, 40
    X = span.astype(float).reshape(n, 1)  # the constant summed over the sessions a return spans
    return store_mod.store_from_arrays(get_model("mean"), [r], X=[X], spans=[span])


# window: (CAR, sessions covered S, first and last day covered); Var = sigma^2 (S + S^2 / M)
# (g = S, (X'X)^-1 = 1/M). ARs: day -1 0.004, day 0 0.029, day 1 -0.011; resumption
# -0.2 - 40 * 0.001 = -0.24.
LONG_EXPECTED = {
    (-1, 1): (0.004 + 0.029 - 0.011, 3, -1, 1),
    (0, 2): (0.029 - 0.011 - 0.24, 42, 0, 41),  # day 2 is suspended: the window takes the resumption
    (5, 5): (-0.24, 40, 2, 41),  # inside the suspension: the return at resumption alone
    (1, 41): (-0.011 - 0.24, 41, 1, 41),
    (-1, 0): (0.033, 2, -1, 0),
}


@pytest.mark.parametrize("windows", [
    [(0, 2)], [(5, 5)], [(-1, 1), (0, 2)], [(0, 2), (-1, 1), (5, 5)], [(-1, 0), (0, 2), (1, 41)],
    [(5, 5), (0, 60)], [(1, 41), (-1, 1)],
])
def test_window_next_to_a_long_suspension_by_hand_for_any_window_list(windows):
    """The return at resumption enters every window ending in the suspension it spans, however far
    after the window it comes and whatever the other windows are (the event period is set by the
    widest window plus the span buffer: 12 days for [(0, 2)], 70 for [(0, 60)])."""
    from analysis.estimation import engine

    res = engine.run(_long_suspension_store(), np.array([0]), np.array([LONG_P0]), (-250, -11), windows, 30)
    assert res.m[0] == LONG_M and res.sigma2[0] == pytest.approx(LONG_S2, rel=1e-12)
    for j, w in enumerate(windows):
        if w not in LONG_EXPECTED:
            continue
        car, S, first, last = LONG_EXPECTED[w]
        assert res.car[0, j] == pytest.approx(car, abs=1e-13), w
        assert res.car_se[0, j] == pytest.approx(np.sqrt(LONG_S2 * (S + S * S / LONG_M)), rel=1e-10), w
        assert (res.n_sessions[0, j], res.cover_first[0, j], res.cover_last[0, j]) == (S, first, last), w
        assert bool(res.complete[0, j]) and bool(res.spans_gap[0, j]) == (last == 41), w
    if (0, 2) in windows:  # BHAR over days 0, 1 and the resumption: normal returns mu, mu, 40 mu
        j = windows.index((0, 2))
        assert res.bhar[0, j] == pytest.approx(1.03 * 0.99 * 0.8 - 1.001 * 1.001 * 1.04, abs=1e-13)
        assert (res.gap_first[0, j], res.gap_last[0, j]) == (2, 41)


def test_flags_and_car_path_take_the_return_at_resumption_after_the_event_period():
    from analysis.estimation import engine
    from analysis.inference import flags

    res = engine.run(_long_suspension_store(), np.array([0]), np.array([LONG_P0]), (-250, -11), [(0, 2)], 30)
    assert int(res.days[-1]) == 2 + engine.SPAN_BUFFER < 41  # the resumption is past the event period
    day, ar, _ = flags.drivers(res, np.array([0, -1]), np.array([2, 1]))
    assert day[0, 0] == 41 and ar[0, 0] == pytest.approx(-0.24, abs=1e-13)  # [0, 2]: the resumption drives it
    assert day[0, 1] == 0  # [-1, 1]: day 0's AR 0.029
    _, car, _ = engine.car_path(res, 0, 3)
    np.testing.assert_allclose(car[0], [0.029, 0.018, -0.222, -0.222], atol=1e-13)


def test_a_window_ending_where_the_data_ends_in_a_suspension_has_no_return_at_resumption():
    from analysis.estimation import engine
    from analysis.estimation.models import get_model

    r = np.full(300, 0.001)
    r[::2] += 0.01
    r[260:] = np.nan  # suspended from position 260 until the data ends: no return at resumption
    span = np.where(np.isnan(r), 0, 1)
    st = store_mod.store_from_arrays(get_model("mean"), [r], X=[span.astype(float).reshape(-1, 1)], spans=[span])
    res = engine.run(st, np.array([0]), np.array([260]), (-250, -11), [(0, 1), (-1, 0)], 30)
    assert not res.tail_valid[0] and np.isnan(res.car[0, 0]) and not res.complete[0, 0]
    assert not res.complete[0, 1] and res.n_sessions[0, 1] == 1  # day -1 only: day 0 is never covered


@pytest.mark.shared_prices
def test_zte_car_next_to_its_2018_suspension_does_not_depend_on_the_other_windows(shared_prices, tmp_path):
    """ZTE (000063.SZ) was suspended for 39 sessions before its 2018-06-13 resumption. With a
    (pseudo) day 0 13 sessions before it, CAR[-1, 1] lies inside the suspension: the return at
    resumption (day 13, covering days -26..13) is its only return, whether the other window is
    -1:2 (event period to day 12, the resumption past it) or -1:3 (to day 13)."""
    from analysis.data.catalog import load_events
    from analysis.estimation import engine
    from analysis.study import EventStudy

    ev = tmp_path / "e.csv"
    ev.write_text("event_id,announced_at,title,kind,source\nzte,2018-06-13T09:00+08:00,ZTE resumption,action,test\n")
    study = EventStudy(events=load_events(ev), prices=shared_prices, symbols=["000063.SZ"], windows=["-1:1"],
                       placebo_draws=0, calibration_draws=0)
    panel, _ = study.build_panel(*study.load_prices())
    store, sec, p0 = panel.store, panel.frame["sec"].to_numpy(), panel.frame["p0"].to_numpy()
    assert str(store.date_of(store.dates[store.start[sec[0]] + p0[0]]))[:10] == "2018-06-13"
    assert store.span[store.start[sec[0]] + p0[0]] == 40  # 39 suspended sessions + the resumption
    pseudo = p0 - 13
    runs = {other: engine.run(store, sec, pseudo, (-250, -11), [(-1, 1), other], 30)
            for other in [(-1, 2), (-1, 3), (-1, 30)]}
    wide = runs[(-1, 30)]
    resumption_ar = wide.ar[0, list(wide.days).index(13)]
    assert np.isfinite(resumption_ar) and wide.span[0, list(wide.days).index(13)] == 40
    for other, res in runs.items():
        assert res.car[0, 0] == resumption_ar, other
        assert res.car_se[0, 0] == runs[(-1, 30)].car_se[0, 0], other
        assert (res.n_sessions[0, 0], res.cover_first[0, 0], res.cover_last[0, 0]) == (40, -26, 13), other
        assert bool(res.complete[0, 0]) and bool(res.spans_gap[0, 0]), other
    assert runs[(-1, 2)].car[0, 0] == pytest.approx(-0.166, abs=0.001)


@pytest.mark.parametrize("windows", [[(0, 2)], [(0, 2), (0, 60)]])
def test_event_time_portfolio_spreads_the_return_at_resumption_past_the_event_period(windows):
    """A one-firm portfolio: the resumption's -0.2 over 40 sessions is -0.005 a session on days
    2..41, AR -0.006 (mu 0.001); CAR[0, 2] = 0.029 - 0.011 - 0.006, however far the event period reaches."""
    from analysis.estimation import engine
    from analysis.inference import portfolio

    res = engine.run(_long_suspension_store(), np.array([0]), np.array([LONG_P0]), (-250, -11), windows, 30)
    run = portfolio.portfolios(res, np.array([0]), np.array([0]), 1, windows=[(0, 2), (5, 5)])
    np.testing.assert_allclose(run.car[0], [0.012, -0.006], atol=1e-13)


def test_event_period_rows_by_hand_and_through_take():
    """The event-period arrays are built on first read: by hand on the long suspension (ARs of
    days -1, 0, 1, the suspended days invalid), and a result taken before they are read builds
    the same rows as one taken after."""
    from analysis.estimation import engine

    store = _long_suspension_store()
    res = engine.run(store, np.array([0, 0]), np.array([LONG_P0, LONG_P0 - 3]), (-250, -11), [(-1, 1)], 30)
    assert "_ar" not in res.__dict__ or res.__dict__["_ar"] is None  # not built by the run
    early = res.take([1])
    day = {int(d): k for k, d in enumerate(res.days)}
    np.testing.assert_allclose(res.ar[0, [day[-1], day[0], day[1]]], [0.004, 0.029, -0.011], atol=1e-15)
    assert not res.valid[0, day[2]] and res.span[0, day[2]] == 0 and np.isnan(res.ar[0, day[2]])
    assert res.Xv[0, day[0], 0] == 1.0 and res.normal[0, day[0]] == pytest.approx(0.001, abs=1e-15)
    late = res.take([1])
    for name in ("ar", "ret", "normal", "span", "valid", "Xv"):
        np.testing.assert_array_equal(getattr(early, name), getattr(late, name))
        np.testing.assert_array_equal(getattr(early, name)[0], getattr(res, name)[1])
    np.testing.assert_array_equal(early.flat, res.flat[[1]])
    np.testing.assert_array_equal(early.est_flat, res.est_flat[[1]])


def test_prefix_moments_equal_numpy_cumsum_of_each_security_bit_for_bit():
    """The store's prefix sums (one compiled pass, securities on two threads) equal numpy.cumsum
    of each security's rows after a zero row, bit for bit, for every part (1, X'X, X'y, y'y):
    securities of different lengths, values of very different sizes (rounding shows)."""
    from analysis.estimation.models import get_model
    from analysis.estimation.store import store_from_arrays

    rng = np.random.default_rng(31)
    spec = get_model("market")
    rets = [rng.standard_t(3, n) * 10.0 ** rng.integers(-3, 1, n) for n in (40, 1, 75, 300, 2, 120, 9)]
    X = [np.column_stack([np.ones(len(r)), rng.normal(0, 0.02, len(r))]) for r in rets]
    store = store_from_arrays(spec, rets, X=X)
    w, y, XT = store.used_arrays
    Xr = XT.T
    parts = (w, Xr[:, :, None] * Xr[:, None, :], Xr * y[:, None], y * y)
    for got, a in zip(store.prefix_moments(), parts):
        want = np.concatenate([np.concatenate([np.zeros((1,) + a.shape[1:]), np.cumsum(a[s0:s0 + n], axis=0)])
                               for s0, n in zip(store.start, store.length)])
        assert got.shape == want.shape
        np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("model", ["mean", "market", "ff3"])
@pytest.mark.parametrize("excluded", [False, True])
def test_used_arrays_and_next_return_equal_their_numpy_forms(model, excluded):
    """The store's used arrays and next returns (compiled passes) equal the numpy forms they
    replaced: w = eligible as 0/1, y and X zeroed where not eligible (X as (p, T) rows); the
    first return covering a session (span >= 1) after each position of the same security, -1
    when none (suspensions at a security's start and end, a one-session and an empty security,
    missing y; 1, 2 and 4 regressors; sessions excluded from the fits or not)."""
    from analysis.estimation.models import get_model
    from analysis.estimation.store import store_from_arrays

    rng = np.random.default_rng(7)
    spec = get_model(model)
    p = len(spec.regressors)
    lens = (30, 1, 0, 12, 50, 3)
    rets = [rng.normal(0, 0.02, n) for n in lens]
    spans = [rng.choice([0, 1, 1, 1, 2, 3], n) for n in lens]
    spans[0][-4:] = 0  # suspended to the end: no next return
    spans[3][:5] = 0
    rets[4][[4, 9]] = np.nan
    X = [np.column_stack([np.ones(n), rng.normal(0, 0.02, (n, p - 1))]) for n in lens]
    store = store_from_arrays(spec, rets, X=X, spans=spans)
    T = len(store.span)
    if excluded:
        store.set_excluded(rng.random(T) < 0.2)
    ok = store.eligible
    assert (ok != store.usable_return).any() == excluded
    w, y, XT = store.used_arrays
    np.testing.assert_array_equal(w, ok.astype(float))
    np.testing.assert_array_equal(y, np.where(ok, store.y, 0.0))
    np.testing.assert_array_equal(XT, np.ascontiguousarray(np.where(ok[:, None], store.X, 0.0).T))
    assert XT.shape == (p, T) and XT.flags.c_contiguous and 0 < ok.sum() < T
    big = np.iinfo(np.int64).max
    pos = np.where(store.span >= 1, np.arange(T), big)
    nxt = np.full(T, big)
    nxt[:-1] = np.minimum.accumulate(pos[::-1])[::-1][1:]
    want = np.where(nxt < np.repeat(store.start + store.length, store.length), nxt, -1)
    np.testing.assert_array_equal(store.next_return, want)
    assert (want == -1).sum() > len(lens) and store.next_return.dtype == np.int64


@pytest.mark.parametrize("model", ["market-adjusted", "market"])
def test_a_store_without_securities_runs_and_a_study_whose_only_firm_has_no_prices_skips_it(model):
    """A store of no security has no start either (its compiled passes loop over none: with a
    start of [0] and no length they read past the arrays and crashed the process); the engine
    runs on it, and a study whose only firm has an empty price file lists the firm as skipped."""
    import pathlib
    import tempfile

    from analysis import warmup
    from analysis.estimation import engine
    from analysis.estimation.models import get_model
    from analysis.estimation.store import store_from_arrays
    from analysis.study import EventStudy

    store = store_from_arrays(get_model(model), [])
    assert len(store.start) == 0 and len(store.next_return) == 0 and store.used_arrays[2].shape[1] == 0
    res = engine.run(store, np.zeros(0, np.int64), np.zeros(0, np.int64))
    assert res.car.shape == (0, len(res.windows))
    with tempfile.TemporaryDirectory() as tmp:
        folder = pathlib.Path(tmp)
        (folder / "u.csv").write_text("symbol,name,role,exchange,benchmark\nD,D Corp,supplier,XNAS,SPX\n")
        (folder / "e.csv").write_text("event_id,announced_at,title,kind,source\none,2019-05-15,synthetic,action,x\n")
        prices = {k: v for k, v in warmup._synthetic_prices().items() if k in ("SPX", "D")}
        prices["D"] = prices["D"].iloc[:0]
        fit = EventStudy(events=folder / "e.csv", universe=folder / "u.csv", prices=prices, placebo_draws=0,
                         model=model).fit()
    assert fit.skipped[["symbol", "reason"]].values.tolist() == [["D", "D: no adjusted close prices"]]


def _residuals_by_numpy(store, ew, theta):
    """The estimation-window ARs as numpy formed them before the compiled pass: gather y, then
    subtract theta_k (constant) or x_k * theta_k column by column; NaN where not used."""
    used = ew.take(store.eligible)
    if not ew.all_valid:
        used &= ew.valid
    est_ar = ew.take(store.y)
    for k, name in enumerate(store.spec.regressors):
        if name == "const":
            est_ar -= theta[:, k:k + 1]
        else:
            x = ew.take(store.XT[k])
            x *= theta[:, k:k + 1]
            est_ar -= x
    np.copyto(est_ar, np.nan, where=~used)
    return est_ar, used


@pytest.mark.parametrize("model_name", ["market", "ff3", "market-adjusted", "mean"])
@pytest.mark.parametrize("window", [(-250, -11), (-20, -1)])
def test_estimation_residuals_equal_the_numpy_form_bit_for_bit(model_name, window):
    """EngineResult.est_ar's ARs (one compiled pass over rows inside the data, the rows that run
    past it gathered by index) equal numpy's column-by-column form bit for bit: missing returns,
    a multi-session return, excluded sessions, firm-events at both ends of their security's data
    and a failed fit (NaN theta); with a store shorter than the window, every row runs past it."""
    from analysis.estimation.engine import estimation_residuals
    from analysis.estimation.models import get_model
    from analysis.estimation.store import RelativeDays, store_from_arrays

    rng = np.random.default_rng(7)
    spec = get_model(model_name)
    p = len(spec.regressors)
    lengths = (400, 30, 260, 12) if window == (-250, -11) else (9, 6)
    rets = [rng.standard_t(3, n) * 0.02 for n in lengths]
    for r in rets:
        r[rng.random(len(r)) < 0.05] = np.nan
    X = [np.column_stack([np.ones(n) if name == "const" else rng.normal(0, 0.01, n) for name in spec.regressors])
         for n in lengths]
    spans = [np.where(rng.random(n) < 0.03, 2, 1) for n in lengths]
    store = store_from_arrays(spec, rets, X=X, spans=spans)
    store.set_excluded(rng.random(int(sum(lengths))) < 0.04)
    sec = np.repeat(np.arange(len(lengths)), 6)
    p0 = np.concatenate([[0, 5, n // 2, n - 1, n + 3, 260 % n] for n in lengths]).astype(np.int64)
    theta = rng.normal(0, 1, (len(sec), p))
    theta[2] = np.nan
    ew = RelativeDays(store, sec, p0, *window)
    assert len(ew.partial) and (window == (-20, -1)) == (ew.T < ew.L)
    got, got_used = estimation_residuals(store, ew, theta)
    want, want_used = _residuals_by_numpy(store, ew, theta)
    np.testing.assert_array_equal(got_used, want_used)
    assert got.tobytes() == want.tobytes()
    assert np.isfinite(got).sum() > (30 if window == (-250, -11) else 3)
    # the rows in two halves on two threads (a long run): the same bytes
    from analysis.estimation import engine as engine_mod

    split = pytest.MonkeyPatch()
    split.setattr(engine_mod.kernels, "THREADED_ROWS", 1)
    try:
        halves, _ = estimation_residuals(store, ew, theta)
        again = engine_mod.run(store, sec % len(lengths), np.full(len(sec), 3, np.int64), window, [(0, 1)], 2)
        rows_split = {k: getattr(again, k) for k in ("ar", "ret", "normal", "span", "valid", "Xv")}
    finally:
        split.undo()
    assert halves.tobytes() == got.tobytes()
    one = engine_mod.run(store, sec % len(lengths), np.full(len(sec), 3, np.int64), window, [(0, 1)], 2)
    for k, v in rows_split.items():
        assert v.tobytes() == getattr(one, k).tobytes(), k
    assert np.isfinite(one.ar).any()


def _random_store(n_sec=5, n=700, seed=4):
    """A market-model store of ``n_sec`` securities with random returns, a few missing."""
    from analysis.estimation.models import get_model

    rng = np.random.default_rng(seed)
    m = rng.normal(0, 0.01, n)
    ys, Xs = [], []
    for _ in range(n_sec):
        y = 0.0002 + 1.1 * m + rng.standard_t(4, n) * 0.01
        y[rng.random(n) < 0.02] = np.nan
        ys.append(y)
        Xs.append(np.c_[np.ones(n), m])
    return store_mod.store_from_arrays(get_model("market"), ys, X=Xs)


def test_expanded_result_is_the_engine_run_on_the_repeated_firm_events_bit_for_bit():
    """Firm-events that repeat (pseudo-events of several events on one date) are fitted once
    and gathered (EngineResult.expanded): every array, every field computed on first read
    (event-period rows, estimation ARs, firm p-values), and a take of the expanded result equal
    a run over the repeated firm-events themselves, bit for bit."""
    from analysis.estimation import engine

    store = _random_store()
    sec = np.array([0, 1, 2, 3, 4, 0, 1])
    p0 = np.array([300, 300, 420, 500, 610, 450, 300])
    rows = np.array([6, 0, 1, 1, 5, 2, 3, 4, 2, 6, 0])  # repeats, out of order
    windows, est = [(0, 0), (-1, 1), (0, 5)], (-250, -11)
    once = engine.run(store, sec, p0, est, windows, 120)
    direct = engine.run(store, sec[rows], p0[rows], est, windows, 120)
    grown = once.expanded(rows)
    assert grown.source[0] is once and grown.__dict__.get("_ar") is None  # not computed yet
    for name in ("theta", "sigma2", "dof", "ok", "car", "car_se", "car_t", "n_sessions", "complete", "sec", "p0",
                 "ar", "ret", "normal", "span", "valid", "Xv", "car_p", "est_ar", "tail_ar"):
        np.testing.assert_array_equal(getattr(grown, name), getattr(direct, name), err_msg=name)
    np.testing.assert_array_equal(grown.est_flat, direct.est_flat)
    assert once.__dict__["_ar"] is not None  # the event-period rows were computed once, in the source
    part = grown.take([4, 0, 9])
    assert part.source[0] is once
    np.testing.assert_array_equal(part.est_ar, direct.est_ar[[4, 0, 9]])
    np.testing.assert_array_equal(part.ar, direct.ar[[4, 0, 9]])


def test_pseudo_cells_of_repeated_fits_share_kp_and_portfolios_with_the_same_numbers():
    """Cells whose firm-events repeat fits (EngineResult.expanded: the pseudo-events of several
    events on one date) compute the KP correlation once per set of fits and one portfolio per
    set of fits: every test's statistic and p-value equals that of the same cells built on the
    firm-events written out (a direct engine run), bit for bit."""
    from analysis.estimation import engine
    from analysis.inference.cells import build_cells

    store = _random_store(n_sec=6, n=900, seed=9)
    sec = np.repeat(np.arange(6), 3)
    p0 = np.tile([300, 480, 700], 6)
    # three "events" on the same three dates: 0 has every firm, 1 firms 0-3, 2 firms 2-5;
    # each (event, date) a pseudo-event; two groups
    rows, code = [], []
    for ev, firms in enumerate((range(6), range(4), range(2, 6))):
        for d in range(3):
            for f in firms:
                rows.append(3 * f + d)
                code.append(3 * ev + d)
    rows, code = np.array(rows), np.array(code)
    group = (sec[rows] >= 3).astype(np.int64)
    windows = [(0, 0), (-1, 1), (0, 5)]
    once = engine.run(store, sec, p0, (-250, -11), windows, 120)
    direct = engine.run(store, sec[rows], p0[rows], (-250, -11), windows, 120)
    alone = build_cells(direct, store, code, group, 2)
    assert np.isfinite(alone.r_kp).sum() > 20
    _same_tests(build_cells(once.expanded(rows), store, code, group, 2), alone)


def _same_tests(shared, alone):
    from analysis.inference.registry import REGISTRY

    np.testing.assert_array_equal(shared.r_kp, alone.r_kp)
    for name, test in REGISTRY.items():
        if name != "placebo":
            a, b = test.run(shared), test.run(alone)
            np.testing.assert_array_equal(a.statistic, b.statistic, err_msg=name)
            np.testing.assert_array_equal(a.p_value, b.p_value, err_msg=name)


@pytest.mark.parametrize("case", ["permuted", "large_event_partly_in_cells", "large_and_small_events"])
def test_cells_of_repeated_fits_share_only_what_gives_the_same_bits(case):
    """Where sharing would change a number's last bits, it is not done: an event listing the
    same fits in another order (its sums run in another order: no set of fits shared), and the
    KP correlation of an event of more than PAIRWISE_MAX firm-events (it sums each pair once, a
    smaller event both ways: computed with all its firm-events, and never shared with a smaller
    event's cell). Every test equals the same cells on the firm-events written out."""
    from analysis.estimation import engine
    from analysis.inference.cells import build_cells
    from analysis.inference.kp_kernel import PAIRWISE_MAX

    n_sec = {"permuted": 25, "large_event_partly_in_cells": PAIRWISE_MAX + 5, "large_and_small_events": 250}[case]
    store = _random_store(n_sec=n_sec, n=700, seed=7)
    sec, p0 = np.arange(n_sec), np.full(n_sec, 400)
    mask = None
    if case == "permuted":  # event 1: the same firms on the same date, listed in another order
        rows = np.r_[np.arange(n_sec), np.random.default_rng(1).permutation(n_sec)]
        code = np.r_[np.zeros(n_sec, int), np.ones(n_sec, int)]
    elif case == "large_event_partly_in_cells":  # 10 firm-events of each in no cell: 195 in cells
        rows = np.r_[np.arange(n_sec), np.arange(n_sec)]
        code = np.r_[np.zeros(n_sec, int), np.ones(n_sec, int)]
        mask = np.ones((2 * n_sec, 2), dtype=bool)
        mask[np.arange(2 * n_sec) % n_sec < 10] = False
    else:  # a set of 150 firms in an event of 150 and in one of 250
        rows = np.r_[np.arange(150), np.arange(n_sec)]
        code = np.r_[np.zeros(150, int), np.ones(n_sec, int)]
    group = (sec[rows] >= 120).astype(np.int64)
    windows = [(0, 0), (-1, 1)]
    once = engine.run(store, sec, p0, (-250, -11), windows, 120)
    direct = engine.run(store, sec[rows], p0[rows], (-250, -11), windows, 120)
    _same_tests(build_cells(once.expanded(rows), store, code, group, 2, mask=mask),
                build_cells(direct, store, code, group, 2, mask=mask))


def test_fit_sets_shares_fits_only_when_every_cell_lists_them_in_row_order():
    """cell_kernels.fit_sets: cells with the same fits are one set when each cell's fits ascend
    with its rows, whether the pairs come cell by cell or interleaved; a cell listing its fits
    out of row order makes every set one of firm-events (rows)."""
    from analysis.inference.cell_kernels import fit_sets

    fit = np.array([0, 1, 2, 0, 1, 2, 2, 1])  # rows 3-5 repeat 0-2; rows 6, 7: fits 2, 1 (descending)
    rows, cell = np.array([0, 1, 2, 3, 4, 5]), np.array([0, 0, 0, 1, 1, 1])
    of, first = fit_sets(rows, cell, 2, fit)
    assert of.tolist() == [0, 0] and first.tolist() == [0]
    of, first = fit_sets(rows[[0, 3, 1, 4, 2, 5]], cell[[0, 3, 1, 4, 2, 5]], 2, fit)  # interleaved
    assert of.tolist() == [0, 0]
    of, _ = fit_sets(np.r_[rows, 6, 7], np.r_[cell, 2, 2], 3, fit)  # cell 2: fits 2, 1
    assert of.tolist() == [0, 1, 2]
    assert fit_sets(rows, cell, 2, None)[0].tolist() == [0, 1]


def test_block_size_gives_each_thread_equal_blocks_within_the_bounds():
    """q = max(ceil(n / (t BLOCK_MAX)), min(4, ceil(n / (t BLOCK))), 1) blocks a thread of
    ceil(n / (t q)) firm-events each (worked by hand below)."""
    from analysis.estimation.engine import BLOCK, BLOCK_MAX, block_size

    assert (BLOCK, BLOCK_MAX) == (4096, 16384)
    assert block_size(0, 2) == 1
    assert block_size(2000, 2) == 1000  # q = 1: one block a thread
    assert block_size(2000, 1) == 2000
    assert block_size(10_000, 2) == 2500  # ceil(10,000 / 8,192) = 2 blocks a thread
    assert block_size(100_000, 2) == 12_500  # q = 4 (ceil(100,000 / 32,768) = 4)
    assert block_size(100_001, 2) == 12_501
    assert block_size(1_000_000, 2) == 16_130  # q = ceil(1,000,000 / 32,768) = 31: ceil(1e6 / 62)
    assert block_size(100_000, 1) == 14_286  # q = ceil(100,000 / 16,384) = 7
    assert block_size(50_000, 0) == 12_500  # threads < 1 counts as one: q = 4


def test_run_splits_its_firm_events_in_block_size_blocks_and_the_blocks_change_no_number(monkeypatch):
    """engine.run takes its blocks from block_size(N, threads): blocks of 3 firm-events (on one
    thread and on two) give the arrays of one block, bit for bit."""
    from analysis.estimation import engine
    from analysis.estimation.models import get_model

    rng = np.random.default_rng(5)
    n_sec, T = 4, 400
    mkt = rng.normal(0, 0.01, T)
    rets = [(0.9 * mkt + rng.normal(0, 0.01, T)).tolist() for _ in range(n_sec)]
    st = store_mod.store_from_arrays(get_model("market"), rets, X=[np.c_[np.ones(T), mkt]] * n_sec,
                                     start_date="2020-01-02")
    sec = np.repeat(np.arange(n_sec), 5)
    p0 = np.tile([260, 280, 300, 320, 390], n_sec)  # the last ones' event periods run off the data
    windows = [(0, 0), (-1, 1), (0, 5)]
    one_block = engine.run(st, sec, p0, windows=windows, threads=1)
    asked = []
    monkeypatch.setattr(engine, "block_size", lambda n, threads: asked.append((n, threads)) or 3)
    for threads in (1, 2):
        split = engine.run(st, sec, p0, windows=windows, threads=threads)
        for name in ("theta", "sigma2", "car", "car_se", "car_t", "bhar", "n_returns", "complete", "ok"):
            np.testing.assert_array_equal(getattr(split, name), getattr(one_block, name), err_msg=name)
    assert asked == [(20, 1), (20, 2)]
    assert np.isfinite(one_block.car).sum() > 30
