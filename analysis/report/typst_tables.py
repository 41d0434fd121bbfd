"""Table specs for the typst template: cells and tables as small JSON-ready dicts.

A section builds its tables with :func:`cell` and :func:`table`; ``template.typ``
(``render-table``) lays them out. Text is already formatted (:mod:`analysis.fmt`).
"""
from __future__ import annotations

def cell(text, sub=None, sup=None, colspan=None, align=None, bold=False, italic=False, mono=False) -> dict:
    """One table cell for the template: main text, optional second line, superscript (stars)."""
    c = {"t": "" if text is None else str(text)}
    if sub:
        c["s"] = str(sub)
    if sup:
        c["sup"] = str(sup)
    if colspan:
        c["colspan"] = int(colspan)
    if align:
        c["align"] = align
    if bold:
        c["b"] = True
    if italic:
        c["i"] = True
    if mono:
        c["mono"] = True
    return c


def table(columns, align, header, rows, caption=None, size="8pt", note=None, lines=None, breakable=None) -> dict:
    """A table spec: ``header``/``rows`` are lists of rows of cells (str or :func:`cell`);
    ``lines`` lists body row indexes to draw a thin rule above (group separators). Tables of more
    than 12 rows may break across pages (the header repeats, the caption and a title row stay with
    the row after them); shorter ones move whole to the next page."""
    if breakable is None:
        breakable = len(rows) > 12
    return {"columns": list(columns), "align": list(align), "header": header, "rows": rows, "caption": caption,
            "size": size, "note": note, "lines": list(lines or []), "breakable": bool(breakable)}
