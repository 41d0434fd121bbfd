"""analysis.fmt: stars read from the printed p, short firm names, sources without seed files."""
from __future__ import annotations

import numpy as np
import pytest

from analysis import fmt


@pytest.mark.parametrize("p, printed, stars", [
    (0.0498, "0.0498", "**"),     # 3 decimals would print 0.050, which is not below 0.05
    (0.0502, "0.050", "*"),       # printed 0.050: no **
    (0.05, "0.050", "*"),
    (0.0099, "0.0099", "***"),
    (0.00999, "0.00999", "***"),
    (0.0995, "0.0995", "*"),
    (0.1, "0.100", ""),
    (0.01937, "0.019", "**"),
    (0.0004, "<0.001", "***"),
    (0.6, "0.600", ""),
])
def test_stars_follow_the_printed_p(p, printed, stars):
    assert fmt.pvalue(p) == printed
    assert fmt.stars(p) == stars
    assert fmt.stars_of_printed(printed) == stars


def test_stars_never_disagree_with_the_printed_p():
    rng = np.random.default_rng(7)
    ps = np.concatenate([rng.uniform(0, 0.2, 20000), [0.00995, 0.0499999, 0.0999999, 0.01, 0.05, 0.1]])
    for p in ps:
        text = fmt.pvalue(p)
        shown = 0.0005 if text.startswith("<") else float(text)
        want = "***" if shown < 0.01 else "**" if shown < 0.05 else "*" if shown < 0.10 else ""
        assert fmt.stars(p) == want, (p, text)


def test_missing_p_prints_na_without_stars():
    assert fmt.pvalue(np.nan) == "n/a" and fmt.stars(None) == ""


def test_short_names_keep_the_name_a_reader_knows():
    assert fmt.short_name("Hangzhou Hikvision Digital Technology") == "Hangzhou Hikvision"
    assert fmt.short_name("Dawning Information Industry (Sugon)") == "Sugon"
    assert fmt.short_name("Seagate Technology") == "Seagate"
    assert fmt.short_name("Western Digital") == "Western Digital"
    assert fmt.short_name("Intel") == "Intel"


def test_public_source_drops_seed_file_names():
    text = ('The Week, "Why US might blacklist Hikvision" (seeds/000_b858d82d0615ee11.txt); E&T, "US '
            'blacklisting" (seeds/003_57deb0dc3b6ebfa8.txt); also seeds/001_6de390fad42916b0.txt')
    out = fmt.public_source(text)
    assert "seeds/" not in out and ".txt" not in out
    assert out.startswith('The Week, "Why US might blacklist Hikvision"; E&T')
    assert "(../shared/prices)" not in fmt.public_source("Suspension: SOURCES.md of the recorded prices (../shared/prices)")


def test_and_list_joins_names_in_prose():
    assert fmt.and_list([]) == "" and fmt.and_list(["Hikvision"]) == "Hikvision"
    assert fmt.and_list(["Hikvision", "Dahua"]) == "Hikvision and Dahua"
    assert fmt.and_list(iter(["A", "B", "C"])) == "A, B and C"
