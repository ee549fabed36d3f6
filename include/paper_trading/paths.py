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


def check_relative(relative: str | os.PathLike[str]) -> str:
    """`relative` as written, if it can only be a path relative to the project root; ValueError
    otherwise: empty, absolute, starting with `~` (nothing expands it), holding a NUL byte or a
    backslash (a separator on Windows, a file-name character here: `..\\x` means two things).
    `..` is checked by `resolve_inside`, which sees where it leads. Percent signs are file-name
    characters: nothing decodes `%2e%2e`."""
    text = os.fspath(relative)
    if not text:
        raise ValueError("must be a path relative to the project root, got an empty one")
    if "\x00" in text:
        raise ValueError(f"must not contain a NUL byte, got {text!r}")
    if "\\" in text:
        raise ValueError(f"must separate folders with '/', not '\\', got {text!r}")
    if text.startswith("~"):
        raise ValueError(f"must be a path relative to the project root ('~' is not expanded), got {text!r}")
    if Path(text).is_absolute():
        raise ValueError(f"must be a path relative to the project root, got absolute {text!r}")
    return text


def resolve_inside(root: Path, relative: str | os.PathLike[str]) -> Path:
    """Resolve `relative` against `root` (symlinks followed); raise ValueError if it is not a plain
    relative path (`check_relative`) or leads out of root (`..`, a symlink pointing out)."""
    rel = Path(check_relative(relative))
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


#: `scheduler.time` when the config does not set it: after the 09:30 open, so real orders can trade.
DEFAULT_SCHEDULER_TIME = "09:35"
#: What `scheduler.time` must look like: HH:MM, 00:00 to 23:59.
HHMM_PATTERN = r"([01][0-9]|2[0-3]):[0-5][0-9]"


def scheduler_time(root: Path, config: str = "config/config.yaml") -> str:
    """`scheduler.time` of the project's config (HH:MM, New York), read without validating the whole
    file: Airflow needs it when it parses the DAG (the timetable), and parsing must stay light. No
    file, or no such key: 09:35. A value that is not HH:MM is a ValueError naming the file and key
    (the DAG's import error says it)."""
    import re

    import yaml

    path = Path(root) / config
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return DEFAULT_SCHEDULER_TIME
    value = (data.get("scheduler") or {}).get("time") if isinstance(data, dict) else None
    if value is None:
        return DEFAULT_SCHEDULER_TIME
    if not (isinstance(value, str) and re.fullmatch(HHMM_PATTERN, value)):
        raise ValueError(f"{config}: scheduler.time: expected HH:MM (New York time), got {value!r}")
    return value

