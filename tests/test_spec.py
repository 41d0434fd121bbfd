"""StudySpec: one run's settings, every default and check once (issue 20, section 1)."""
from __future__ import annotations

import dataclasses

import numpy as np

import pytest

from analysis.errors import UserError
from analysis.inference.spec import StudySpec


def test_defaults_are_the_documented_ones():
    s = StudySpec()
    assert (s.model, s.estimation, s.min_obs, s.exclude_event_days) == ("market", (-250, -11), 120, 5)
    assert s.windows == ((0, 0), (0, 1), (-1, 1), (0, 5), (-5, 5))
    # calibration at every available pseudo-date by default ('all': at most 5,000 per event)
    assert (s.primary, s.primary_test, s.placebo_draws, s.calibration_draws) == ("0:1", "portfolio", 1000, 5000)
    assert StudySpec(calibration_draws="all").calibration_draws == 5000 and StudySpec(calibration_draws=200).calibration_draws == 200
    assert s.groups == ("named", "supplier") and s.holm_scope == "run"


def test_text_values_are_normalised_and_frozen():
    s = StudySpec(estimation="-120:-11", windows=("-1:1", (0, 1)), min_obs="60")
    assert s.estimation == (-120, -11) and s.windows == ((-1, 1), (0, 1)) and s.min_obs == 60
    with pytest.raises(dataclasses.FrozenInstanceError):
        s.min_obs = 3


@pytest.mark.parametrize("kwargs, words", [
    ({"estimation": "-100:-11", "min_obs": 120}, "holds 90 sessions, fewer than --min-obs 120"),
    ({"estimation": "-250:0"}, "overlaps the event windows"),
    ({"min_obs": 3, "model": "ff3"}, "too small for model 'ff3'"),
    ({"model": "capm2"}, "unknown model 'capm2'"),
    ({"windows": ("1:-1",)}, "bad window '1:-1'"),
    ({"windows": ("0:9000",)}, "bounds must lie within"),
    ({"primary_window": "0:2"}, "primary window 0:2 is not one of the event windows"),
    ({"primary_test": "zz"}, "unknown primary test 'zz'"),
    ({"groups": ("named", "martians")}, "unknown group(s) martians"),
    ({"placebo_draws": -1}, "--placebo-draws must be 0 or more"),
    ({"calibration_draws": 10**6}, "outside 0..100,000"),
    ({"exclude_event_days": -2}, "--exclude-event-days must be 0 or more"),
    ({"holm_scope": "world"}, "--holm-scope world"),
])
def test_every_bad_setting_is_refused_with_its_option(kwargs, words):
    with pytest.raises(UserError) as err:
        StudySpec(**kwargs)
    assert words in str(err.value)


def test_replace_checks_the_variant_again():
    s = StudySpec()
    assert dataclasses.replace(s, model="mean").model == "mean"
    assert s.replace(windows=("0:1", "-2:2")).windows == ((0, 1), (-2, 2))
    with pytest.raises(UserError, match="fewer than --min-obs"):
        s.replace(estimation="-50:-11")


def test_the_study_takes_its_settings_from_the_spec():
    from analysis.study import EventStudy

    spec = StudySpec(model="mean", estimation="-200:-11", windows=("0:1",), min_obs=100, placebo_draws=0)
    study = EventStudy(spec=spec, event_ids=["nyt_hikvision_2019"])
    assert study.spec == spec and study.model.name == "mean" and study.estimation == (-200, -11)
    assert study.windows == [(0, 1)] and study.min_obs == 100 and study.placebo_draws == 0
    # keywords override the spec's values, and are checked like them
    assert EventStudy(spec=spec, min_obs=150, event_ids=["nyt_hikvision_2019"]).spec.min_obs == 150
    with pytest.raises(UserError, match="fewer than --min-obs 500"):
        EventStudy(spec=spec, min_obs=500)


def test_the_cli_refuses_an_estimation_window_shorter_than_min_obs_before_reading_prices(tmp_path, capsys):
    from analysis.cli import main

    rc = main(["study", "--prices", str(tmp_path / "nowhere"), "--out", str(tmp_path / "o"),
               "--estimation=-60:-11", "--min-obs", "120"])
    err = capsys.readouterr().err
    assert rc == 2 and err.count("\n") == 1
    assert "--estimation -60:-11 holds 50 sessions, fewer than --min-obs 120" in err


@pytest.mark.shared_prices
def test_holm_scope_catalog_gives_a_subset_the_full_runs_p_holm(shared_prices, full_catalog):
    """Issue 20, section 4: with --holm-scope catalog, Holm over the catalog's whole primary family,
    so a subset's p_holm is the full run's (each event's p-values do not depend on the others)."""
    from analysis.study import EventStudy

    subset = ["nyt_hikvision_2019", "ft_sdn_2022"]
    res = EventStudy(prices=shared_prices, event_ids=subset, placebo_draws=0, holm_scope="catalog").fit()
    full = full_catalog.tests
    full = full[full["primary"] & full["event_id"].isin(subset)].set_index(["event_id", "group"])["p_holm"]
    mine = res.tests[res.tests["primary"]].set_index(["event_id", "group"])["p_holm"]
    assert len(mine) == 4 and np.allclose(mine.sort_index(), full.sort_index(), rtol=0, atol=1e-15)
    # scope run: Holm over the 2 events of the run; never larger m, so never a larger p_holm
    run = EventStudy(prices=shared_prices, event_ids=subset, placebo_draws=0).fit()
    alone = run.tests[run.tests["primary"]].set_index(["event_id", "group"])["p_holm"]
    assert (alone.sort_index() <= mine.sort_index()).all() and (alone.sort_index() < mine.sort_index()).any()
    n = full_catalog.events.shape[0]
    assert f"Holm over the {n} events of the catalog" in str(res.summary())
    assert "Holm over the 2 events of this run" in str(run.summary())


def test_the_cli_takes_its_defaults_and_choices_from_the_spec():
    from analysis.cli import build_parser

    args = build_parser().parse_args(["study", "--out", "x", "--holm-scope", "catalog"])
    d = StudySpec()
    assert (args.model, args.estimation, args.min_obs, args.placebo_draws,
            StudySpec(calibration_draws=args.calibration_draws).calibration_draws,
            args.exclude_event_days, args.holm_scope) == (d.model, "-250:-11", d.min_obs, d.placebo_draws,
                                                          d.calibration_draws, d.exclude_event_days, "catalog")
    with pytest.raises(UserError, match="invalid choice: 'world'"):
        build_parser().parse_args(["study", "--out", "x", "--holm-scope", "world"])
