"""`--json` for a document whose last key holds a very long list of rows (the full due list
of a million-record archive: 261k rows), written out in chunks as the rows arrive.

The text is byte for byte what `emit` prints (`json.dumps(doc, ensure_ascii=False,
indent=2)`), so nothing a script reads changes; only the time and memory do. The standard
library's indenting encoder is pure Python (2–4 s for 261k rows); its C encoder has no indent.
So the rows come as tuples of values in the order of `fields`, a chunk's values are encoded
by the C encoder as one flat list, and the indented rows are filled in from one template;
rows holding a non-empty list or dict go through the indenting encoder one by one.

Why splitting the flat list is safe: json escapes every control character inside a string,
so a raw newline appears only in the separator `,\n` between two values; the count of
pieces is checked all the same.
"""

from __future__ import annotations

import gc
import json
from collections.abc import Callable, Collection, Iterable, Sequence
from itertools import islice
from typing import Any

_SEP = ",\n"
_VALUES = json.JSONEncoder(ensure_ascii=False, separators=(_SEP, ": "), default=str)
CHUNK = 2000


class _Rows:
    """Text of rows for one list of `fields`: a template with one %s per value."""

    def __init__(self, fields: Sequence[str], nested: Collection[str]) -> None:
        self.fields = tuple(fields)
        self.nested = [self.fields.index(name) for name in nested]
        keys = [json.dumps(name, ensure_ascii=False).replace("%", "%%") for name in self.fields]
        self.template = "    {\n" + ",\n".join(f"      {key}: %s" for key in keys) + "\n    }"

    def flat(self, rows: list[tuple]) -> str:
        values: list[Any] = []
        for row in rows:
            values.extend(row)
        pieces = _VALUES.encode(values)[1:-1].split(_SEP)
        if len(pieces) != len(rows) * len(self.fields):  # a list value nobody declared nested
            return ",\n".join(self.one(row) for row in rows)
        return ",\n".join([self.template] * len(rows)) % tuple(pieces)

    def one(self, row: tuple) -> str:
        text = json.dumps([dict(zip(self.fields, row, strict=True))], ensure_ascii=False, indent=2, default=str)
        return "  " + text[2:-2].replace("\n", "\n  ")  # '[\n  {…}\n]' → at depth 2

    def text(self, rows: list[tuple]) -> Iterable[str]:
        """Runs of flat rows through `flat`, a row with a non-empty nested value alone."""
        run: list[tuple] = []
        width, nested = len(self.fields), self.nested
        for row in rows:
            flat = len(row) == width
            for i in nested:
                if row[i]:
                    flat = False
            if not flat:
                if run:
                    yield self.flat(run)
                    run = []
                yield self.one(row)
            else:
                run.append(row)
        if run:
            yield self.flat(run)


def write_json_rows(head: dict, key: str, fields: Sequence[str], rows: Iterable[tuple],
                    write: Callable[[str], Any], nested: Collection[str] = ()) -> None:
    """Write `{**head, key: [dict(zip(fields, row)) for row in rows]}` as `emit` would,
    with its final newline. `nested` names the fields whose value may be a non-empty list
    or dict (the due list's "holds"); every other value is a scalar."""
    text = json.dumps({**head, key: []}, ensure_ascii=False, indent=2, default=str)  # ends '[]\n}'
    form = _Rows(fields, nested)
    it = iter(rows)
    first = True
    gc.freeze()  # what the process holds stays put: the collector need not rescan it for every chunk
    try:
        while chunk := list(islice(it, CHUNK)):
            write((text[:-4] + "[\n" if first else ",\n") + ",\n".join(form.text(chunk)))
            first = False
    finally:
        gc.unfreeze()
    write(text + "\n" if first else "\n  ]\n}\n")
