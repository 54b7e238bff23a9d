"""The query language: what a person types into the search box, parsed once for both backends.

Grammar (Google-like, because that is what people already know)::

    query   := clause*                  clauses are ANDed ("AND" may be written)
    clause  := alt ("OR" alt)*          OR binds tighter than the implicit AND
    alt     := "-" atom | atom          "-" excludes
    atom    := WORD | "quoted phrase" | ( query )

- A word matches where its characters appear contiguously (``电梯`` inside
  ``电梯井道``); Traditional/Simplified and full-/half-width are folded first
  (`dangan.search.analysis`).
- A word that looks like a code — a location code or prefix (``A-01-001``, ``B13``), a
  档号 (``WX-A-01-001-0101-2024-0007``) or a 维修编码 (``010023``) — also matches the code
  fields exactly or by segment prefix.
- ``OR`` must be upper case (``or`` is an ordinary word); ``|`` works too. Chinese
  quotes “…” and full-width parentheses are accepted.
- An empty query matches every record the reader may see (browsing with filters).

Malformed input raises `InvalidInput` with one sentence saying what to fix.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field

from dangan.errors import InvalidInput
from dangan.search import analysis
from dangan.search.analysis import Phrase

__all__ = ["And", "Node", "Not", "Or", "ParsedQuery", "Word", "looks_like_code", "parse"]

#: Limits that keep one query from tying up the index (and the audit log readable).
MAX_QUERY_CHARS = 500
MAX_WORDS = 32


@dataclass(frozen=True)
class Word:
    """One word or quoted phrase: its text phrase and, if it looks like a code, the code."""

    text: str
    phrase: Phrase | None
    code: str | None = None
    quoted: bool = False


@dataclass(frozen=True)
class Not:
    """Excludes records matching `item`."""

    item: Node


@dataclass(frozen=True)
class And:
    items: tuple[Node, ...]


@dataclass(frozen=True)
class Or:
    items: tuple[Node, ...]


Node = Word | Not | And | Or


@dataclass(frozen=True)
class ParsedQuery:
    """The parsed query; `root` None means "everything" (only filters apply)."""

    source: str
    root: Node | None
    highlight: tuple[str, ...] = field(default=())

    @property
    def match_all(self) -> bool:
        return self.root is None


# ----------------------------------------------------------------------- code detection

_CODE_SEPARATED = re.compile(r"[0-9A-Za-z]+(?:[-·./][0-9A-Za-z]+)+")
_PROJECT = re.compile(r"[A-Z][0-9]{0,3}")
_MAINTENANCE = re.compile(r"[0-9]{6}")


def looks_like_code(word: str) -> bool:
    """Whether a query word should also be tried against the code fields.

    Segmented codes (``A-01-001``, ``WX-A-01-001-0101-2024-0007``), a project code typed
    in capitals (``A``, ``B13``) and six-digit 维修编码 (``010023``).
    """
    w = unicodedata.normalize("NFKC", word).strip().strip("-·./")
    return bool(_CODE_SEPARATED.fullmatch(w) or _PROJECT.fullmatch(w) or _MAINTENANCE.fullmatch(w))


# ------------------------------------------------------------------------------- lexer

_QUOTES = {'"': '"', "“": "”", "”": "”", "「": "」", "『": "』"}
_OPEN, _CLOSE = "(（", ")）"
_SPACE = re.compile(r"\s+")


@dataclass(frozen=True)
class _Tok:
    kind: str          # word | phrase | or | and | not | lparen | rparen
    text: str = ""


def _lex(q: str) -> list[_Tok]:
    out: list[_Tok] = []
    i, n = 0, len(q)
    while i < n:
        ch = q[i]
        if ch.isspace():
            i += 1
            continue
        if ch in _QUOTES:
            close = _QUOTES[ch]
            j = q.find(close, i + 1)
            if j < 0 and close == "”":  # people mix straight and curly quotes
                j = q.find('"', i + 1)
            if j < 0:
                raise InvalidInput("查询中的引号没有配对，请补上结束的引号。")
            out.append(_Tok("phrase", q[i + 1 : j]))
            i = j + 1
            continue
        if ch in _OPEN:
            out.append(_Tok("lparen"))
            i += 1
            continue
        if ch in _CLOSE:
            out.append(_Tok("rparen"))
            i += 1
            continue
        if ch == "|":
            out.append(_Tok("or"))
            i += 1
            continue
        if ch in "-－" and i + 1 < n and not q[i + 1].isspace() and _starts_operand(q, i):
            out.append(_Tok("not"))
            i += 1
            continue
        j = i
        while j < n and not q[j].isspace() and q[j] not in _QUOTES and q[j] not in _OPEN + _CLOSE + "|":
            j += 1
        word = q[i:j]
        i = j
        if word == "OR":
            out.append(_Tok("or"))
        elif word == "AND":
            out.append(_Tok("and"))
        else:
            out.append(_Tok("word", word))
    return out


def _starts_operand(q: str, i: int) -> bool:
    """A minus excludes only at the start of a word (``A-01`` keeps its hyphen)."""
    return i == 0 or q[i - 1].isspace() or q[i - 1] in _OPEN + "|"


# ------------------------------------------------------------------------------ parser


class _Parser:
    def __init__(self, toks: list[_Tok]) -> None:
        self.toks = toks
        self.pos = 0
        self.words = 0

    def peek(self) -> _Tok | None:
        return self.toks[self.pos] if self.pos < len(self.toks) else None

    def next_kind(self) -> str | None:
        tok = self.peek()
        return tok.kind if tok is not None else None

    def take(self) -> _Tok:
        tok = self.toks[self.pos]
        self.pos += 1
        return tok

    def query(self, nested: bool) -> list[Node]:
        clauses: list[Node] = []
        while (tok := self.peek()) is not None:
            if tok.kind == "rparen":
                if not nested:
                    raise InvalidInput("查询中的右括号多余，请检查括号是否配对。")
                break
            if tok.kind == "and":
                self.take()
                if self.next_kind() in (None, "or", "and", "rparen"):
                    raise InvalidInput("“AND”后面需要检索词。")
                continue
            clause = self.clause()
            if clause is not None:
                clauses.append(clause)
        return clauses

    def clause(self) -> Node | None:
        if self.next_kind() == "or":
            raise InvalidInput("“OR”前面需要检索词。")
        items = [self.alt()]
        while self.next_kind() == "or":
            self.take()
            if self.next_kind() in (None, "or", "and", "rparen"):
                raise InvalidInput("“OR”后面需要检索词。")
            items.append(self.alt())
        # An alternative of punctuation only ("x OR ，") has nothing to look for: drop it.
        kept = [it for it in items if it is not None]
        if len(items) > 1 and any(isinstance(it, Not) for it in kept):
            raise InvalidInput("排除词（以“-”开头）不能放在 OR 中，请单独写出。")
        if not kept:
            return None
        return kept[0] if len(kept) == 1 else Or(tuple(kept))

    def alt(self) -> Node | None:
        tok = self.take()
        if tok.kind == "not":
            if self.next_kind() in (None, "or", "and", "rparen", "not"):
                raise InvalidInput("“-”后面需要要排除的词。")
            inner = self.atom(self.take())
            return Not(inner) if inner is not None else None
        return self.atom(tok)

    def atom(self, tok: _Tok) -> Node | None:
        if tok.kind == "lparen":
            items = self.query(nested=True)
            if self.peek() is None:
                raise InvalidInput("查询中的左括号没有配对，请补上右括号。")
            self.take()
            if not items:
                raise InvalidInput("括号里需要检索词。")
            group = _and(items)
            if not _positive(group):
                raise InvalidInput("括号里不能只有排除词，请至少给出一个要查找的词。")
            return group
        if tok.kind in ("word", "phrase"):
            return self.word(tok.text, quoted=tok.kind == "phrase")
        if tok.kind == "rparen":
            raise InvalidInput("查询中的右括号多余，请检查括号是否配对。")
        raise InvalidInput("查询的写法有误，请检查“OR”“AND”“-”和括号的用法。")

    def word(self, text: str, quoted: bool) -> Word | None:
        ph = analysis.phrase(text)
        code = analysis.normalize_code(text) if looks_like_code(text) else None
        if ph is None and code is None:
            return None  # punctuation only: nothing to look for
        self.words += 1
        if self.words > MAX_WORDS:
            raise InvalidInput(f"查询最多包含 {MAX_WORDS} 个词，请精简后重试。")
        return Word(text=text, phrase=ph, code=code, quoted=quoted)


def _and(items: list[Node]) -> Node:
    return items[0] if len(items) == 1 else And(tuple(items))


def _positive(node: Node) -> bool:
    """Whether a node can match on its own (something other than exclusions)."""
    if isinstance(node, Not):
        return False
    if isinstance(node, And):
        return any(_positive(it) for it in node.items)
    return True


def _highlight(node: Node | None, out: list[str]) -> None:
    if isinstance(node, Word):
        out.append(node.text)
    elif isinstance(node, And | Or):
        for it in node.items:
            _highlight(it, out)


def parse(query: str) -> ParsedQuery:
    """Parse a search box query; `InvalidInput` says what is wrong with a malformed one."""
    if query is None:
        query = ""
    if len(query) > MAX_QUERY_CHARS:
        raise InvalidInput(f"查询太长（最多 {MAX_QUERY_CHARS} 个字符），请精简后重试。")
    q = _SPACE.sub(" ", query.replace("\u3000", " ")).strip()
    if not q:
        return ParsedQuery(source=query, root=None)
    parser = _Parser(_lex(q))
    items = parser.query(nested=False)
    if not items:
        raise InvalidInput("查询中没有可检索的文字或编码。")
    root = _and(items)
    if not _positive(root):
        raise InvalidInput("查询不能只有排除词，请至少给出一个要查找的词。")
    words: list[str] = []
    _highlight(root, words)
    return ParsedQuery(source=query, root=root, highlight=tuple(dict.fromkeys(words)))
