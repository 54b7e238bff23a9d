"""The destruction register as files for auditors: CSV (UTF-8 with BOM, so spreadsheet
programs read the Chinese) and XLSX."""

from __future__ import annotations

import csv
import io

COLUMNS = [("archive_no", "档号"), ("title", "题名"), ("category_name", "类别"), ("location", "位置编码"),
           ("date", "文件日期"), ("retention_period", "保管期限"), ("retention_until", "到期日"),
           ("batch_id", "销毁清册"), ("reason", "销毁理由"), ("maker", "编制人"), ("approver", "审批人"),
           ("executor", "执行人"), ("supervisor", "监销人"), ("place", "地点"), ("destroyed_at", "销毁时间"),
           ("paper", "纸质原件"), ("box", "存放位置"), ("sha256", "SHA-256")]


def _value(row: dict, key: str) -> str:
    value = row.get(key)
    if key == "paper":
        return "是" if value else "否"
    return "" if value is None else str(value)


def to_csv(rows: list[dict]) -> bytes:
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow([label for _, label in COLUMNS])
    for row in rows:
        writer.writerow([_value(row, key) for key, _ in COLUMNS])
    return ("\ufeff" + buf.getvalue()).encode("utf-8")


def to_xlsx(rows: list[dict]) -> bytes:
    from openpyxl import Workbook

    wb = Workbook(write_only=True)
    ws = wb.create_sheet("销毁登记簿")
    ws.append([label for _, label in COLUMNS])
    for row in rows:
        ws.append([_value(row, key) for key, _ in COLUMNS])
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def export(rows: list[dict], fmt: str) -> bytes:
    if fmt == "csv":
        return to_csv(rows)
    if fmt == "xlsx":
        return to_xlsx(rows)
    from dangan.errors import InvalidInput

    raise InvalidInput(f"导出格式 {fmt!r} 无效：应为 csv 或 xlsx。")
