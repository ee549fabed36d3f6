"""Recognizable fake credentials, and a scanner that finds them wherever a run could have put them.

The demo and the deployment tests run with these keys (the simulator accepts the keys it is started
with), then scan everything the run left behind. A credential counts as leaked in any of the forms a
log, a URL, an HTTP header or a serializer could give it: as is (any case), URL-, form-, JSON- or
hex-encoded, UTF-16, base64 (standard or URL-safe, at any offset inside a longer encoded text), or
its first or last 12 characters (a half-masked value). Containers are opened, so nothing hides in a
compressed page: gzip and zip (XLSX) members, Parquet columns and metadata, every value of every
table of a SQLite file (a long value spans overflow pages in the file's bytes), zlib-compressed
blobs in them.
"""

from __future__ import annotations

import base64
import contextlib
import gzip
import io
import json
import sqlite3
import tempfile
import zipfile
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote, quote_plus

CANARY_KEY = "PKCANARY7Q3ZFAKEKEY0"
CANARY_SECRET = "canary-secret-9f3b-DO-NOT-LOG-xyzzy"
#: A secret that is wrong for the simulator (a typo of the real one, say): still a secret.
WRONG_SECRET = "canary-wrong-secret-4d1e-DO-NOT-LOG-plugh"
CANARIES = {"key id": CANARY_KEY, "secret": CANARY_SECRET, "wrong secret": WRONG_SECRET}

#: Characters of a half-masked value that still give it away.
FRAGMENT = 12


@dataclass(frozen=True)
class Finding:
    where: str  # a file (and the part of it: a table, a zip member, a column), or a URL
    canary: str  # which credential: "key id", "secret", ...
    form: str  # how it was written: "plain", "base64", ...

    def __str__(self) -> str:
        return f"{self.where}: the {self.canary} ({self.form})"


def _base64_cores(raw: bytes) -> Iterator[tuple[str, bytes]]:
    """The part of `raw`'s base64 text that is the same wherever `raw` sits in a longer input: for
    each of the 3 offsets in a 3-byte group, the characters made of `raw`'s bits only."""
    skip = {0: 0, 1: 2, 2: 3}
    for shift in range(3):
        for name, encode in (("base64", base64.b64encode), ("base64url", base64.urlsafe_b64encode)):
            text = encode(b"\0" * shift + raw).rstrip(b"=")
            yield name, text[skip[shift]:(shift + len(raw)) * 8 // 6]


def forms(value: str) -> dict[bytes, str]:
    """Each way `value` may be written -> the name of that form. Plain forms are lower-cased: the
    search is case-insensitive for them."""
    raw = value.encode()
    written = [
        ("plain", raw.lower()),
        ("URL-encoded", quote(value, safe="").encode().lower()),
        ("form-encoded", quote_plus(value).encode().lower()),
        ("JSON-escaped", json.dumps(value)[1:-1].encode().lower()),
        ("hex", raw.hex().encode()),
        ("UTF-16", value.lower().encode("utf-16-le")),
        (f"its first {FRAGMENT} characters", raw[:FRAGMENT].lower()),
        (f"its last {FRAGMENT} characters", raw[-FRAGMENT:].lower()),
        *_base64_cores(raw),
    ]
    out: dict[bytes, str] = {}
    for name, needle in written:
        out.setdefault(needle, name)  # a form that equals an earlier one is that one
    return out


_FORMS = {canary: forms(value) for canary, value in CANARIES.items()}
_CASE_SENSITIVE = {"base64", "base64url"}


def find_in_bytes(data: bytes, where: str) -> list[Finding]:
    """Every canary form in `data`."""
    lower = data.lower()
    found = []
    for canary, variants in _FORMS.items():
        for needle, form in variants.items():
            if needle in (data if form in _CASE_SENSITIVE else lower):
                found.append(Finding(where, canary, form))
    return found


def find_in_text(text: str, where: str) -> list[Finding]:
    return find_in_bytes(text.encode("utf-8", "surrogatepass"), where)


# ------------------------------------------------------------------------------------ containers


def _parts(data: bytes, where: str, depth: int = 0, wal: bytes | None = None) -> Iterator[tuple[str, bytes]]:
    """`data` itself, then what it contains when it is a container (recursively). `wal`: the
    write-ahead log beside a SQLite file, whose changes are part of its tables."""
    yield where, data
    if depth > 3:
        return
    inner: Iterable[tuple[str, bytes]] = ()
    if data[:2] == b"\x1f\x8b":
        inner = [(f"{where} (gunzipped)", gzip.decompress(data))]
    elif data[:4] == b"PK\x03\x04":
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            inner = [(f"{where}!{name}", archive.read(name)) for name in archive.namelist()]
    elif data[:4] == b"PAR1":
        inner = _parquet_values(data, where)
    elif data[:16] == b"SQLite format 3\x00":
        inner = _sqlite_values(data, where, wal)
    elif data[:1] == b"\x78" and len(data) > 2:
        with contextlib.suppress(zlib.error):
            inner = [(f"{where} (inflated)", zlib.decompress(data))]
    for name, part in inner:
        yield from _parts(part, name, depth + 1)


def _parquet_values(data: bytes, where: str) -> Iterator[tuple[str, bytes]]:
    import pyarrow.parquet as pq

    table = pq.read_table(io.BytesIO(data))
    yield f"{where} (schema and metadata)", str(table.schema).encode() + repr(table.schema.metadata).encode()
    for name in table.column_names:
        yield f"{where} column {name}", "\n".join(map(str, table.column(name).to_pylist())).encode()


def _sqlite_values(data: bytes, where: str, wal: bytes | None) -> list[tuple[str, bytes]]:
    """Every value of every table (the file's bytes split a long value across overflow pages), read
    from a copy of the file and its write-ahead log."""
    if wal is None and data[18:20] == b"\x02\x02":  # WAL mode without a log: read it as a plain file
        data = data[:18] + b"\x01\x01" + data[20:]
    values = []
    with tempfile.TemporaryDirectory(prefix="canary-scan-") as tmp:
        (Path(tmp) / "db").write_bytes(data)
        if wal is not None:
            (Path(tmp) / "db-wal").write_bytes(wal)
        db = sqlite3.connect(Path(tmp) / "db")
        try:
            tables = [row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
            for table in tables:
                for row in db.execute(f'SELECT * FROM "{table}"'):
                    values += [(f"{where} table {table}", value if isinstance(value, bytes) else
                                value.encode("utf-8", "surrogatepass")) for value in row if isinstance(value, (bytes, str))]
        finally:
            db.close()
    return values


def scan_bytes(data: bytes, where: str, wal: bytes | None = None) -> list[Finding]:
    """Every canary in `data` and in what it contains. A container that cannot be opened is a
    finding too: what it holds was not searched."""
    found: list[Finding] = []
    try:
        for name, part in _parts(data, where, wal=wal):
            found += find_in_bytes(part, name)
    except Exception as exc:
        found.append(Finding(where, "anything", f"not searched: {type(exc).__name__}: {exc}"))
    return found


def scan_file(path: Path, shown: str | None = None) -> list[Finding]:
    path = Path(path)
    wal = path.with_name(path.name + "-wal")
    return scan_bytes(path.read_bytes(), shown or str(path), wal.read_bytes() if wal.is_file() else None)


def files_under(root: Path) -> list[Path]:
    """Every regular file under `root` (symlinks not followed)."""
    return sorted(p for p in Path(root).rglob("*") if p.is_file() and not p.is_symlink())


def scan_tree(root: Path) -> list[Finding]:
    """Every canary in every file under `root`."""
    root = Path(root)
    found: list[Finding] = []
    for path in files_under(root):
        found += scan_file(path, str(path.relative_to(root)))
    return found


def report(findings: list[Finding]) -> str:
    return "the fake credentials were found:\n" + "\n".join(f"  {f}" for f in findings)
