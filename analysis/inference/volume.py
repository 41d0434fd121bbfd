"""Abnormal trading volume: did trading activity spike around the news?

Per firm-event (after Campbell & Wasley 1996, "Measuring abnormal daily trading volume for
samples of NYSE/ASE and NASDAQ securities using event-study methods", Rev. Quant. Fin. Acc. 6):
  v_t   = log(1 + volume_t)                       (shares; suspended days have no volume)
  mu, s = mean and sd (ddof 1) of v_t over the estimation window's sessions with a volume
  AV_t  = v_t - mu                                (abnormal log volume; 0.69 ~ twice normal)
  SAV_t = AV_t / s
Per window [a, b] with L days that have a volume:  CAV = sum AV_t,  Z_i = sum SAV_t / sqrt(L).
Cross-sectional test per (event, group, window), BMP-style (Boehmer et al. 1991):
  t = mean(Z_i) / (sd(Z_i) / sqrt(N)), Student t(N - 1), two-sided. N < 2: not applicable.
Price limits can hide a price reaction; volume still shows whether the news was traded.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from analysis.estimation.kernels import map_on_threads
from analysis.inference.columns import date_objects, take_column
from analysis.vocab import ALL, GROUP_ORDER, format_window
from analysis.estimation.pvalues import t_p_value


#: Firm-events whose estimation-window volumes are gathered at a time (memory: a few
#: (chunk, estimation days) arrays; the moments are row by row, so the same in any chunks).
VOLUME_CHUNK = 16_384


def abnormal_volume(panel, out, windows):
    """Per-day abnormal log volume (N, L) and per-window (CAV, Z, L) arrays (N, W)."""
    store = panel.store
    vol = store.volume
    N = len(out.ok)
    n_est = np.zeros(N, dtype=np.int64)
    mu, s = np.zeros(N), np.zeros(N)
    est_window = out.est_window  # a lazy field: built here once, not by each thread

    def chunk(a: int) -> None:  # the estimation days of VOLUME_CHUNK firm-events: their rows alone
        rows = np.arange(a, min(N, a + VOLUME_CHUNK))
        flat = est_window.subset(rows).flat
        est_v = np.log1p(vol[flat])
        # estimation days inside the security's data only (gather_index clamps outside ones to 0)
        est_in = np.isfinite(est_v) & _inside(panel, rows, out.estimation)
        est_v = np.where(est_in, est_v, np.nan)
        n_est[rows] = est_in.sum(axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            mu[rows] = np.nansum(est_v, axis=1) / n_est[rows]
            s[rows] = np.sqrt(np.nansum((est_v - mu[rows][:, None]) ** 2, axis=1) / (n_est[rows] - 1))

    map_on_threads(chunk, range(0, N, VOLUME_CHUNK))  # numpy releases the GIL
    inside = _inside(panel, np.arange(N), (int(out.days[0]), int(out.days[-1])))
    v = np.where(inside, np.log1p(vol[out.flat]), np.nan)
    av = v - mu[:, None]
    with np.errstate(invalid="ignore", divide="ignore"):
        sav = av / s[:, None]
    W = len(windows)
    N = av.shape[0]
    cav = np.full((N, W), np.nan)
    z = np.full((N, W), np.nan)
    nd = np.zeros((N, W), dtype=np.int64)
    for j, (a, b) in enumerate(windows):
        inw = (out.days >= a) & (out.days <= b)
        have = np.isfinite(av[:, inw])
        cnt = have.sum(axis=1)
        cav[:, j] = np.where(cnt > 0, np.nansum(av[:, inw], axis=1), np.nan)
        with np.errstate(invalid="ignore", divide="ignore"):
            z[:, j] = np.where(cnt > 0, np.nansum(sav[:, inw], axis=1) / np.sqrt(cnt), np.nan)
        nd[:, j] = cnt
    ok = out.ok & (n_est >= 30) & np.isfinite(s) & (s > 0)
    for arr in (cav, z):
        arr[~ok] = np.nan
    return {"v": v, "av": np.where(ok[:, None], av, np.nan), "mu": mu, "s": s,
            "cav": cav, "z": z, "n_days": nd, "ok": ok}


def _inside(panel, rows, rng):
    """(len(rows), days) bool: relative days rng[0]..rng[1] of firm-events ``rows`` inside
    their security's data."""
    f = panel.frame
    a, b = rng
    days = np.arange(a, b + 1)
    pos = f["p0"].to_numpy()[rows][:, None] + days[None, :]
    return (pos >= 0) & (pos < panel.store.length[f["sec"].to_numpy()[rows]][:, None])


def volume_frames(panel, out, windows) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(volume.csv per firm-day, volume tests per event/group/window)."""
    res = abnormal_volume(panel, out, windows)
    f = panel.frame
    lo = min(w[0] for w in windows)
    hi = max(w[1] for w in windows)
    keep = (out.days >= lo) & (out.days <= hi)
    rows = np.nonzero(res["ok"])[0]
    L = int(keep.sum())
    store = panel.store
    flat = out.flat[rows][:, keep]
    daily = pd.DataFrame({
        "event_id": take_column(f["event_id"], np.repeat(rows, L)),
        "symbol": take_column(f["symbol"], np.repeat(rows, L)),
        "day": np.tile(out.days[keep], len(rows)),
        "date": date_objects(store.date_of(store.dates[flat]).ravel()),
        "volume": np.exp(res["v"][rows][:, keep].ravel()) - 1,
        "log_volume": res["v"][rows][:, keep].ravel(),
        "normal_log_volume": np.repeat(res["mu"][rows], L),
        "abnormal_log_volume": res["av"][rows][:, keep].ravel(),
        "sd_log_volume": np.repeat(res["s"][rows], L),
        "role": take_column(f["role"], np.repeat(rows, L)),
    })
    recs = []
    for (ev, role), idx in _groups(f, rows):
        for j, w in enumerate(windows):
            zz = res["z"][idx, j]
            zz = zz[np.isfinite(zz)]
            cav = res["cav"][idx, j]
            n = len(zz)
            sd = zz.std(ddof=1) if n >= 2 else np.nan
            if n >= 2 and sd > 0:
                t = zz.mean() / (sd / np.sqrt(n))
                p = float(t_p_value(t, n - 1))
            else:
                t = p = np.nan
            recs.append({"event_id": ev, "group": role, "window": format_window(w), "n": n,
                         "mean_cav": np.nanmean(cav) if n else np.nan,
                         "test": "volume_bmp", "statistic": t, "p_value": p})
    return daily, pd.DataFrame(recs, columns=["event_id", "group", "window", "n", "mean_cav",
                                              "test", "statistic", "p_value"])


def _groups(f, rows):
    ev_of = f["event_id"].to_numpy(object)[rows]
    group_of = (f["group"] if "group" in f.columns else f["role"]).to_numpy(object)
    for ev in pd.unique(ev_of):  # in order of first appearance
        evrows = rows[ev_of == ev]
        groups = group_of[evrows]
        for group in GROUP_ORDER:
            if group != ALL and (groups == group).any():
                yield (ev, group), evrows[groups == group]
        yield (ev, ALL), evrows
