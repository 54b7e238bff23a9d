"""PDF structure: locked and active-content PDFs are refused, text layers are read exactly."""

from __future__ import annotations

from pathlib import Path

import pytest
from pypdf import PdfWriter
from pypdf.generic import DictionaryObject, NameObject, PdfObject, TextStringObject

from dangan.errors import InvalidInput
from dangan.ingest import pdf
from dangan.ingest.text import IngestSettings, extract
from tests.ingest.conftest import OWNER_FORM, REPAIR_FORM, pdf_with


def _set_root(writer: PdfWriter, key: str, value: PdfObject) -> None:
    writer._root_object[NameObject(key)] = value


def launch_action() -> DictionaryObject:
    return DictionaryObject({NameObject("/S"): NameObject("/Launch"),
                             NameObject("/F"): TextStringObject("cmd.exe")})


def add_document_js(writer: PdfWriter) -> None:
    """A document-level script in /Names /JavaScript (what add_js did before pypdf 7)."""
    from pypdf.generic import ArrayObject

    action = writer._add_object(js_action())
    tree = DictionaryObject({NameObject("/Names"): ArrayObject([TextStringObject("init"), action])})
    names = DictionaryObject({NameObject("/JavaScript"): writer._add_object(tree)})
    _set_root(writer, "/Names", writer._add_object(names))


def js_action() -> DictionaryObject:
    return DictionaryObject({NameObject("/S"): NameObject("/JavaScript"),
                             NameObject("/JS"): TextStringObject("app.alert(1)")})


def test_password_protected_pdf_is_refused(tmp_path: Path) -> None:
    locked = pdf_with(tmp_path, "locked.pdf", lambda w: w.encrypt("s3cret", algorithm="AES-256"))
    with pytest.raises(InvalidInput, match=r"^PDF 已加密（有密码保护），无法处理。$"):
        extract(locked)


def test_permission_locked_pdf_opens_with_a_warning(tmp_path: Path) -> None:
    # empty user password: every viewer opens it without asking; only printing/copying is "forbidden"
    locked = pdf_with(tmp_path, "perm.pdf", lambda w: w.encrypt("", owner_password="owner", algorithm="AES-128"))
    result = extract(locked)
    assert result.encrypted
    assert result.pages[0].method == "text"
    assert "业主姓名：张建国" in result.pages[0].text
    assert any("权限加密" in w for w in result.warnings)


def test_document_level_javascript_is_refused(tmp_path: Path) -> None:
    scripted = pdf_with(tmp_path, "js.pdf", add_document_js)
    with pytest.raises(InvalidInput, match="JavaScript"):
        extract(scripted)


def test_open_action_javascript_is_refused(tmp_path: Path) -> None:
    scripted = pdf_with(tmp_path, "open.pdf", lambda w: _set_root(w, "/OpenAction", js_action()))
    with pytest.raises(InvalidInput, match="活动内容"):
        extract(scripted)


def test_page_additional_action_is_refused(tmp_path: Path) -> None:
    def edit(w: PdfWriter) -> None:
        w.pages[0][NameObject("/AA")] = DictionaryObject({NameObject("/O"): js_action()})

    with pytest.raises(InvalidInput, match="JavaScript"):
        extract(pdf_with(tmp_path, "aa.pdf", edit))


def test_launch_action_is_refused(tmp_path: Path) -> None:
    launcher = pdf_with(tmp_path, "launch.pdf", lambda w: _set_root(w, "/OpenAction", launch_action()))
    with pytest.raises(InvalidInput, match="启动外部程序"):
        extract(launcher)


def test_embedded_file_is_refused(tmp_path: Path) -> None:
    attached = pdf_with(tmp_path, "attach.pdf", lambda w: w.add_attachment("a.exe", b"MZ\x90\x00"))
    with pytest.raises(InvalidInput, match="嵌入文件"):
        extract(attached)


def test_active_content_may_be_allowed_by_setting(tmp_path: Path) -> None:
    scripted = pdf_with(tmp_path, "js.pdf", add_document_js)
    result = extract(scripted, IngestSettings(refuse_active_content=False))
    assert result.active_content == ["JavaScript 脚本"]
    assert "张建国" in result.pages[0].text
    assert any("活动内容" in w for w in result.warnings)


def test_goto_open_action_is_not_active_content(tmp_path: Path) -> None:
    def edit(w: PdfWriter) -> None:
        from pypdf.generic import ArrayObject

        dest = ArrayObject([w.pages[0].indirect_reference, NameObject("/Fit")])
        _set_root(w, "/OpenAction", DictionaryObject({NameObject("/S"): NameObject("/GoTo"),
                                                      NameObject("/D"): dest}))

    plain = pdf_with(tmp_path, "goto.pdf", edit)
    assert pdf.find_active_content(pdf.open_pdf(plain)) == []


def test_text_layer_is_read_exactly_without_ocr(text_pdf) -> None:
    result = extract(text_pdf(OWNER_FORM, REPAIR_FORM))
    assert result.page_count == 2 == len(result.pages)
    assert [p.method for p in result.pages] == ["text", "text"]
    assert result.pages[0].text.splitlines() == OWNER_FORM.splitlines()
    assert result.pages[1].text.splitlines() == REPAIR_FORM.splitlines()
    assert result.ocr_pages == 0


def test_cid_font_text_layer_is_read_exactly(text_pdf) -> None:
    result = extract(text_pdf(REPAIR_FORM, font="stsong"))
    assert result.pages[0].text.splitlines() == REPAIR_FORM.splitlines()


def test_page_count_matches_declared_and_rendered(text_pdf) -> None:
    result = extract(text_pdf(OWNER_FORM, REPAIR_FORM, OWNER_FORM))
    assert result.page_count == result.declared_pages == result.rendered_pages == 3


@pytest.mark.parametrize("text, usable", [
    ("", False),
    ("   \n ", False),
    ("业主姓名：张建国　联系电话：13812345678", True),
    ("Property management report for the year 2024", True),
    ("ÎïÒµ·þÎñÖÐÐÄ ÒµÖ÷Èë×¡µÇ¼Ç±í ·¿ÎÝµØÖ·", False),  # GBK bytes read as Latin-1
    ('!"#$%&\'()*+,-./0123 !"#$%&\'()*+', False),  # subset glyph ids, no ToUnicode
    ("\ue000\ue001\ue002\ue003\ue004\ue005\ue006", False),  # private-use code points
])
def test_garbage_text_layers_are_recognised(text: str, usable: bool) -> None:
    assert pdf.text_is_usable(text) is usable


def test_a_few_words_over_a_scanned_image_is_not_a_text_layer() -> None:
    assert not pdf.text_is_usable("第 1 页", has_images=True)
    assert pdf.text_is_usable("第 1 页", has_images=False)
