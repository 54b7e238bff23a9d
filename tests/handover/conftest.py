"""Factories for handover tests: records with text, a second (receiving) archive, bag surgery."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from pathlib import Path

import pytest

from dangan.archive.records import RecordInput
from dangan.demo import render


def add_record(system, tmp: Path, title: str, category: str, location: str,
               date: str | None = "2024-05-04", user: str = "wang", text: str | None = None) -> str:
    """One stored record (a small text PDF, its text pages): its 档号."""
    body = text or f"{title}\n翠湖花园 {location}"
    path = render.text_pdf(tmp / f"{abs(hash((title, location, date)))}.pdf", [body])
    data = RecordInput(original_name=f"{title}.pdf", media_type="application/pdf", title=title,
                       category=category, location=location,
                       doc_date=dt.date.fromisoformat(date) if date else None, pages=1,
                       text_pages=[{"page": 1, "text": body, "method": "text"}])
    return system.records.create(system.actor(user), path, data).archive_no


def estate(system, tmp: Path) -> list[str]:
    """A small estate A: the §29 documents and some everyday records."""
    return [
        add_record(system, tmp, "翠湖花园竣工总平面图", "basic", "A", "2019-01-10"),
        add_record(system, tmp, "1号楼建筑竣工图", "equipment", "A-01", "2019-01-12"),
        add_record(system, tmp, "电梯设备台账", "equipment", "A-01", "2020-03-01"),
        add_record(system, tmp, "1号楼电梯维修记录", "maintenance", "A-01-001-0101", "2024-05-04"),
        add_record(system, tmp, "业主入住登记表 张建国 手机13812345678", "owner", "A-01-001-0101", "2021-06-01"),
    ]


@pytest.fixture
def receiver(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """A second, empty archive (SQLite) that takes the package over."""
    from dangan.system import init_archive

    home = tmp_path / "receiver"
    with monkeypatch.context() as m:
        m.setenv("DANGAN_DATABASE_URL", f"sqlite:///{tmp_path / 'receiver.db'}")
        m.setenv("DANGAN_HOME", str(home))
        other, _ = init_archive(home, "root2", "sec2", "aud2")
    other.users.add(other.actor("sec2"), "chen", ["archivist"], "secret")
    yield other
    other.close()


def rehash(bag: Path) -> None:
    """Rewrite the manifest and Payload-Oxum to fit the payload, as a careless tool would."""
    lines, size, count = [], 0, 0
    for p in sorted((bag / "data").rglob("*")):
        if p.is_file():
            lines.append(f"{hashlib.sha256(p.read_bytes()).hexdigest()}  {p.relative_to(bag).as_posix()}")
            size += p.stat().st_size
            count += 1
    (bag / "manifest-sha256.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    info = [ln for ln in (bag / "bag-info.txt").read_text(encoding="utf-8").splitlines()
            if not ln.startswith("Payload-Oxum")]
    (bag / "bag-info.txt").write_text("\n".join([*info, f"Payload-Oxum: {size}.{count}"]) + "\n", encoding="utf-8")


def edit_metadata(bag: Path, change) -> None:
    meta_path = bag / "data" / "metadata.json"
    facts = json.loads(meta_path.read_text(encoding="utf-8"))
    change(facts)
    meta_path.write_text(json.dumps(facts, ensure_ascii=False), encoding="utf-8")
    rehash(bag)


def count_records(system) -> int:
    from sqlalchemy import func, select

    from dangan.archive.models import Record

    with system.db.read() as s:
        return s.execute(select(func.count()).select_from(Record)).scalar_one()
