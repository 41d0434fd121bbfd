"""The files the notebooks write and the PDF reads: their names and units, and saving them.

Each file is one :class:`Artifact` below (name, kind, contents, units), so its name is written
once: the notebooks save through :func:`save_table`, :func:`save_figure`, :func:`save_json`
with the artifact, the PDF builder reads through :func:`read_table`, :func:`find_figure`,
:func:`read_json`. Every return, CAR and standard error in a table is a decimal (0.0123 is
1.23%); the PDF builder formats percent (:func:`analysis.fmt.pct`).

Every write is atomic (temp file in the target folder, then ``os.replace``), so a reader (the
PDF builder, a second notebook) never sees half a file.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from analysis.atomic import atomic_write

#: Width of the PDF's text block (A4, 1.8 cm margins), inches: figures drawn at this width are
#: printed at 100%, so their font sizes are the printed ones.
PRINT_WIDTH = 6.85


@dataclass(frozen=True)
class Artifact:
    """One file a notebook saves in its ``output_dir``: ``<name>.csv``, ``<name>.json`` or a
    figure ``<name>.<format>`` for each of ``formats``."""

    name: str
    kind: str  # "table" (CSV), "figure", "json"
    what: str  # contents and units
    formats: tuple[str, ...] = ()

    @property
    def files(self) -> tuple[str, ...]:
        """The file names this artifact is saved as."""
        if self.kind == "figure":
            return tuple(f"{self.name}.{f}" for f in self.formats)
        return (f"{self.name}.{'csv' if self.kind == 'table' else 'json'}",)

    def path(self, folder) -> Path:
        """The file in ``folder`` (a figure: its first format)."""
        return Path(folder) / self.files[0]

    def __str__(self) -> str:
        return self.name


def _table(name: str, what: str) -> Artifact:
    return Artifact(name, "table", what)


#: The format every figure is saved in: the one the PDF uses (typst draws SVG as vectors). A
#: notebook shows the same drawing inline (:func:`save_figure`), so each figure is drawn once.
FIGURE_FORMATS = ("svg",)


def _figure(name: str, what: str, formats=FIGURE_FORMATS) -> Artifact:
    return Artifact(name, "figure", what, tuple(formats))


# -- the event notebook (one event; the comparison notebook saves the first two for every event)
CAR_BY_FIRM = _table("car_by_firm", "CAR by firm and window: event_id, symbol, name, role, window, car and car_se "
                     "(decimals), t, p, stars, bhar (decimal), note")
GROUP_TESTS = _table("group_tests", "every group test: the columns of tests.csv (mean_car decimal) plus stars")
ROBUSTNESS = _table("robustness", "group tests under other models and windows: model, scope, event_id, group, "
                    "window, n, mean_car and estimate (decimals; estimate: the portfolio CAR), test, statistic, p_value")
ROBUSTNESS_FIRMS = _table("robustness_firms", "the headline firms' CAR under every model: model, scope, event_id, "
                          "symbol, window, car and car_se (decimals), car_t, car_p")
VOLUME_TESTS = _table("volume_tests", "abnormal volume tests: group, window, n, mean_cav (cumulative abnormal "
                      "log volume), statistic, p_value")
META = Artifact("meta", "json", "event, model, windows, estimation window, skipped firms, notes")
CAR_PATH = _figure("car_path", "each group's portfolio CAR path with its 95% interval")
PRICE_PATH = _figure("price_path", "prices around day 0 indexed to 100 on day -1: named firms, exposed supplier, benchmarks")
EXPOSURE_SCATTER = _figure("exposure_scatter", "the linked suppliers' CAR (primary window, percent) against their "
                           "revenue exposure to the named firms (percent) with the OLS line of exposure_fit.csv")
# -- the comparison notebook
GROUP_BY_EVENT = _table("group_by_event", "per event and group: mean_car (decimal; the portfolio CAR for the "
                        "portfolio test), n, statistic, p_value, primary, p_holm, q_bh (placebo_p when present)")
TARGETS_VS_SUPPLIERS = _table("targets_vs_suppliers", "per event: targets' and suppliers' CAR (decimals; the "
                              "portfolio CAR for the portfolio test), their p-values and adjusted p, the difference")
KIND_COMPARISON = _table("kind_comparison", "reports vs actions per group: firm-event mean and median CAR "
                         "(decimals), share negative, events significant at 10%")
YEAR_COMPARISON = _table("year_comparison", "the same by year of the announcement")
HEATMAP = _figure("heatmap", "CAR of every firm at every event")
GROUPS_BY_EVENT = _figure("groups_by_event", "mean CAR by group and event with 95% intervals")
REACTION_TIMELINE = _figure("reaction_timeline", "mean CAR of targets and suppliers by event date")
# -- the study's own CSV files (the CLI contract), which the comparison notebook saves for the whole run
STUDY_TESTS = _table("tests", "tests.csv of the whole run: every test of every (event, group, window) cell, "
                     "estimate, ci_low, ci_high, mde (decimals), primary, p_holm, q_bh (the primary family of "
                     "\"The answer\")")
STUDY_CAR = _table("car", "car.csv of the whole run: CAR by firm-event and window (decimals) with the flags "
                   "(overlaps, driver_day, driver_ar, off_day0_driver, confounders, window_kind, limit_flag)")
STUDY_AR = _table("abnormal_returns", "abnormal_returns.csv of the whole run: event_id, symbol, day, date, "
                  "abnormal_return (decimal)")
STUDY_SKIPPED = _table("skipped", "skipped.csv of the whole run: event_id, symbol, reason")
STUDY_POOLED = _table("pooled", "pooled.csv of the whole run: the pooled answers across events per scope, group, "
                      "window and test (estimate, ci_low, ci_high decimals; p_holm on the primary rows)")
STUDY_EXPOSURE_FIT = _table("exposure_fit", "exposure_fit.csv of the whole run: suppliers' CAR regressed on revenue "
                            "exposure per event and pooled (slope: CAR decimal per percentage point; "
                            "analysis.inference.exposure)")
# -- drawn by the PDF builder in the run folder
ANSWER_FOREST = _figure("answer_forest", "the primary CAR (portfolio, 0:1) with its 95% interval by event and "
                        "group, claimed and not attributable rows marked, the pooled answer of each group as a "
                        "diamond", formats=("svg",))

#: Every artifact, by name.
ARTIFACTS = {a.name: a for a in (CAR_BY_FIRM, GROUP_TESTS, ROBUSTNESS, ROBUSTNESS_FIRMS, VOLUME_TESTS, META, CAR_PATH,
                                 PRICE_PATH, EXPOSURE_SCATTER,
                                 GROUP_BY_EVENT, TARGETS_VS_SUPPLIERS, KIND_COMPARISON, YEAR_COMPARISON, HEATMAP,
                                 GROUPS_BY_EVENT, REACTION_TIMELINE, STUDY_TESTS, STUDY_CAR, STUDY_AR,
                                 STUDY_SKIPPED, STUDY_POOLED, STUDY_EXPOSURE_FIT, ANSWER_FOREST)}
#: The folder of a report run (``reports/<run-id>/<STUDY>/``) holding the study's CSV set for the
#: whole run (tests.csv, car.csv, ...: the CLI's contract); see :mod:`analysis.report.study_set`.
STUDY = "study"


#: The run's results for the notebooks, in ``study/`` (a pickle of the
#: :class:`~analysis.results.EventStudyResults` and the robustness runs, written by
#: :func:`analysis.report.study_set.compute_study`, read by :func:`analysis.report.event.load_results`:
#: the notebooks are views of it and fit nothing; written and read by this package only).
RESULTS_FILE = "results.pkl"
#: The robustness runs of every event, computed once, as CSV files in ``study/``, and each event's notes.
ROBUSTNESS_FILE, ROBUSTNESS_FIRMS_FILE, ROBUSTNESS_NOTES_FILE = ("robustness.csv", "robustness_firms.csv",
                                                                 "robustness_notes.json")
#: Every figure's CAR paths (each event's and group's portfolio CAR with its 95% interval), computed once.
CAR_BANDS_FILE = "car_bands.csv"


def study_dir(run_dir) -> Path:
    """``run_dir/study``: the run's CSV set (tests.csv, car.csv, ...)."""
    return Path(run_dir) / STUDY


#: Text columns whose empty cells read back as '' (not NaN).
TEXT_COLUMNS = ("stars", "note", "limit_flag", "reason", "flags", "overlaps", "confounders")


def out_dir(path) -> Path:
    """``path`` as a Path, created if needed."""
    p = Path(path).expanduser()
    p.mkdir(parents=True, exist_ok=True)
    return p


def _atomic_write(path: Path, write) -> Path:
    return atomic_write(path, write, mode="wb")


def _name(artifact) -> str:
    return artifact.name if isinstance(artifact, Artifact) else str(artifact)


def save_figure(fig, folder, artifact, formats=None, dpi: int = 200, show=None) -> list[Path]:
    """Save ``fig`` as ``<folder>/<name>.<fmt>`` for each format (default: the artifact's, or
    :data:`FIGURE_FORMATS` for a plain name); returns the paths.

    ``show`` (default: when running in a notebook with matplotlib's inline backend): display the
    saved SVG as the cell's output and close ``fig``, so the figure is drawn once, not again for
    the notebook (a following ``plt.show()`` then draws nothing)."""
    import io

    folder = out_dir(folder)
    name = _name(artifact)
    if formats is None:
        formats = artifact.formats if isinstance(artifact, Artifact) else FIGURE_FORMATS
    paths, svg = [], None
    for fmt in formats:
        if fmt == "svg":
            data = svg = tight_svg(fig, dpi)
        else:
            buf = io.BytesIO()
            fig.savefig(buf, format=fmt, dpi=dpi, bbox_inches="tight", metadata=_fig_metadata(fmt))
            data = buf.getvalue()
        paths.append(_atomic_write(folder / f"{name}.{fmt}", lambda fh, data=data: fh.write(data)))
    if show is None:
        show = _inline_notebook()
    if show:
        import matplotlib.pyplot as plt
        from IPython.display import SVG, display

        if svg is None:
            svg = tight_svg(fig)
        display(SVG(svg))
        plt.close(fig)
    return paths


#: The size attributes matplotlib's SVG writer gives its root element (width and height in points,
#: a viewBox from the origin of the same size).
_SVG_SIZE = re.compile(rb'width="([0-9.]+)pt" height="([0-9.]+)pt" viewBox="0 0 \1 \2"')


def tight_svg(fig, dpi: float | None = None) -> bytes:
    """``fig`` as SVG, cropped to the box ``savefig(bbox_inches="tight")`` crops it to (the tight
    bounding box of the drawn figure, padded by :rc:`savefig.pad_inches`), drawn once.

    ``savefig(bbox_inches="tight")`` draws the figure twice: a draw without output to place every
    artist, then the saved draw with the figure shrunk to the box. Here the saved draw is the only
    one: the box is measured on it (at its ``draw_event``, with its renderer) and the SVG's viewBox
    shows that box of the figure, so the image has the same size in points and shows the same.
    ``dpi``: resolution of raster parts (images), dots per inch (None: :rc:`savefig.dpi`).
    A figure with a layout engine to run (constrained layout), or an SVG whose root element is not
    as matplotlib writes it, gets savefig's own crop."""
    import io

    import matplotlib as mpl
    from matplotlib.backends.backend_svg import _short_float_fmt
    from matplotlib.layout_engine import PlaceHolderLayoutEngine

    def savefig(**kw) -> bytes:
        buf = io.BytesIO()
        fig.savefig(buf, format="svg", dpi=dpi, metadata=_fig_metadata("svg"), **kw)
        return buf.getvalue()

    engine = fig.get_layout_engine()
    if engine is not None and not isinstance(engine, PlaceHolderLayoutEngine):
        return savefig(bbox_inches="tight")
    boxes = []
    cid = fig.canvas.mpl_connect("draw_event", lambda event: boxes.append(fig.get_tightbbox(event.renderer)))
    try:
        # tight_layout leaves a placeholder engine (nothing to run), which makes savefig draw once
        # more first: none for this draw, the figure's again afterwards
        fig._layout_engine = None
        svg = savefig()
    finally:
        fig.canvas.mpl_disconnect(cid)
        fig._layout_engine = engine
    size = _SVG_SIZE.search(svg, 0, 1000)
    if len(boxes) != 1 or size is None:
        return savefig(bbox_inches="tight")
    pad = mpl.rcParams["savefig.pad_inches"]
    box = boxes[0].padded(pad, pad)  # inches, from the figure's lower left corner
    height = float(size.group(2))  # the figure's, in points: the SVG's y runs downwards
    w, h, x0, y0 = (_short_float_fmt(v * 72) for v in (box.width, box.height, box.x0, height / 72 - box.y1))
    return svg[:size.start()] + f'width="{w}pt" height="{h}pt" viewBox="{x0} {y0} {w} {h}"'.encode() \
        + svg[size.end():]


def _inline_notebook() -> bool:
    """True inside a Jupyter kernel whose matplotlib backend is the inline one."""
    import sys

    if "IPython" not in sys.modules:
        return False
    from IPython import get_ipython

    ip = get_ipython()
    if ip is None or not hasattr(ip, "kernel"):
        return False
    import matplotlib

    return "inline" in str(matplotlib.get_backend()).lower()


def _fig_metadata(fmt: str) -> dict:
    # No creation dates in the files: identical inputs give identical bytes.
    if fmt == "svg":
        return {"Date": None}
    if fmt == "png":
        return {"Software": None}
    return {}


def save_table(frame: pd.DataFrame, folder, artifact) -> Path:
    """Write ``frame`` to ``<folder>/<name>.csv`` (no index, full precision)."""
    from analysis.atomic import write_csv_atomic

    path = out_dir(folder) / f"{_name(artifact)}.csv"
    write_csv_atomic(frame, path)
    return path


def read_table(folder, artifact: Artifact) -> pd.DataFrame | None:
    """A saved table (text columns with '' for empty cells), or None if the file is missing."""
    path = artifact.path(folder)
    if not path.is_file():
        return None
    frame = pd.read_csv(path, keep_default_na=True)
    for col in TEXT_COLUMNS:
        if col in frame.columns:
            frame[col] = frame[col].astype(object).fillna("")
    return frame


def find_figure(folder, artifact: Artifact) -> Path | None:
    """A saved figure, SVG preferred over PNG; None if neither is there."""
    for ext in ("svg", "png"):
        path = Path(folder) / f"{artifact.name}.{ext}"
        if path.is_file():
            return path
    return None


def _json_default(o):
    if isinstance(o, (np.integer,)):
        return int(o)
    if isinstance(o, (np.floating,)):
        return None if not np.isfinite(o) else float(o)
    if isinstance(o, (np.bool_,)):
        return bool(o)
    if isinstance(o, (pd.Timestamp,)):
        return o.isoformat()
    if isinstance(o, Path):
        return str(o)
    if isinstance(o, (set, tuple)):
        return list(o)
    if hasattr(o, "isoformat"):
        return o.isoformat()
    raise TypeError(f"not JSON serializable: {type(o).__name__}")


def _clean(o):
    """Replace NaN/inf floats by None (JSON has no NaN)."""
    if isinstance(o, float):
        return o if np.isfinite(o) else None
    if isinstance(o, dict):
        return {str(k): _clean(v) for k, v in o.items()}
    if isinstance(o, (list, tuple)):
        return [_clean(v) for v in o]
    return o


def write_json(obj, path) -> Path:
    """Write ``obj`` as pretty JSON (NaN -> null), atomically."""
    text = json.dumps(_clean(obj), indent=2, default=_json_default, ensure_ascii=False)
    return _atomic_write(Path(path), lambda fh: fh.write(text.encode("utf-8")))


def save_json(obj, folder, artifact: Artifact) -> Path:
    """Write ``obj`` as ``<folder>/<name>.json`` (see :func:`write_json`)."""
    return write_json(obj, artifact.path(out_dir(folder)))


def read_json(path):
    with open(path, encoding="utf-8") as fh:
        return json.load(fh)
