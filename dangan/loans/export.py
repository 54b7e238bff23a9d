"""The ledger (借阅登记簿) as CSV or XLSX with Chinese column headers."""

from __future__ import annotations

import csv
import json
from pathlib import Path

from dangan.errors import InvalidInput
from dangan.loans.service import KINDS

HEADERS = ["时间", "借阅单号", "事件", "操作人", "借阅人", "部门", "借阅方式", "档号", "用途", "说明"]


def ledger_rows(rows: list[dict]) -> list[list[str]]:
    return [[r["at"], r["loan_id"], r["event_name"], r["actor"], r["borrower"], r["department"] or "",
             KINDS.get(r["kind"], r["kind"]), "、".join(r["records"]), r["purpose"],
             json.dumps(r["detail"], ensure_ascii=False) if r["detail"] else ""] for r in rows]


def export_ledger(rows: list[dict], path: Path) -> Path:
    """Write `rows` to `path`; the suffix picks the format (.csv in UTF-8 with BOM for Excel, .xlsx)."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in (".csv", ".xlsx"):
        raise InvalidInput(f"导出文件 {path.name} 的格式不支持：请用 .csv 或 .xlsx。")
    if suffix == ".csv":
        with open(path, "w", encoding="utf-8-sig", newline="") as fh:
            writer = csv.writer(fh)
            writer.writerow(HEADERS)
            writer.writerows(ledger_rows(rows))
        return path
    from openpyxl import Workbook

    wb = Workbook(write_only=True)
    ws = wb.create_sheet("借阅登记簿")
    ws.append(HEADERS)
    for row in ledger_rows(rows):
        ws.append(row)
    wb.save(path)
    return path
