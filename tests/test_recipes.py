"""The recipes of docs/architecture.md work as written (issue 20): a new normal-return model is
one ModelSpec in MODELS, a new test statistic one registered CellTest; both reach the CLI, the
configuration, a fit, the summary, the notebooks' tables and the PDF's tables without touching
another file."""
from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import norm

from analysis.estimation import models
from analysis.inference.registry import REGISTRY, CellTest, TestOutcome, register

pytestmark = pytest.mark.shared_prices
EVENT = "nyt_hikvision_2019"


def _add_capm(mp: pytest.MonkeyPatch) -> models.ModelSpec:
    spec = models.ModelSpec("capm", ("const", "mkt_rf"), 2, True, label="CAPM (excess)",
                            formula="rf + a + b (Rm - rf)")
    mp.setitem(models.MODELS, "capm", spec)  # what the one line in MODELS does at import
    mp.setitem(models.MODEL_LABELS, "capm", spec.label)
    return spec


@pytest.fixture
def capm(monkeypatch):
    return _add_capm(monkeypatch)


@pytest.fixture(scope="module")
def capm_robustness(shared_prices, shared_factors):
    """The market-model fit of EVENT (defaults, placebo off) and its robustness frame with capm
    added (report/event.robustness, what the notebook calls): (robust, notes, factor file), shared
    by the two capm tests below (one fit and robustness run instead of two)."""
    from analysis.report import event as ev

    factors = str(next(shared_factors.glob("F-F_Research_Data_Factors_daily*")))
    with pytest.MonkeyPatch.context() as mp:
        _add_capm(mp)
        base = ev.fit(ev.build_study(event_ids=EVENT, prices=str(shared_prices), placebo_draws=0, progress=False))
        robust, _, notes = ev.robustness(base, ["capm"], [factors], ())
    return robust, notes, factors


def _register_mean_z():
    @register
    class MeanZ(CellTest):
        name, label, words, plain = "mean_z", "Mean z", "mean z-test", "compares the mean CAR with its s.e."
        description, reference, distribution = "z-test of the mean CAR", "Brown & Warner (1985)", "N(0,1)"
        null = "the firms' CARs have mean zero (independent firms, each CAR's own s.e.)"

        def compute(self, cells):
            z = cells.mean_car / (np.sqrt(cells.sum(cells.car_se ** 2)) / cells.n)
            return TestOutcome(z, 2 * norm.sf(np.abs(z)))

    return REGISTRY["mean_z"]


@pytest.fixture
def mean_z():
    yield _register_mean_z()
    del REGISTRY["mean_z"]


@pytest.fixture(scope="module")
def mean_z_fit(shared_prices):
    """EVENT fitted on window 0:1 (placebo off) with mean_z registered, shared by the two mean_z
    tests below (one fit instead of two)."""
    from analysis import EventStudy

    _register_mean_z()
    try:
        return EventStudy(prices=shared_prices, event_ids=[EVENT], windows=["0:1"], placebo_draws=0).fit()
    finally:
        del REGISTRY["mean_z"]


def test_a_new_model_reaches_the_cli_the_config_the_spec_and_the_robustness_table(capm, capm_robustness,
                                                                                 shared_prices, tmp_path):
    from analysis.cli import build_parser, main
    from analysis.inference.spec import StudySpec
    from analysis.report import event as ev
    from analysis.report.config import _model

    assert "capm" in build_parser()._subparsers._group_actions[0].choices["study"].format_help()
    assert _model("parameters.model", "capm") == "capm" and StudySpec(model="capm").model_spec is capm
    assert "capm" in models.factor_models()  # excess returns: French's factors, US securities only
    factors = capm_robustness[2]
    rc = main(["study", "--prices", str(shared_prices), "--factors", factors, "--model", "capm", "--event", EVENT,
               "--symbol", "INTC", "--symbol", "AMD", "--placebo-draws", "0", "--out", str(tmp_path), "--quiet"])
    assert rc == 0
    robust, notes, _ = capm_robustness
    assert set(robust["model"]) == {"market", "capm"} and not notes
    assert set(robust.loc[robust["model"] == "capm", "scope"]) == {"US suppliers"}
    table = ev.show_robustness(robust, "0:1").data
    assert any(c.startswith("CAPM (excess) (US suppliers)") for c in table.columns)


def test_a_new_test_reaches_tests_csv_the_summary_and_is_not_simulated(mean_z, mean_z_fit):
    from analysis.inference.design import NOT_SIMULATED, size_verdict
    from analysis.inference.spec import StudySpec

    res = mean_z_fit
    rows = res.tests[res.tests["test"] == "mean_z"]
    assert len(rows) == res.tests[res.tests["test"] == "portfolio"].shape[0]
    # the statistic as defined, from car.csv: mean CAR / (sqrt(sum se^2) / n) over the complete CARs
    car = res.car[(res.car["window"] == "0:1") & res.car["complete"].astype(bool)]
    sup = car[car["group"] == "supplier"]
    z = sup["car"].mean() / (np.sqrt((sup["car_se"] ** 2).sum()) / len(sup))
    assert rows.set_index("group").at["supplier", "statistic"] == pytest.approx(z, rel=1e-12)
    assert "mean_z" in res.summary().tables()[1].columns
    assert size_verdict("mean_z") == NOT_SIMULATED and "mean_z" in str(res.summary())
    assert StudySpec(primary_test="mean_z").primary_test == "mean_z"


def test_a_new_model_reaches_the_notebook_parameter_and_the_pdf_robustness_table(capm, capm_robustness,
                                                                                  shared_prices):
    """The event notebook's ``model`` parameter fits with it (the notebook's own call), and the
    PDF's robustness table (report/sections/robustness.models_table) prints its label."""
    from analysis.report import event as ev
    from analysis.report.sections.robustness import models_table

    robust, _, factors = capm_robustness
    study = ev.build_study(event_ids=EVENT, symbols=["INTC", "AMD"], model="capm", factors=factors,
                           prices=str(shared_prices), placebo_draws=0, progress=False)
    res = ev.fit(study)
    assert set(res.estimation["model"]) == {"capm"} and len(res.estimation) == 2
    spec = models_table(robust, ["market", "capm"], "0:1", "portfolio")
    header = " ".join(str(c) for c in spec["header"][0])
    assert "CAPM (excess) (US suppliers) %" in header


def test_a_new_test_reaches_the_notebook_tables_and_the_pdf_event_table(mean_z, mean_z_fit):
    """The event notebook's group-test table (report/event.show_group_tests, what the notebook
    displays) and the PDF's event test table (report/sections/events.test_table_spec) have a
    column for it, with the statistic printed from tests.csv."""
    from analysis.fmt import num
    from analysis.report import event as ev
    from analysis.report.sections.events import ALL_TESTS, test_table_spec

    res = mean_z_fit
    tests = ev.group_tests(res, EVENT)
    assert "mean_z" in set(tests["test"])
    shown = ev.show_group_tests(tests).data
    assert any(str(c).startswith("Mean z") for c in shown.columns)
    spec = test_table_spec(res.tests[res.tests["event_id"] == EVENT], ["0:1"], "caption", scope=ALL_TESTS)
    text = repr(spec)
    assert "Mean z" in text
    z = res.tests[(res.tests["test"] == "mean_z") & (res.tests["group"] == "supplier")]["statistic"].iloc[0]
    assert num(z) in text
