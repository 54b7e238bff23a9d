"""dangan migrate --to CONFIG: an embedded archive copied to PostgreSQL + MinIO, verified
record by record, resumable."""

from __future__ import annotations

import io
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from dangan.archive.records import RecordInput
from dangan.backup.migrate import migrate_archive
from dangan.errors import Conflict, PermissionDenied
from dangan.system import open_dangan


@pytest.fixture
def empty_pg(pg_server_url: str) -> Iterator[str]:
    name = "m_" + uuid.uuid4().hex[:12]
    admin = sa.create_engine(pg_server_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    yield pg_server_url.rsplit("/", 1)[0] + "/" + name
    with admin.connect() as conn:
        conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    admin.dispose()


def test_migrate_copies_an_embedded_archive_to_postgres_and_minio_and_verifies_it(
        sqlite_system, empty_pg: str, s3_url: str, tmp_path: Path) -> None:
    system = sqlite_system
    numbers = []
    for i in range(4):
        data = RecordInput(original_name=f"{i}.pdf", media_type="application/pdf", title=f"设备台账 {i}",
                           category="equipment", location="A-01", text_pages=[{"page": 1, "text": "电梯设备台账"}])
        numbers.append(system.records.create(system.actor("wang"), io.BytesIO(os.urandom(70_000)), data).archive_no)
    target = tmp_path / "scaled"
    target.mkdir()
    (target / "dangan.toml").write_text(f'[database]\nurl = "{empty_pg}"\n[storage]\nurl = "{s3_url}/archive"\n')

    with pytest.raises(PermissionDenied):
        migrate_archive(system, system.actor("wang"), str(target / "dangan.toml"))
    report = migrate_archive(system, system.actor("root"), str(target / "dangan.toml"))
    assert report["verified"] == 4 and report["mismatched"] == [] and not report["resumed"]
    assert report["objects_copied"] >= 8 and "@" not in report["store"]

    again = migrate_archive(system, system.actor("root"), str(target / "dangan.toml"))
    assert again["resumed"] and again["objects_copied"] == 0 and again["verified"] == 4

    os.environ.pop("DANGAN_DATABASE_URL", None)
    copy = open_dangan(target)
    try:
        assert copy.db.dialect == "postgresql" and type(copy.store).__name__ == "S3Store"
        results = copy.records.verify(copy.actor("audit1"))
        assert sorted(r["archive_no"] for r in results) == sorted(numbers) and all(r["ok"] for r in results)
        assert copy.verify_audit(copy.actor("audit1")).ok
        assert copy.search_service.search(copy.actor("wang"), "台账")["total"] == 4
    finally:
        copy.close()


def test_migrate_refuses_a_target_holding_another_archive(system, tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    from dangan.system import init_archive

    monkeypatch.delenv("DANGAN_DATABASE_URL")
    source, _ = init_archive(tmp_path / "src", "root", "secofficer", "audit1")
    try:
        target = tmp_path / "other"
        target.mkdir()
        (target / "dangan.toml").write_text(f'[database]\nurl = "{system.db.url}"\n[storage]\nurl = "{tmp_path}/o"\n')
        with pytest.raises(Conflict, match="另一个档案库"):
            migrate_archive(source, source.actor("root"), str(target / "dangan.toml"))
    finally:
        source.close()
