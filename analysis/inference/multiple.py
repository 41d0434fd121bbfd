"""Multiple testing: Holm's step-down adjustment over the primary family, Benjamini-Hochberg
q-values per test.

- ``holm(p)`` (Holm 1979, "A simple sequentially rejective multiple test procedure",
  Scandinavian Journal of Statistics 6:65-70): with the m p-values sorted p_(1) <= ... <=
  p_(m), the adjusted p_(i) = max_{j <= i} min(1, (m - j + 1) p_(j)). Rejecting the
  hypotheses whose adjusted p < alpha controls the family-wise error rate at alpha.
- ``bh(p)`` (Benjamini & Hochberg 1995, "Controlling the false discovery rate", JRSS B
  57:289-300): q_(i) = min_{j >= i} min(1, m p_(j) / j). Rejecting q < alpha controls the
  false discovery rate at alpha (independent or positively dependent tests).

NaN p-values are left out of m and get NaN. :func:`adjust` adds ``p_holm`` (primary rows
only), ``q_bh`` (each test over all its rows with a p-value) and, when the rows have
``p_history``, ``p_holm_history`` (Holm over the same primary family on ``p_history``) to the
``tests.csv`` rows.

The primary family: rows of test :data:`~analysis.vocab.PRIMARY_TEST` (``portfolio``), the
primary window (default :data:`~analysis.vocab.PRIMARY_WINDOW`, 0:1) and the groups
:data:`~analysis.vocab.PRIMARY_GROUPS` (``named``, ``supplier``), over all events of the run.
A run without a ``named`` group (groups are the universe roles) uses ``target`` in its place
(:data:`~analysis.vocab.PRIMARY_FALLBACK`; to be removed once every run has ``named``).
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from analysis.vocab import PRIMARY_FALLBACK, PRIMARY_GROUPS, PRIMARY_TEST, PRIMARY_WINDOW

#: Level at which a primary result is called significant (Holm-adjusted p below it).
ALPHA = 0.05


def _ascending(p) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(p as floats, an all-NaN output, the positions of the finite p-values in ascending order)."""
    p = np.asarray(p, dtype=float)
    idx = np.nonzero(np.isfinite(p))[0]
    return p, np.full(p.shape, np.nan), idx[np.argsort(p[idx], kind="stable")]


def holm(p) -> np.ndarray:
    """Holm (1979) step-down adjusted p-values (NaN stays NaN and is not counted)."""
    p, out, order = _ascending(p)
    m = len(order)
    if m == 0:
        return out
    adj = np.minimum(1.0, (m - np.arange(m)) * p[order])
    out[order] = np.maximum.accumulate(adj)
    return out


def bh(p) -> np.ndarray:
    """Benjamini-Hochberg (1995) q-values (NaN stays NaN and is not counted)."""
    p, out, order = _ascending(p)
    m = len(order)
    if m == 0:
        return out
    q = np.minimum(1.0, m * p[order] / np.arange(1, m + 1))
    out[order] = np.minimum.accumulate(q[::-1])[::-1]
    return out


def primary_groups(groups, wanted=PRIMARY_GROUPS) -> tuple[str, ...]:
    """The primary family's groups for a run with these ``groups``: ``wanted`` (default
    :data:`PRIMARY_GROUPS`), with ``target`` standing in for ``named`` when the run has no
    ``named`` group."""
    have = set(groups)
    return tuple(g if g in have else PRIMARY_FALLBACK.get(g, g) for g in wanted)


def primary_mask(tests: pd.DataFrame, window: str = PRIMARY_WINDOW, test: str = PRIMARY_TEST,
                 groups=PRIMARY_GROUPS) -> np.ndarray:
    """(rows,) bool: the row is in the primary family (``test`` rows of ``window`` and ``groups``)."""
    if tests.empty:
        return np.zeros(0, dtype=bool)
    groups = primary_groups(tests["group"].unique(), groups)
    return ((tests["test"] == test) & (tests["window"] == window)
            & tests["group"].isin(groups)).to_numpy()


def adjust(tests: pd.DataFrame, primary_window: str = PRIMARY_WINDOW, test: str = PRIMARY_TEST,
           groups=PRIMARY_GROUPS, others=None) -> pd.DataFrame:
    """``tests`` with ``primary`` (bool), ``p_holm`` (Holm over the primary family, NaN
    elsewhere) and ``q_bh`` (Benjamini-Hochberg per test over its rows with a p-value).
    The family: ``test`` rows of ``primary_window`` and ``groups`` (a StudySpec's primary
    window, test and groups), plus ``others``: the p-values of the family's rows for events not
    in ``tests`` (``--holm-scope catalog``: the rest of the catalog), which count in Holm's m
    and order but get no row."""
    out = tests.copy()
    prim = primary_mask(out, primary_window, test, groups)
    p = out["p_value"].to_numpy(dtype=float) if len(out) else np.zeros(0)
    p_holm = np.full(len(out), np.nan)
    extra = np.asarray([] if others is None else others, dtype=float)
    p_holm[prim] = holm(np.concatenate([p[prim], extra]))[:int(prim.sum())]
    q = np.full(len(out), np.nan)
    for name in dict.fromkeys(out["test"]) if len(out) else ():
        m = (out["test"] == name).to_numpy()
        q[m] = bh(p[m])
    out["primary"] = prim
    out["p_holm"] = p_holm
    out["q_bh"] = q
    if "p_history" in out.columns:  # the same family on the tail-robust p (analysis.inference.history)
        ph = np.full(len(out), np.nan)
        ph[prim] = holm(out["p_history"].to_numpy(dtype=float)[prim])
        out["p_holm_history"] = ph
    return out


def verdict(row) -> str:
    """'significant (Holm)' for a primary row with p_holm < 0.05, 'not significant (Holm)' for
    another primary row, 'exploratory' for every other row."""
    if bool(row.get("primary", False)):
        ph = row.get("p_holm", np.nan)
        return "significant (Holm)" if np.isfinite(ph) and ph < ALPHA else "not significant (Holm)"
    return "exploratory"
