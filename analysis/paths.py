"""Where the project's own files are: the repository root and its data folder (lowest layer)."""
from __future__ import annotations

from pathlib import Path

#: The repository root (the folder holding ``analysis/``, ``data/``, ``notebooks/``).
PROJECT = Path(__file__).resolve().parents[1]
#: The curated inputs: events.csv, universe.csv and the other catalog files.
DATA = PROJECT / "data"
