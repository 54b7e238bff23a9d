"""Personal data is found strictly, masked completely and indexed only by keyed tokens."""

from __future__ import annotations

import datetime
import re

import pytest

from dangan.archive.pii import (
    blind_token,
    find_pii,
    is_valid_bank_card,
    is_valid_id_card,
    mask_text,
    normalise,
    pii_query,
)
from dangan.demo.corpus import generate

KEY = b"k" * 32
_W = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)


def id_card(body17: str) -> str:
    """A 身份证号 with the correct GB 11643 check character."""
    s = sum(int(c) * w for c, w in zip(body17, _W, strict=True))
    return body17 + "10X98765432"[s % 11]


def card(body: str) -> str:
    """A card number with a correct Luhn digit appended."""
    for d in "0123456789":
        if is_valid_bank_card(body + d):
            return body + d
    raise AssertionError


ID = id_card("11010519491231002")           # -> ...002X, the GB 11643 example
assert ID.endswith("X")
CARD16 = card("622202123456789")
CARD19 = card("621700987654321012")


def kinds(text: str) -> list[tuple[str, str]]:
    return [(m.kind, m.value) for m in find_pii(text)]


# ---------------------------------------------------------------- 身份证号


def test_id_card_with_valid_checksum_is_pii() -> None:
    assert kinds(f"身份证号：{ID}") == [("id_card", ID)]


def test_id_card_with_lowercase_x_is_normalised_to_upper() -> None:
    assert kinds(f"身份证号：{ID[:-1]}x") == [("id_card", ID)]


def test_id_card_with_bad_checksum_is_not_pii() -> None:
    wrong = ID[:-1] + ("1" if ID[-1] != "1" else "2")
    assert kinds(f"身份证号：{wrong}") == []
    assert not is_valid_id_card(wrong)


def test_id_card_with_impossible_birth_date_is_not_pii() -> None:
    assert not is_valid_id_card(id_card("11010519491331002"))   # month 13
    assert not is_valid_id_card(id_card("11010520990101002"), today=datetime.date(2025, 1, 1))
    assert not is_valid_id_card(id_card("00010519491231002"))   # no such province


def test_id_card_inside_a_longer_digit_run_is_not_pii() -> None:
    assert kinds(f"编号9{ID}") == []
    assert kinds(f"{ID}7") == []
    assert kinds(f"AB{ID}") == []


# ---------------------------------------------------------------- 手机号


@pytest.mark.parametrize("written", [
    "13812345678", "138 1234 5678", "138-1234-5678", "+86 13812345678", "+86-138-1234-5678",
    "+8613812345678", "0086 13812345678",
])
def test_mobile_number_forms_are_found_and_normalised(written: str) -> None:
    assert kinds(f"联系电话：{written}，请回电") == [("mobile", "13812345678")]


def test_mobile_inside_longer_digit_run_is_not_pii() -> None:
    assert kinds("流水号213812345678") == []
    assert kinds("138123456789") == []


def test_landlines_and_hotlines_are_not_mobiles() -> None:
    assert kinds("服务热线：400-800-1234，办公室 0571-88886666，传真 020-12345678") == []


def test_mobile_with_second_digit_out_of_range_is_not_pii() -> None:
    assert kinds("电话：12812345678") == []


# ---------------------------------------------------------------- 银行卡号


def test_bank_card_passing_luhn_is_pii_plain_and_grouped() -> None:
    grouped = " ".join(CARD19[i:i + 4] for i in range(0, 19, 4))
    assert kinds(f"代扣账户：{CARD16}") == [("bank_card", CARD16)]
    assert kinds(f"代扣账户：{grouped}　开户行") == [("bank_card", CARD19)]


def test_bank_card_failing_luhn_is_not_pii() -> None:
    bad = CARD16[:-1] + str((int(CARD16[-1]) + 1) % 10)
    assert kinds(f"卡号：{bad}") == []


def test_twenty_digit_registration_code_is_not_a_card() -> None:
    assert kinds(f"注册代码：{CARD19}7") == []


# ---------------------------------------------------------------- what is not personal data


def test_archive_numbers_maintenance_codes_dates_and_amounts_are_not_pii() -> None:
    text = (
        "档号：WX-A-01-001-0101-2024-0007　维修编码：010023　日期：2024年3月5日 2024-03-05 20240305\n"
        "金额：138,123.45元　合计 13812345.67 元　位置 A-01-001-0101　合同编号 HT-2024-015\n"
        "统一社会信用代码：91330106MA2B3C4D5E　发票号码 04512367　面积 123.45平方米"
    )
    assert find_pii(text) == []


def test_synthetic_corpus_pii_is_found_exactly() -> None:
    for d in generate(800, seed=5):
        found = {(m.kind, m.value) for m in find_pii(d.text)}
        truth = {(k, normalise(k, v)) for k, vs in d.pii.items() for v in vs}
        assert found == truth


# ---------------------------------------------------------------- masking


def test_masking_leaves_no_digits_of_the_full_number() -> None:
    text = f"业主身份证号：{ID}，手机 138-1234-5678，卡号 {CARD19}。"
    masked, matches = mask_text(text)
    assert len(matches) == 3
    for value in (ID, "13812345678", CARD19):
        assert value not in masked
        assert value[:-4] not in re.sub(r"\D", "", masked)
    assert "[身份证号 ****002X]" in masked
    assert "[手机号 ****5678]" in masked
    assert f"[银行卡号 ****{CARD19[-4:]}]" in masked
    assert masked.startswith("业主身份证号：") and masked.endswith("。")


def test_mask_has_the_same_length_whatever_the_value() -> None:
    a, _ = mask_text(f"卡 {CARD16}")
    b, _ = mask_text(f"卡 {CARD19}")
    assert len(a) == len(b)


def test_masked_corpus_keeps_none_of_its_personal_data() -> None:
    for d in generate(500, seed=8):
        masked, _ = mask_text(d.text)
        digits = re.sub(r"\D", "", masked)
        for values in d.pii.values():
            for v in values:
                assert v not in masked
                assert re.sub(r"\D", "", v)[:-4] not in digits


def test_match_offsets_point_at_the_written_value() -> None:
    text = "电话：+86 138 1234 5678。"
    (m,) = find_pii(text)
    assert text[m.start:m.end] == "+86 138 1234 5678"


# ---------------------------------------------------------------- blind index


def test_spaced_and_dashed_forms_give_the_same_token() -> None:
    forms = ["13812345678", "138 1234 5678", "138-1234-5678", "+86 13812345678"]
    assert len({blind_token(KEY, "mobile", f) for f in forms}) == 1
    grouped = " ".join(CARD19[i:i + 4] for i in range(0, 19, 4))
    assert blind_token(KEY, "bank_card", grouped) == blind_token(KEY, "bank_card", CARD19)
    assert blind_token(KEY, "id_card", ID.lower()) == blind_token(KEY, "id_card", ID)


def test_token_depends_on_key_and_kind_and_hides_the_value() -> None:
    t = blind_token(KEY, "mobile", "13812345678")
    assert re.fullmatch(r"[0-9a-f]{64}", t)
    assert "13812345678" not in t
    assert t != blind_token(b"other-key-0123456789", "mobile", "13812345678")
    assert blind_token(KEY, "bank_card", CARD16) != blind_token(KEY, "id_card", ID)


def test_short_key_is_refused() -> None:
    with pytest.raises(ValueError):
        blind_token(b"short", "mobile", "13812345678")


# ---------------------------------------------------------------- queries


def test_query_that_is_exactly_a_number_is_recognised() -> None:
    assert pii_query(" 138 1234 5678 ") == ("mobile", "13812345678")
    assert pii_query(ID.lower()) == ("id_card", ID)
    assert pii_query(CARD16) == ("bank_card", CARD16)
    assert pii_query("１３８１２３４５６７８") == ("mobile", "13812345678")


def test_ordinary_queries_are_not_personal_data() -> None:
    for q in ("电梯 漏水", "A-01-001-0101", "010023", "13812345678 电梯", "2024-03-05", ""):
        assert pii_query(q) is None
