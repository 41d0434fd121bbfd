"""Figures: prices around day 0, CAR paths with 95% bands, the cross-event heatmap, groups by event.

Every group band and interval is the equal-weighted event-time portfolio's (its CAR path and
Var(CAR_p) with estimation error, Student t(M_p - k); :func:`portfolio_band`,
:func:`analysis.inference.portfolio.portfolio_path`), never mean +- 1.96 sd / sqrt(N): with a
few correlated firms that band is far too narrow.

All functions take an :class:`~analysis.results.EventStudyResults` and return a matplotlib
Figure (they never call ``plt.show``), so notebooks display them and the pipeline saves them.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from analysis.estimation import engine
from analysis import fmt
from analysis.tables import requested_windows
from analysis.vocab import ALL, BENCHMARK_NAMES, GROUP_ORDER, GROUPS, NAMED, group_color, group_label

#: The firm groups drawn (every group but all firms), in display order.
DRAWN_GROUPS = tuple(g for g in GROUP_ORDER if g != ALL)


def first_rows(frame: pd.DataFrame, keys, values) -> dict[tuple, tuple]:
    """{key: values of the first row with that key} (``keys``, ``values``: column names): one
    pass instead of filtering ``frame`` once per key."""
    found: dict[tuple, tuple] = {}
    cols = [frame[c].to_numpy() for c in (*keys, *values)]
    n = len(keys)
    for row in zip(*cols):
        found.setdefault(row[:n], row[n:])
    return found


def _group_col(frame: pd.DataFrame) -> str:
    """The column holding each firm's group for its event (``group``; older frames: ``role``)."""
    return "group" if "group" in frame.columns else "role"

Z95 = 1.959963984540054
#: Colour of the market benchmarks in the price figure (no group has it).
BENCHMARK_COLOR = "#8c6d31"
#: The US supplier most exposed to a named firm, drawn in the price figure: Ambarella for the
#: camera makers (Hikvision and Dahua buy its video chips; its 10-K names the surveillance
#: market in China among its risks), AMD for Sugon (its Hygon joint venture licensed AMD's x86
#: design). Other named firms, and events that named none, use :data:`DEFAULT_EXPOSED_SUPPLIER`.
EXPOSED_SUPPLIER = {"002415.SZ": "AMBA", "002236.SZ": "AMBA", "603019.SS": "AMD"}
DEFAULT_EXPOSED_SUPPLIER = "AMBA"
#: Days of the price figure, relative to day 0 (each market's own sessions).
PRICE_DAYS = (-10, 10)
#: CAR paths start from the close of this day, as prices are indexed to 100 on it: the path's
#: value on day b >= 0 is CAR[0, b], the CAR of the window 0:b in the tables.
PATH_ANCHOR = -1
#: The axis label of every CAR path figure.
PATH_LABEL = "CAR from the close of day \u22121 (%)"


def event_label(res, event_id: str, with_date: bool = True) -> str:
    """An event as readers see it: its short title (data/events.csv), optionally with its date."""
    return event_labels(res, [event_id], with_date)[0]


def event_labels(res, event_ids, with_date: bool = True) -> list[str]:
    """:func:`event_label` of each of ``event_ids``, reading the catalog once."""
    ev = res.study.events
    rows: dict = {}
    for key, row in zip(ev["event_id"], ev.to_dict("records")):
        rows.setdefault(key, row)
    out = []
    for event_id in event_ids:
        row = rows.get(event_id)
        if row is None:
            out.append(str(event_id))
            continue
        title = row.get("short_title") or str(row["title"])[:40]
        out.append(f"{title}, {fmt.date_text(str(row['announced_at'])[:10])}" if with_date else str(title))
    return out


def _frame_rows(res, event_id: str) -> pd.DataFrame:
    f = res.panel.frame
    rows = f[f["event_id"] == event_id].copy()
    rows["row"] = np.nonzero((f["event_id"] == event_id).to_numpy())[0]
    return rows


def price_paths(res, event_id: str, start: int = PRICE_DAYS[0], end: int = PRICE_DAYS[1], symbols=None) -> pd.DataFrame:
    """Prices around day 0 indexed to 100 on day -1 (adjusted closes), per security and each
    market's benchmark: symbol, name, group ('' for a benchmark), exchange, day, date, index,
    limit (+1 close at the upper daily limit, -1 at the lower, 0 not), suspended (no trade).

    Days count each security's own exchange sessions. ``symbols``: the firms (default: the
    event's named firms, else its first firm of role target, and the most exposed US supplier,
    :data:`EXPOSED_SUPPLIER`). A suspended session has no index (NaN); the first return after
    it spans the gap, so the line resumes at the right level.
    """
    from analysis.inference.limits import A_SHARE_EXCHANGES, limit_fraction, limit_state, reference_prev_close

    store = res.panel.store
    rows = _frame_rows(res, event_id)
    rows = rows[(rows["p0"] >= 0)]
    if symbols is None:
        symbols = price_symbols(res, event_id)
    days = np.arange(start, end + 1)
    out = []
    markets = {}
    for r in rows[rows["symbol"].isin(list(symbols))].itertuples(index=False):
        s = int(r.sec)
        pos = int(r.p0) + days
        inside = (pos >= 0) & (pos < store.length[s])
        flat = store.start[s] + np.clip(pos, 0, store.length[s] - 1)
        ret = np.where(inside, store.ret[flat], np.nan)
        span = np.where(inside, store.span[flat], 0)
        traded = inside & (span >= 1) & np.isfinite(ret)
        level = np.cumprod(np.where(traded, 1.0 + np.nan_to_num(ret), 1.0))
        before = np.nonzero(traded & (days <= -1))[0]
        base = level[before[-1]] if len(before) else np.nan  # day -1, or the last session traded before it
        index = np.where(traded, 100.0 * level / base, np.nan)
        dates = np.where(inside, store.date_of(store.dates[flat]), np.datetime64("NaT"))
        limit = np.zeros(len(days), dtype=int)
        if r.exchange in A_SHARE_EXCHANGES and store.close is not None:
            close = np.where(inside, store.close[flat], np.nan)
            ref = reference_prev_close(close, ret, span)
            frac = limit_fraction(r.symbol, np.asarray(dates, dtype="datetime64[D]"))
            limit = np.where(traded, limit_state(close, ref, frac), 0).astype(int)
        out.append(pd.DataFrame({"symbol": r.symbol, "name": r.name, "group": getattr(r, "group", r.role),
                                 "exchange": r.exchange, "day": days, "date": dates, "index": index,
                                 "limit": limit, "suspended": inside & ~traded}))
        market = "China" if r.exchange in A_SHARE_EXCHANGES else "US"
        markets.setdefault(market, (r.benchmark, dates, inside))
    for market, (bench, dates, inside) in markets.items():
        frame = res.frames.get(bench) if isinstance(res.frames, dict) else None
        if frame is None or "adj_close" not in frame:
            continue
        px = frame["adj_close"].copy()
        px.index = pd.to_datetime(px.index)
        vals = px.reindex(pd.to_datetime(dates)).to_numpy(dtype=float)
        vals = np.where(inside, vals, np.nan)
        base = vals[days == -1][0]
        out.append(pd.DataFrame({"symbol": bench, "name": BENCHMARK_NAMES.get(bench, bench), "group": "",
                                 "exchange": market, "day": days, "date": dates, "index": 100.0 * vals / base,
                                 "limit": 0, "suspended": False}))
    cols = ["symbol", "name", "group", "exchange", "day", "date", "index", "limit", "suspended"]
    return pd.concat(out, ignore_index=True)[cols] if out else pd.DataFrame(columns=cols)


def price_symbols(res, event_id: str) -> list[str]:
    """The firms of the price figure: the named firms (else the first firm of role target, or
    the first Chinese firm) and the most exposed US supplier that has prices at the event."""
    rows = _frame_rows(res, event_id)
    rows = rows[rows["p0"] >= 0]
    gcol = "group" if "group" in rows.columns else "role"
    named = list(rows.loc[rows[gcol] == NAMED, "symbol"])
    if not named:
        first = rows.loc[rows["role"] == "target", "symbol"]
        named = list(first.iloc[:1]) if len(first) else list(rows.loc[rows["role"] != "supplier", "symbol"].iloc[:1])
    suppliers = list(rows.loc[rows["role"] == "supplier", "symbol"])
    want = [EXPOSED_SUPPLIER.get(s) for s in named] + [DEFAULT_EXPOSED_SUPPLIER]
    exposed = next((s for s in want if s in suppliers), suppliers[0] if suppliers else None)
    return named + ([exposed] if exposed else [])


_LINESTYLES = ("-", "--", "-.", ":", (0, (5, 1, 1, 1)))


def plot_prices(res, event_id: str, ax=None, symbols=None, start: int = PRICE_DAYS[0], end: int = PRICE_DAYS[1],
                title=None):
    """Prices indexed to 100 on day -1 from ``start`` to ``end``: the named firms (group colour),
    the most exposed US supplier, each market's benchmark (dashed, :data:`BENCHMARK_COLOR`); day 0
    marked; closes at the daily price limit marked with triangles, suspended sessions with
    crosses on the 100 line."""
    import matplotlib.pyplot as plt

    paths = price_paths(res, event_id, start, end, symbols)
    if ax is None:
        fig, ax = plt.subplots(figsize=(3.4, 2.6))
    else:
        fig = ax.figure
    seen_group: dict[str, int] = {}
    limit_drawn = susp_drawn = False
    bench_styles = iter(("--", ":", "-."))
    for sym in dict.fromkeys(paths["symbol"]):
        p = paths[paths["symbol"] == sym]
        g = p["group"].iloc[0]
        if g == "":
            ax.plot(p["day"], p["index"], color=BENCHMARK_COLOR, lw=1.1, ls=next(bench_styles, "--"),
                    label=f"{p['name'].iloc[0]} (benchmark)")
            continue
        k = seen_group.get(g, 0)
        seen_group[g] = k + 1
        label = fmt.short_name(p["name"].iloc[0]) + (f" ({_singular(GROUPS[g].words if g in GROUPS else g)})"
                                                      if g != NAMED else " (named)")
        ax.plot(p["day"], p["index"], color=group_color(g), lw=1.4, ls=_LINESTYLES[k % len(_LINESTYLES)],
                marker="o", ms=2.2, label=label)
        for direction, marker in ((1, "^"), (-1, "v")):
            hit = p[p["limit"] == direction]
            if len(hit):
                ax.plot(hit["day"], hit["index"], ls="none", marker=marker, ms=6, mfc="white",
                        mec=group_color(g), mew=1.3, zorder=5)
                limit_drawn = True
        sus = p[p["suspended"].astype(bool)]
        if len(sus):
            ax.plot(sus["day"], np.full(len(sus), 0.04), ls="none", marker="x", ms=5, color=group_color(g), zorder=5,
                    transform=ax.get_xaxis_transform(), clip_on=False)
            susp_drawn = True
    if limit_drawn:
        ax.plot([], [], ls="none", marker="v", ms=6, mfc="white", mec="black", label="close at the daily limit")
    if susp_drawn:
        ax.plot([], [], ls="none", marker="x", ms=5, color="black", label="suspended (no trade)")
    ax.axhline(100, color="grey", lw=0.6)
    ax.axvline(0, color="black", lw=0.8, ls=":")
    ax.set_xlim(start - 0.5, end + 0.5)
    ticks = [d for d in range(start, end + 1) if d % 5 == 0]
    ax.set_xticks(ticks, [fmt.num(d, 0) for d in ticks])
    ax.set_xlabel("trading day (day 0: first session after the news)", fontsize=7.5)
    ax.set_ylabel("price, day \u22121 = 100", fontsize=7.5)
    ax.tick_params(labelsize=7)
    if title is not False:
        ax.set_title(title or "Prices around the news", fontsize=8.5)
    ax.legend(fontsize=6.3, loc="upper center", bbox_to_anchor=(0.5, -0.2), ncol=2, frameon=False,
              handlelength=2.6, columnspacing=1.0)
    ax.grid(alpha=0.3)
    return fig


def _singular(label: str) -> str:
    """'US suppliers' -> 'US supplier' (a legend entry of one firm)."""
    return label[:-1] if label.endswith("s") else label


def car_paths(res, event_id: str, start: int | None = None, end: int | None = None,
              anchor: int | None = PATH_ANCHOR) -> pd.DataFrame:
    """Per-firm CAR path and se for each day tau (decimal), tidy: event_id,symbol,role,day,car,car_se;
    from the close of day ``anchor`` (:data:`PATH_ANCHOR`; None: CAR[start, tau])."""
    lo = min(w[0] for w in res.study.windows) if start is None else start
    hi = max(w[1] for w in res.study.windows) if end is None else end
    f = res.panel.frame
    rows = np.nonzero((f["event_id"].to_numpy() == event_id) & res.engine_result.ok)[0]
    sub = res.engine_result.take(rows)
    taus, car, se = engine.car_path(sub, lo, hi, anchor=anchor)
    n, T = car.shape
    return pd.DataFrame({
        "event_id": event_id,
        "symbol": np.repeat(f["symbol"].to_numpy()[rows], T),
        "role": np.repeat(f["role"].to_numpy()[rows], T),
        "group": np.repeat((f["group"] if "group" in f.columns else f["role"]).to_numpy()[rows], T),
        "day": np.tile(taus, n),
        "car": car.ravel(),
        "car_se": se.ravel(),
    })


def portfolio_band(res, event_id: str, group: str | None = None, start: int | None = None,
                   end: int | None = None, anchor: int | None = PATH_ANCHOR) -> pd.DataFrame:
    """The group's portfolio CAR path with its 95% interval: day, n, mean, lo, hi (the columns
    of :func:`group_path`; decimals). ``mean`` is the portfolio's CAR from the close of day
    ``anchor`` (:data:`PATH_ANCHOR`): CAR_p[0, day] for day >= 0 (the portfolio test's CAR of
    window 0:day), -CAR_p[day + 1, -1] before day -1; lo, hi: the 95% t-interval of that span.
    anchor None: CAR_p[start, day].

    The group's fitted firms of the event form one equal-weighted event-time portfolio
    (:func:`analysis.inference.portfolio.portfolio_path`); group None or "all": every firm.
    """
    from analysis.inference.portfolio import portfolio_path

    cache = getattr(res, "figure_inputs", None)  # computed once with the results (see figure_inputs)
    key = (event_id, "all" if group is None else group, start, end, anchor)
    if cache is not None and key in cache:
        return cache[key].copy()
    lo = min(w[0] for w in res.study.windows) if start is None else start
    hi = max(w[1] for w in res.study.windows) if end is None else end
    f = res.panel.frame
    m = (f["event_id"].to_numpy() == event_id) & res.engine_result.ok
    if group not in (None, "all"):
        m &= (f["group"] if "group" in f.columns else f["role"]).to_numpy() == group
    p = portfolio_path(res.engine_result, np.nonzero(m)[0], lo, hi, anchor=anchor)
    out = pd.DataFrame({"day": p["day"], "n": p["n"].astype(int), "mean": p["car"], "lo": p["lo"], "hi": p["hi"]})
    if cache is not None:
        cache[key] = out.copy()
    return out


def figure_inputs(res) -> pd.DataFrame:
    """Every event's and group's portfolio CAR path with its 95% interval (:func:`portfolio_band`
    with its defaults), computed once and kept in ``res.figure_inputs`` so every figure of the
    run reads it; tidy: event_id, group, day, n, mean, lo, hi (decimals)."""
    f = res.panel.frame
    col = "group" if "group" in f.columns else "role"
    parts = []
    for (e, g) in dict.fromkeys(zip(f["event_id"], f[col])):
        for gg in (g, "all"):
            band = portfolio_band(res, e, gg)
            parts.append(band.assign(event_id=e, group=gg))
    if not parts:
        return pd.DataFrame(columns=["event_id", "group", "day", "n", "mean", "lo", "hi"])
    out = pd.concat(parts, ignore_index=True).drop_duplicates(["event_id", "group", "day"])
    return out[["event_id", "group", "day", "n", "mean", "lo", "hi"]]


def drawn_groups(res, event_id: str) -> list[str]:
    """The groups of :data:`DRAWN_GROUPS` with a fitted firm at ``event_id``, in display order."""
    f = res.panel.frame
    rows = (f["event_id"].to_numpy() == event_id) & res.engine_result.ok
    present = set(f[_group_col(f)].to_numpy()[rows])
    return [g for g in DRAWN_GROUPS if g in present]


def plot_car_path(res, event_id=None, group=None, ax=None, symbols=None, title=None):
    """CAR path by group from the close of day -1 (:data:`PATH_ANCHOR`; its value on day 1 is
    the CAR of window 0:1): each group's equal-weighted portfolio CAR with its 95% t-interval
    (:func:`portfolio_band`), in percent, one colour per group (:mod:`analysis.vocab`); per
    firm with ``symbols`` (its CAR +- 1.96 s.e.)."""
    import matplotlib.pyplot as plt

    event_id = event_id or res.event_ids[0]
    if ax is None:
        fig, ax = plt.subplots(figsize=(7.5, 4.2))
    else:
        fig = ax.figure
    if symbols:
        paths = car_paths(res, event_id)
        names = dict(zip(paths["symbol"], paths["symbol"]))
        if "name" in res.panel.frame.columns:
            names.update(dict(zip(res.panel.frame["symbol"], res.panel.frame["name"])))
        for sym in symbols:
            p = paths[paths["symbol"] == sym]
            ax.plot(p["day"], 100 * p["car"], marker="o", ms=3, label=fmt.short_name(names.get(sym, sym)))
            ax.fill_between(p["day"], 100 * (p["car"] - Z95 * p["car_se"]),
                            100 * (p["car"] + Z95 * p["car_se"]), alpha=0.15)
    else:
        for g in [group] if group else drawn_groups(res, event_id):
            gp = portfolio_band(res, event_id, g)
            if gp.empty or not np.isfinite(gp["mean"]).any():
                continue
            n = int(gp["n"].max())
            color = group_color(g)
            ax.plot(gp["day"], 100 * gp["mean"], marker="o", ms=2.5, lw=1.3, color=color,
                    label=f"{group_label(g)} (N = {n})")
            ax.fill_between(gp["day"], 100 * gp["lo"], 100 * gp["hi"], color=color, alpha=0.15, lw=0)
    ax.axhline(0, color="grey", lw=0.8)
    ax.axvline(0, color="black", lw=0.8, ls=":")
    ax.set_xlabel("trading day (day 0: first session after the news)")
    ax.set_ylabel(PATH_LABEL)
    ax.set_title(title or f"{event_label(res, event_id)}: portfolio CAR with 95% interval")
    ax.legend(loc="best", fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


def plot_car_heatmap(res, window: str = "-1:1", ax=None, firms_as_rows: bool = False, cells=None):
    """Heatmap of CAR[window] (percent), events (short titles, date order as run) by firms
    (names), or firms by events when ``firms_as_rows`` (the taller layout a page holds when
    firms outnumber events); stars read from the firm t-test's printed p; a dagger marks a CAR
    that a flag qualifies (another event's day 0 in the window, a larger move on another day,
    listed news).

    ``cells`` (a list): each cell's label is appended to it as ``(x, y, text)`` (data
    coordinates) instead of drawn, for a caller that draws its own labels after the layout."""
    import matplotlib.pyplot as plt
    from analysis.fmt import stars

    c = requested_windows(res.car)
    c = c[c["window"] == window]
    order_sym = list(dict.fromkeys(res.study.universe["symbol"]))
    order_sym = [s for s in order_sym if s in set(c["symbol"])]
    mat = c.pivot_table(index="event_id", columns="symbol", values="car").reindex(
        index=res.event_ids, columns=order_sym) * 100
    pv = c.pivot_table(index="event_id", columns="symbol", values="car_p").reindex(
        index=res.event_ids, columns=order_sym)
    flagged = _flagged(c).reindex(index=res.event_ids, columns=order_sym).fillna(False)
    names = dict(zip(res.study.universe["symbol"], res.study.universe["name"]))
    firm_labels = [fmt.short_name(names.get(s, s)) for s in order_sym]
    event_names = event_labels(res, mat.index, with_date=False)
    if firms_as_rows:
        mat, pv, flagged = mat.T, pv.T, flagged.T
    if ax is None:
        fig, ax = plt.subplots(figsize=(max(6, 0.75 * len(order_sym) + 2), 0.6 * len(mat) + 1.8))
    else:
        fig = ax.figure
    vmax = np.nanmax(np.abs(mat.to_numpy())) if mat.notna().any().any() else 1.0
    im = ax.imshow(mat.to_numpy(), cmap="RdBu", vmin=-vmax, vmax=vmax, aspect="auto")
    if firms_as_rows:
        ax.set_xticks(range(len(event_names)), event_names, rotation=90, fontsize=7)
        ax.set_yticks(range(len(firm_labels)), firm_labels, fontsize=7)
    else:
        ax.set_xticks(range(len(firm_labels)), firm_labels, rotation=45, ha="right", fontsize=8)
        ax.set_yticks(range(len(event_names)), event_names, fontsize=8)
    for i in range(mat.shape[0]):
        for j in range(mat.shape[1]):
            v = mat.iat[i, j]
            if np.isfinite(v):
                mark = "\u2020" if bool(flagged.iat[i, j]) else ""
                label = f"{v:.1f}{stars(pv.iat[i, j])}{mark}"
                if cells is None:
                    ax.text(j, i, label, ha="center", va="center", fontsize=7)
                else:
                    cells.append((j, i, label))
    fig.colorbar(im, ax=ax, label=f"CAR{fmt.window_label(window)} (%)")
    ax.set_title(f"CAR{fmt.window_label(window)} by {'firm and event' if firms_as_rows else 'event and firm'} "
                 "(%; stars from the firm's p; \u2020 flagged)")
    fig.tight_layout()
    return fig


def _flagged(c: pd.DataFrame) -> pd.DataFrame:
    """(event x symbol) bool: the CAR carries an overlap, off-day-0 driver or confounder flag."""
    hit = np.zeros(len(c), dtype=bool)
    for col in ("overlaps", "confounders"):
        if col in c.columns:
            hit |= c[col].fillna("").astype(str).str.len().to_numpy() > 0
    if "off_day0_driver" in c.columns:
        hit |= c["off_day0_driver"].fillna(False).astype(bool).to_numpy()
    return c.assign(_f=hit).pivot_table(index="event_id", columns="symbol", values="_f", aggfunc="max")


def plot_groups_by_event(res, window: str = "-1:1", ax=None, test: str = "portfolio"):
    """Named firms vs US suppliers (and peers): portfolio CAR[window] per event with its 95%
    interval (the ``portfolio`` rows of ``res.tests``), one colour per group."""
    import matplotlib.pyplot as plt

    c = requested_windows(res.car)
    c = c[c["window"] == window].dropna(subset=["car"])
    gcol = _group_col(c)
    groups = [g for g in DRAWN_GROUPS if (c[gcol] == g).any()]
    if ax is None:
        fig, ax = plt.subplots(figsize=(7.5, 4.2))
    else:
        fig = ax.figure
    events = res.event_ids
    width = 0.8 / max(1, len(groups))
    t = res.tests
    pf = t[(t["test"] == test) & (t["window"] == window)] if "estimate" in t.columns else t.iloc[:0]
    found = first_rows(pf, ("event_id", "group"), ("estimate", "ci_low", "ci_high"))
    for k, g in enumerate(groups):
        means, errs = [], [[], []]
        for ev in events:
            r = found.get((ev, g))
            if r is not None and np.isfinite(r[0]):
                est, lo, hi = (100 * float(v) for v in r)
                means.append(est)
                errs[0].append(est - lo)
                errs[1].append(hi - est)
            else:
                means.append(np.nan)
                errs[0].append(0.0)
                errs[1].append(0.0)
        x = np.arange(len(events)) + (k - (len(groups) - 1) / 2) * width
        ax.bar(x, means, width, yerr=errs, capsize=2, color=group_color(g), alpha=0.85,
               error_kw={"lw": 0.8}, label=group_label(g))
    ax.axhline(0, color="grey", lw=0.8)
    ax.set_xticks(range(len(events)), event_labels(res, events, with_date=False), rotation=35,
                  ha="right", fontsize=7)
    ax.set_ylabel(f"portfolio CAR{fmt.window_label(window)} (%)")
    ax.set_title(f"Portfolio CAR{fmt.window_label(window)} by group and event (95% interval)")
    ax.legend(fontsize=8)
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    return fig


def exposure_points(res, event_id: str, window: str, confidence=None) -> pd.DataFrame:
    """symbol, name, exposure (percent of revenue sold to the firms the event named), car
    (decimal): the event's linked suppliers with exposure data (the points of its exposure fit;
    :mod:`analysis.inference.exposure`)."""
    from analysis.data.supply import event_customers
    from analysis.inference import exposure as ex

    study = res.study
    customers = event_customers(study.event_firms, getattr(study, "event_customers", None))
    values = ex.exposure_of({event_id: customers.get(event_id, set())}, getattr(study, "exposure", None),
                            confidence or ex.MAIN_CONFIDENCE)
    c = res.car[(res.car["event_id"] == event_id) & (res.car["window"] == window)]
    if "window_kind" in c.columns:
        c = c[c["window_kind"] == "requested"]
    c = c[(c["group"] == ex.GROUP) & np.isfinite(c["car"].astype(float))] if "group" in c.columns else c.iloc[0:0]
    out = c.merge(values, on=["event_id", "symbol"])
    return out[["symbol", "name", "exposure", "car"]].reset_index(drop=True)


def plot_exposure_fit(points: pd.DataFrame, slope: float, ax=None, title: str | None = None,
                      window: str = "0:1"):
    """CAR (percent) against exposure (percent of revenue), one labelled point per supplier, and
    the OLS line with ``slope`` (CAR decimal per percentage point) through the points' means."""
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(6, 4))
    x = points["exposure"].to_numpy(dtype=float)
    y = 100 * points["car"].to_numpy(dtype=float)
    ax.scatter(x, y, s=14, color=group_color("supplier"), zorder=3)
    for xi, yi, name in zip(x, y, points["name"]):
        ax.annotate(fmt.short_name(name), (xi, yi), xytext=(3, 2), textcoords="offset points", fontsize=6.3)
    if len(x) >= 2 and np.isfinite(slope):
        grid = np.linspace(0, max(x.max(), 1.0) * 1.05, 50)
        ax.plot(grid, y.mean() + 100 * slope * (grid - x.mean()), color="black", lw=1, label="OLS fit")
    ax.axhline(0, color="grey", lw=0.6)
    ax.set_xlim(left=min(0.0, float(x.min()) if len(x) else 0.0) - 2, right=(float(x.max()) if len(x) else 10.0) * 1.25 + 2)
    ax.set_xlabel("Revenue sold to the named firms, % of total")
    ax.set_ylabel(f"CAR{fmt.window_label(window)} %")
    if title:
        ax.set_title(title)
    return ax
