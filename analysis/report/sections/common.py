"""Small helpers shared by the PDF sections: display order of windows and tests."""
from __future__ import annotations

from analysis.inference.battery import REGISTRY
from analysis.vocab import parse_window


def window_order(windows) -> list[str]:
    """Distinct windows ('-1:1') shortest first, then by start."""
    def key(w):
        a, b = parse_window(w)
        return (b - a, a)

    return sorted(dict.fromkeys(windows), key=key)


def test_order(names) -> list[str]:
    """Distinct test names in registry order, unregistered ones after (sorted)."""
    have = set(names)
    return [t for t in REGISTRY if t in have] + sorted(have - set(REGISTRY))
