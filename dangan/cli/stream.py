"""`--json` for a document whose last key holds a very long list (the full due list of a
million-record archive: 261k rows), written out in chunks as the rows arrive.

The text is byte for byte what `emit` prints (`json.dumps(doc, ensure_ascii=False,
indent=2)`), so nothing a script reads changes; only the time and memory do. The standard
library's C encoder has no indent, so each chunk of flat rows is encoded by it with the
separator that indentation would put between keys, and the few rows holding a non-empty
list or dict go through the indenting encoder one by one.

Why the splice is safe: an encoded string never contains a raw newline (json escapes
every control character), so `},\n      {` — a newline between two objects — can only be
the boundary between two flat rows.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Collection, Iterable
from itertools import islice
from typing import Any

_KEYS = ",\n      "  # between two keys of a row: rows sit at depth 2, their keys at depth 3
_FLAT = json.JSONEncoder(ensure_ascii=False, separators=(_KEYS, ": "), default=str)
_BOUNDARY = "}" + _KEYS + "{"
_BETWEEN_ROWS = "\n    },\n    {\n      "
CHUNK = 2000


def _flat_rows(rows: list[dict]) -> str:
    text = _FLAT.encode(rows)  # '[{"a": 1,\n      "b": 2},\n      {"a": 3, ...}]'
    return "    {\n      " + text[2:-2].replace(_BOUNDARY, _BETWEEN_ROWS) + "\n    }"


def _nested_row(row: dict) -> str:
    text = json.dumps([row], ensure_ascii=False, indent=2, default=str)  # '[\n  {\n    "a": ...\n  }\n]'
    return "  " + text[2:-2].replace("\n", "\n  ")


def _rows_text(rows: list[dict], nested: Collection[str]) -> Iterable[str]:
    """The rows in runs: flat runs through the C encoder, rows with a nested value alone."""
    run: list[dict] = []
    for row in rows:
        flat = bool(row)
        for k in nested:
            if row.get(k):
                flat = False
        if not flat:
            if run:
                yield _flat_rows(run)
                run = []
            yield _nested_row(row)
        else:
            run.append(row)
    if run:
        yield _flat_rows(run)


def write_json_list(head: dict, key: str, rows: Iterable[dict], write: Callable[[str], Any],
                    nested: Collection[str] = ()) -> None:
    """Write `{**head, key: [*rows]}` as `emit` would, plus its final newline.

    `nested` names the keys whose value may be a non-empty list or dict (the due list's
    "holds"); every other value must be a scalar."""
    text = json.dumps({**head, key: []}, ensure_ascii=False, indent=2, default=str)
    it = iter(rows)
    first = True
    while chunk := list(islice(it, CHUNK)):
        write((text[:-4] + "[\n" if first else ",\n") + ",\n".join(_rows_text(chunk, nested)))
        first = False
    write(text + "\n" if first else "\n  ]\n}\n")
