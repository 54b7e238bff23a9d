"""Demo data for issue #8: a few documents a newcomer can follow through ingest — a
Traditional-script emergency plan with its code, building-level records stated in form
fields, a ledger dated by its period, and two records without a readable date that wait
in 待分类 (reason `no document date`) until the archivist supplies it."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

DOCS: tuple[tuple[str, str], ...] = (
    ("錦繡江南應急預案.pdf", "錦繡江南物業服務中心\n錦繡江南火災事故應急預案\n本預案適用於A3-08範圍內。\n"
     "一、報警：發現火情立即撥打119。\n二、疏散：按疏散通道有序撤離。\n編制日期：二〇二一年一月十九日"),
    ("消防巡查记录-3号楼.pdf", "翠湖花园物业服务中心\n消防巡查记录\n项目名称：翠湖花园\n巡查区域：3号楼\n"
     "检查内容：消防栓、灭火器、疏散通道，均正常。\n下次检查日期：2025年3月1日\n巡查日期：2024年11月5日"),
    ("绿化养护记录.pdf", "翠湖花园物业服务中心\n绿化养护记录\n养护区域：1号楼周边绿地\n作业内容：草坪修剪、乔木修枝。\n"
     "填表日期：2024.10.08"),
    ("物业费收费台账.pdf", "金融中心物业服务中心\n物业费收费台账\n统计期间：2024年1月1日至2024年3月31日\n"
     "2024-01-05  1201室  物业费  3,200.00\n2024-02-05  1202室  物业费  3,200.00"),
    ("设备台账-4号楼.pdf", "翠湖花园物业服务中心\n设备台账\n所属楼栋：4号楼\n设备名称：二次供水水泵　技术参数：15kW\n"
     "出厂日期：2012年5月1日"),
    ("巡查记录-两栋楼.pdf", "锦绣江南物业服务中心\n安全巡查记录\n项目名称：锦绣江南\n巡查区域：5号楼\n巡查区域：6号楼\n"
     "隐患：无。\n日期：2024年9月2日"),
)


def add_ingest_accuracy_demo(system: Any, actor_name: str = "wang") -> str:
    """Ingest the documents above through the real pipeline; returns the summary line."""
    from dangan.demo import render
    from dangan.ingest.pipeline import IngestPipeline
    from dangan.ingest.sources import expand_paths

    with tempfile.TemporaryDirectory(prefix="dangan-demo-8-") as tmp:
        files = [render.text_pdf(Path(tmp) / name, [text]) for name, text in DOCS]
        summary = IngestPipeline(system).ingest(system.actor(actor_name),
                                                expand_paths([str(f) for f in files], {}, Path(tmp)))
    return summary.line()
