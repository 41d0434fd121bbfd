"""The stakeholders' HTML copy of an executed notebook (``reports/<run>/notebooks/*.html``): no
warnings, no progress bars (they go to the run log), wide tables inside a box that scrolls.

The fast tests clean a hand-made notebook; the slow one executes a small notebook on a report
worker's kernel (as the pipeline does) that warns like tqdm without ipywidgets, runs a tqdm bar,
writes to stderr and shows a 40-column table."""
from __future__ import annotations

import os
import re
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook, new_output

from analysis.report import jobs
from analysis.report.jobs import Job, SCROLL_CLASS, Workers, scrollable_tables, stakeholder_copy

REPO = Path(__file__).resolve().parents[1]


def _notebook_with_noise():
    return new_notebook(cells=[new_code_cell("x", outputs=[
        new_output("stream", name="stderr", text="TqdmWarning: IProgress not found. Please update jupyter\n"),
        new_output("display_data", data={"application/vnd.jupyter.widget-view+json": {"model_id": "abc"},
                                          "text/plain": "prices:  50%|#####     | 1/2"}),
        new_output("stream", name="stdout", text="every robustness run done\n"),
        new_output("display_data", data={"text/html": "<table><tr><td>1</td></tr></table>"}),
    ])], metadata={"widgets": {"application/vnd.jupyter.widget-state+json": {}}})


def test_stakeholder_copy_drops_stderr_and_widgets_and_returns_them():
    nb = _notebook_with_noise()
    removed = stakeholder_copy(nb)
    outs = nb.cells[0].outputs
    assert [o.get("name") or o["output_type"] for o in outs] == ["stdout", "display_data"]
    assert removed == ["TqdmWarning: IProgress not found. Please update jupyter", "prices:  50%|#####     | 1/2"]
    assert "widgets" not in nb.metadata


def test_html_exporter_gives_nbconvert_page_without_its_soup_pass():
    """jobs.html_exporter skips nbconvert's BeautifulSoup pass and adds its alt texts and tabindex
    itself: once both pages go through that same soup pass, they are the same page (reference:
    nbconvert's own HTMLExporter)."""
    from bs4 import BeautifulSoup
    from nbconvert import HTMLExporter
    from nbformat.v4 import new_markdown_cell

    svg = '<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><rect width="5" height="5"/></svg>'
    png = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR4nGNgYGD4DwABBAEAwS2OUAAAAABJRU5ErkJggg=="
    nb = new_notebook(cells=[
        new_markdown_cell("# Title\n\nsome *text*"),
        new_code_cell("x", outputs=[
            new_output("stream", name="stdout", text="every robustness run done\n"),
            new_output("display_data", data={"text/html": "<table><tr><td>1</td></tr></table>", "text/plain": "t"}),
            new_output("display_data", data={"image/svg+xml": svg, "text/plain": "<Figure>"}),
            new_output("display_data", data={"image/png": png, "text/plain": "<Figure>"}),
            new_output("display_data", data={"text/html": '<img src="x.png" alt="mine"><img src="y.png">'}),
        ])])
    ours, _ = jobs.html_exporter().from_notebook_node(nb)
    theirs, _ = HTMLExporter(exclude_input=True).from_notebook_node(nb)
    assert ours.count('tabindex="0"') == theirs.count('tabindex="0"') >= 5
    assert ours.count(jobs.NO_ALT) == theirs.count(jobs.NO_ALT) >= 2 and 'alt="mine"' in ours
    assert str(BeautifulSoup(ours, "html.parser")) == str(BeautifulSoup(theirs, "html.parser"))


def test_every_table_sits_in_a_scrolling_box():
    body = "<html><head><title>t</title></head><body><table id='a'><tr><td>1</td></tr></table>" \
           "<TABLE><tr><td>2</td></tr></TABLE ></body></html>"
    out = scrollable_tables(body)
    assert out.count(f'<div class="{SCROLL_CLASS}"><table') + out.count(f'<div class="{SCROLL_CLASS}"><TABLE') == 2
    assert out.count("</div>") == 2
    css = re.search(r"<style>(.*?)</style>\s*</head>", out).group(1)
    assert f".{SCROLL_CLASS}{{overflow-x:auto" in css


NOTEBOOK_CELLS = [
    "import sys, warnings\nfrom tqdm import TqdmWarning\n"
    "warnings.warn('IProgress not found. Please update jupyter and ipywidgets.', TqdmWarning)",
    "from tqdm.auto import tqdm\nfor _ in tqdm(range(3), desc='prices'):\n    pass",
    "print('a line on stderr', file=sys.stderr)",
    "import pandas as pd\npd.DataFrame([[f'value {i} {j}' for j in range(40)] for i in range(3)],"
    " columns=[f'a long column name {j}' for j in range(40)])",
]


@pytest.mark.slow
def test_html_copy_of_a_notebook_run_on_a_report_kernel(tmp_path, monkeypatch):
    monkeypatch.setenv("PYTHONPATH", str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    nb_path = tmp_path / "noisy.ipynb"
    nbformat.write(new_notebook(cells=[new_code_cell(c) for c in NOTEBOOK_CELLS],
                                metadata={"kernelspec": {"name": "python3", "display_name": "Python 3",
                                                         "language": "python"}}), str(nb_path))
    job = Job(name="noisy", slug="noisy", notebook=nb_path, event_id=None, parameters={},
              output_dir=tmp_path / "out", executed=tmp_path / "run" / "noisy.ipynb",
              html=tmp_path / "run" / "noisy.html", kernel_log=tmp_path / "k.log")
    workers = Workers(1, tmp_path / "logs", tmp_path, timeout=120)
    try:
        workers.run([job])
    finally:
        workers.close()
    assert job.status == "ok", job.error
    html = job.html.read_text(encoding="utf-8")
    assert "TqdmWarning" not in html and "IProgress" not in html
    assert "a line on stderr" not in html and 'data-mime-type="application/vnd.jupyter.stderr"' not in html
    assert "widget-view" not in html and "100%|" not in html and "prices:" not in html
    # the wide table is inside the box that scrolls sideways
    assert "a long column name 39" in html
    box = html.index(f'<div class="{SCROLL_CLASS}">')
    assert box < html.index("a long column name 39") < html.index("</table></div>", box)
    # what stderr said is handed to the run log (the pipeline logs job.stderr)
    assert any("a line on stderr" in t for t in job.stderr)
    # the executed notebook itself keeps it for whoever debugs
    executed = nbformat.read(str(job.executed), as_version=4)
    assert any(o.get("name") == "stderr" for c in executed.cells for o in c.get("outputs", []))
    assert jobs.WIDGET_MIMES[0] not in html
