"""The test registry: every cross-sectional test statistic is one registered object.

A test (in the manner of linearmodels' ``WaldTestStatistic``) has a ``name`` (tests.csv
``test``), a ``label`` (tables and the PDF), a ``reference`` (the paper), its ``null``
hypothesis in words, the statistic's null ``distribution``, the smallest cell it applies to (``min_n``) and a vectorized
``compute(cells) -> TestOutcome`` over all (event, group, window) cells at once. A cell where
the test does not apply gets NaN, and the outcome carries the reason (linearmodels'
``InvalidTestStatistic``). Adding a test is one subclass decorated with :func:`register`, and
its tests: ``tests.csv``, the PDF labels, the simulation benchmark and the size tests iterate
over :data:`REGISTRY`.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, ClassVar

import numpy as np

if TYPE_CHECKING:  # pragma: no cover
    from analysis.inference.cells import Cells


@dataclass(frozen=True)
class TestOutcome:
    """A test's statistic and two-sided p-value for every cell (arrays of length C)."""

    statistic: np.ndarray
    p_value: np.ndarray
    #: further columns of tests.csv this test fills (e.g. ``r_kp``), each (C,)
    extra: dict[str, np.ndarray] = field(default_factory=dict)
    #: (C,) why the test does not apply to a cell ('' where it does)
    reason: np.ndarray | None = None

    __test__ = False  # not a pytest test class


class CellTest:
    """Base class of a registered test statistic."""

    name: ClassVar[str]  # tests.csv ``test``
    label: ClassVar[str]  # table headers: "KP-BMP t"
    description: ClassVar[str]  # table notes and the methods text: "BMP test with the ... adjustment"
    words: ClassVar[str]  # in sentences: "KP-adjusted BMP test"
    #: what the test asks, in plain words for a reader without the method (the PDF's reading guide)
    plain: ClassVar[str] = ""
    reference: ClassVar[str]
    #: the null hypothesis, in words (the methods text and the summaries)
    null: ClassVar[str]
    distribution: ClassVar[str]
    #: smallest number of firms in a cell for the test to apply
    min_n: ClassVar[int] = 2
    #: the slow :class:`~analysis.inference.cells.Cells` quantities the test reads (cached
    #: properties, e.g. ``r_kp``): :func:`~analysis.inference.battery.run_battery` computes them
    #: on a thread while the tests that do not read them run
    reads: ClassVar[tuple[str, ...]] = ()
    #: a test that needs something a run may not provide (e.g. pseudo-event draws) says so here
    def available(self, cells: "Cells") -> bool:
        return True

    def compute(self, cells: "Cells") -> TestOutcome:  # pragma: no cover - abstract
        raise NotImplementedError

    def run(self, cells: "Cells") -> TestOutcome:
        """:meth:`compute`, with cells below ``min_n`` firms set to NaN and their reason."""
        out = self.compute(cells)
        small = cells.n < self.min_n
        reason = np.full(len(small), "", dtype=object)  # two shared strings, not one per cell
        reason[small] = f"fewer than {self.min_n} firms"
        if out.reason is not None:
            reason = np.where(small, reason, np.asarray(out.reason, dtype=object))
        stat = np.where(small, np.nan, out.statistic)
        p = np.where(small, np.nan, out.p_value)
        return TestOutcome(stat, p, out.extra, reason)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r}: {self.label}>"


#: name -> test, in the order tests.csv lists them (:data:`FAMILY_ORDER`)
REGISTRY: dict[str, CellTest] = {}

#: The test families, by module, in the order tests.csv lists their tests (within a family, the
#: order the module defines them); a test of another module follows them, in registration order.
#: Kept whatever the order the modules are imported in (an analyst importing
#: ``analysis.inference.ranks`` first once put the rank tests first in tests.csv).
FAMILY_ORDER = ("analysis.inference.portfolio", "analysis.inference.parametric", "analysis.inference.ranks",
                "analysis.inference.placebo")


def _family_rank(test: CellTest) -> int:
    module = type(test).__module__
    return FAMILY_ORDER.index(module) if module in FAMILY_ORDER else len(FAMILY_ORDER)


def register(cls: type[CellTest]) -> type[CellTest]:
    """Class decorator: add one instance of ``cls`` to :data:`REGISTRY` under ``cls.name``
    (a test must declare its name, label, description, words, reference, null and distribution)."""
    missing = [a for a in ("name", "label", "description", "words", "reference", "null", "distribution")
               if not getattr(cls, a, "")]
    if missing:
        raise TypeError(f"test {cls.__name__} declares no {', '.join(missing)}")
    if cls.name in REGISTRY:
        raise ValueError(f"test {cls.name!r} is registered twice")
    REGISTRY[cls.name] = cls()
    ordered = sorted(REGISTRY.items(), key=lambda item: _family_rank(item[1]))  # stable: a family's own order
    REGISTRY.clear()
    REGISTRY.update(ordered)
    return cls
