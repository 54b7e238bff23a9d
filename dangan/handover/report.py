"""The 接管验收 report: what arrived, what fails a check, what the checklist misses."""

from __future__ import annotations

from typing import Any

from dangan.handover.checklist import STATE_NAMES
from dangan.integrity import pdf

LEVEL_NAMES = {"error": "错误", "warning": "提示"}
KIND_NAMES = {"dangan": "Dangan 移交包（BagIt）", "bag-csv": "BagIt 包（CSV 清单）",
              "folder-csv": "普通目录（CSV 清单）"}


def takeover_pdf(report: dict) -> bytes:
    facts: list[tuple[str, Any]] = [
        ("来源", report["source"]), ("包的类型", KIND_NAMES.get(report["kind"], report["kind"])),
        ("移交方", report.get("sender")), ("项目", report.get("estate")),
        ("接收人", report["actor"]), ("验收时间", report["checked_at"]),
        ("清单", report["checklist"]["title"]),
        ("件数", f"包中 {report['items']} 件，接收 {len(report.get('imported', []))} 件"),
        ("结论", _verdict(report)),
    ]
    findings = [[LEVEL_NAMES.get(f["level"], f["level"]), f.get("target") or "（整包）", f["check"], f["message"]]
                for f in report["findings"]]
    items = [[c["project"], c["item"], STATE_NAMES[c["state"]], "、".join(str(n) for n in c["records"][:8])
              + ("等" if len(c["records"]) > 8 else "")] for c in report["checklist"]["items"]]
    arrived = [[a["archive_no"], a.get("source_no") or "", a["title"]] for a in report.get("imported", [])]
    return pdf.render("物业项目接管验收报告", facts, [
        ("必备资料核对", ["项目", "资料", "状态", "档号"], items),
        ("检测发现的问题", ["级别", "对象", "检测项", "说明"], findings),
        ("已接收的档案", ["档号", "原档号（改号时）", "题名"], arrived),
    ], signatures=("移交方代表", "接收方代表", "监交方（业主委员会／主管部门）"))


def _verdict(report: dict) -> str:
    if not report["ok"]:
        return "包未通过检测，未接收任何档案"
    missing = [c for c in report["checklist"]["items"] if c["state"] != "present"]
    if missing:
        return f"已全部接收；必备资料有 {len(missing)} 项缺失或不完整"
    return "已全部接收，必备资料齐全"
