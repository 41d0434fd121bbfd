"""Where the project's own files are: the repository root, its data folder and the download cache
(lowest layer)."""
from __future__ import annotations

from pathlib import Path

#: The repository root (the folder holding ``analysis/``, ``data/``, ``notebooks/``).
PROJECT = Path(__file__).resolve().parents[1]
#: The curated inputs: events.csv, universe.csv and the other catalog files.
DATA = PROJECT / "data"
#: The application name under the platform's cache folder (outside a project checkout).
APP_NAME = "sanctions-event-study"


def in_project() -> bool:
    """True when the package runs from a project checkout (``pyproject.toml`` and ``data/`` beside it),
    as with ``pip install -e .``; False for an installed copy in site-packages."""
    return (PROJECT / "pyproject.toml").is_file() and DATA.is_dir()


def cache_dir() -> Path:
    """The one download cache of ``study``, ``report`` and the notebooks (Yahoo prices, French factors).

    Inside a project checkout: ``<project>/data/cache``, whatever the current folder; otherwise
    the platform's user cache folder (``platformdirs.user_cache_dir``, e.g.
    ``~/.cache/sanctions-event-study`` on Linux). Not created here.
    """
    if in_project():
        return DATA / "cache"
    import platformdirs

    return Path(platformdirs.user_cache_dir(APP_NAME, appauthor=False))
