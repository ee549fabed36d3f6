"""Where the project lives, and how relative paths in config files are resolved.

All paths in `config/*.yaml` are relative to the project root, as in the specification, so the
project can be moved or mounted elsewhere (a container, another machine) unchanged.
"""

from __future__ import annotations

import os
from pathlib import Path

ROOT_ENV = "PAPER_TRADING_ROOT"


def project_root() -> Path:
    """The project root: `$PAPER_TRADING_ROOT` if set, else the current directory."""
    return Path(os.environ.get(ROOT_ENV) or os.getcwd()).resolve()


def resolve_inside(root: Path, relative: str | os.PathLike[str]) -> Path:
    """Resolve `relative` against `root`; raise ValueError if it is absolute or escapes root."""
    rel = Path(relative)
    if rel.is_absolute():
        raise ValueError(f"must be a path relative to the project root, got absolute {str(rel)!r}")
    root = Path(root).resolve()
    full = (root / rel).resolve()
    if full != root and root not in full.parents:
        raise ValueError(f"must stay inside the project root, {str(rel)!r} points outside it")
    return full


def display_path(path: Path, root: Path | None = None) -> str:
    """A path as users wrote it: relative to the project root when it is inside it."""
    root = (root or project_root()).resolve()
    try:
        return str(Path(path).resolve().relative_to(root))
    except ValueError:
        return str(path)
