"""Personal data (个人信息) in extracted text: find it, mask it, and index it blindly.

Why: extracted text goes to the search index and other plaintext stores, where
身份证号, 手机号 and 银行卡号 must never appear (DESIGN: personal data). Masking keeps the
text readable for archivists; an exact lookup by a number goes through a keyed hash
(a *blind index*), so the index holds tokens, never the values.

Detection is deliberately strict so that archive numbers (档号), 维修编码, dates, amounts,
landlines and model numbers are not mistaken for personal data:

- 身份证号: 18 characters (GB 11643): a plausible region (province prefix), a real birth
  date between 1900 and today, and the ISO 7064 MOD 11-2 check character (X/x allowed);
  also written 6-8-4 with spaces.
- 手机号: ``1[3-9]`` + 9 digits, optionally after ``+86``/``0086`` and grouped 3-4-4 by
  spaces or dashes.
- 银行卡号: 16–19 digits starting 3–6 that pass the Luhn check, contiguous or grouped in
  fours by one kind of separator.

No value is accepted inside a longer run of digits or letters.

Mask format (decided here, length-independent so it leaks no length either):
``[身份证号 ****1234]``, ``[手机号 ****5678]``, ``[银行卡号 ****4321]`` — the kind and the
last four characters, which is what a clerk needs to tell two owners apart and what
receipts commonly print.
"""

from __future__ import annotations

import datetime
import hashlib
import hmac
import re
from dataclasses import dataclass
from typing import Literal

__all__ = [
    "KINDS",
    "LABELS",
    "PiiKind",
    "PiiMatch",
    "blind_token",
    "find_pii",
    "is_valid_bank_card",
    "is_valid_id_card",
    "is_valid_mobile",
    "mask_text",
    "mask_value",
    "normalise",
    "pii_query",
    "text_tokens",
]

PiiKind = Literal["id_card", "mobile", "bank_card"]
KINDS: tuple[PiiKind, ...] = ("id_card", "mobile", "bank_card")

#: How each kind is named in a mask.
LABELS: dict[str, str] = {"id_card": "身份证号", "mobile": "手机号", "bank_card": "银行卡号"}


@dataclass(frozen=True)
class PiiMatch:
    """One value found in text. `value` is normalised; `start:end` spans the text as written."""

    kind: PiiKind
    value: str
    start: int
    end: int


# --------------------------------------------------------------------------- validation

_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK = "10X98765432"
# GB/T 2260 province-level prefixes (plus 71 台湾, 81 香港, 82 澳门, 83 台湾居民居住证, 91 外国人).
_PROVINCES = frozenset({
    "11", "12", "13", "14", "15", "21", "22", "23", "31", "32", "33", "34", "35", "36", "37",
    "41", "42", "43", "44", "45", "46", "50", "51", "52", "53", "54", "61", "62", "63", "64",
    "65", "71", "81", "82", "83", "91",
})


def is_valid_id_card(value: str, today: datetime.date | None = None) -> bool:
    """True for an 18-character 身份证号 with a plausible region and birth date and a correct check."""
    v = value.upper()
    if len(v) != 18 or not v[:17].isascii() or not v[:17].isdigit() or v[17] not in "0123456789X":
        return False
    if v[:2] not in _PROVINCES:
        return False
    try:
        birth = datetime.date(int(v[6:10]), int(v[10:12]), int(v[12:14]))
    except ValueError:
        return False
    if not datetime.date(1900, 1, 1) <= birth <= (today or datetime.date.today()):
        return False
    s = sum(int(c) * w for c, w in zip(v[:17], _ID_WEIGHTS, strict=True))
    return _ID_CHECK[s % 11] == v[17]


def _luhn_ok(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        n = ord(ch) - 48
        if i % 2 == 1:
            n *= 2
            if n > 9:
                n -= 9
        total += n
    return total % 10 == 0


def is_valid_bank_card(value: str) -> bool:
    """True for 16–19 digits (separators ignored) starting 3–6 that pass the Luhn check."""
    d = re.sub(r"[ \-]", "", value)
    return d.isascii() and d.isdigit() and 16 <= len(d) <= 19 and d[0] in "3456" and _luhn_ok(d)


def is_valid_mobile(value: str) -> bool:
    """True for a mainland mobile number, with or without +86 and separators."""
    try:
        return re.fullmatch(r"1[3-9]\d{9}", normalise("mobile", value)) is not None
    except ValueError:
        return False


def normalise(kind: str, value: str) -> str:
    """The canonical form used for tokens and comparisons: digits only (and X), no country code."""
    if kind == "id_card":
        v = re.sub(r"\s", "", value).upper()
        if not re.fullmatch(r"\d{17}[\dX]", v):
            raise ValueError(f"不是 18 位身份证号：{mask_value(kind, value)}")
        return v
    if kind == "mobile":
        v = re.sub(r"[\s\-()（）]", "", value)
        if v.startswith("+86"):
            v = v[3:]
        elif v.startswith("0086"):
            v = v[4:]
        if not re.fullmatch(r"1\d{10}", v):
            raise ValueError(f"不是 11 位手机号：{mask_value(kind, value)}")
        return v
    if kind == "bank_card":
        v = re.sub(r"[\s\-]", "", value)
        if not re.fullmatch(r"\d{16,19}", v):
            raise ValueError(f"不是 16–19 位银行卡号：{mask_value(kind, value)}")
        return v
    raise ValueError(f"未知的个人信息类型 {kind!r}：应为 {', '.join(KINDS)}")


# --------------------------------------------------------------------------- finding

_EDGE_BEFORE = r"(?<![0-9A-Za-z])"
_EDGE_AFTER = r"(?![0-9A-Za-z])"
_ID_RE = re.compile(_EDGE_BEFORE + r"(\d{6} ?\d{8} ?\d{3}[\dXx])" + _EDGE_AFTER)
_MOBILE_RE = re.compile(
    r"(?:(?<![0-9A-Za-z+])(?:\+86|0086|[(（]\+?86[)）])[ \-]?|" + _EDGE_BEFORE + r"(?<!\+))"
    r"(1[3-9]\d(?:\d{8}|([ \-])\d{4}\2\d{4}))" + _EDGE_AFTER
)
# contiguous 16–19 digits, or groups of four joined by one separator (last group 1–4 digits)
_BANK_RE = re.compile(
    _EDGE_BEFORE + r"([3-6]\d{15,18}|[3-6]\d{3}([ \-])\d{4}(?:\2\d{4}){1,2}(?:\2\d{1,4})?)" + _EDGE_AFTER
)
# A card-like digit run glued by a separator to more digits is part of a bigger number
# (an account with a sub-account, a 档号-like reference): not reported as a card.
_GLUED_BEFORE = re.compile(r"\d[\-/.]$")
_GLUED_AFTER = re.compile(r"^[\-/.]\d")


def _glued(text: str, start: int, end: int) -> bool:
    return bool(_GLUED_BEFORE.search(text[max(0, start - 2):start]) or _GLUED_AFTER.match(text[end:end + 2]))


# Every form above holds three digits, at most one space or dash, then four digits: a
# text without that (most of them) is answered by one scan instead of three.
_MAYBE_PII = re.compile(r"\d{3}[ \-]?\d{4}")


def find_pii(text: str, today: datetime.date | None = None) -> list[PiiMatch]:
    """Every 身份证号, 手机号 and 银行卡号 in `text`, in order of position, never overlapping.

    Priority on overlap: 身份证号, then 银行卡号, then 手机号 (an ID or card number is never
    reported as a phone number found inside it).
    """
    if not _MAYBE_PII.search(text):
        return []
    found: list[PiiMatch] = []
    taken: list[tuple[int, int]] = []

    def free(s: int, e: int) -> bool:
        return all(e <= a or b <= s for a, b in taken)

    for m in _ID_RE.finditer(text):
        raw = m.group(1)
        v = raw.replace(" ", "").upper()
        if is_valid_id_card(v, today):
            found.append(PiiMatch("id_card", v, m.start(1), m.end(1)))
            taken.append((m.start(1), m.end(1)))
    for m in _BANK_RE.finditer(text):
        s, e = m.start(1), m.end(1)
        if not free(s, e) or _glued(text, s, e):
            continue
        v = re.sub(r"[ \-]", "", m.group(1))
        if 16 <= len(v) <= 19 and _luhn_ok(v):
            found.append(PiiMatch("bank_card", v, s, e))
            taken.append((s, e))
    for m in _MOBILE_RE.finditer(text):
        s, e = m.start(), m.end()
        if not free(s, e):
            continue
        found.append(PiiMatch("mobile", normalise("mobile", m.group(1)), s, e))
        taken.append((s, e))
    found.sort(key=lambda x: x.start)
    return found


# --------------------------------------------------------------------------- masking and tokens


def mask_value(kind: str, value: str) -> str:
    """The mask for one value: ``[手机号 ****5678]`` (kind and last four characters only)."""
    tail = re.sub(r"[^0-9Xx]", "", value)[-4:].upper()
    return f"[{LABELS.get(kind, '个人信息')} ****{tail}]"


def mask_text(text: str, today: datetime.date | None = None) -> tuple[str, list[PiiMatch]]:
    """`text` with every personal-data value replaced by its mask, and what was found.

    Offsets in the returned matches refer to the original text.
    """
    matches = find_pii(text, today)
    if not matches:
        return text, matches
    out: list[str] = []
    pos = 0
    for m in matches:
        out.append(text[pos:m.start])
        out.append(mask_value(m.kind, m.value))
        pos = m.end
    out.append(text[pos:])
    return "".join(out), matches


def blind_token(key: bytes, kind: str, value: str) -> str:
    """Keyed HMAC-SHA256 (hex) of ``kind:normalised value`` — what the index stores instead.

    The kind is part of the message so a phone number and a card number that happen to
    share digits never collide. Spaced, dashed and +86 forms give the same token.
    """
    if not isinstance(key, bytes | bytearray) or len(key) < 16:
        raise ValueError("盲索引密钥应为至少 16 字节的 bytes")
    msg = f"{kind}:{normalise(kind, value)}".encode()
    return hmac.new(bytes(key), msg, hashlib.sha256).hexdigest()


def text_tokens(key: bytes, text: str) -> list[tuple[str, str]]:
    """(kind, blind token) of every personal number in `text`, sorted, without repeats —
    what ingest stores for a record and what a blind-index rebuild recomputes."""
    return sorted({(m.kind, blind_token(key, m.kind, m.value)) for m in find_pii(text)})


def pii_query(q: str) -> tuple[PiiKind, str] | None:
    """(kind, normalised value) when a search query is exactly one ID / mobile / bank number.

    The search layer then looks the value up by its blind token instead of as text.
    """
    if not isinstance(q, str):
        return None
    s = q.strip().translate(_FULLWIDTH)
    if not s or len(s) > 40:
        return None
    matches = find_pii(s)
    if len(matches) == 1 and matches[0].start == 0 and matches[0].end == len(s):
        return matches[0].kind, matches[0].value
    return None


# full-width digits, plus, dash and space in a query box
_FULLWIDTH = {**{0xFF10 + i: str(i) for i in range(10)}, 0xFF0B: "+", 0xFF0D: "-", 0x3000: " ",
              0xFF38: "X", 0xFF58: "x"}
