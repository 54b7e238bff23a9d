"""`dangan demo`: a ready-to-explore archive with sample documents.

Builds (once) a data directory with the three separated accounts, a user of each other
kind, the sample estates, and a few dozen rendered property documents — born-digital
PDFs and a handful of scans that go through OCR — ingested through the real pipeline.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from dangan.config import load_settings
from dangan.demo import render
from dangan.demo.corpus import DEFAULT_PROJECTS, generate
from dangan.demo.handover import add_handover_demo
from dangan.demo.loans import add_demo_loans
from dangan.demo.retention import build_retention_demo
from dangan.demo.scale import add_scale_demo
from dangan.demo.web import setup_owner_portal

DEMO_PASSWORD = "dangan-demo"
PEOPLE = {
    # name: (roles, clearance, department)
    "wang": (["archivist"], "secret", "档案室"),
    "zhao": (["manager"], "confidential", "管理处"),
    "li": (["staff"], "internal", "工程部"),
    "chen": (["staff"], "public", "客服部"),
}
OFFICERS = {"admin": "admin", "security": "secadmin", "auditor": "auditor"}


def write_samples(folder: Path, count: int = 36, scans: int = 4, seed: int = 2024) -> list[Path]:
    """Render `count` documents: text PDFs, plus `scans` image-only ones for OCR."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for n, doc in enumerate(generate(count, seed=seed)):
        stem = f"{n + 1:03d}-{doc.title}"[:60]
        if n < scans:
            img = render.page_image(doc.text)
            path = render.scanned_pdf(folder / f"{stem}.pdf", [img]) if n % 2 == 0 else \
                render.png(folder / f"{stem}.png", img)
        else:
            path = render.text_pdf(folder / f"{stem}.pdf", [doc.text])
        paths.append(Path(path))
    return paths


def build_demo(home: str | None, count: int = 36, scans: int = 4) -> dict:
    from dangan.demo.ingest_accuracy import add_ingest_accuracy_demo
    from dangan.ingest.pipeline import IngestPipeline
    from dangan.ingest.sources import expand_paths
    from dangan.system import init_archive

    settings = load_settings(home)
    marker = settings.home / ".demo-built"
    if marker.exists():
        return {"message": f"演示档案库已存在：{settings.home}\n{_logins()}"}
    system, _ = init_archive(settings.home, OFFICERS["admin"], OFFICERS["security"], OFFICERS["auditor"],
                             passwords={name: DEMO_PASSWORD for name in OFFICERS.values()})
    sec = system.actor(OFFICERS["security"])
    existing = {u["name"] for u in system.users.list(sec)}
    for name, (roles, clearance, dept) in PEOPLE.items():
        if name not in existing:
            system.users.add(sec, name, roles, clearance, dept, None, DEMO_PASSWORD)
    admin = system.actor(OFFICERS["admin"])
    known = {p["code"] for p in system.projects.list()}
    for code, name, kind in DEFAULT_PROJECTS:
        if code not in known:
            system.projects.add(admin, code, name, kind)
    with tempfile.TemporaryDirectory(prefix="dangan-demo-") as tmp:
        files = write_samples(Path(tmp), count=count, scans=scans)
        summary = IngestPipeline(system).ingest(system.actor("wang"), expand_paths(files, {}, Path(tmp)))
    add_demo_loans(system)
    build_retention_demo(system)  # records falling due, a hold, a destroyed batch
    add_handover_demo(system)
    add_ingest_accuracy_demo(system)  # issue #8: building places, Traditional, undated → 待分类
    if hasattr(system, "search_service"):
        system.search_service.sync()
    add_scale_demo(system)  # a batch worked by the queue's worker, and a first backup
    setup_owner_portal(system, DEMO_PASSWORD)  # the 业主查询 portal: owner yezhu
    marker.write_text("ok\n", encoding="utf-8")
    return {"message": f"演示档案库已建好：{settings.home}\n{summary.line()}\n{_logins()}",
            "summary": summary}


def _logins() -> str:
    names = "、".join([*PEOPLE, *OFFICERS.values()])
    return (f"演示账户（密码均为 {DEMO_PASSWORD}）：{names}\n"
            "wang 档案管理员（机密），zhao 负责人（秘密），li 员工（内部），chen 员工（公开）")
