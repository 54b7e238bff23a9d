"""A database's rows, table by table, in a portable form: SQLite and PostgreSQL alike.

`dump` reads every table of the schema in ONE read transaction (a REPEATABLE READ
snapshot on PostgreSQL, a WAL read snapshot on SQLite), so what it writes is a consistent
picture even while the archive keeps working. Each table becomes a gzipped JSON Lines file;
values that JSON lacks (bytes, dates, times) are tagged. `load` writes them into an empty,
migrated database in foreign-key order and moves PostgreSQL's id sequences past the copied
ids. The same pair copies an embedded archive to PostgreSQL (`dangan migrate --to`).

No table list is kept here: the tables are those the database has (every feature package's
included), read by reflection; Alembic's own version table is left to `migrate`.
"""

from __future__ import annotations

import base64
import datetime as dt
import decimal
import gzip
import hashlib
import json
from collections.abc import Callable, Iterator
from pathlib import Path

from sqlalchemy import MetaData, Table, func, select, text
from sqlalchemy.engine import Connection, Engine

from dangan.errors import InvalidInput

SKIP_TABLES = {"alembic_version"}
BATCH = 2000


def _encode(value: object) -> object:
    if isinstance(value, bytes | bytearray | memoryview):
        return {"$b": base64.b64encode(bytes(value)).decode("ascii")}
    if isinstance(value, dt.datetime):
        return {"$dt": value.isoformat()}
    if isinstance(value, dt.date):
        return {"$d": value.isoformat()}
    if isinstance(value, dt.time):
        return {"$t": value.isoformat()}
    if isinstance(value, decimal.Decimal):
        return {"$n": str(value)}
    return value


def _decode(value: object) -> object:
    if isinstance(value, dict) and len(value) == 1:
        (tag, raw), = value.items()
        if tag == "$b":
            return base64.b64decode(raw)
        if tag == "$dt":
            return dt.datetime.fromisoformat(raw)
        if tag == "$d":
            return dt.date.fromisoformat(raw)
        if tag == "$t":
            return dt.time.fromisoformat(raw)
        if tag == "$n":
            return decimal.Decimal(raw)
    return value


def tables(engine: Engine) -> list[Table]:
    """The database's tables in foreign-key order (parents first)."""
    meta = MetaData()
    meta.reflect(engine)
    return [t for t in meta.sorted_tables if t.name not in SKIP_TABLES]


def _snapshot(engine: Engine) -> Connection:
    if engine.dialect.name == "postgresql":
        conn = engine.connect().execution_options(isolation_level="REPEATABLE READ")
    else:
        conn = engine.connect().execution_options(dangan_readonly=True)
    return conn


def schema_heads(engine: Engine) -> list[str]:
    with engine.connect() as conn:
        try:
            return sorted(r[0] for r in conn.execute(text("SELECT version_num FROM alembic_version")))
        except Exception:
            return []


def dump(engine: Engine, dest: Path, progress: Callable[[str, int], None] | None = None) -> dict:
    """Write every table's rows under `dest`; returns {table: {"rows", "file", "sha256"}}."""
    dest.mkdir(parents=True, exist_ok=True)
    out: dict[str, dict] = {}
    listed = tables(engine)
    conn = _snapshot(engine)
    try:
        with conn.begin():
            for table in listed:
                path = dest / f"{table.name}.jsonl.gz"
                digest = hashlib.sha256()
                rows = 0
                order = list(table.primary_key.columns) or list(table.columns)
                with gzip.open(path, "wb", compresslevel=5) as fh:
                    result = conn.execution_options(yield_per=BATCH).execute(select(table).order_by(*order))
                    names = list(result.keys())
                    for row in result:
                        line = (json.dumps({n: _encode(v) for n, v in zip(names, row, strict=True)},
                                           ensure_ascii=False, separators=(",", ":")) + "\n").encode()
                        digest.update(line)
                        fh.write(line)
                        rows += 1
                out[table.name] = {"rows": rows, "file": path.name, "sha256": digest.hexdigest()}
                if progress:
                    progress(table.name, rows)
    finally:
        conn.close()
    return out


def read_rows(path: Path) -> Iterator[dict]:
    with gzip.open(path, "rb") as fh:
        for line in fh:
            yield {k: _decode(v) for k, v in json.loads(line).items()}


def check(dump_dir: Path, manifest: dict) -> None:
    """Every table file is there and hashes to what the manifest says."""
    for name, info in manifest.items():
        path = dump_dir / info["file"]
        if not path.is_file():
            raise InvalidInput(f"备份不完整：缺少数据表 {name} 的数据文件")
        digest = hashlib.sha256()
        with gzip.open(path, "rb") as fh:
            for line in fh:
                digest.update(line)
        if digest.hexdigest() != info["sha256"]:
            raise InvalidInput(f"备份已损坏：数据表 {name} 的数据与清单中的校验值不符")


def load(engine: Engine, dump_dir: Path, manifest: dict,
         skip: Callable[[str, dict], bool] | None = None,
         after: Callable[[Connection], object] | None = None) -> dict[str, int]:
    """Insert the dumped rows into the (migrated, empty) database; one transaction, which
    `after(conn)` may add to (a marker that commits with the rows)."""
    target = {t.name: t for t in tables(engine)}
    missing = sorted(set(manifest) - set(target))
    if missing:
        raise InvalidInput(f"目标数据库缺少数据表 {', '.join(missing)}：请用与备份时相同版本的 Dangan 恢复")
    counts: dict[str, int] = {}
    with engine.begin() as conn:
        for name, table in target.items():
            if name not in manifest:
                continue
            if conn.execute(select(func.count()).select_from(table)).scalar_one():
                conn.execute(table.delete())  # rows seeded by migrations: the backup's win
            columns = {c.name for c in table.columns}
            batch: list[dict] = []
            n = 0
            for row in read_rows(dump_dir / manifest[name]["file"]):
                if skip is not None and skip(name, row):
                    continue
                batch.append({k: v for k, v in row.items() if k in columns})
                if len(batch) >= BATCH:
                    conn.execute(table.insert(), batch)
                    n += len(batch)
                    batch = []
            if batch:
                conn.execute(table.insert(), batch)
                n += len(batch)
            counts[name] = n
        if engine.dialect.name == "postgresql":
            _advance_sequences(conn, target)
        if after is not None:
            after(conn)
    return counts


def _advance_sequences(conn: Connection, target: dict[str, Table]) -> None:
    """Serial ids continue after the copied ones."""
    for name, table in target.items():
        for col in table.primary_key.columns:
            seq = conn.execute(text("SELECT pg_get_serial_sequence(:t, :c)"),
                               {"t": name, "c": col.name}).scalar()
            if seq:
                conn.execute(text(f'SELECT setval(:s, COALESCE((SELECT MAX("{col.name}") FROM "{name}"), 0) + 1, false)'),
                             {"s": seq})
