"""Demo data for retention: old records falling due, a legal hold, and one destroyed
batch with its certificate, so a newcomer sees 到期档案, 冻结, 销毁清册 and 销毁登记簿 in use."""

from __future__ import annotations

import datetime as dt
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from dangan.archive.records import RecordInput
from dangan.demo import render

if TYPE_CHECKING:
    from dangan.system import Dangan

OLD = [  # title, category, location, date, paper box (None: born-digital only)
    ("2009年3号楼电梯困人维修记录", "maintenance", "A-03-001-0101", dt.date(2009, 4, 12), None),
    ("2010年地下车库照明更换记录", "maintenance", "A-01-001-0101", dt.date(2010, 8, 3), None),
    ("2011年二次供水水箱清洗记录", "maintenance", "A-02-001-0101", dt.date(2011, 5, 20), "档案室 2 号柜 14 盒"),
    ("2012年业主报修回访记录（第一季度）", "service", "A-01-002-0301", dt.date(2012, 3, 31), None),
    ("2012年绿化补种验收记录", "environment", "A-01-001-0101", dt.date(2012, 10, 9), None),
    ("2013年外墙渗水投诉处理记录", "service", "A-02-003-0502", dt.date(2013, 7, 16), None),
    ("2014年消防泵保养记录", "maintenance", "A-01-001-0101", dt.date(2014, 11, 2), None),
]


def build_retention_demo(system: Dangan, archivist: str = "wang", manager: str = "zhao",
                         supervisor: str = "auditor") -> dict:
    """Seven records from 2009–2014 (all past their 10 years): three destroyed in batch
    XH-…-0001 with a certificate, one under the hold 诉讼-2024-外墙渗水, three waiting
    for appraisal on the due list."""
    wang = system.actor(archivist)
    nos: list[str] = []
    with tempfile.TemporaryDirectory(prefix="dangan-demo-retention-") as tmp:
        for n, (title, category, location, date, box) in enumerate(OLD):
            text = f"{title}\n日期：{date.isoformat()}\n位置：{location}\n处理结果：已完成，业主签字确认。"
            path = render.text_pdf(Path(tmp) / f"old-{n}.pdf", [text])
            data = RecordInput(original_name=path.name, media_type="application/pdf", title=title,
                               category=category, location=location, doc_date=date, custody=box,
                               pages=1, text_pages=[{"page": 1, "text": text}])
            archive_no = system.records.create(wang, path, data).archive_no
            assert archive_no is not None  # category and location are given: numbered at once
            nos.append(archive_no)
    svc = system.retention
    destroy = nos[:3]
    svc.appraise(wang, destroy, "destroy", "保管期满，经鉴定无继续保存价值")
    batch = svc.create_batch(wang, destroy, "2009–2011 年到期的维修保养记录")["batch_id"]
    svc.approve(system.actor(manager), batch)
    svc.execute(wang, batch, supervisor, "管理处档案室（碎纸机）", paper_confirmed=[nos[2]])
    svc.create_hold(wang, "诉讼-2024-外墙渗水", "业主就外墙渗水提起诉讼，相关记录保全",
                    case_ref="(2024)粤0304民初1234号")
    svc.add_to_hold(wang, "诉讼-2024-外墙渗水", [nos[5]])
    return {"destroyed_batch": batch, "held": nos[5], "due": nos[3:]}
