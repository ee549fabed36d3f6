"""The content hash of a strategy file, and its memo.

`blake3-chunks:<hex>` (see `CONTENT_HASH`) is what the lineage records and what keys the cache. It is
memoized per (path, size, mtime, inode), as git's index does, so an unchanged file is not re-hashed
on every run or sensor poke; a file read through its CSV index must still have that stamp
(`check_unchanged`), or the run stops instead of reading other bytes than it indexed.
"""

from __future__ import annotations

import contextlib
import json
import os
import threading
from pathlib import Path
from typing import Any, BinaryIO

import blake3

from paper_trading.atomic import write_text_atomic
from paper_trading.config import StrategySpec
from paper_trading.errors import SignalsNotReady
from paper_trading.logging_setup import get_logger

log = get_logger("signal_io")

# --------------------------------------------------------------------------------------- hashing

#: The content hash of a file: BLAKE3 over the concatenated 32-byte BLAKE3 digests of its
#: consecutive HASH_BLOCK_BYTES blocks (the last one may be shorter), as `blake3-chunks:<hex>`.
#: Blocks sit at fixed offsets, so the hash depends on the content only, never on how the file
#: was read, and a file that grew is hashed again only from its last old block on (csv_index).
#: BLAKE3 runs at ~6 GB/s per core here, SHA-256 at ~1.8 GB/s.
CONTENT_HASH = "blake3-chunks"
HASH_BLOCK_BYTES = 1 << 20

_MEMO_LOCK = threading.Lock()


class BlockHasher:
    """Feeds a file's bytes, in order and in pieces of any size, to the per-block digests."""

    def __init__(self) -> None:
        self.digests: list[bytes] = []
        self._block = blake3.blake3()
        self._filled = 0

    def update(self, data: bytes | memoryview) -> None:
        view = memoryview(data)
        while len(view):
            take = min(len(view), HASH_BLOCK_BYTES - self._filled)
            self._block.update(view[:take])
            self._filled += take
            view = view[take:]
            if self._filled == HASH_BLOCK_BYTES:
                self.digests.append(self._block.digest())
                self._block, self._filled = blake3.blake3(), 0

    def add_block(self, digest: bytes) -> None:
        """A whole block whose digest is known already (the caller hashed it), at a block boundary."""
        assert self._filled == 0, "add_block between two blocks only"
        self.digests.append(digest)

    def finish(self) -> list[bytes]:
        """The digests of every block (the last, partial one included)."""
        if self._filled:
            self.digests.append(self._block.digest())
            self._block, self._filled = blake3.blake3(), 0
        return self.digests


def content_hash(digests: list[bytes]) -> str:
    """The file's content hash from its block digests (see CONTENT_HASH)."""
    return f"{CONTENT_HASH}:{blake3.blake3(b''.join(digests)).hexdigest()}"


def hash_hex(value: str) -> str:
    """The hex digits of a content hash, without its algorithm's name (for cache file names)."""
    return value.rpartition(":")[2]


def file_stamp(st: os.stat_result) -> list[int]:
    """What says a file is unchanged without reading it (git's index uses the same)."""
    return [st.st_size, st.st_mtime_ns, st.st_ino]


def _read_memo(memo_dir: Path) -> dict[str, Any]:
    try:
        return json.loads((memo_dir / "hashes.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def _memo_entry(path: Path, memo_dir: Path | None) -> dict[str, Any]:
    entry = _read_memo(memo_dir).get(str(path)) if memo_dir else None
    if isinstance(entry, dict) and isinstance(entry.get("hash"), str) and entry["hash"].startswith(f"{CONTENT_HASH}:"):
        return entry
    return {}  # none, or one of another algorithm (an older version's sha256)


def memoized_hash(path: Path, stamp: list[int], memo_dir: Path | None) -> str | None:
    """The content hash remembered for `path`, if the file still has the same stamp."""
    entry = _memo_entry(path, memo_dir)
    return entry["hash"] if entry.get("stamp") == stamp else None


def previous_hash(path: Path, memo_dir: Path | None) -> str | None:
    """The content hash `path` had when it was last read, whatever its stamp is now."""
    return _memo_entry(path, memo_dir).get("hash")


def remember_hash(path: Path, stamp: list[int], value: str, memo_dir: Path | None) -> None:
    if memo_dir is None:
        return
    with _MEMO_LOCK:  # re-read under the lock: strategies read in parallel must not drop each other's entry
        memo = _read_memo(memo_dir)
        memo[str(path)] = {"stamp": stamp, "hash": value}
        with contextlib.suppress(OSError):  # the memo only saves time; a read-only cache must not fail a run
            write_text_atomic(memo_dir / "hashes.json", json.dumps(memo, indent=0, sort_keys=True))


def file_hash(path: Path, memo_dir: Path | None = None, shown: str | None = None) -> str:
    """The content hash of a file (see CONTENT_HASH), memoized on (size, mtime_ns, inode) in `memo_dir`."""
    stamp = file_stamp(path.stat())
    if value := memoized_hash(path, stamp, memo_dir):
        return value
    hasher = BlockHasher()
    buf = bytearray(HASH_BLOCK_BYTES)
    with open(path, "rb") as fh:
        while got := fh.readinto(buf):
            hasher.update(memoryview(buf)[:got])
        if file_stamp(os.fstat(fh.fileno())) != stamp:
            raise SignalsNotReady(f"{shown or path}: the file changed while it was being read; try again")
    value = content_hash(hasher.finish())
    remember_hash(path, stamp, value, memo_dir)
    return value


def check_unchanged(spec: StrategySpec, fh: BinaryIO, stamp: list[int]) -> None:
    """Stop if the file is no longer the one hashed (and indexed): its bytes would not match."""
    if file_stamp(os.fstat(fh.fileno())) != stamp:
        raise SignalsNotReady(f"{spec.path} (strategy {spec.id}): the file changed while it was being read; try again")


