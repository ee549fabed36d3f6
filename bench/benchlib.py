"""What the benchmarks share: the machine they ran on, and whether PostgreSQL can be measured."""

from __future__ import annotations

from pathlib import Path

PG_BASE = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


def cpu_model() -> str:
    """The CPU's model name from /proc/cpuinfo ("unknown CPU" elsewhere)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown CPU"


def pg_available(url: str = PG_BASE) -> str | None:
    """None when the PostgreSQL ledger can be measured, else why not."""
    try:
        import psycopg  # noqa: F401
    except ImportError:
        return "psycopg is not installed"
    from sqlalchemy import create_engine, text

    try:
        engine = create_engine(url, connect_args={"connect_timeout": 3})
        with engine.connect() as conn:
            conn.execute(text("select 1"))
        engine.dispose()
    except Exception as exc:  # noqa: BLE001
        return f"no PostgreSQL server reachable at 127.0.0.1:5432 ({type(exc).__name__})"
    return None
