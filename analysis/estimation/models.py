"""Normal-return models and their regressors, built once per security on its sessions.

Every model is linear in its parameters: E[R_t] = x_t' theta (+ rf_t for factor models),
fitted by OLS over the estimation window (MacKinlay 1997, sec. 4; Campbell, Lo & MacKinlay
1997, ch. 4). For a return that spans n sessions (the first one after a suspension), the
regressor row is the sum of the n session rows, so the market model predicts
n*alpha + beta*sum(Rm) (and the constant-mean model n*mu).

=================  ==========================================  ===  ==================
model              normal return                               k    dependent variable
=================  ==========================================  ===  ==================
mean               mu                                          1    R
market-adjusted    Rm  (theta fixed at 1, nothing estimated)   0    R
market (default)   alpha + beta Rm                             2    R
ff3                a + b MKT + s SMB + h HML                   4    R - rf
carhart            ff3 + mom MOM                               5    R - rf
=================  ==========================================  ===  ==================

Returns are decimals; factors are converted from French's percent by the factor loader.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from analysis.errors import UserError
from analysis.estimation.kernels import _compiled


@dataclass(frozen=True)
class ModelSpec:
    """A normal-return model: its regressors, estimated parameters, dependent variable, and how
    tables and the PDF name it (``label``) and write it (``formula``).

    Adding a model is one entry of :data:`MODELS`: the CLI's ``--model``, the report
    configuration, the notebooks' ``model``/``robustness_models`` and the PDF's labels read it
    from there; a model with ``excess`` returns reads French's (US) factors and covers the US
    securities only (``factors`` names the series it needs).
    """

    name: str
    regressors: tuple[str, ...]  # per-session base columns summed over a return's span
    k: int  # number of estimated parameters (0 for market-adjusted)
    excess: bool  # dependent variable is R - rf
    fixed: bool = False  # theta fixed at 1 (market-adjusted), no estimation
    label: str = ""  # tables and the PDF: "Market model"
    formula: str = ""  # the normal return in text: "alpha + beta Rm"

    @property
    def factors(self) -> tuple[str, ...]:
        """The factor series the model reads from French's files (empty for a market model)."""
        return tuple(r for r in self.regressors if r not in ("const", "mkt")) + (("rf",) if self.excess else ())

    @property
    def params(self) -> tuple[str, ...]:
        # the momentum loading is "mom", not "m": "m" is the observation count in estimation.csv
        names = {"const": "alpha", "mkt": "beta", "mkt_rf": "beta", "smb": "s", "hml": "h", "mom": "mom"}
        return tuple(names[r] for r in self.regressors)


#: Every normal-return model, in display order (the one place a model is declared).
MODELS: dict[str, ModelSpec] = {m.name: m for m in (
    ModelSpec("mean", ("const",), 1, False, label="Constant mean", formula="mu"),
    ModelSpec("market-adjusted", ("mkt",), 0, False, fixed=True, label="Market-adjusted", formula="Rm"),
    ModelSpec("market", ("const", "mkt"), 2, False, label="Market model", formula="alpha + beta Rm"),
    ModelSpec("ff3", ("const", "mkt_rf", "smb", "hml"), 4, True, label="Fama-French 3",
              formula="rf + a + b (Rm - rf) + s SMB + h HML"),
    ModelSpec("carhart", ("const", "mkt_rf", "smb", "hml", "mom"), 5, True, label="Carhart 4",
              formula="rf + a + b (Rm - rf) + s SMB + h HML + m MOM"),
)}
#: name -> label (tables, the PDF), from :data:`MODELS`.
MODEL_LABELS: dict[str, str] = {m.name: m.label for m in MODELS.values()}


def factor_models() -> tuple[str, ...]:
    """Names of the models that read French's factors (excess returns; US securities only)."""
    return tuple(m.name for m in MODELS.values() if m.excess)


def get_model(name: str) -> ModelSpec:
    """Look up a model by name (``mean``, ``market-adjusted``, ``market``, ``ff3``, ``carhart``)."""
    try:
        return MODELS[name]
    except KeyError:
        raise UserError(f"unknown model '{name}'; choose one of: {', '.join(MODELS)}") from None


def span_sum(values: np.ndarray, span: np.ndarray) -> np.ndarray:
    """Sum of ``values`` over the ``span`` sessions ending at each position (vectorized).

    values: (T,) or (T, c) per-session values; span: (T,) ints (0 = no return there).
    A sum that touches a NaN is NaN; positions with span 0 give NaN.
    """
    v = np.asarray(values, dtype=float)
    two_d = v.ndim == 2
    if not two_d:
        v = v[:, None]
    T = v.shape[0]
    nan = np.isnan(v)
    cs = np.vstack([np.zeros((1, v.shape[1])), np.cumsum(np.where(nan, 0.0, v), axis=0)])
    cn = np.vstack([np.zeros((1, v.shape[1])), np.cumsum(nan, axis=0)])
    end = np.arange(1, T + 1)
    start = np.clip(end - np.maximum(span, 1), 0, None)
    out = cs[end] - cs[start]
    out[(cn[end] - cn[start]) > 0] = np.nan
    out[span < 1] = np.nan
    return out if two_d else out[:, 0]


def design(spec: ModelSpec, span: np.ndarray, base: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Regressor rows X (T, p) and the risk-free offset (T,) for one security.

    base: per-session columns ``mkt`` (benchmark return) and, for factor models,
    ``mkt_rf, smb, hml, rf[, mom]`` (decimals), aligned on the security's sessions.
    Rows are summed over each return's span; the offset is the summed rf (0 if not excess).
    """
    T = len(span)
    cols = []
    for name in spec.regressors:
        if name == "const":
            cols.append(np.ones(T))
        else:
            if name not in base:
                raise UserError(f"model '{spec.name}' needs the '{name}' series (supply --factors)")
            cols.append(base[name].to_numpy(dtype=float))
    X = span_sum(np.column_stack(cols), span)
    if spec.excess:
        offset = span_sum(base["rf"].to_numpy(dtype=float), span)
    else:
        offset = np.zeros(T)
    return X, offset


def span_sum_rows(values: np.ndarray, span: np.ndarray) -> np.ndarray:
    """:func:`span_sum` of every row of (n, G) ``values`` with (n, G) ``span`` at once (each
    row a security on a common session grid; a row's sums restart where its data start, as
    :func:`span_sum` on the row's own sessions, with the same additions in the same order:
    running sums of the row, NaN counted as 0, and the difference of two of them), in one
    compiled pass per row (no (n, G) temporaries)."""
    v = np.ascontiguousarray(values, dtype=float)
    out = np.empty(v.shape)
    if v.size:
        _span_sums(v, np.ascontiguousarray(span, dtype=np.int64), out)
    return out


@_compiled()  # no fastmath: the running sums keep numpy.cumsum's order and rounding
def _span_sums(v, span, out):
    """out[i, g] = S[g + 1] - S[max(0, g + 1 - max(span, 1))] with S the running sum of row i
    (NaN as 0.0); NaN where that range holds a NaN or span < 1 (:func:`span_sum_rows`)."""
    n, G = v.shape
    cs = np.empty(G + 1)
    cn = np.empty(G + 1, np.int64)
    for i in range(n):
        cs[0] = 0.0
        cn[0] = 0
        for g in range(G):
            x = v[i, g]
            missing = math.isnan(x)
            cs[g + 1] = cs[g] + (0.0 if missing else x)
            cn[g + 1] = cn[g] + (1 if missing else 0)
        for g in range(G):
            s = span[i, g]
            start = max(g + 1 - max(s, 1), 0)
            if s < 1 or cn[g + 1] - cn[start] > 0:
                out[i, g] = np.nan
            else:
                out[i, g] = cs[g + 1] - cs[start]


def design_rows(spec: ModelSpec, span: np.ndarray, base: dict) -> tuple[np.ndarray, np.ndarray]:
    """:func:`design` of n securities on a common session grid: span (n, G), base {name:
    (n, G)}; returns X (n, G, p) and the offset (n, G)."""
    n, G = span.shape
    cols = []
    for name in spec.regressors:
        if name == "const":
            cols.append(np.ones((n, G)))
        else:
            if name not in base:
                raise UserError(f"model '{spec.name}' needs the '{name}' series (supply --factors)")
            cols.append(np.asarray(base[name], dtype=float))
    X = np.stack([span_sum_rows(c, span) for c in cols], axis=2) if cols else np.zeros((n, G, 0))
    offset = span_sum_rows(base["rf"], span) if spec.excess else np.zeros((n, G))
    return X, offset
