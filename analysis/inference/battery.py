"""Run every registered test over the cells: the tidy ``tests.csv`` rows.

Importing this module registers the tests, in the order tests.csv lists them: the
event-time portfolio and sample-quantile tests (:mod:`~analysis.inference.portfolio`), the
parametric tests (:mod:`~analysis.inference.parametric`), the rank tests
(:mod:`~analysis.inference.ranks`), the placebo test (:mod:`~analysis.inference.placebo`).
"""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pandas as pd

# Importing the families registers their tests (REGISTRY keeps registry.FAMILY_ORDER, tests.csv's order).
from analysis.inference import portfolio  # noqa: F401, I001
from analysis.inference import parametric  # noqa: F401, I001
from analysis.inference import ranks  # noqa: F401, I001
from analysis.inference import placebo  # noqa: F401, I001
from analysis.inference.cells import Cells
from analysis.inference.columns import take_column
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
    C, T = cells.n_cells, len(tests)
    # per test: its statistic, p-value and extras, each (C,). The slow quantities tests read
    # (CellTest.reads, e.g. KP's r_kp) are computed on a thread (the core the main thread leaves
    # idle between tests) while the tests that do not read them run first (each test's numbers
    # are its own: the order they are computed in changes none; the rows keep registry order)
    ahead = list(dict.fromkeys(name for t in tests for name in t.reads if name not in vars(cells)))
    values = [None] * T
    order = sorted(range(T), key=lambda i: any(name in ahead for name in tests[i].reads))
    with ThreadPoolExecutor(max_workers=1) as pool:
        pending = {name: pool.submit(getattr, cells, name) for name in ahead}
        for i in order:
            test = tests[i]
            for name in test.reads:
                if name in pending:
                    pending.pop(name).result()  # its error, if any, is raised here
            outcome = test.run(cells)
            extra = dict(outcome.extra)
            if cells.calibration is not None:  # p_calibrated, size_5pct at the pseudo-event dates
                extra.update(cells.calibration(cells, test, outcome))
            values[i] = {"statistic": outcome.statistic, "p_value": outcome.p_value, **extra}
    names = list(dict.fromkeys(col for v in values for col in v))
    # the tests' rows one after the other: labels and test names repeated as whole columns (no
    # frame per test); a column a test does not fill is NaN on its rows (numeric columns: the
    # dtype pandas.concat gives, e.g. int with NaN -> float)
    nan = np.full(C, np.nan)
    columns = {name: _repeated(col, T) for name, col in cells.key_columns().items()}
    columns["n"] = np.tile(cells.n.astype(int), T)
    columns["mean_car"] = np.tile(cells.mean_car, T)
    columns["test"] = take_column(pd.Series(np.asarray([t.name for t in tests], dtype=object)),
                                  np.repeat(np.arange(T), C))
    for name in names:
        columns[name] = np.concatenate([np.broadcast_to(np.asarray(v[name]) if name in v else nan, (C,))
                                        for v in values])
    return pd.DataFrame(columns, copy=False)


def _repeated(column, times: int):
    """A frame column (an array of one of its dtypes) repeated ``times`` times end to end
    (a string column's Arrow chunks are reused, not copied)."""
    return pd.concat([pd.Series(column, copy=False)] * times, ignore_index=True).array
