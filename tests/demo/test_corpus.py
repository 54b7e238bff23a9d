"""The synthetic corpus is a fixture for ingest and search tests: its ground truth must hold."""

from __future__ import annotations

import datetime
import re
from collections import Counter

import pytest

from dangan.demo.corpus import CATEGORIES, DEFAULT_PROJECTS, SyntheticDoc, generate, to_traditional

LOCATION = re.compile(r"^[A-D]\d*(-\d{2}(-\d{3}(-\d{4})?)?)?$")
ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)


@pytest.fixture(scope="module")
def docs() -> list[SyntheticDoc]:
    return list(generate(3000, seed=7))


def _digits(s: str) -> str:
    return re.sub(r"\D", "", s)


def _luhn_ok(num: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(num)):
        n = int(ch)
        if i % 2 == 1:
            n *= 2
            if n > 9:
                n -= 9
        total += n
    return total % 10 == 0


def test_same_seed_gives_same_documents() -> None:
    assert list(generate(200, seed=3)) == list(generate(200, seed=3))


def test_different_seeds_give_different_documents() -> None:
    assert [d.text for d in generate(20, seed=1)] != [d.text for d in generate(20, seed=2)]


def test_every_category_of_the_scheme_appears(docs: list[SyntheticDoc]) -> None:
    counts = Counter(d.category for d in docs)
    assert set(counts) == set(CATEGORIES)
    assert min(counts.values()) > len(docs) / 30


def test_texts_are_form_sized_and_start_with_their_title(docs: list[SyntheticDoc]) -> None:
    for d in docs:
        assert 300 <= len(d.text) <= 800
        assert d.text.split("\n", 1)[0] == d.title


def test_location_codes_are_well_formed_and_use_registered_projects(docs: list[SyntheticDoc]) -> None:
    codes = {p[0] for p in DEFAULT_PROJECTS}
    for d in docs:
        if d.location is None:
            continue
        assert LOCATION.match(d.location), d.location
        assert d.location.split("-")[0] in codes


def test_stated_address_appears_in_the_text(docs: list[SyntheticDoc]) -> None:
    for d in docs:
        assert (d.location is None) == (d.address_text is None)
        if d.address_text:
            assert d.address_text in d.text


def test_a_share_of_documents_states_no_location(docs: list[SyntheticDoc]) -> None:
    share = sum(d.location is None for d in docs) / len(docs)
    assert 0.08 <= share <= 0.16
    for d in docs:
        if d.location is None:
            assert not any(name in d.text for _, name, _ in DEFAULT_PROJECTS)


def test_address_forms_are_mixed(docs: list[SyntheticDoc]) -> None:
    texts = [d.address_text for d in docs if d.address_text]
    assert any(re.fullmatch(r"[A-D]\d*区\d+栋\d+单元\d+室", t) for t in texts)
    assert any(re.fullmatch(r"[A-D]\d*區\d+棟\d+單元\d+室", t) for t in texts)
    assert any(re.fullmatch(r"\D+\d+号楼\d+单元\d+室", t) for t in texts)
    assert any(re.fullmatch(r"\d+号楼\d+单元\d+室", t) for t in texts)
    assert any(re.fullmatch(r"[A-D]\d*-\d{2}-\d{3}-\d{4}", t) for t in texts)
    levels = Counter(d.location.count("-") for d in docs if d.location)
    assert set(levels) == {0, 1, 2, 3}


def test_document_date_is_written_in_the_text(docs: list[SyntheticDoc]) -> None:
    for d in docs[:300]:
        if "年" in d.text or "-" in d.text:
            forms = (
                f"{d.date.year}年{d.date.month}月{d.date.day}日", f"{d.date:%Y-%m-%d}",
                f"{d.date.year}/{d.date.month}/{d.date.day}", f"{d.date:%Y.%m.%d}",
            )
            assert any(f in d.text for f in forms) or "〇" in d.text or "二" in d.text
        assert datetime.date(2015, 1, 1) <= d.date <= datetime.date(2025, 6, 30)


def test_maintenance_codes_have_a_type_prefix_and_appear_in_text(docs: list[SyntheticDoc]) -> None:
    coded = [d for d in docs if d.maintenance_code]
    assert coded
    for d in coded:
        assert d.category in ("maintenance", "service")
        assert re.fullmatch(r"0[12]\d{4}", d.maintenance_code)
        assert d.maintenance_code in d.text


def test_owner_files_are_mostly_confidential(docs: list[SyntheticDoc]) -> None:
    owner = [d.security for d in docs if d.category == "owner"]
    assert sum(s in ("confidential", "secret") for s in owner) / len(owner) > 0.9
    assert {d.security for d in docs} <= {"public", "internal", "confidential", "secret"}


def test_embedded_personal_data_is_valid_and_in_the_text(docs: list[SyntheticDoc]) -> None:
    kinds: Counter[str] = Counter()
    for d in docs:
        for kind, values in d.pii.items():
            for v in values:
                kinds[kind] += 1
                assert v in d.text
                digits = _digits(v) if kind != "id_card" else v
                if kind == "id_card":
                    s = sum(int(c) * w for c, w in zip(v[:17], ID_WEIGHTS, strict=True))
                    assert v[17] == "10X98765432"[s % 11]
                elif kind == "mobile":
                    assert re.fullmatch(r"(86)?1[3-9]\d{9}", digits)
                else:
                    assert 16 <= len(digits) <= 19 and _luhn_ok(digits)
    assert {"id_card", "mobile", "bank_card"} <= set(kinds)


def test_some_documents_are_in_traditional_script(docs: list[SyntheticDoc]) -> None:
    assert any("項目名稱" in d.text for d in docs)
    assert to_traditional("业主电梯维修") == "業主電梯維修"


def test_custom_projects_are_used() -> None:
    projects = (("A", "测试家园", "residential"),)
    for d in generate(200, seed=1, projects=projects):
        if d.location:
            assert d.location.startswith("A")
