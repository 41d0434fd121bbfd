"""artifacts.tight_svg: one draw, the crop of savefig(bbox_inches="tight") through the viewBox."""
from __future__ import annotations

import re

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402

from analysis.report import artifacts  # noqa: E402

_ROOT = re.compile(r'<svg [^>]*width="([0-9.]+)pt" height="([0-9.]+)pt" viewBox="([-0-9. ]+)"')


def _figure(layout=None):
    """Text sticking out on every side: a long title, rotated tick labels, a legend below the axes."""
    fig, ax = plt.subplots(figsize=(4, 3), layout=layout)
    ax.plot([0, 1, 2], [1, 3, 2], label="a line with a long label", gid="probe")
    ax.set_xticks([0, 1, 2], ["first tick", "second", "third tick label"], rotation=40, ha="right")
    ax.set_title("a title wider than the axes it stands over, on purpose")
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.45))
    if layout is None:
        fig.tight_layout()
    return fig


def _draws(fig) -> list:
    seen = []
    fig.canvas.mpl_connect("draw_event", lambda event: seen.append(event))
    return seen


def _probe(svg: str) -> list[float]:
    """The coordinates of the probe line's path (points, in the SVG's user space)."""
    group = svg[svg.index('<g id="probe">'):]
    path = re.search(r'<path d="([^"]+)"', group).group(1)
    return [float(v) for v in re.findall(r"-?[0-9.]+", path)]


@pytest.fixture(autouse=True)
def _fixed_ids():
    with matplotlib.rc_context({"svg.hashsalt": "test"}):
        yield
    plt.close("all")


def test_tight_svg_draws_once_and_shows_what_savefig_tight_shows():
    fig = _figure()
    draws = _draws(fig)
    import io

    buf = io.BytesIO()
    fig.savefig(buf, format="svg", bbox_inches="tight", metadata={"Date": None})
    assert len(draws) == 2  # savefig's own crop: a draw to place the artists, then the saved one
    expected = buf.getvalue().decode()
    svg = artifacts.tight_svg(fig).decode()
    assert len(draws) == 3  # one draw more
    (w, h, box), (w0, h0, box0) = _ROOT.search(svg).groups(), _ROOT.search(expected).groups()
    assert (w, h) == (w0, h0)  # the same size in points, to the digit
    assert box0 == f"0 0 {w0} {h0}"
    x0, y0, bw, bh = (float(v) for v in box.split())
    assert (bw, bh) == (float(w), float(h))
    assert x0 < 0 and y0 > 0  # the title sticks out left of the figure; the top is cropped
    # every point of the probe line sits where savefig's crop puts it, relative to the shown box
    got, want = _probe(svg), _probe(expected)
    assert len(got) == len(want) > 2
    shifted = [v - (x0 if i % 2 == 0 else y0) for i, v in enumerate(got)]
    assert shifted == pytest.approx(want, abs=2e-6)
    assert fig.get_layout_engine() is not None  # the figure's placeholder engine is back


def test_tight_svg_of_a_figure_with_a_layout_engine_is_savefigs_own_crop():
    import io

    buf = io.BytesIO()
    _figure(layout="constrained").savefig(buf, format="svg", bbox_inches="tight", metadata={"Date": None})
    assert artifacts.tight_svg(_figure(layout="constrained")) == buf.getvalue()


def test_save_figure_writes_the_one_draw_svg(tmp_path):
    fig = _figure()
    draws = _draws(fig)
    paths = artifacts.save_figure(fig, tmp_path, "probe", show=False)
    assert [p.name for p in paths] == ["probe.svg"] and len(draws) == 1
    assert paths[0].read_bytes() == artifacts.tight_svg(fig, 200)
