"""An independent reference implementation of the event-study statistics on the recorded data
(test-only; used through the ``reference_model``, ``ref`` and ``make_prices`` fixtures of
conftest.py): it shares nothing with ``analysis``: it reads the CSV files with pandas, takes a
security's sessions from its benchmark index file (an index trades on every session of its
exchange), fits with statsmodels and builds Var(CAR) from explicit matrices.

Its own module so that conftest.py imports no pandas, statsmodels or scipy: the pytest-xdist
controller process loads conftest.py but runs no test (~2 s of CPU, before the workers start)."""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd
from statsmodels.regression.linear_model import OLS
from statsmodels.tools.tools import add_constant
from scipy import stats


@lru_cache(maxsize=None)
def read_adj_close(folder: str, symbol: str) -> pd.Series:
    """adj_close of a recorded file, read with plain pandas."""
    f = pd.read_csv(Path(folder) / f"{symbol}.csv", parse_dates=["date"], index_col="date")
    return f["adj_close"].dropna()


@lru_cache(maxsize=None)
def read_factors(folder: str, with_mom: bool) -> pd.DataFrame:
    """French daily factors as decimals (files are in percent)."""
    f = pd.read_csv(Path(folder) / "F-F_Research_Data_Factors_daily.csv", parse_dates=["date"], index_col="date")
    if with_mom:
        m = pd.read_csv(Path(folder) / "F-F_Momentum_Factor_daily.csv", parse_dates=["date"], index_col="date")
        f = f.join(m, how="inner")
    return f / 100.0


class Reference:
    """Independent estimate of one firm-event.

    sec, bench: price series (adjusted close) indexed by date; sessions: the exchange's
    sessions; day0: a session date; est: (T1, T2) relative sessions; model: ``market``,
    ``mean``, ``market-adjusted``, ``ff3`` or ``carhart`` (factors: decimals by date).
    """

    def __init__(self, sec, bench, sessions, day0, est=(-250, -11), model="market", factors=None):
        self.sessions = pd.DatetimeIndex(sessions)
        self.p0 = self.sessions.get_loc(pd.Timestamp(day0))
        px = sec.reindex(self.sessions)
        pm = bench.reindex(self.sessions)
        # one-session simple returns only (NaN where either close is missing)
        self.r = px / px.shift(1) - 1.0
        self.rm = pm / pm.shift(1) - 1.0
        self.px = px
        self.model = model
        d = pd.DataFrame({"r": self.r, "rm": self.rm})
        if model in ("ff3", "carhart"):
            cols = ["mkt_rf", "smb", "hml"] + (["mom"] if model == "carhart" else [])
            fac = factors.reindex(self.sessions)
            d = d.join(fac[cols + ["rf"]])
            self.xcols = cols
            d["y"] = d["r"] - d["rf"]
        else:
            d["rf"] = 0.0
            d["y"] = d["r"]
            self.xcols = {"market": ["rm"], "mean": [], "market-adjusted": ["rm"]}[model]
        self.data = d
        est_rows = d.iloc[self.p0 + est[0]: self.p0 + est[1] + 1]
        est_rows = est_rows.dropna(subset=["y", "rm"] + self.xcols)
        self.est_dates = est_rows.index
        self.M = len(est_rows)
        if model == "market-adjusted":
            ar = est_rows["r"] - est_rows["rm"]
            self.est_ar = ar
            self.sigma2 = float(ar.var(ddof=1))
            self.dof = self.M - 1
            self.params = None
            self.xtx_inv = None
        else:
            X = add_constant(est_rows[self.xcols], has_constant="add") if self.xcols else \
                pd.DataFrame({"const": np.ones(self.M)}, index=est_rows.index)
            fit = OLS(est_rows["y"], X).fit()
            self.fit = fit
            self.params = fit.params.to_numpy()
            self.sigma2 = float(fit.scale)  # SSR / (M - k)
            self.dof = int(fit.df_resid)
            Xm = X.to_numpy()
            self.xtx_inv = np.linalg.inv(Xm.T @ Xm)
            self.est_ar = fit.resid

    @property
    def sigma(self) -> float:
        return float(np.sqrt(self.sigma2))

    def rows(self, dates) -> np.ndarray:
        """Regressor rows (const first) for the given session dates."""
        d = self.data.loc[pd.DatetimeIndex(dates)]
        return np.column_stack([np.ones(len(d))] + [d[c].to_numpy() for c in self.xcols])

    def normal(self, dates) -> np.ndarray:
        if self.model == "market-adjusted":
            return self.data.loc[pd.DatetimeIndex(dates), "rm"].to_numpy()
        return self.rows(dates) @ self.params + self.data.loc[pd.DatetimeIndex(dates), "rf"].to_numpy()

    def window(self, a: int, b: int) -> dict:
        """CAR over relative days a..b (all one-session returns), Var(CAR), t, p, BHAR."""
        dates = self.sessions[self.p0 + a: self.p0 + b + 1]
        r = self.data.loc[dates, "r"].to_numpy()
        assert np.isfinite(r).all(), "reference window() handles no suspension"
        normal = self.normal(dates)
        ar = r - normal
        L = len(dates)
        one = np.ones(L)
        if self.model == "market-adjusted":
            var = self.sigma2 * L
        else:
            Xs = self.rows(dates)
            V = self.sigma2 * (np.eye(L) + Xs @ self.xtx_inv @ Xs.T)
            var = float(one @ V @ one)
        car = float(ar.sum())
        t = car / np.sqrt(var)
        return {"dates": dates, "ar": ar, "ret": r, "normal": normal, "car": car, "var": var,
                "se": float(np.sqrt(var)), "t": t, "p": float(2 * stats.t.sf(abs(t), self.dof)),
                "bhar": float(np.prod(1 + r) - np.prod(1 + normal))}


def prices_from_returns(dates, returns, start=100.0) -> pd.Series:
    """Prices on ``dates`` whose simple returns are ``returns`` (first entry: the base price date;
    NaN return = no price that day, the next given return runs from the last price)."""
    out, p = [start], start
    for r in returns:
        if np.isnan(r):
            out.append(np.nan)
        else:
            p = p * (1.0 + r)
            out.append(p)
    return pd.Series(out, index=pd.DatetimeIndex(dates))
