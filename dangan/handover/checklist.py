"""The 接管验收 checklist: which documents a project must hand over, and what arrived.

The default list is the handover list of 物业管理条例 §29 (data/checklist.toml); a company
edits a copy and passes it with `--checklist FILE`. An item is satisfied by records of
one of its categories whose title holds one of its keywords (any title if none), at
least `min` of them per project; records that arrived but fail a check make the item
incomplete rather than present.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dangan.errors import InvalidInput

DEFAULT = Path(__file__).with_name("data") / "checklist.toml"


@dataclass(frozen=True)
class Item:
    name: str
    categories: tuple[str, ...]
    keywords: tuple[str, ...]
    minimum: int = 1

    def matches(self, record: dict) -> bool:
        if self.categories and record.get("category") not in self.categories:
            return False
        title = record.get("title") or ""
        return not self.keywords or any(k in title for k in self.keywords)


@dataclass(frozen=True)
class Checklist:
    title: str
    items: tuple[Item, ...]
    source: str


def load(path: str | Path | None = None, scheme: Any = None) -> Checklist:
    """Read a checklist file (TOML); refuse a malformed one with the item at fault."""
    file = Path(path) if path else DEFAULT
    try:
        data = tomllib.loads(file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InvalidInput(f"清单文件 {file} 不存在。") from None
    except UnicodeDecodeError:
        raise InvalidInput(f"清单文件 {file} 不是 UTF-8 编码。") from None
    except tomllib.TOMLDecodeError as exc:
        raise InvalidInput(f"清单文件 {file} 不是有效的 TOML：{exc}") from None
    raw = data.get("item")
    if not isinstance(raw, list) or not raw:
        raise InvalidInput(f"清单文件 {file} 没有任何 [[item]]。")
    items = []
    for i, entry in enumerate(raw, 1):
        if not isinstance(entry, dict) or not isinstance(entry.get("name"), str) or not entry["name"].strip():
            raise InvalidInput(f"清单文件 {file} 第 {i} 项缺少名称（name）。")
        cats = entry.get("categories", [])
        words = entry.get("keywords", [])
        if not isinstance(cats, list) or not all(isinstance(c, str) for c in cats):
            raise InvalidInput(f"清单第 {i} 项“{entry['name']}”的 categories 应为文本数组。")
        if not isinstance(words, list) or not all(isinstance(w, str) for w in words):
            raise InvalidInput(f"清单第 {i} 项“{entry['name']}”的 keywords 应为文本数组。")
        minimum = entry.get("min", 1)
        if not isinstance(minimum, int) or minimum < 1:
            raise InvalidInput(f"清单第 {i} 项“{entry['name']}”的 min 应为正整数。")
        if scheme is not None:
            cats = [scheme.category(c).key for c in cats]  # refuses an unknown category clearly
        items.append(Item(entry["name"].strip(), tuple(cats), tuple(words), minimum))
    return Checklist(str(data.get("title") or "接管验收清单"), tuple(items), str(file))


def project_of(location: str | None) -> str:
    return (location or "").split("-", 1)[0] or "（未编码）"


def compare(checklist: Checklist, records: list[dict], failed: set[str]) -> list[dict]:
    """Per project and item: present | incomplete | missing, with the 档号 that count."""
    projects = sorted({project_of(r.get("location")) for r in records}) or ["（未编码）"]
    out = []
    for project in projects:
        mine = [r for r in records if project_of(r.get("location")) == project]
        for item in checklist.items:
            found = [r.get("archive_no") or r.get("file") for r in mine if item.matches(r)]
            good = [n for n in found if n not in failed]
            if len(good) >= item.minimum:
                state = "present"
            elif found:
                state = "incomplete"
            else:
                state = "missing"
            out.append({"project": project, "item": item.name, "state": state, "records": found,
                        "required": item.minimum})
    return out


STATE_NAMES = {"present": "齐全", "incomplete": "不完整", "missing": "缺失"}
