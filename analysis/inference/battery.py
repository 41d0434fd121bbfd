"""Run every registered test over the cells: the tidy ``tests.csv`` rows.

Importing this module registers the tests, in the order tests.csv lists them: the
event-time portfolio and sample-quantile tests (:mod:`~analysis.inference.portfolio`), the
parametric tests (:mod:`~analysis.inference.parametric`), the rank tests
(:mod:`~analysis.inference.ranks`), the placebo test (:mod:`~analysis.inference.placebo`).
"""
from __future__ import annotations

import pandas as pd

# Registration order is tests.csv's order: portfolio, parametric, rank, then placebo tests.
from analysis.inference import portfolio  # noqa: F401, I001
from analysis.inference import parametric  # noqa: F401, I001
from analysis.inference import ranks  # noqa: F401, I001
from analysis.inference import placebo  # noqa: F401, I001
from analysis.inference.cells import Cells
from analysis.inference.registry import REGISTRY, CellTest

#: The leading columns of tests.csv (a contract; the tests' extra columns follow).
TEST_COLUMNS = ["event_id", "group", "window", "n", "mean_car", "test", "statistic", "p_value"]


def describe(name: str, what: str = "label") -> str:
    """A registered test's ``label``, ``description`` or ``words`` (the name if not registered)."""
    t = REGISTRY.get(name)
    return getattr(t, what) if t is not None else str(name)


def min_firms(name: str) -> int:
    """The fewest firms a registered test applies to (2 for a name that is not registered)."""
    t = REGISTRY.get(name)
    return int(t.min_n) if t is not None else 2


def tests_for(cells: Cells, names=None) -> list[CellTest]:
    """The registered tests to run on ``cells`` (those ``names``, default all), in registry
    order, leaving out those the run cannot provide for (e.g. placebo without draws)."""
    wanted = list(REGISTRY) if names is None else [n for n in REGISTRY if n in set(names)]
    return [REGISTRY[n] for n in wanted if REGISTRY[n].available(cells)]


def run_battery(cells: Cells, names=None) -> pd.DataFrame:
    """One row per (cell, test): the columns of :data:`TEST_COLUMNS` plus each test's extras
    (``r_kp`` of the KP-adjusted BMP, ``draws`` of the placebo test, ``estimate ... dof`` of
    the portfolio test; NaN on other rows) and, when the cells carry a calibration
    (:mod:`analysis.inference.calibration`), ``p_calibrated, size_5pct, calibration_draws``."""
    tests = tests_for(cells, names)
    if cells.n_cells == 0 or not tests:
        return pd.DataFrame(columns=TEST_COLUMNS)
    keys = cells.keys
    frames, extra_names = [], []
    for test in tests:
        outcome = test.run(cells)
        f = keys.copy()
        f["n"] = cells.n.astype(int)
        f["mean_car"] = cells.mean_car
        f["test"] = test.name
        f["statistic"] = outcome.statistic
        f["p_value"] = outcome.p_value
        extra = dict(outcome.extra)
        if cells.calibration is not None:  # p_calibrated, size_5pct at the pseudo-event dates
            extra.update(cells.calibration(cells, test, outcome))
        for col, values in extra.items():
            f[col] = values
            if col not in extra_names:
                extra_names.append(col)
        frames.append(f)
    out = pd.concat(frames, ignore_index=True)
    return out[TEST_COLUMNS + extra_names]
