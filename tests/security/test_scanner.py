"""The credential scanner can fail: a canary planted in any form or container it claims to search is
found, and a tree without one is clean."""

from __future__ import annotations

import base64
import gzip
import sqlite3
import zipfile
import zlib
from urllib.parse import quote

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tests.security.canary import (
    CANARY_KEY,
    CANARY_SECRET,
    WRONG_SECRET,
    find_in_text,
    scan_bytes,
    scan_file,
    scan_tree,
)

#: A value with characters that URL-encoding changes, to prove that form is searched as such.
SPECIAL = "canary/with+special chars=&"


def forms_found(data: bytes) -> set[tuple[str, str]]:
    return {(f.canary, f.form) for f in scan_bytes(data, "planted")}


@pytest.fixture
def tree(tmp_path):
    """A small project tree like a run leaves, with no credential in it."""
    (tmp_path / "logs").mkdir()
    (tmp_path / "logs" / "plan_20251231.log").write_text("INFO trade_date=2025-12-31 run_id=r1 plan: 3 orders\n")
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "orders.csv").write_text("symbol,qty\nAAPL,3\n")
    return tmp_path


def test_a_tree_without_credentials_is_clean(tree):
    assert scan_tree(tree) == []


def test_the_key_id_planted_in_a_log_line_is_found(tree):
    with open(tree / "logs" / "plan_20251231.log", "a") as log:
        log.write(f"DEBUG headers: APCA-API-KEY-ID={CANARY_KEY}\n")
    assert [(f.where, f.canary, f.form) for f in scan_tree(tree)] == [
        ("logs/plan_20251231.log", "key id", "plain"), ("logs/plan_20251231.log", "key id", "its first 12 characters"),
        ("logs/plan_20251231.log", "key id", "its last 12 characters")]


def test_a_credential_in_another_case_is_found():
    assert ("secret", "plain") in forms_found(CANARY_SECRET.upper().encode())


@pytest.mark.parametrize("prefix", [b"", b"x", b"xy"], ids=["offset-0", "offset-1", "offset-2"])
def test_a_secret_inside_a_longer_base64_text_is_found_at_any_offset(prefix):
    blob = base64.b64encode(prefix + f"Authorization: {CANARY_SECRET}:end".encode())
    assert ("secret", "base64") in forms_found(b"token=" + blob)


def test_a_secret_in_url_safe_base64_is_found():
    blob = base64.urlsafe_b64encode(b"\xff\xfe" + WRONG_SECRET.encode())
    assert {("wrong secret", "base64"), ("wrong secret", "base64url")} & forms_found(blob)


def test_a_url_encoded_value_is_found_as_such():
    from tests.security import canary

    variants = canary.forms(SPECIAL)
    encoded = quote(SPECIAL, safe="").encode()
    assert variants[encoded.lower()] == "URL-encoded"
    assert encoded.lower() in f"GET /v2/x?k={encoded.decode()}".encode().lower()


def test_hex_and_utf16_forms_are_found():
    assert ("key id", "hex") in forms_found(CANARY_KEY.encode().hex().encode())
    assert ("key id", "UTF-16") in forms_found(CANARY_KEY.encode("utf-16-le"))


def test_a_half_masked_secret_is_found():
    assert ("secret", "its first 12 characters") in forms_found(f"secret={CANARY_SECRET[:14]}***".encode())


def test_a_secret_in_a_gzipped_log_is_found(tmp_path):
    (tmp_path / "task.log.gz").write_bytes(gzip.compress(f"password={CANARY_SECRET}".encode()))
    assert any(f.canary == "secret" and "gunzipped" in f.where for f in scan_tree(tmp_path))


def test_a_secret_in_a_zip_member_is_found(tmp_path):
    with zipfile.ZipFile(tmp_path / "book.xlsx", "w", compression=zipfile.ZIP_DEFLATED) as book:
        book.writestr("xl/sharedStrings.xml", f"<t>{CANARY_SECRET}</t>" * 50)
    assert any(f.canary == "secret" and f.where == "book.xlsx!xl/sharedStrings.xml" for f in scan_tree(tmp_path))


def test_a_secret_in_a_compressed_parquet_column_is_found(tmp_path):
    table = pa.table({"note": [f"row {i} {CANARY_SECRET}" for i in range(200)]})
    pq.write_table(table, tmp_path / "t.parquet", compression="zstd", write_statistics=False)
    assert CANARY_SECRET.encode() not in (tmp_path / "t.parquet").read_bytes()  # hidden from a byte scan
    assert any(f.canary == "secret" and f.where == "t.parquet column note" for f in scan_tree(tmp_path))


def test_a_secret_in_parquet_metadata_is_found(tmp_path):
    table = pa.table({"a": [1]}).replace_schema_metadata({"broker": f"key={CANARY_KEY}"})
    pq.write_table(table, tmp_path / "t.parquet")
    assert any(f.canary == "key id" and "metadata" in f.where for f in scan_file(tmp_path / "t.parquet"))


def test_a_secret_split_across_sqlite_overflow_pages_is_found(tmp_path):
    db = sqlite3.connect(tmp_path / "meta.db")
    db.execute("PRAGMA page_size = 512")
    db.execute("CREATE TABLE xcom (value TEXT)")
    db.execute("INSERT INTO xcom VALUES (?)", ("x" * 500 + CANARY_SECRET + "y" * 500,))
    db.commit()
    db.close()
    assert any(f.canary == "secret" and f.form == "plain" and f.where == "meta.db table xcom"
               for f in scan_tree(tmp_path))


def test_a_secret_in_a_zlib_compressed_sqlite_blob_is_found(tmp_path):
    db = sqlite3.connect(tmp_path / "meta.db")
    db.execute("CREATE TABLE serialized_dag (data_compressed BLOB)")
    db.execute("INSERT INTO serialized_dag VALUES (?)", (zlib.compress(f'{{"password": "{CANARY_SECRET}"}}'.encode()),))
    db.commit()
    db.close()
    assert any(f.canary == "secret" and "inflated" in f.where for f in scan_tree(tmp_path))


def test_a_container_that_cannot_be_opened_is_reported_not_skipped():
    findings = scan_bytes(b"PAR1 this is not really a parquet file", "broken.parquet")
    assert [f.canary for f in findings] == ["anything"] and "not searched" in findings[0].form


def test_text_from_an_api_response_is_scanned():
    assert [f.form for f in find_in_text(f'{{"value": "{CANARY_KEY.lower()}"}}', "GET /xcomEntries")][:1] == ["plain"]
