"""analysis.plots on the recorded prices: the price figure's paths (indexed to 100 on day -1,
suspensions and limit closes marked) and one colour per group from the vocabulary."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from analysis.vocab import group_color, group_label


@pytest.fixture(scope="module")
def sugon(shared_prices):
    from analysis.study import EventStudy

    return EventStudy(prices=str(shared_prices), event_ids=["sugon_entity_list_2019"], placebo_draws=0,
                      progress=False).fit()


@pytest.mark.shared_prices
def test_price_paths_index_to_100_on_day_minus_1_and_mark_the_suspension(sugon, shared_prices):
    from analysis.plots import price_paths, price_symbols

    syms = price_symbols(sugon, "sugon_entity_list_2019")
    assert syms == ["603019.SS", "AMD"]  # the named firm and its most exposed US supplier
    p = price_paths(sugon, "sugon_entity_list_2019")
    assert set(p["symbol"]) == {"603019.SS", "AMD", "000300.SS", "^GSPC"}
    at = p.set_index(["symbol", "day"])
    for s in ("603019.SS", "AMD", "000300.SS", "^GSPC"):
        assert at.loc[(s, -1), "index"] == pytest.approx(100.0)
    # announced Fri 21 Jun (US time, date only): Shanghai's day 0 is Mon 24 Jun. Sugon did not
    # trade 24-26 Jun 2019 (days 0..+2); +3 closed limit-down
    su = p[p["symbol"] == "603019.SS"].set_index("day")
    assert list(su.loc[0:2, "suspended"]) == [True, True, True] and su.loc[0:2, "index"].isna().all()
    assert su.loc[3, "limit"] == -1
    # the level at day +3 is the adjusted close relative to day -1's (Fri 21 Jun), straight from the file
    raw = pd.read_csv(shared_prices / "603019.SS.csv", index_col="date")["adj_close"]
    assert su.loc[3, "index"] == pytest.approx(100 * raw["2019-06-27"] / raw["2019-06-21"], rel=1e-9)


@pytest.mark.shared_prices
def test_figures_use_one_colour_per_group(sugon):
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.colors import to_hex

    from analysis.plots import plot_car_path, plot_prices

    fig = plot_car_path(sugon, "sugon_entity_list_2019")
    lines = {l.get_label().split(" (")[0]: to_hex(l.get_color()) for l in fig.axes[0].get_lines()
             if not l.get_label().startswith("_")}
    for g in ("named", "peer", "supplier"):
        assert lines[group_label(g)] == to_hex(group_color(g))
    fig = plot_prices(sugon, "sugon_entity_list_2019")
    colors = {l.get_label(): to_hex(l.get_color()) for l in fig.axes[0].get_lines()}
    assert colors["Sugon (named)"] == to_hex(group_color("named"))
    assert colors["Advanced Micro Devices (US supplier)"] == to_hex(group_color("supplier"))


@pytest.mark.shared_prices
def test_car_path_figure_at_day_1_is_the_portfolio_car_of_window_0_1(sugon):
    """The event figure's path starts at the close of day -1: on day 1 each group's line and
    band are the 0:1 portfolio CAR and 95% interval of tests.csv (Sugon: suspended days 0..2,
    its return at resumption spread over the sessions it spans), day -1 is 0, and day 1 minus
    day -2 is the -1:1 portfolio CAR."""
    import matplotlib

    matplotlib.use("Agg")
    from analysis.plots import portfolio_band
    from analysis.report.event import car_path_figure

    ev = "sugon_entity_list_2019"
    t = sugon.tests[(sugon.tests["event_id"] == ev) & (sugon.tests["test"] == "portfolio")].set_index(["group", "window"])
    fig = car_path_figure(sugon, ev)
    lines = {l.get_label().split(" (")[0]: l for l in fig.axes[0].get_lines() if not l.get_label().startswith("_")}
    assert "day \u22121" in fig.axes[0].get_ylabel()
    for g in ("named", "peer", "supplier", "all"):
        b = portfolio_band(sugon, ev, g).set_index("day")
        w01, w11 = t.loc[(g, "0:1")], t.loc[(g, "-1:1")]
        assert b.loc[1, "n"] == w01["n"]
        assert b.loc[1, "mean"] == pytest.approx(w01["estimate"], rel=1e-12)
        assert (b.loc[1, "lo"], b.loc[1, "hi"]) == pytest.approx((w01["ci_low"], w01["ci_high"]), rel=1e-12)
        assert b.loc[-1, ["mean", "lo", "hi"]].tolist() == [0.0, 0.0, 0.0]
        assert b.loc[1, "mean"] - b.loc[-2, "mean"] == pytest.approx(w11["estimate"], rel=1e-9)
        if g != "all":  # the figure draws the named firms, peers and suppliers
            x, y = lines[group_label(g)].get_data()
            assert y[list(x).index(1)] == pytest.approx(100 * w01["estimate"], rel=1e-12)
    assert t.loc[("named", "0:1"), "estimate"] != pytest.approx(
        one_firm_car(sugon, ev, "603019.SS", "0:1"), rel=1e-3)  # the spread portfolio is not the firm's own CAR


def one_firm_car(res, event_id, symbol, window):
    c = res.car
    return float(c[(c["event_id"] == event_id) & (c["symbol"] == symbol) & (c["window"] == window)]["car"].iloc[0])


@pytest.mark.shared_prices
def test_heatmap_stars_are_bold_and_larger_than_the_numbers(sugon):
    """At print size the stars and daggers sit in the number's cell (beside it in a wide cell),
    bold, 8.5 pt (numbers 6.5 pt), and follow each firm's printed p (Sugon's CAR[0, +1] of -10.3% has p 0.065: one star)."""
    import matplotlib

    matplotlib.use("Agg")
    from analysis.report.compare import heatmap_figure

    ax = heatmap_figure(sugon, "0:1").axes[0]
    numbers = [t for t in ax.texts if t.get_text().lstrip("\u2212-").replace(".", "", 1).isdigit()]
    marks = [t for t in ax.texts if t.get_text() and set(t.get_text()) <= set("*\u2020")]
    assert len(numbers) == 30 and marks  # the 30 firms with prices in June 2019
    assert all(t.get_fontsize() == 6.5 for t in numbers)
    assert all(t.get_fontsize() == 8.5 and t.get_fontweight() == "bold" for t in marks)
    su = next(t for t in numbers if t.get_text() == "\u221210.3")
    sx, sy = su.get_position()
    inside = [m for m in marks if abs(m.get_position()[0] - sx) < 0.5 and abs(m.get_position()[1] - sy) < 0.5]
    assert len(inside) == 1 and inside[0].get_text().startswith("*") and not inside[0].get_text().startswith("**")


def test_heatmap_labels_do_not_overlap_at_print_size(sugon):
    """30 firms and one event: firms are the rows (a page is taller than wide), and at print
    size no two cell numbers overlap (with 30 firm columns across the page they did)."""
    import matplotlib

    matplotlib.use("Agg")
    from analysis.report.artifacts import PRINT_WIDTH
    from analysis.report.compare import heatmap_figure

    fig = heatmap_figure(sugon, "0:1")
    ax = fig.axes[0]
    assert len(ax.get_yticklabels()) == 30 and fig.get_size_inches()[0] == PRINT_WIDTH
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    boxes = [t.get_window_extent(renderer) for t in ax.texts if t.get_text()]
    assert len(boxes) >= 30
    overlaps = [(i, k) for i in range(len(boxes)) for k in range(i + 1, len(boxes)) if boxes[i].overlaps(boxes[k])]
    assert not overlaps


@pytest.mark.shared_prices
def test_heatmap_of_the_catalog_fits_a_page_without_overlapping_labels(shared_prices):
    """Many firms at many events (30 x 6 here): firms as rows, the figure no taller than a page
    holds (HEATMAP_MAX_HEIGHT), and no two labels (numbers, marks, tick labels) overlapping at
    print size; where the cells are too small for numbers the title says where they are."""
    import matplotlib

    matplotlib.use("Agg")
    from analysis.report.compare import HEATMAP_MAX_HEIGHT, heatmap_figure
    from analysis.study import EventStudy

    events = ["huawei_entity_list_2019", "nyt_hikvision_2019", "entity_list_28_2019", "eo13959_2020",
              "ft_sdn_2022", "fcc_equipment_ban_2022"]
    res = EventStudy(prices=str(shared_prices), event_ids=events, windows=["0:1"], placebo_draws=0,
                     progress=False).fit()
    fig = heatmap_figure(res, "0:1")
    ax = fig.axes[0]
    assert fig.get_size_inches()[1] <= HEATMAP_MAX_HEIGHT and len(ax.get_yticklabels()) == 30
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    boxes = [t.get_window_extent(renderer) for t in ax.texts if t.get_text()]
    assert boxes
    overlaps = [(i, k) for i in range(len(boxes)) for k in range(i + 1, len(boxes)) if boxes[i].overlaps(boxes[k])]
    assert not overlaps
    ticks = [t.get_window_extent(renderer) for t in ax.get_yticklabels()]
    assert not any(ticks[i].overlaps(ticks[i + 1]) for i in range(len(ticks) - 1))


def _frame_res(frame, ok):
    from types import SimpleNamespace

    return SimpleNamespace(panel=SimpleNamespace(frame=frame), engine_result=SimpleNamespace(ok=np.asarray(ok)),
                           study=SimpleNamespace())


def test_drawn_groups_are_the_groups_with_a_fitted_firm_at_the_event_in_display_order():
    """By hand: the event's fitted firms are a supplier and a named firm (listed in that order),
    its peer was not fitted, the other event's target does not count."""
    from analysis.plots import drawn_groups

    frame = pd.DataFrame({"event_id": ["a", "a", "a", "b", "a"], "symbol": ["S", "P", "N", "T", "S2"],
                          "group": ["supplier", "peer", "named", "target", "supplier"]})
    res = _frame_res(frame, [True, False, True, True, True])
    assert drawn_groups(res, "a") == ["named", "supplier"]
    assert drawn_groups(res, "b") == ["target"]
    assert drawn_groups(res, "c") == []
    # older frames have the role only
    assert drawn_groups(_frame_res(frame.rename(columns={"group": "role"}), [True] * 5), "a") == \
        ["named", "peer", "supplier"]


@pytest.mark.shared_prices
def test_drawn_groups_are_the_groups_of_the_events_car_paths(sugon):
    """The reference: the groups present in every fitted firm's CAR path (what the figure read before)."""
    from analysis.plots import DRAWN_GROUPS, car_paths, drawn_groups

    ev = "sugon_entity_list_2019"
    paths = car_paths(sugon, ev)
    assert drawn_groups(sugon, ev) == [g for g in DRAWN_GROUPS if (paths["group"] == g).any()]
    assert len(drawn_groups(sugon, ev)) >= 3


def test_event_groups_lists_each_groups_members_at_the_event_in_frame_order():
    """By hand, against pandas filtering: members in the frame's order, groups in display order,
    the other event's firms left out, a group without members absent."""
    from analysis.report.event import event_groups

    frame = pd.DataFrame({"event_id": ["a", "b", "a", "a", "a"], "symbol": ["S", "X", "N", "S2", "N2"],
                          "name": ["Sup", "Other", "Named", "Sup 2", "Named 2"],
                          "group": ["supplier", "supplier", "named", "supplier", "named"]})
    got = event_groups(_frame_res(frame, [True] * 5), "a")["groups"]
    assert list(got) == ["named", "supplier"]
    assert got["named"] == [{"symbol": "N", "name": "Named"}, {"symbol": "N2", "name": "Named 2"}]
    assert got["supplier"] == [{"symbol": "S", "name": "Sup"}, {"symbol": "S2", "name": "Sup 2"}]
    assert event_groups(_frame_res(frame, [True] * 5), "b")["groups"] == {"supplier": [{"symbol": "X", "name": "Other"}]}


def _heatmap_reference(res, window):
    """The heatmap as drawn before its labels were placed after the layout: every cell label drawn
    and laid out at 7 pt, then replaced (the previous ``compare.heatmap_figure``, kept as the reference)."""
    import matplotlib.pyplot as plt

    from analysis import fmt
    from analysis.plots import plot_car_heatmap
    from analysis.report.artifacts import PRINT_WIDTH
    from analysis.report.compare import (HEATMAP_MARK_SIZE, HEATMAP_MAX_HEIGHT, HEATMAP_NUMBER_SIZE,
                                         HEATMAP_SMALL_MARK_SIZE)

    n_events = len(res.event_ids)
    n_firms = res.car.loc[res.car["window"] == window, "symbol"].nunique()
    rows_are_firms = n_firms > n_events
    n_rows, n_cols = (n_firms, n_events) if rows_are_firms else (n_events, n_firms)
    height = min(HEATMAP_MAX_HEIGHT, 2.3 + 0.40 * n_rows) if not rows_are_firms else \
        min(HEATMAP_MAX_HEIGHT, 3.2 + 0.30 * n_rows)
    fig, ax = plt.subplots(figsize=(PRINT_WIDTH, height))
    plot_car_heatmap(res, window=window, ax=ax, firms_as_rows=rows_are_firms)
    box = ax.get_position()
    cell_w = box.width * PRINT_WIDTH / max(1, n_cols)
    cell_h = box.height * height / max(1, n_rows)
    beside, below = cell_w >= 0.75, cell_w >= 0.32 and cell_h >= 0.3
    image = ax.images[0]
    vmax = max(abs(image.norm.vmin), abs(image.norm.vmax))
    for text in list(ax.texts):
        label = text.get_text()
        number = label.rstrip("*\u2020")
        marks = label[len(number):]
        value = float(number)
        colour = "white" if vmax and abs(value) > 0.6 * vmax else "black"
        x, y = text.get_position()
        mark_style = {"ha": "center", "va": "center", "fontsize": HEATMAP_MARK_SIZE, "fontweight": "bold",
                      "color": colour}
        if not (beside or below):
            text.remove()
            if marks:
                ax.text(x, y, marks, **(mark_style | {"fontsize": HEATMAP_SMALL_MARK_SIZE}))
            continue
        text.set_text(fmt.num(value, 1))
        text.set_fontsize(HEATMAP_NUMBER_SIZE)
        text.set_color(colour)
        if marks and beside:
            text.set_position((x + 0.03, y))
            text.set_horizontalalignment("right")
            ax.text(x + 0.07, y, marks, **(mark_style | {"ha": "left"}))
        elif marks:
            text.set_position((x, y - 0.17))
            ax.text(x, y + 0.24, marks, **mark_style)
    title = ax.get_title() + ("" if beside or below else "\ncolour: the CAR; each event's table by firm prints it")
    ax.set_title(title, fontsize=9)
    fig.tight_layout()
    return fig


@pytest.mark.shared_prices
@pytest.mark.parametrize("events", [["sugon_entity_list_2019"],
                                    ["huawei_entity_list_2019", "nyt_hikvision_2019", "entity_list_28_2019",
                                     "eo13959_2020", "ft_sdn_2022", "fcc_equipment_ban_2022"]],
                         ids=["numbers-beside-marks", "marks-alone"])
def test_heatmap_with_labels_drawn_after_the_layout_is_the_heatmap_that_replaced_them(events, sugon, shared_prices):
    """The comparison heatmap draws its cell labels once their cells' size is known: the same SVG,
    byte for byte, as drawing every label, laying them out and replacing them (the reference)."""
    import io

    import matplotlib

    matplotlib.use("Agg")
    from analysis.report.compare import heatmap_figure
    from analysis.study import EventStudy

    res = sugon if len(events) == 1 else EventStudy(prices=str(shared_prices), event_ids=events, windows=["0:1"],
                                                     placebo_draws=0, progress=False).fit()
    svgs = []
    with matplotlib.rc_context({"svg.hashsalt": "test"}):
        for make in (heatmap_figure, _heatmap_reference):
            fig = make(res, "0:1")
            buf = io.BytesIO()
            fig.savefig(buf, format="svg", bbox_inches="tight", metadata={"Date": None})
            svgs.append(buf.getvalue())
            matplotlib.pyplot.close(fig)
    texts = svgs[0].count(b'<g id="text_')
    assert texts > 30  # the labels are there (numbers and marks, or marks alone)
    assert svgs[0] == svgs[1]
