"""OCR engines and page preprocessing: readings, confidences, tidy Chinese, upright pages."""

from __future__ import annotations

import pytest
from PIL import Image

from dangan.demo import render
from dangan.errors import InvalidInput
from dangan.ingest import ocr, preprocess
from tests.ingest.conftest import OWNER_FORM, REPAIR_FORM, small_scan

# --- text clean-up (no OCR) -----------------------------------------------------------


@pytest.mark.parametrize("raw, tidy", [
    ("报修时间 : 2024年6月2日", "报修时间：2024年6月2日"),
    ("业 主 姓 名 : 张 建 国", "业主姓名：张建国"),
    ("合计费用35元 (由业主承担) 。", "合计费用35元（由业主承担）。"),
    ("上午 9:20 到达", "上午9:20到达"),
    ("金额 1,200.00 元", "金额1,200.00元"),
    ("Room 1202 check", "Room 1202 check"),
])
def test_tidy_line_writes_chinese_punctuation_and_spacing(raw: str, tidy: str) -> None:
    assert ocr.tidy_line(raw) == tidy


def _tsv(words: list[tuple[str, float]]) -> dict[str, list]:
    n = len(words)
    return {"level": [5] * n, "text": [w for w, _ in words], "conf": [c for _, c in words],
            "block_num": [1] * n, "par_num": [1] * n, "line_num": [1] * n,
            "left": [i * 100 for i in range(n)], "top": [10] * n, "width": [90] * n, "height": [40] * n}


def test_gap_between_form_fields_read_as_a_quote_is_dropped() -> None:
    (line,) = ocr._tesseract_lines(_tsv([("经办人：冯俊超", 92.0), ("”审核人：黎兰玉", 50.0)]), 1.0)
    assert line.text == "经办人：冯俊超审核人：黎兰玉"


def test_paired_quotes_are_kept() -> None:
    (line,) = ocr._tesseract_lines(_tsv([("称为“业主”", 60.0)]), 1.0)
    assert "“业主”" in line.text


def test_line_confidence_is_character_weighted_and_boxes_scale_back() -> None:
    (line,) = ocr._tesseract_lines(_tsv([("维修工单", 90.0), ("甲", 30.0)]), 2.0)
    assert line.confidence == pytest.approx((4 * 0.9 + 0.3) / 5)
    assert line.box == (0, 20, 380, 100)


def test_rapidocr_boxes_are_grouped_into_lines_left_to_right() -> None:
    boxes = [
        ([[500, 12], [900, 12], [900, 52], [500, 52]], "联系电话：13812345678", 0.99),
        ([[40, 10], [400, 10], [400, 50], [40, 50]], "业主姓名：张建国", 0.98),
        ([[40, 80], [600, 80], [600, 120], [40, 120]], "建筑面积：89.56平方米", 0.97),
    ]
    lines = ocr._rapid_lines(boxes)
    assert [t for t, _ in lines] == ["业主姓名：张建国联系电话：13812345678", "建筑面积：89.56平方米"]


def test_unknown_engine_is_refused() -> None:
    with pytest.raises(InvalidInput, match="未知的 OCR 引擎"):
        ocr.get_engine("abbyy")


def test_engines_are_created_once_per_process() -> None:
    assert ocr.get_engine("tesseract") is ocr.get_engine("tesseract")


def test_tesseract_runs_single_threaded() -> None:
    import os

    assert os.environ["OMP_THREAD_LIMIT"] == "1"


# --- engines on a real scan -----------------------------------------------------------


def test_tesseract_reads_a_clean_scan() -> None:
    result = ocr.get_engine("tesseract").recognize(small_scan(REPAIR_FORM))
    assert "维修编码：010023" in result.text
    assert result.engine == "tesseract"
    assert 0.7 < result.confidence <= 1.0
    assert len(result.lines) == len(REPAIR_FORM.splitlines())
    assert all(0.0 <= c <= 1.0 for _, c in result.lines)


def test_rapidocr_reads_a_clean_scan() -> None:
    result = ocr.get_engine("rapidocr").recognize(small_scan(REPAIR_FORM))
    assert "卫生间地漏堵塞" in result.text
    assert result.engine == "rapidocr"
    assert result.confidence > 0.9


def test_cascade_rereads_doubtful_lines_with_rapidocr() -> None:
    cascade = ocr.CascadeEngine(line_threshold=1.01)  # every line is "doubtful"
    result = cascade.recognize(small_scan(OWNER_FORM))
    assert cascade.lines_rerun == len(OWNER_FORM.splitlines())
    assert result.engine == "tesseract+rapidocr"
    assert "业主已领取钥匙三把" in result.text


def test_blank_page_reads_as_nothing() -> None:
    result = ocr.get_engine("tesseract").recognize(Image.new("L", (800, 600), 255))
    assert result.text == "" and result.confidence == 0.0


# --- preprocessing --------------------------------------------------------------------


@pytest.mark.parametrize("tilt", [-2.5, 1.2, 4.0])
def test_skew_is_measured_within_a_few_tenths_of_a_degree(tilt: float) -> None:
    page = render.degrade(small_scan(OWNER_FORM), rotation=tilt, noise=0, blur=0, jpeg_quality=0)
    angle = preprocess.estimate_skew(preprocess.to_gray(page))
    assert angle == pytest.approx(tilt, abs=0.2)  # counter-clockwise, as PIL rotated it
    straight, applied = preprocess.deskew(preprocess.to_gray(page))
    assert applied == pytest.approx(-tilt, abs=0.2)
    assert abs(preprocess.estimate_skew(straight)) <= 0.2


def test_straight_page_is_left_alone() -> None:
    gray = preprocess.to_gray(small_scan(OWNER_FORM))
    out, applied = preprocess.deskew(gray)
    assert applied == 0.0 and out is gray


def test_line_height_follows_font_size() -> None:
    small = preprocess.line_height(preprocess.to_gray(small_scan(REPAIR_FORM, font_pt=9)))
    large = preprocess.line_height(preprocess.to_gray(small_scan(REPAIR_FORM, font_pt=14)))
    assert small and large and 1.3 < large / small < 1.9


def test_blank_page_has_almost_no_ink() -> None:
    assert preprocess.ink_ratio(preprocess.to_gray(Image.new("L", (1000, 1400), 250))) < 0.002
    assert preprocess.ink_ratio(preprocess.to_gray(small_scan())) > 0.01


def test_osd_finds_a_sideways_page() -> None:
    page = render.page_image(OWNER_FORM + "\n" + REPAIR_FORM)
    turned = render.rotate_page(page, 90)
    found = preprocess.detect_orientation(preprocess.to_gray(turned))
    assert found.method == "osd" and found.degrees == 270


@pytest.mark.parametrize("form", [OWNER_FORM, REPAIR_FORM])
def test_ink_profile_tells_a_sideways_page(form: str) -> None:
    page = small_scan(form)
    assert preprocess.looks_sideways(preprocess.to_gray(page)) is False
    assert preprocess.looks_sideways(preprocess.to_gray(render.rotate_page(page, 90))) is True


def test_ink_profile_has_no_opinion_on_noise_or_blank() -> None:
    import numpy as np

    noise = (np.random.default_rng(1).random((600, 900)) * 255).astype("uint8")
    assert preprocess.looks_sideways(noise) is None
    assert preprocess.looks_sideways(np.full((600, 900), 255, dtype="uint8")) is None


def test_rapidocr_lists_an_upside_down_page_top_down() -> None:
    page = render.rotate_page(small_scan(REPAIR_FORM), 180)
    result = ocr.get_engine("rapidocr").recognize(page)
    assert result.rotation == 180
    assert result.lines[0][0] == "维修工单"
    assert "处理结果" in result.lines[-1][0]
