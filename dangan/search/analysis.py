"""Chinese text analysis, done once in Python so both search backends index the same tokens.

Why here and not in the engines: Elasticsearch's CJK analysers live in plugins the minimal
distribution lacks, tantivy's n-gram tokenizer loses adjacency, and jieba-style word
segmentation misses substrings (区花, 修资) — wrong for an archive, where a clerk expects
every record containing the characters she typed. So the text is folded and split here;
each engine only splits the result on whitespace.

The pipeline, identical at index time, at query time and in the brute-force recall check:

1. **Fold** every character on its own: lowercase, NFKC (full-width → half-width,
   ``㎡`` → ``m2``), then OpenCC ``t2s`` (Traditional → Simplified). Character-wise on
   purpose: phrase-level conversion depends on context (``瞭解`` → ``了解`` but ``瞭`` →
   ``瞭``), so a word and the same word inside a longer text could fold differently and a
   substring search would miss. It also keeps offsets one-to-one for highlighting.
2. **Split** into runs: CJK runs (Han, kana, hangul) and Latin/digit runs; everything
   else separates.
3. Three token streams per text:

   - ``tok`` — a CJK run ``c1…cn`` (n ≥ 2) gives its overlapping bigrams ``c1c2 …
     c(n-1)cn``; a one-character run gives that character; a Latin/digit run is one
     token. A word whose CJK runs all have two or more characters is the phrase of its
     bigrams: consecutive bigrams at consecutive positions can only come from one
     contiguous run, so the match is exact, and a bigram is a single fast term.
   - ``chr`` — one token per CJK character, marked ``c_`` when the next character
     continues the run and ``c`` at the end of a run; Latin/digit runs as in ``tok``.
     Words holding a one-character run (``水``, ``5楼``, ``2单元501室``) are phrases here:
     every position is fixed except the word's last character, which in a text may end
     its run or go on, so it is ``c`` *or* ``c_`` — two alternatives, never a prefix
     expansion over thousands of bigrams (tantivy's regex phrases cost 20× more and
     Elasticsearch's phrase-prefix is capped at 50 expansions, i.e. inexact).

   - ``q4`` — every four consecutive characters of a CJK run, as one token (no
     positions). A four-character word is then one term instead of a phrase of three
     common bigrams (物业服务 in 75% of a million records: 235 ms as a phrase, a few ms
     as a term); longer words must contain their covering four-character pieces, which
     lets the engine check positions only where those (rarer) terms occur.

   Latin/digit runs have word semantics (``lift`` does not match ``lifting``).
4. **Codes** (location codes, 档号, 维修编码) are exact keywords, indexed with every prefix
   that ends at a segment boundary, so ``A-01-001`` finds every flat in that unit.

The hot path (`analyze`) works on a whole batch at once with numpy lookup tables:
per-character Python loops were the indexing bottleneck (≈150 µs → ≈20 µs per record).
"""

from __future__ import annotations

import functools
import html
import json
import os
import re
import threading
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

__all__ = [
    "CJK_CLASS",
    "MAX_TOKEN_CHARS",
    "Phrase",
    "analyze",
    "code_prefixes",
    "fold",
    "fold_many",
    "location_prefixes",
    "normalize_code",
    "phrase",
    "snippet",
    "snippets",
    "token_streams",
    "tokens",
    "word_pattern",
]

#: Characters analysed as CJK (bigrams): kana, CJK ext. A, unified ideographs,
#: compatibility ideographs, hangul syllables, and the supplementary ideograph planes.
CJK_CLASS = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uac00-\ud7af\U00020000-\U0003134f"
_CJK_RANGES = ((0x3040, 0x30FF), (0x3400, 0x4DBF), (0x4E00, 0x9FFF), (0xF900, 0xFAFF),
               (0xAC00, 0xD7AF), (0x20000, 0x3134F))

#: Longer Latin/digit runs are cut into pieces of this many characters (Elasticsearch's
#: whitespace analyser splits at 255; cutting here keeps both engines identical).
MAX_TOKEN_CHARS = 255

_SEP, _WORD, _CJK, _DOC = 0, 1, 2, 3
_SPACE = 0x20
_DOC_MARK = 0x01
_CONT = ord("_")  # marks a character whose run goes on, in the chr stream


@dataclass(frozen=True)
class _Tables:
    fold: np.ndarray          # uint32[0x110000]: folded code point (identity when unchanged)
    cls: np.ndarray           # uint8[0x110000]: class of a *folded* code point
    expand: dict[str, str]    # characters whose fold is not one character (㎡ → m2)
    expand_rx: re.Pattern[str] | None
    expands: np.ndarray       # bool[0x110000]: the code point is a key of `expand`
    str_table: dict[int, str | int]  # the same fold for str.translate (short strings)


_tables: _Tables | None = None
_tables_lock = threading.Lock()


def _fold_candidates() -> list[int]:
    """Code points whose fold may differ: the BMP, plane 1 and the compatibility ideographs."""
    cps = [c for c in range(1, 0x20000) if not 0xD800 <= c < 0xE000]  # NUL separates below
    cps.extend(range(0x2F800, 0x2FA20))
    return cps


def _compute_fold() -> tuple[dict[int, str], list[tuple[int, int]]]:
    """The character folds that differ from identity, and the ranges of word characters.

    About a second of work (NFKC and OpenCC over every candidate code point), so the
    result is cached on disk by `_load_fold`.
    """
    import opencc  # imported lazily: a CLI that never searches should not pay for it

    t2s = opencc.OpenCC("t2s")
    cps = _fold_candidates()
    chars = [chr(c) for c in cps]
    # NFKC and lowercase in one C call each; NUL separates the characters (a starter,
    # so nothing composes across it).
    lowered = unicodedata.normalize("NFKC", "\x00".join(chars).lower()).lower().split("\x00")
    if len(lowered) != len(chars):  # pragma: no cover - defensive: fall back per character
        lowered = [unicodedata.normalize("NFKC", ch.lower()).lower() for ch in chars]
    mapping: dict[int, str] = {cp: out for cp, ch, out in zip(cps, chars, lowered, strict=True) if out != ch}
    # Traditional → Simplified, only where there is an ideograph to convert; one call,
    # newline-separated (no candidate that reaches OpenCC contains a newline).
    ideo = [(cp, out) for cp, out in zip(cps, lowered, strict=True) if out and max(out) >= "\u2e80"]
    ideo.extend((c, chr(c)) for c in range(0x20000, 0x31350) if not 0x2F800 <= c < 0x2FA20)
    converted = t2s.convert("\n".join(out for _, out in ideo)).split("\n")
    if len(converted) != len(ideo):  # pragma: no cover - defensive
        converted = [t2s.convert(out) for _, out in ideo]
    for (cp, _), out in zip(ideo, converted, strict=True):
        if out != chr(cp):
            mapping[cp] = out
        else:
            mapping.pop(cp, None)
    # Fixpoint: folding a folded string changes nothing (t2s output may itself be foldable).
    for _ in range(3):
        changed = False
        for cp, out in list(mapping.items()):
            again = "".join(mapping.get(ord(ch), ch) for ch in out)
            if again != out:
                mapping[cp] = again
                changed = True
        if not changed:
            break
    # Letters and digits: Python's notion (str.isalnum, as in the regex class [^\W_]).
    # Outside the BMP and plane 1 they are all ideographs, which are classed separately.
    ranges: list[tuple[int, int]] = []
    for m in re.finditer(r"[^\W_]+", "".join(chars)):
        lo, hi = cps[m.start()], cps[m.end() - 1]
        if hi - lo == m.end() - 1 - m.start():
            ranges.append((lo, hi))
        else:  # the run crosses the surrogate gap
            ranges.extend((cp, cp) for cp in cps[m.start() : m.end()])
    return mapping, ranges


def _cache_file() -> Path:
    import opencc

    base = os.environ.get("DANGAN_CACHE_DIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "dangan")
    key = f"v{_FOLD_VERSION}-opencc{getattr(opencc, '__version__', '?')}-unicode{unicodedata.unidata_version}"
    return Path(base) / f"search-fold-{key}.json"


_FOLD_VERSION = 1


def _load_fold() -> tuple[dict[int, str], list[tuple[int, int]]]:
    """`_compute_fold`, cached in the user's cache directory (best effort)."""
    path = _cache_file()
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return {int(k): v for k, v in data["fold"].items()}, [tuple(r) for r in data["word"]]
    except (OSError, ValueError, KeyError, TypeError):
        pass
    mapping, ranges = _compute_fold()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps({"fold": mapping, "word": ranges}, ensure_ascii=False), encoding="utf-8")
        os.replace(tmp, path)
    except OSError:
        pass  # a read-only home only costs the second again next time
    return mapping, ranges


def _build_tables() -> _Tables:
    """Turn the fold into numpy lookup tables for `token_streams` and a str.translate table."""
    mapping, ranges = _load_fold()
    size = 0x110000
    fold_arr = np.arange(size, dtype=np.uint32)
    expand: dict[str, str] = {}
    str_table = _TranslateTable()

    def word_like(s: str) -> bool:
        return any(ch.isalnum() for ch in s)

    for cp, out in mapping.items():
        ch = chr(cp)
        if len(out) == 1:
            fold_arr[cp] = ord(out)
            str_table[cp] = out
        elif word_like(out) or word_like(ch):
            # Only expansions that matter to tokens; "…" → "..." is punctuation either way
            # and stays as it is, which keeps offsets one-to-one for most texts.
            expand[ch] = out
            str_table[cp] = out
    cls = np.zeros(size, dtype=np.uint8)
    for lo, hi in ranges:
        cls[lo : hi + 1] = _WORD
    for lo, hi in _CJK_RANGES:
        cls[lo : hi + 1] = _CJK
    expand_rx = re.compile("[" + "".join(re.escape(ch) for ch in expand) + "]") if expand else None
    expands = np.zeros(size, dtype=bool)
    expands[[ord(ch) for ch in expand]] = True
    return _Tables(fold_arr, cls, expand, expand_rx, expands, str_table)


class _TranslateTable(dict[int, "str | int"]):
    """str.translate table that also answers for unchanged characters (and remembers
    them): a plain dict makes translate raise and swallow a KeyError per unchanged
    character, which made folding a 600-character text cost half a millisecond."""

    def __missing__(self, key: int) -> int:
        self[key] = key
        return key


def _get_tables() -> _Tables:
    global _tables
    if _tables is None:
        with _tables_lock:
            if _tables is None:
                _tables = _build_tables()
    return _tables


def fold(text: str) -> str:
    """Lowercase, NFKC and Traditional→Simplified, character by character.

    The result is what tokens are made of; `snippet` and the recall check compare against
    it. Offsets are one-to-one unless the text holds an expanding character such as ㎡.
    """
    t = _get_tables()
    if len(text) < 48:
        return text.translate(t.str_table)
    # longer texts: a numpy lookup is ~15× faster than str.translate's per-character calls
    raw = np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32)
    if t.expands[raw].any():
        return text.translate(t.str_table)
    return t.fold[raw].tobytes().decode("utf-32-le")


def _encode(texts: Sequence[str], t: _Tables) -> tuple[list[str], np.ndarray]:
    """Join the texts (SOH between them) and return their code points.

    The rare multi-character folds (㎡ → m2) are applied first, only to the texts that
    hold one; a numpy lookup finds them without scanning every text in Python.
    """
    parts = list(texts)
    raw = np.frombuffer("\x01".join(parts).encode("utf-32-le"), dtype=np.uint32)
    hits = np.flatnonzero(t.expands[raw])
    if hits.size and t.expand_rx is not None:
        starts = np.cumsum([0] + [len(p) + 1 for p in parts[:-1]])
        for i in sorted(set(np.searchsorted(starts, hits, side="right") - 1)):
            parts[i] = t.expand_rx.sub(lambda m: t.expand[m.group()], parts[i])
        raw = np.frombuffer("\x01".join(parts).encode("utf-32-le"), dtype=np.uint32)
    return parts, raw


def token_streams(texts: Sequence[str]) -> list[str]:
    """The ``tok`` stream of each text (see `analyze`)."""
    return analyze(texts)[0]


def analyze(texts: Sequence[str]) -> tuple[list[str], list[str], list[str]]:
    """The ``tok``, ``chr`` and ``q4`` streams of each text, tokens separated by
    whitespace — ready for a whitespace tokenizer (tantivy ``whitespace``,
    Elasticsearch's ``whitespace`` analyser).

    Works on the whole batch at once, so call it with many texts: per-character work is
    done by numpy lookups, not Python loops.
    """
    if not texts:
        return [], [], []
    t = _get_tables()
    parts, raw = _encode(texts, t)
    folded = t.fold[raw]
    cls = t.cls[folded]
    if len(parts) > 1:
        lengths = np.fromiter((len(p) for p in parts), dtype=np.int64, count=len(parts))
        cls[np.cumsum(lengths[:-1] + 1) - 1] = _DOC
    n = len(folded)
    nxt_cls = np.zeros(n, dtype=np.uint8)
    nxt_cls[:-1] = cls[1:]
    is_word = cls == _WORD
    word_cont = is_word & (nxt_cls == _WORD)
    is_cjk = cls == _CJK
    pair = is_cjk & (nxt_cls == _CJK)       # a CJK character followed by one in its run
    prev_cjk = np.zeros(n, dtype=bool)
    prev_cjk[1:] = is_cjk[:-1]
    run_end = is_cjk & ~pair & prev_cjk     # last character of a run of two or more
    base = folded.copy()
    base[cls == _SEP] = _SPACE
    base[cls == _DOC] = _DOC_MARK
    ends_token = (is_word & ~word_cont) | (is_cjk & ~pair)

    # tok: [char, next char | space, space] per bigram; [char, space] for a single
    # character run; nothing for the last character of a longer run (it is already the
    # second character of the last bigram); Latin characters run together.
    tok = np.zeros((n, 3), dtype=np.uint32)
    tok[:, 0] = base
    tok[run_end, 0] = 0
    col1 = tok[:, 1]
    col1[:-1][pair[:-1]] = folded[1:][pair[:-1]]
    col1[ends_token & ~run_end & ~pair] = _SPACE
    tok[pair, 2] = _SPACE

    # chr: [char, "_" if the run goes on, space] per CJK character; Latin as in tok.
    chars = np.zeros((n, 3), dtype=np.uint32)
    chars[:, 0] = base
    chars[pair, 1] = _CONT
    chars[ends_token & ~is_cjk, 1] = _SPACE
    chars[is_cjk, 2] = _SPACE

    # q4: every four characters of a run, as one token
    quad = pair.copy()
    for k in (1, 2):
        quad[: n - k] &= pair[k:]
        quad[n - k :] = False
    qidx = np.flatnonzero(quad)
    quads = np.zeros((n, 5), dtype=np.uint32)
    for k in range(4):
        quads[qidx, k] = folded[qidx + k]
    quads[qidx, 4] = _SPACE
    quads[cls == _DOC, 0] = _DOC_MARK

    long_words = bool(n) and _has_long_word(is_word, word_cont)
    return (_split_docs(tok, len(parts), long_words), _split_docs(chars, len(parts), long_words),
            _split_docs(quads, len(parts), False))


def _split_docs(out: np.ndarray, count: int, long_words: bool) -> list[str]:
    flat = out.ravel()
    text = flat[flat != 0].tobytes().decode("utf-32-le")  # drop the padding before decoding
    streams = text.split("\x01") if count > 1 else [text]
    if long_words:
        streams = [_cut_long(s) for s in streams]
    return streams


def _has_long_word(is_word: np.ndarray, word_cont: np.ndarray) -> bool:
    """Whether any Latin/digit run is longer than MAX_TOKEN_CHARS (vectorised)."""
    ends = np.flatnonzero(is_word & ~word_cont)
    if not ends.size:
        return False
    starts = np.flatnonzero(is_word & ~np.concatenate(([False], word_cont[:-1])))
    return bool(np.any(ends - starts + 1 > MAX_TOKEN_CHARS))


_LONG_RUN = re.compile(r"\S{" + str(MAX_TOKEN_CHARS + 1) + ",}")


def _cut_long(stream: str) -> str:
    if not _LONG_RUN.search(stream):
        return stream
    return _LONG_RUN.sub(
        lambda m: " ".join(m.group()[i : i + MAX_TOKEN_CHARS]
                           for i in range(0, len(m.group()), MAX_TOKEN_CHARS)), stream)


def tokens(text: str) -> list[str]:
    """The tokens of one text (query words, tests); see `token_streams` for batches."""
    return token_streams([text])[0].split()


def is_cjk_char(ch: str) -> bool:
    """Whether a single (folded) character is analysed as CJK."""
    return len(ch) == 1 and int(_get_tables().cls[ord(ch)]) == _CJK


_RUNS = re.compile(f"[{CJK_CLASS}]+|[^\\W_{CJK_CLASS}]+")


@dataclass(frozen=True)
class Phrase:
    """How one query word is matched: a phrase of `tokens` in `field` (``tok``, ``chr``
    or ``q4``); with `last_alt`, the last token may also be that alternative (``c`` or
    ``c_``: the word's last character ends its run in the text, or the run goes on).

    `guards` are ``q4`` terms every match must contain (implied by the phrase, so they
    never change the result): rare four-character terms let the engine check the
    phrase's positions only in the few records that hold them.
    """

    field: str
    tokens: tuple[str, ...]
    last_alt: str | None = None
    guards: tuple[str, ...] = ()

    def variants(self) -> list[tuple[str, ...]]:
        """The token sequences any of which matches (one or two)."""
        if self.last_alt is None:
            return [self.tokens]
        return [self.tokens, (*self.tokens[:-1], self.last_alt)]


def phrase(word: str) -> Phrase | None:
    """The phrase a query word (or quoted phrase) matches; None if it has no letters,
    digits or ideographs (punctuation only)."""
    runs = _RUNS.findall(fold(word))
    if not runs:
        return None
    tok_stream, chr_stream, _ = analyze([word])
    if len(runs) == 1 and len(runs[0]) == 4 and is_cjk_char(runs[0][0]):
        return Phrase("q4", (runs[0],))  # one term: as fast as a two-character word
    cjk_runs = [r for r in runs if is_cjk_char(r[0])]
    guards = tuple(dict.fromkeys(g for r in cjk_runs if len(r) >= 4 for g in _covering_quads(r)))
    if not any(len(r) == 1 for r in cjk_runs):
        return Phrase("tok", tuple(tok_stream[0].split()), guards=guards)
    toks = tuple(chr_stream[0].split())
    alt = toks[-1] + "_" if is_cjk_char(runs[-1][-1]) else None
    return Phrase("chr", toks, alt, guards=guards)


def _covering_quads(run: str) -> list[str]:
    """Four-character pieces at offsets 0, 4, 8 … and the last four: together they cover
    the run, so a record lacking any of them cannot contain it."""
    starts = list(range(0, len(run) - 3, 4))
    if starts[-1] != len(run) - 4:
        starts.append(len(run) - 4)
    return [run[i : i + 4] for i in starts]


# ----------------------------------------------------------------------------- codes

_CODE_SEP = re.compile(r"[^0-9A-Z]+")
_MAINTENANCE = re.compile(r"[0-9]{6}")


def normalize_code(code: str) -> str:
    """Canonical form of a code: NFKC (full-width folded), upper case, no outer separators."""
    return unicodedata.normalize("NFKC", code).strip().upper().strip("-·./_ ")


@functools.lru_cache(maxsize=65536)
def _code_prefixes(code: str) -> tuple[str, ...]:
    s = normalize_code(code)
    if not s or any(ch.isspace() for ch in s):
        return ()  # a code never holds spaces; a query word cannot either
    out = [s[: m.start()] for m in _CODE_SEP.finditer(s) if m.start() > 0]
    if _MAINTENANCE.fullmatch(s):
        out.append(s[:2])
    out.append(s)
    return tuple(dict.fromkeys(out))


def code_prefixes(code: str) -> list[str]:
    """The code and each prefix ending at a segment boundary, shortest first.

    ``A-01-001-0101`` → ``A``, ``A-01``, ``A-01-001``, ``A-01-001-0101``; a six-digit
    维修编码 ``010023`` also yields its two-digit type ``01``.
    """
    return list(_code_prefixes(code))


def location_prefixes(location: str | None) -> list[str]:
    """A location code and its higher levels (project, building, unit)."""
    return code_prefixes(location) if location else []


# ------------------------------------------------------------------------ highlighting

@functools.lru_cache(maxsize=1024)
def word_pattern(word: str) -> str | None:
    """Regex (over folded text) for the places a query word matches, for highlighting.

    Runs of the word may be separated by non-word characters in the text, as in the
    index (``5楼`` also matches ``5 楼``); two CJK runs need a separator between them (else
    they would be one run); Latin runs match whole words only.
    """
    runs = _RUNS.findall(fold(word))
    if not runs:
        return None
    latin_edge = f"[^\\W_{CJK_CLASS}]"
    out = ""
    for i, run in enumerate(runs):
        cjk = is_cjk_char(run[0])
        if i:
            out += "[\\W_]+" if cjk == is_cjk_char(runs[i - 1][0]) else "[\\W_]*"
        elif not cjk:
            out += f"(?<!{latin_edge})"
        out += re.escape(run)
        if i == len(runs) - 1 and not cjk:
            out += f"(?!{latin_edge})"
    return out


def snippet(text: str, words: Iterable[str], width: int = 120, before: int = 30) -> str:
    """An HTML-escaped window of `text` around the first match, matches in ``<mark>``.

    Matching runs on the folded text (so 電梯 highlights 电梯 and vice versa); the marks
    are placed on the original characters. Without a match the window is the start.
    """
    return snippets([text], words, width, before)[0]


def snippets(texts: Sequence[str], words: Iterable[str], width: int = 120, before: int = 30) -> list[str]:
    """`snippet` for a page of hits at once (one fold for all of them)."""
    patterns = [p for p in dict.fromkeys(word_pattern(w) for w in words) if p]
    rx = re.compile("|".join(f"(?:{p})" for p in patterns)) if patterns else None
    return [_snippet(text, folded, rx, width, before)
            for text, folded in zip(texts, fold_many(texts), strict=True)]


def fold_many(texts: Sequence[str]) -> list[str]:
    """`fold` of several texts in one numpy pass."""
    t = _get_tables()
    joined = "\x00".join(texts)
    if len(texts) < 2 or joined.count("\x00") != len(texts) - 1:
        return [fold(x) for x in texts]
    raw = np.frombuffer(joined.encode("utf-32-le"), dtype=np.uint32)
    if t.expands[raw].any():
        return [fold(x) for x in texts]
    return t.fold[raw].tobytes().decode("utf-32-le").split("\x00")


def _snippet(text: str, folded: str, rx: re.Pattern[str] | None, width: int, before: int) -> str:
    if not text:
        return ""
    if len(folded) == len(text):
        to_orig = None
    else:  # an expanding character: map folded offsets back character by character
        table = _get_tables().str_table
        to_orig = []
        for i, ch in enumerate(text):
            piece = table.get(ord(ch), ch)
            to_orig.extend([i] * len(piece if isinstance(piece, str) else ch))
        to_orig.append(len(text))
    spans: list[tuple[int, int]] = []
    end = width
    if rx is not None:
        for m in rx.finditer(folded):
            if m.end() == m.start():
                continue
            a, b = m.start(), m.end()
            if to_orig is not None:
                a, b = to_orig[a], to_orig[b - 1] + 1
            if not spans:
                end = max(a - before, 0) + width
            elif a >= end:
                break
            spans.append((a, b))
    start = max(0, spans[0][0] - before) if spans else 0
    end = min(len(text), start + width)
    if spans and spans[0][1] > end:  # a very long first match: show it whole
        end = spans[0][1]
    out = ["…" if start > 0 else ""]
    pos = start
    for a, b in spans:
        if b <= pos:
            continue
        if a >= end:
            break
        a = max(a, pos)
        b = min(b, end)
        out.append(html.escape(text[pos:a]))
        out.append("<mark>" + html.escape(text[a:b]) + "</mark>")
        pos = b
    out.append(html.escape(text[pos:end]))
    if end < len(text):
        out.append("…")
    return _collapse_ws("".join(out))


_WS = re.compile(r"\s+")


def _collapse_ws(s: str) -> str:
    return _WS.sub(" ", s).strip()
