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


@pytest.fixture
def capm(monkeypatch):
    spec = models.ModelSpec("capm", ("const", "mkt_rf"), 2, True, label="CAPM (excess)",
                            formula="rf + a + b (Rm - rf)")
    monkeypatch.setitem(models.MODELS, "capm", spec)  # what the one line in MODELS does at import
    monkeypatch.setitem(models.MODEL_LABELS, "capm", spec.label)
    return spec


@pytest.fixture
def mean_z():
    @register
    class MeanZ(CellTest):
        name, label, words, plain = "mean_z", "Mean z", "mean z-test", "compares the mean CAR with its s.e."
        description, reference, distribution = "z-test of the mean CAR", "Brown & Warner (1985)", "N(0,1)"
        null = "the firms' CARs have mean zero (independent firms, each CAR's own s.e.)"

        def compute(self, cells):
            z = cells.mean_car / (np.sqrt(cells.sum(cells.car_se ** 2)) / cells.n)
            return TestOutcome(z, 2 * norm.sf(np.abs(z)))

    yield REGISTRY["mean_z"]
    del REGISTRY["mean_z"]


def test_a_new_model_reaches_the_cli_the_config_the_spec_and_the_robustness_table(capm, shared_prices,
                                                                                 shared_factors, tmp_path):
    from analysis.cli import build_parser, main
    from analysis.inference.spec import StudySpec
    from analysis.report import event as ev
    from analysis.report.config import _model

    assert "capm" in build_parser()._subparsers._group_actions[0].choices["study"].format_help()
    assert _model("parameters.model", "capm") == "capm" and StudySpec(model="capm").model_spec is capm
    assert "capm" in models.factor_models()  # excess returns: French's factors, US securities only
    factors = str(next(shared_factors.glob("F-F_Research_Data_Factors_daily*")))
    rc = main(["study", "--prices", str(shared_prices), "--factors", factors, "--model", "capm", "--event", EVENT,
               "--symbol", "INTC", "--symbol", "AMD", "--placebo-draws", "0", "--out", str(tmp_path), "--quiet"])
    assert rc == 0
    res = ev.fit(ev.build_study(event_ids=EVENT, prices=str(shared_prices), placebo_draws=0, progress=False))
    robust, _, notes = ev.robustness(res, ["capm"], [factors], ())
    assert set(robust["model"]) == {"market", "capm"} and not notes
    assert set(robust.loc[robust["model"] == "capm", "scope"]) == {"US suppliers"}
    table = ev.show_robustness(robust, "0:1").data
    assert any(c.startswith("CAPM (excess) (US suppliers)") for c in table.columns)


def test_a_new_test_reaches_tests_csv_the_summary_and_is_not_simulated(mean_z, shared_prices):
    from analysis import EventStudy
    from analysis.inference.design import NOT_SIMULATED, size_verdict
    from analysis.inference.spec import StudySpec

    res = EventStudy(prices=shared_prices, event_ids=[EVENT], windows=["0:1"], placebo_draws=0).fit()
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


def test_a_new_model_reaches_the_notebook_parameter_and_the_pdf_robustness_table(capm, shared_prices, shared_factors):
    """The event notebook's ``model`` parameter fits with it (the notebook's own call), and the
    PDF's robustness table (report/sections/robustness.models_table) prints its label."""
    from analysis.report import event as ev
    from analysis.report.sections.robustness import models_table

    factors = str(next(shared_factors.glob("F-F_Research_Data_Factors_daily*")))
    study = ev.build_study(event_ids=EVENT, symbols=["INTC", "AMD"], model="capm", factors=factors,
                           prices=str(shared_prices), placebo_draws=0, progress=False)
    res = ev.fit(study)
    assert set(res.estimation["model"]) == {"capm"} and len(res.estimation) == 2
    base = ev.fit(ev.build_study(event_ids=EVENT, prices=str(shared_prices), placebo_draws=0, progress=False))
    robust, _, _ = ev.robustness(base, ["capm"], [factors], ())
    spec = models_table(robust, ["market", "capm"], "0:1", "portfolio")
    header = " ".join(str(c) for c in spec["header"][0])
    assert "CAPM (excess) (US suppliers) %" in header


def test_a_new_test_reaches_the_notebook_tables_and_the_pdf_event_table(mean_z, shared_prices):
    """The event notebook's group-test table (report/event.show_group_tests, what the notebook
    displays) and the PDF's event test table (report/sections/events.test_table_spec) have a
    column for it, with the statistic printed from tests.csv."""
    from analysis import EventStudy
    from analysis.fmt import num
    from analysis.report import event as ev
    from analysis.report.sections.events import ALL_TESTS, test_table_spec

    res = EventStudy(prices=shared_prices, event_ids=[EVENT], windows=["0:1"], placebo_draws=0).fit()
    tests = ev.group_tests(res, EVENT)
    assert "mean_z" in set(tests["test"])
    shown = ev.show_group_tests(tests).data
    assert any(str(c).startswith("Mean z") for c in shown.columns)
    spec = test_table_spec(res.tests[res.tests["event_id"] == EVENT], ["0:1"], "caption", scope=ALL_TESTS)
    text = repr(spec)
    assert "Mean z" in text
    z = res.tests[(res.tests["test"] == "mean_z") & (res.tests["group"] == "supplier")]["statistic"].iloc[0]
    assert num(z) in text
