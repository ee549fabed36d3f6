"""Strategy files (CSV / XLSX / Parquet) read for one trade date, fast, with exact row numbers.

The outside of the package is what is imported here; its modules are its inside:
`reader.py` (a file for a date and a point in time), `csv_index.py`, `cache.py`, `hashing.py`,
`normalize.py`.
"""

from paper_trading.signals.files.hashing import CONTENT_HASH, file_hash
from paper_trading.signals.files.normalize import STANDARD_SCHEMA
from paper_trading.signals.files.reader import (
    SourceFile,
    Unpublished,
    check_known_at,
    latest_date,
    open_source,
    read_strategy_rows,
    rows_known_at,
)

__all__ = ["CONTENT_HASH", "STANDARD_SCHEMA", "SourceFile", "Unpublished", "check_known_at", "file_hash", "latest_date",
           "open_source", "read_strategy_rows", "rows_known_at"]
