"""四性 checks: the ingest checks pass on a good file and say what is wrong with a bad one."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from dangan.errors import InvalidInput
from dangan.ingest import checks
from dangan.ingest.checks import CheckContext, by_category, run_checks
from dangan.ingest.text import Extraction, IngestSettings, PageText, extract
from tests.ingest.conftest import OWNER_FORM, REPAIR_FORM, pdf_with


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def context_for(path: Path, **kw: object) -> CheckContext:
    try:
        extraction, error = extract(path, IngestSettings(ocr_engine="tesseract")), None
    except InvalidInput as exc:
        extraction, error = None, str(exc)
    return CheckContext(path=path, sha256=sha(path), extraction=extraction, error=error, **kw)  # type: ignore[arg-type]


def test_every_check_has_a_name_category_and_description() -> None:
    assert checks.REGISTRY
    for c in checks.REGISTRY.values():
        assert c.category in checks.CATEGORIES and c.description and c.stages


def test_ingest_checks_cover_all_four_categories() -> None:
    assert {checks.REGISTRY[n].category for n in checks.INGEST_CHECKS} == set(checks.CATEGORIES)
    assert {"sha256_recorded", "pages_complete", "opens_and_renders", "archival_format",
            "no_active_content"} <= set(checks.INGEST_CHECKS)


def test_good_pdf_passes_every_ingest_check(text_pdf) -> None:
    results = run_checks(context_for(text_pdf(OWNER_FORM, REPAIR_FORM)))
    assert results and all(v is None for v in results.values()), results
    assert by_category(results) == {c: True for c in checks.CATEGORIES}


def test_results_come_in_category_order(text_pdf) -> None:
    results = run_checks(context_for(text_pdf(OWNER_FORM)))
    order = [checks.CATEGORIES.index(checks.REGISTRY[n].category) for n in results]
    assert order == sorted(order)


def test_missing_or_malformed_hash_fails_authenticity(text_pdf) -> None:
    ctx = context_for(text_pdf(OWNER_FORM))
    ctx.sha256 = None
    assert "未记录" in run_checks(ctx, ["sha256_recorded"])["sha256_recorded"]
    ctx.sha256 = "abc"
    assert "格式无效" in run_checks(ctx, ["sha256_recorded"])["sha256_recorded"]


def test_fixity_detects_a_changed_file(text_pdf) -> None:
    path = text_pdf(OWNER_FORM)
    ctx = context_for(path)
    assert run_checks(ctx, "fixity") == {"fixity": None}
    path.write_bytes(path.read_bytes() + b"\n")
    assert "不符" in run_checks(ctx, "fixity")["fixity"]


def test_fixity_is_not_an_ingest_check() -> None:
    assert "fixity" not in checks.INGEST_CHECKS


def test_recorded_format_must_match_content(text_pdf) -> None:
    ctx = context_for(text_pdf(OWNER_FORM), media_type="image/tiff")
    assert "application/pdf" in run_checks(ctx, ["format_matches"])["format_matches"]


def test_missing_pages_fail_integrity() -> None:
    pages = [PageText(1, "第一页", 1.0, "text")]
    ctx = CheckContext(sha256="0" * 64, extraction=Extraction("application/pdf", pages, 2, [], 2, 2))
    message = run_checks(ctx, ["pages_complete"])["pages_complete"]
    assert "共 2 页" in message and "1 页" in message


def test_page_tree_claiming_more_pages_fails_integrity() -> None:
    pages = [PageText(1, "第一页", 1.0, "text")]
    ctx = CheckContext(extraction=Extraction("application/pdf", pages, 1, [], 3, 1))
    assert "声明 3 页" in run_checks(ctx, ["pages_complete"])["pages_complete"]


def test_expected_page_count_from_a_manifest_is_checked(text_pdf) -> None:
    ctx = context_for(text_pdf(OWNER_FORM), extra={"expected_pages": 4})
    assert "应有 4 页" in run_checks(ctx, ["pages_complete"])["pages_complete"]


def test_refused_file_fails_usability_with_the_reason(make_file) -> None:
    ctx = context_for(make_file("cut.pdf", b"%PDF-1.7\n1 0 obj\n<<>>\nendobj\n"))
    results = run_checks(ctx)
    assert "被截断或损坏" in results["opens_and_renders"]
    assert results["pages_complete"]  # nothing was read, so nothing is known to be complete


def test_word_document_fails_archival_format(make_file) -> None:
    from tests.ingest.conftest import docx_bytes

    ctx = CheckContext(path=make_file("a.docx", docx_bytes()), sha256="0" * 64)
    assert "Word" in run_checks(ctx, ["archival_format"])["archival_format"]


def test_encrypted_pdf_fails_archival_format(tmp_path: Path) -> None:
    locked = pdf_with(tmp_path, "perm.pdf", lambda w: w.encrypt("", owner_password="o", algorithm="AES-128"))
    results = run_checks(context_for(locked))
    assert results["opens_and_renders"] is None
    assert "加密" in results["archival_format"]


def test_active_content_fails_security(tmp_path: Path) -> None:
    from pypdf.generic import DictionaryObject, NameObject, TextStringObject

    action = DictionaryObject({NameObject("/S"): NameObject("/Launch"), NameObject("/F"): TextStringObject("x")})
    launcher = pdf_with(tmp_path, "l.pdf", lambda w: w._root_object.__setitem__(NameObject("/OpenAction"), action))
    # as stored without an extraction (a periodic check), and as refused at ingest
    bare = CheckContext(path=launcher, sha256=sha(launcher))
    assert "启动外部程序" in run_checks(bare, ["no_active_content"])["no_active_content"]
    assert "security" in by_category(run_checks(context_for(launcher)))


def test_periodic_probe_renders_without_ocr(text_pdf) -> None:
    assert checks.probe(text_pdf(OWNER_FORM, REPAIR_FORM)) is None
    ctx = CheckContext(path=text_pdf(OWNER_FORM), sha256="0" * 64)
    assert run_checks(ctx, ["opens_and_renders"]) == {"opens_and_renders": None}


def test_new_checks_join_by_registration() -> None:
    @checks.check("title_filled_test", checks.INTEGRITY, "题名已填写", stages=("transfer",))
    def _title(ctx: CheckContext) -> str | None:
        return None if ctx.metadata.get("title") else "题名未填写。"

    try:
        ctx = CheckContext(metadata={})
        assert run_checks(ctx, "transfer")["title_filled_test"] == "题名未填写。"
        assert "title_filled_test" not in run_checks(CheckContext(sha256="0" * 64), "ingest")
    finally:
        del checks.REGISTRY["title_filled_test"]


def test_a_crashing_check_fails_alone() -> None:
    @checks.check("crash_test", checks.SECURITY, "会崩溃的检查")
    def _crash(ctx: CheckContext) -> str | None:
        raise RuntimeError("boom")

    try:
        results = run_checks(CheckContext(sha256="0" * 64), ["crash_test", "sha256_recorded"])
        assert results == {"sha256_recorded": None, "crash_test": "检查“会崩溃的检查”未能完成。"}
    finally:
        del checks.REGISTRY["crash_test"]


def test_unknown_selection_is_a_programming_error() -> None:
    with pytest.raises(ValueError):
        run_checks(CheckContext(), ["no_such_check"])
