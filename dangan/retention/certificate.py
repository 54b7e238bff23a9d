"""The destruction certificate (档案销毁证明书): one PDF per executed batch, for filing.

Chinese text needs an embedded font: WenQuanYi Zen Hei (fonts-wqy-zenhei, TrueType) when
installed, else reportlab's built-in CID font STSong-Light (which readers render from
their own Song typeface)."""

from __future__ import annotations

import io
from pathlib import Path

from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

FONT_CANDIDATES = ("/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",
                   "/usr/share/fonts/wqy-zenhei/wqy-zenhei.ttc")
_font: str | None = None


def font_name() -> str:
    global _font
    if _font is None:
        for path in FONT_CANDIDATES:
            if Path(path).exists():
                from reportlab.pdfbase.ttfonts import TTFont

                pdfmetrics.registerFont(TTFont("WQY", path, subfontIndex=0))
                _font = "WQY"
                break
        else:
            from reportlab.pdfbase.cidfonts import UnicodeCIDFont

            pdfmetrics.registerFont(UnicodeCIDFont("STSong-Light"))
            _font = "STSong-Light"
    return _font


def render_certificate(batch: dict, rows: list[dict]) -> bytes:
    font = font_name()
    title = ParagraphStyle("t", fontName=font, fontSize=18, leading=26, alignment=1)
    body = ParagraphStyle("b", fontName=font, fontSize=10.5, leading=16)
    cell = ParagraphStyle("c", fontName=font, fontSize=8.5, leading=11)
    out = io.BytesIO()
    doc = SimpleDocTemplate(out, pagesize=A4, leftMargin=16 * mm, rightMargin=16 * mm,
                            topMargin=16 * mm, bottomMargin=16 * mm,
                            title=f"档案销毁证明书 {batch['batch_id']}", author="Dangan 档案")
    paper = [r for r in rows if r["paper"]]
    story = [
        Paragraph("档案销毁证明书", title), Spacer(1, 4 * mm),
        Paragraph(f"销毁清册编号：{batch['batch_id']}", body),
        Paragraph(f"销毁理由：{_esc(batch['reason'])}", body),
        Paragraph(f"编制人：{batch['created_by']}（{batch['created_at']}）　审批人：{batch['approved_by']}"
                  f"（{batch['approved_at']}）", body),
        Paragraph(f"执行人：{batch['executed_by']}　监销人：{batch['supervisor']}　地点：{_esc(batch['place'])}", body),
        Paragraph(f"执行时间：{batch['started_at']} 至 {batch['executed_at']}", body),
        Paragraph(f"共销毁档案 {len(rows)} 件，其中纸质原件 {len(paper)} 件（已逐件确认粉碎）。电子档案以销毁数据密钥"
                  "（密码学销毁）并删除存储对象和检索索引的方式销毁；档号、题名等目录信息作为销毁记录永久保存。", body),
        Spacer(1, 4 * mm),
    ]
    data = [[Paragraph(h, cell) for h in ("序号", "档号", "题名", "类别", "文件日期", "保管期限", "到期日", "销毁时间")]]
    for n, r in enumerate(rows, 1):
        data.append([Paragraph(str(n), cell), Paragraph(r["archive_no"], cell), Paragraph(_esc(r["title"]), cell),
                     Paragraph(r["category_name"] or "—", cell), Paragraph(r["date"] or "—", cell),
                     Paragraph(r["retention_period"] or "—", cell), Paragraph(r["retention_until"] or "—", cell),
                     Paragraph((r["destroyed_at"] or "").replace("T", " "), cell)])
    table = Table(data, colWidths=[8 * mm, 44 * mm, 38 * mm, 18 * mm, 20 * mm, 12 * mm, 20 * mm, 18 * mm],
                  repeatRows=1)
    table.setStyle(TableStyle([("GRID", (0, 0), (-1, -1), 0.4, colors.grey),
                               ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#eef2f7")),
                               ("VALIGN", (0, 0), (-1, -1), "TOP")]))
    story += [table, Spacer(1, 12 * mm)]
    signs = Table([[Paragraph(t, body) for t in ("编制人（签字）：", "审批人（签字）：")],
                   [Paragraph(t, body) for t in ("执行人（签字）：", "监销人（签字）：")],
                   [Paragraph("日期：　　　年　　月　　日", body), Paragraph("（单位盖章）", body)]],
                  colWidths=[89 * mm, 89 * mm], rowHeights=[14 * mm, 14 * mm, 14 * mm])
    story.append(signs)
    doc.build(story)
    return out.getvalue()


def _esc(text: str | None) -> str:
    return (text or "").replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
