"""CARs regressed on revenue exposure (analysis.inference.exposure) and the supply files
(analysis.data.supply): per-event OLS with HC3 against statsmodels, the pooled fixed-effects
fit against statsmodels' cluster-robust OLS, the wild cluster bootstrap p against a
loop-by-loop implementation written here, and the files' one-line errors."""
from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest
from statsmodels.regression.linear_model import OLS
from statsmodels.tools.tools import add_constant
from numpy.testing import assert_allclose as close

from analysis.errors import UserError
from analysis.inference import exposure as ex

# hand-built: 7 suppliers, exposure in percent, CAR in decimals
X7 = np.array([13.0, 18.0, 46.0, 12.0, 13.0, 4.0, 8.0])
Y7 = np.array([-0.136, -0.199, -0.362, -0.112, -0.065, -0.054, -0.094])


def test_per_event_slope_and_hc3_se_match_statsmodels():
    res = OLS(Y7, add_constant(X7)).fit(cov_type="HC3", use_t=True)
    got = ex.ols_hc3(X7, Y7)
    close(got["slope"], res.params[1], rtol=1e-12)
    close(got["se"], res.bse[1], rtol=1e-12)
    close(got["p_value"], res.pvalues[1], rtol=1e-10)
    close([got["ci_low"], got["ci_high"]], res.conf_int(0.05)[1], rtol=1e-10)
    close(got["r2"], res.rsquared, rtol=1e-12)
    assert got["n"] == 7


def test_per_event_hc3_by_hand_on_three_points():
    # x = 0, 1, 2; y = 0, 1, 3: b = 1.5, a = -1/6, e = (1/6, -1/3, 1/6); h = (5/6, 1/3, 5/6)
    # HC3 var = [1 * (1/36) / (1/6)^2 + 0 + 1 * (1/36) / (1/6)^2] / Sxx^2 = 2 / 4 = 0.5
    got = ex.ols_hc3([0.0, 1.0, 2.0], [0.0, 1.0, 3.0])
    close(got["slope"], 1.5)
    close(got["se"], np.sqrt(0.5))


def test_per_event_fit_is_nan_without_spread_or_firms():
    assert np.isnan(ex.ols_hc3([5.0, 5.0, 5.0, 5.0], [0.1, 0.2, 0.0, 0.3])["slope"])
    assert np.isnan(ex.ols_hc3([1.0, 2.0], [0.1, 0.2])["se"])


def _panel(seed=1, g=6, per=(3, 6)):
    rng = np.random.default_rng(seed)
    rows = []
    for c in range(g):
        n = rng.integers(per[0], per[1] + 1)
        x = rng.uniform(0, 40, n)
        rows += [(f"e{c}", xi, 0.01 * c - 0.002 * xi + rng.normal(0, 0.03 * (1 + c % 3))) for xi in x]
    return pd.DataFrame(rows, columns=["c", "x", "y"])


def test_pooled_slope_and_cluster_se_match_statsmodels_with_event_dummies():
    d = _panel()
    X = pd.get_dummies(d["c"], dtype=float)
    X["x"] = d["x"]
    res = OLS(d["y"], X).fit(cov_type="cluster", cov_kwds={"groups": pd.factorize(d["c"])[0]})
    got = ex.pooled_fe(d["c"].to_numpy(), d["x"], d["y"], draws=99)
    close(got["slope"], res.params["x"], rtol=1e-10)
    close(got["se"], res.bse["x"], rtol=1e-10)
    assert got["g"] == 6 and got["n"] == len(d)


def _wild_by_loop(d, weights):
    """Wild cluster bootstrap-t, null imposed, written out: for each sign vector fit the
    restricted model (event dummies only), flip its residuals by cluster, refit the full model
    with lstsq and compute the CR1 sandwich by explicit sums; p = share of |t*| >= |t|."""
    codes, _ = pd.factorize(d["c"])
    g = codes.max() + 1
    D = np.zeros((len(d), g))
    D[np.arange(len(d)), codes] = 1.0
    X = np.column_stack([D, d["x"].to_numpy()])
    y = d["y"].to_numpy()
    n, k = X.shape

    def t_of(yy):
        beta = np.linalg.lstsq(X, yy, rcond=None)[0]
        u = yy - X @ beta
        bread = np.linalg.inv(X.T @ X)
        meat = np.zeros((k, k))
        for c in range(g):
            s = X[codes == c].T @ u[codes == c]
            meat += np.outer(s, s)
        v = g / (g - 1) * (n - 1) / (n - k) * bread @ meat @ bread
        return beta[-1] / np.sqrt(v[-1, -1])

    t_hat = t_of(y)
    gamma = np.linalg.lstsq(D, y, rcond=None)[0]
    fit0, u0 = D @ gamma, y - D @ gamma
    t_star = np.array([t_of(fit0 + u0 * w[codes]) for w in weights])
    return float(np.mean(np.abs(t_star) >= abs(t_hat) - 1e-12))


def test_wild_cluster_bootstrap_enumerated_equals_the_loop_exactly():
    d = _panel(seed=3, g=6)
    allw = np.array(list(itertools.product([-1.0, 1.0], repeat=6)))  # 64 sign vectors, exact
    want = _wild_by_loop(d, allw)
    got = ex.pooled_fe(d["c"].to_numpy(), d["x"], d["y"], draws=9999)
    assert got["draws"] == 64
    close(got["p_value"], want, atol=1e-12)


def test_wild_cluster_bootstrap_random_draws_agree_with_the_loop_within_monte_carlo_error():
    d = _panel(seed=7, g=15, per=(2, 4))
    rng = np.random.default_rng(123)
    r_loop = 2000
    want = _wild_by_loop(d, rng.choice([-1.0, 1.0], size=(r_loop, 15)))
    got = ex.pooled_fe(d["c"].to_numpy(), d["x"], d["y"], draws=9999, seed=5)
    assert got["draws"] == 9999
    mc = np.sqrt(max(want * (1 - want), 0.01) * (1 / r_loop + 1 / 9999))
    assert abs(got["p_value"] - want) < 4 * mc, (got["p_value"], want)
    assert 0.0 < want < 1.0


def test_pooled_drops_single_firm_events_and_needs_two_events():
    d = pd.DataFrame({"c": ["a", "a", "a", "b"], "x": [1.0, 2.0, 4.0, 9.0], "y": [0.1, 0.0, -0.2, 0.5]})
    got = ex.pooled_fe(d["c"].to_numpy(), d["x"], d["y"])
    assert got["g"] == 1 and np.isnan(got["slope"])


def test_exposure_sums_the_named_customers_and_filters_confidence():
    expo = pd.DataFrame({"symbol": ["NPTN", "NPTN", "IPHI", "MU"], "customer_or_region": ["Huawei", "ZTE", "Huawei", "China"],
                         "measure": "revenue_share", "value": [46.0, 1.0, 14.0, 57.0],
                         "period": "p", "source": "s", "confidence": ["medium", "medium", "low", "high"]})
    got = ex.exposure_of({"e1": {"Huawei", "ZTE"}, "e2": {"ZTE"}}, expo, ("high", "medium"))
    assert sorted(map(tuple, got[["event_id", "symbol", "exposure"]].to_numpy().tolist())) == [
        ("e1", "NPTN", 47.0), ("e2", "NPTN", 1.0)]  # IPHI low, MU a region
    got = ex.exposure_of({"e1": {"Huawei"}}, expo, ("high", "medium", "low"))
    assert set(got["symbol"]) == {"NPTN", "IPHI"}


def test_fit_frame_needs_five_firms_per_event_and_reports_main_and_sensitivity():
    syms = ["A", "B", "C", "D", "E", "F"]
    expo = pd.DataFrame({"symbol": syms, "customer_or_region": "Huawei", "measure": "revenue_share",
                         "value": [1.0, 5.0, 9.0, 20.0, 30.0, 40.0], "period": "p", "source": "s",
                         "confidence": ["high", "medium", "high", "medium", "high", "low"]})
    car = pd.DataFrame({"event_id": "e1", "symbol": syms, "group": "supplier", "window": "0:1",
                        "car": [-0.01, -0.02, -0.03, -0.05, -0.09, -0.1]})
    car = pd.concat([car, car.assign(event_id="e2", car=car["car"] * 0.5)], ignore_index=True)
    out = ex.fit_frame(car, {"e1": {"Huawei"}, "e2": {"Huawei"}}, expo, draws=99)
    assert list(out.columns) == ex.EXPOSURE_FIT_COLUMNS
    main = out[out["confidence"] == "high,medium"]
    assert list(main["event_id"]) == ["e1", "e2", "pooled"]
    assert list(main["n_firms"]) == [5, 5, 10]
    sens = out[out["confidence"] == "high,medium,low"]
    assert list(sens["n_firms"]) == [6, 6, 12]
    want = OLS(car["car"][:5], add_constant(expo["value"][:5])).fit().params.iloc[1]
    close(main["slope"].iloc[0], want, rtol=1e-12)
    # too few firms: no per-event row
    out = ex.fit_frame(car[car["symbol"].isin(syms[:4])], {"e1": {"Huawei"}, "e2": {"Huawei"}}, expo, draws=99)
    assert "e1" not in set(out["event_id"])


# ----------------------------------------------------------------------------- the files

def _write(tmp_path, name, text):
    p = tmp_path / name
    p.write_text(text)
    return p


@pytest.mark.parametrize("text, row, field", [
    ("supplier,customer,source\nQRVO,Huawei,s\nQRVO,Huawei,s\n", 2, "customer"),
    ("supplier,customer,source\nQRVO,Huwei,s\n", 1, "customer"),
    ("supplier,customer,source\nNOPE,Huawei,s\n", 1, "supplier"),
    ("supplier,customer,source\nQRVO,QRVO,s\n", 1, "customer"),
])
def test_supply_link_errors_name_file_row_and_field(tmp_path, text, row, field):
    from analysis.data.supply import load_supply_links

    path = _write(tmp_path, "links.csv", text)
    with pytest.raises(UserError, match=rf"links.csv: row {row}, field '{field}'"):
        load_supply_links(path, symbols=["QRVO", "002415.SZ"], customers={"Huawei"})


def test_supply_links_accept_listed_and_unlisted_customers(tmp_path):
    from analysis.data.supply import (
        event_customers,
        linked_suppliers,
        load_supply_links,
    )

    path = _write(tmp_path, "links.csv", "supplier,customer,source\nQRVO,Huawei,s\nAMBA,002415.SZ,s\n")
    links = load_supply_links(path, symbols=["QRVO", "AMBA", "002415.SZ"], customers={"Huawei"})
    ef = pd.DataFrame({"event_id": ["e1", "e2"], "symbol": ["002415.SZ", "002415.SZ"],
                       "relation": ["named", "not_named"]})
    ec = pd.DataFrame({"event_id": ["e2"], "customer": ["Huawei"], "source": ["s"]})
    got = linked_suppliers(event_customers(ef, ec), links)
    assert got == {"e1": {"AMBA"}, "e2": {"QRVO"}}


@pytest.mark.parametrize("text, field", [
    ("symbol,customer_or_region,measure,value,period,source,confidence\nQRVO,Huawei,revenue_share,130,p,s,high\n",
     "value"),
    ("symbol,customer_or_region,measure,value,period,source,confidence\nQRVO,Huawei,revenue_share,x,p,s,high\n",
     "value"),
    ("symbol,customer_or_region,measure,value,period,source,confidence\nQRVO,Huawei,share,13,p,s,high\n", "measure"),
    ("symbol,customer_or_region,measure,value,period,source,confidence\nQRVO,Huawei,revenue_share,13,p,s,sure\n",
     "confidence"),
])
def test_exposure_errors_name_file_row_and_field(tmp_path, text, field):
    from analysis.data.supply import load_exposure

    with pytest.raises(UserError, match=rf"exposure.csv: row 1, field '{field}'"):
        load_exposure(_write(tmp_path, "exposure.csv", text))


def test_event_customers_refuse_a_listed_firm_and_merger_end_before_start(tmp_path):
    from analysis.data.supply import load_event_customers, load_merger_periods

    with pytest.raises(UserError, match=r"ec.csv: row 1, field 'customer'.*event_firms"):
        load_event_customers(_write(tmp_path, "ec.csv", "event_id,customer,source\ne1,002415.SZ,s\n"),
                             symbols=["002415.SZ"])
    with pytest.raises(UserError, match=r"mp.csv: row 1, field 'end'"):
        load_merger_periods(_write(tmp_path, "mp.csv", "symbol,start,end,what,source\nACIA,2019-07-09,2019-01-01,w,s\n"))
    # a date beyond pandas' timestamps is one line, as in the catalog files (issue 21, case 4)
    with pytest.raises(UserError, match=r"mp2.csv: row 1, field 'end': the year is outside 1900..2100"):
        load_merger_periods(_write(tmp_path, "mp2.csv", "symbol,start,end,what,source\nACIA,2019-07-09,9999-12-31,w,s\n"))


def test_shipped_files_load_and_every_row_has_a_source():
    from analysis.data import catalog, supply

    uni = catalog.load_universe()
    ec = supply.load_event_customers(events=catalog.load_events()["event_id"], symbols=uni["symbol"])
    links = supply.load_supply_links(symbols=uni["symbol"], customers=set(ec["customer"]))
    expo = supply.load_exposure(symbols=uni["symbol"])
    mp = supply.load_merger_periods(symbols=uni["symbol"])
    for frame in (ec, links, expo, mp):
        assert len(frame) and (frame["source"].str.len() > 10).all()
    assert set(links["supplier"]) <= set(uni.loc[uni["role"] == "supplier", "symbol"])
    ef = catalog.load_event_firms()
    huawei = supply.linked_suppliers(supply.event_customers(ef, ec), links)["huawei_entity_list_2019"]
    assert len(huawei) >= 10
    acia = mp[mp["symbol"] == "ACIA"].iloc[0]
    assert acia["start"] == "2019-07-09"


# ----------------------------------------------------------------------------- in a study

@pytest.mark.shared_prices
def test_full_catalog_groups_merger_skips_and_exposure_fit(full_catalog):
    res = full_catalog
    car = res.car[(res.car["window"] == "0:1") & (res.car["window_kind"] == "requested")]
    hw = car[car["event_id"] == "huawei_entity_list_2019"].set_index("symbol")["group"]
    assert (hw == "supplier").sum() >= 10
    assert hw["QRVO"] == "supplier" and hw["AMBA"] == "supplier_other"
    oct19 = car[car["event_id"] == "entity_list_28_2019"].set_index("symbol")["group"]
    assert oct19["AMBA"] == "supplier" and oct19["QRVO"] == "supplier_other"
    sk = res.skipped[(res.skipped["symbol"] == "ACIA")]
    assert (sk["reason"].str.contains("Cisco's offer")).any()
    assert "entity_list_28_2019" in set(sk["event_id"])
    assert "ACIA" in set(car[car["event_id"] == "huawei_entity_list_2019"]["symbol"])
    fit = res.exposure_fit
    assert list(fit.columns[:11]) == ex.EXPOSURE_FIT_COLUMNS[:11]
    pooled = fit[(fit["event_id"] == "pooled") & (fit["confidence"] == "high,medium")]
    assert len(pooled) and (pooled["n_events"] >= 2).all()
    assert fit.loc[fit["event_id"] == "huawei_entity_list_2019", "n_firms"].min() >= 5


# ----------------------------------------------------------------------------- the report's words

def test_largest_supplier_moves_read_p_history_when_present_else_sq_p():
    from analysis.report.event import supplier_moves, supplier_moves_line

    firms = pd.DataFrame({"symbol": ["AMBA", "QRVO", "INTC", "002415.SZ", "LITE"],
                          "name": ["Ambarella", "Qorvo", "Intel", "Hangzhou Hikvision", "Lumentum"],
                          "group": ["supplier_other", "supplier", "supplier", "named", "supplier"],
                          "window": "0:1", "car": [-0.069, -0.136, -0.019, -0.30, 0.02],
                          "sq_p": [0.035, 0.009, 0.22, 0.01, 0.5]})
    m = supplier_moves(firms, "0:1", k=2)
    assert list(m["symbol"]) == ["QRVO", "AMBA"] and list(m["p_kind"]) == ["sq_p", "sq_p"]
    line = supplier_moves_line(firms, "0:1")
    assert "Qorvo −13.6% (sample-quantile p 0.009)" in line
    assert "Ambarella −6.9% (sample-quantile p 0.035; no recorded link to a named firm)" in line
    assert "Hikvision" not in line
    m = supplier_moves(firms.assign(p_history=[0.04, 0.02, 0.3, 0.01, 0.6]), "0:1", k=1)
    assert m.iloc[0]["p_kind"] == "p_history" and m.iloc[0]["p_tail"] == 0.02


def test_exposure_sentence_states_the_slope_per_ten_points_with_its_interval():
    from analysis.report.exposure_text import supplier_exposure_sentence

    fit = pd.DataFrame([
        {"event_id": "huawei_entity_list_2019", "window": "0:1", "n_firms": 7, "n_events": 1, "slope": -0.0074,
         "se": 0.0015, "ci_low": -0.0112, "ci_high": -0.0037, "p_value": 0.004, "method": "m", "r2": 0.9,
         "confidence": "high,medium"},
        {"event_id": "pooled", "window": "0:1", "n_firms": 72, "n_events": 12, "slope": 0.0010, "se": 0.001,
         "ci_low": -0.0012, "ci_high": 0.0032, "p_value": 0.4, "method": "m", "r2": 0.1,
         "confidence": "high,medium"}])
    text = supplier_exposure_sentence(fit)
    assert "per 10 points of revenue sold to Huawei, suppliers lost 7.4 percentage points more (95% CI 3.7 to 11.2 points)" in text
    assert text.startswith("Exploratory: after")
    assert "suppliers gained 1.0 percentage points more (95% CI −1.2 to 3.2 points)" in text and "p 0.400 from a wild cluster bootstrap, which resamples whole events" in text
    assert supplier_exposure_sentence(None) == ""


def test_named_text_names_an_unlisted_firm():
    from analysis.report.sections.events import named_text

    text = named_text({"named": [], "named_unlisted": ["Huawei"], "described": True, "named_source": ["84 FR 22961"]})
    assert text.startswith("Named: Huawei (not a listed firm of the study")


def test_supplier_groups_by_customer_and_merger_skips_on_synthetic_prices(tmp_path, synthetic_study):
    """ev_a names AAA (listed) and the unlisted 'Huawei'; DDD supplies Huawei, EEE supplies
    nobody named: DDD supplier, EEE supplier_other. ev_b names only AAA, to which nobody is
    linked: both suppliers are supplier_other. EEE is in a merger period from 2019-08-01: left
    out of ev_b (2019-09-03) with the reason. A header-only supply-links file: one supplier group."""
    from tests.test_design import US, _us_prices

    prices, _ = _us_prices(list(US))
    ef = tmp_path / "ef.csv"
    ef.write_text("event_id,symbol,relation,source\nev_a,AAA,named,s\nev_b,AAA,named,s\n")
    ec = tmp_path / "ec.csv"
    ec.write_text("event_id,customer,source\nev_a,Huawei,s\n")
    links = tmp_path / "links.csv"
    links.write_text("supplier,customer,source\nDDD,Huawei,s\n")
    mp = tmp_path / "mp.csv"
    mp.write_text("symbol,start,end,what,source\nEEE,2019-08-01,,trading on an offer,s\n")
    events = {"ev_a": "2019-06-03", "ev_b": "2019-09-03"}
    res = synthetic_study(US, prices, events, event_firms=ef, event_customers=ec, supply_links=links,
                          merger_periods=mp, windows=["0:0"])
    g = res.car.set_index(["event_id", "symbol"])["group"]
    assert g[("ev_a", "DDD")] == "supplier" and g[("ev_a", "EEE")] == "supplier_other"
    assert g[("ev_b", "DDD")] == "supplier_other" and ("ev_b", "EEE") not in g.index
    sk = res.skipped.set_index(["event_id", "symbol"])["reason"]
    assert sk[("ev_b", "EEE")].startswith("merger period: trading on an offer (from 2019-08-01")
    links.write_text("supplier,customer,source\n")
    res = synthetic_study(US, prices, events, event_firms=ef, event_customers=ec, supply_links=links,
                          windows=["0:0"])
    assert set(res.car.loc[res.car["role"] == "supplier", "group"]) == {"supplier"}
