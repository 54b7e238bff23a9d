"""Demo data for 四性检测 and 移交/接管: a filed check report, a transfer package made,
a takeover from a previous company's plain folder (GBK list) with its 接管验收 report,
and one more package waiting in the receiving folder for a newcomer to try."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from dangan.archive.models import Record
from dangan.demo import render

# 滨江公园 (D) comes over from the previous property company: part of its §29 documents.
TAKEOVER = [
    ("图纸/竣工总平面图.pdf", "滨江公园竣工总平面图", "基础资料", "D", "2018-06-30",
     ["滨江公园竣工总平面图", "比例 1:500", "建设单位：滨江区园林局"]),
    ("图纸/地下管网竣工图.pdf", "滨江公园配套设施与地下管网竣工图", "设备设施", "D", "2018-06-30",
     ["滨江公园配套设施与地下管网竣工图", "雨水、污水、给水、电力管线"]),
    ("设备/水泵安装使用维护保养技术资料.pdf", "喷泉水泵安装使用维护保养技术资料", "设备设施", "D-01", "2018-07-15",
     ["喷泉水泵安装使用维护保养技术资料", "型号 QJ-50，每季度检修一次"]),
    ("设备/质量保修书.pdf", "园区设施质量保修书", "基础资料", "D", "2018-07-01",
     ["园区设施质量保修书", "保修期：主体结构 50 年，设备 2 年"]),
]
WAITING = [
    ("说明/使用说明书.pdf", "滨江公园设施使用说明书", "基础资料", "D", "2018-07-01",
     ["滨江公园设施使用说明书", "游乐设施、照明、喷泉使用须知"]),
]


def _folder(root: Path, rows: list) -> Path:
    root.mkdir(parents=True)
    lines = ["文件,题名,类别,位置,日期"]
    for rel, title, category, location, date, text in rows:
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        render.text_pdf(root / rel, ["\n".join(text)])
        lines.append(",".join([rel, title, category, location, date]))
    (root / "移交清单.csv").write_bytes(("\r\n".join(lines) + "\r\n").encode("gbk"))  # an older system's CSV
    return root


def add_handover_demo(system: Any) -> str:
    """Run the checks, export the busiest building, take 滨江公园 over; a one-line summary."""
    wang, auditor = system.actor("wang"), system.actor("auditor")
    verified = system.verify.run(auditor, mode="incremental")
    with system.db.read() as s:
        busiest = s.execute(select(Record.location, func.count()).where(
            Record.status == "active", Record.location.like("A-__")).group_by(Record.location)
            .order_by(func.count().desc()).limit(1)).first()
    exported = ""
    if busiest:
        out = system.settings.home / "exports" / f"移交-{busiest[0]}"
        if not out.exists():
            facts = system.handover.export(wang, out, location=busiest[0], receiver="业主委员会")
            exported = f"，移交包 {out}（{facts['items']} 件）"
    with tempfile.TemporaryDirectory(prefix="dangan-demo-takeover-") as tmp:
        report = system.handover.takeover(wang, _folder(Path(tmp) / "滨江公园-前物业移交", TAKEOVER),
                                          label="前物业公司移交：滨江公园")
    waiting = system.handover.incoming() / "滨江公园-补交资料"
    if not waiting.exists():
        with tempfile.TemporaryDirectory(prefix="dangan-demo-incoming-") as tmp:
            shutil.copytree(_folder(Path(tmp) / "pkg", WAITING), waiting)
    return (f"四性检测 {verified['checked']} 件{exported}；接管滨江公园 {len(report['imported'])} 件，"
            f"接收目录中还有一个待接管的包")
