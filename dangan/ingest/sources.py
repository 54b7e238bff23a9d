"""Where files come from: paths and folders, ZIP archives, CSV manifests, a scanner inbox.

Each source turns its input into `Item`s. An item that cannot be read safely (a hostile
name, a path outside the manifest's folder, a symlink) carries its reason instead of a
path, so the batch reports it as rejected and goes on.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import os
import shutil
import stat
import time
import uuid
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from dangan.errors import InvalidInput

MANIFEST_COLUMNS = ("path", "category", "location", "title", "date", "security")
TEMP_SUFFIXES = (".tmp", ".part", ".partial", ".crdownload", ".download", ".swp", "~")
ZIP_MAGIC = b"PK\x03\x04"
MAX_ZIP_MEMBERS = 100_000
MAX_ZIP_TOTAL = 20 * 1024**3  # uncompressed bytes a ZIP may expand to


@dataclass
class Item:
    path: Path | None  # the file to read; None when rejected up front
    name: str  # how the user knows it (relative path, manifest row, ZIP member)
    explicit: dict = field(default_factory=dict)
    error: str | None = None


def display_name(name: str, limit: int = 200) -> str:
    """Printable, bounded: for reports and the audit, never for opening files."""
    clean = "".join(ch if ch.isprintable() else "?" for ch in name)
    return clean if len(clean) <= limit else clean[: limit - 1] + "…"


def member_problem(name: str, on_disk: bool = True) -> str | None:
    """Why a ZIP member or manifest path may not be used, or None.

    A ZIP member is extracted under a name of our own, so only a manifest path (a file
    that must exist on disk) is held to the 255-byte limit of a file name."""
    if "\x00" in name:
        return "名称中含有空字符"
    if name.startswith(("/", "\\")) or (len(name) > 1 and name[1] == ":"):
        return "是绝对路径"
    parts = PurePosixPath(name.replace("\\", "/")).parts
    if ".." in parts:
        return "含有“..”，指向上级目录"
    if on_disk and any(len(p.encode("utf-8", "surrogateescape")) > 255 for p in parts):
        return "中有超过 255 字节的文件名，文件系统无法保存"
    return None


def fit_name(name: str, limit: int = 200) -> str:
    """`name` shortened to at most `limit` bytes of UTF-8, keeping its extension."""
    if len(name.encode("utf-8", "surrogateescape")) <= limit:
        return name
    stem, dot, ext = name.rpartition(".")
    if not dot or len(ext) > 16:
        stem, ext = name, ""
    suffix = f".{ext}" if ext else ""
    room = limit - len(suffix.encode("utf-8", "surrogateescape")) - 3
    out = stem
    while len(out.encode("utf-8", "surrogateescape")) > room:
        out = out[:-1]
    return f"{out}…{suffix}"


def _walk(folder: Path, base: Path, explicit: dict) -> list[Item]:
    items: list[Item] = []
    for root, dirs, files in os.walk(folder, followlinks=False):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(files):
            if name.startswith("."):
                continue
            path = Path(root) / name
            items.extend(_one(path, display_name(str(path.relative_to(base))), explicit))
    return items


def _one(path: Path, name: str, explicit: dict) -> list[Item]:
    try:
        st = path.lstat()
    except FileNotFoundError:
        return [Item(None, name, explicit, "文件不存在")]
    except OSError as exc:
        return [Item(None, name, explicit, f"无法读取：{exc.strerror}")]
    if stat.S_ISLNK(st.st_mode):
        return [Item(None, name, explicit, "是符号链接，出于安全原因不予处理")]
    if not stat.S_ISREG(st.st_mode):
        return [Item(None, name, explicit, "不是普通文件")]
    return [Item(path, name, explicit)]


def is_zip(path: Path) -> bool:
    try:
        with open(path, "rb") as fh:
            return fh.read(4) == ZIP_MAGIC
    except OSError:
        return False


def expand_zip(path: Path, name: str, explicit: dict, workdir: Path) -> list[Item]:
    """Extract a ZIP's members into `workdir` under safe names; hostile members are rejected."""
    items: list[Item] = []
    try:
        zf = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError):
        return [Item(None, name, explicit, "ZIP 文件损坏，无法打开")]
    with zf:
        infos = [i for i in zf.infolist() if not i.is_dir()]
        if len(infos) > MAX_ZIP_MEMBERS or sum(i.file_size for i in infos) > MAX_ZIP_TOTAL:
            return [Item(None, name, explicit, "ZIP 解压后过大（疑似压缩炸弹），拒绝处理")]
        for n, info in enumerate(infos):
            label = display_name(f"{name}!{info.filename}")
            problem = member_problem(info.filename, on_disk=False)
            if problem:
                items.append(Item(None, label, explicit, f"压缩包内的文件名{problem}，拒绝处理"))
                continue
            if info.flag_bits & 0x1:
                items.append(Item(None, label, explicit, "压缩包内的文件已加密，无法处理"))
                continue
            if stat.S_ISLNK(info.external_attr >> 16):
                items.append(Item(None, label, explicit, "压缩包内的该项是符号链接，出于安全原因不予处理"))
                continue
            # Our own name on disk: the member's may be hostile or longer than a file name may be.
            target = workdir / f"{n:06d}.member"
            try:
                with zf.open(info) as src, open(target, "wb") as dst:
                    shutil.copyfileobj(src, dst, 1024 * 1024)
            except (zipfile.BadZipFile, OSError, EOFError, RuntimeError):
                target.unlink(missing_ok=True)
                items.append(Item(None, label, explicit, "压缩包内的文件损坏，无法解压"))
                continue
            items.append(Item(target, label, explicit))
    return items


def expand_paths(paths: Sequence[str | Path], explicit: dict, workdir: Path) -> list[Item]:
    """Files as given, folders walked in name order, ZIP archives unpacked."""
    items: list[Item] = []
    for raw in paths:
        path = Path(raw)
        label = display_name(str(raw))
        if path.is_dir() and not path.is_symlink():
            found = _walk(path, path.parent, explicit)
        else:
            found = _one(path, label, explicit)
        for item in found:
            if item.path is not None and is_zip(item.path):
                items.extend(expand_zip(item.path, item.name, explicit, workdir))
            else:
                items.append(item)
    return items


def read_manifest(manifest: Path) -> list[Item]:
    """Rows of `path,category,location,title,date,security`; paths relative to the manifest's
    folder and never outside it."""
    manifest = Path(manifest)
    try:
        text = manifest.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise InvalidInput(f"清单文件 {manifest} 不存在。") from None
    except UnicodeDecodeError:
        raise InvalidInput(f"清单文件 {manifest.name} 不是 UTF-8 编码的 CSV。") from None
    reader = csv.DictReader(io.StringIO(text, newline=""))
    header = [h.strip() for h in (reader.fieldnames or [])]
    if "path" not in header:
        raise InvalidInput(f"清单文件 {manifest.name} 缺少 path 列；列为 {','.join(MANIFEST_COLUMNS)}。")
    unknown = [h for h in header if h and h not in MANIFEST_COLUMNS]
    if unknown:
        raise InvalidInput(f"清单文件 {manifest.name} 有未知列 {unknown[0]!r}；可用列为 {','.join(MANIFEST_COLUMNS)}。")
    base = manifest.resolve().parent
    items: list[Item] = []
    for row_no, row in enumerate(reader, start=2):
        row = {(k or "").strip(): (v or "").strip() for k, v in row.items() if k}
        raw = row.get("path", "")
        label = display_name(f"{manifest.name}:{row_no}:{raw}")
        explicit = {k: row[k] for k in MANIFEST_COLUMNS[1:] if row.get(k)}
        if not raw:
            items.append(Item(None, label, explicit, f"清单第 {row_no} 行没有 path"))
            continue
        problem = member_problem(raw)
        if problem:
            items.append(Item(None, label, explicit,
                              f"清单第 {row_no} 行的路径{problem}；清单只能引用其所在文件夹内的文件，拒绝处理"))
            continue
        try:
            target = (base / raw).resolve()
        except (OSError, RuntimeError):  # a symlink loop
            target = None
        if target is None or not target.is_relative_to(base):
            items.append(Item(None, label, explicit,
                              f"清单第 {row_no} 行的路径（经符号链接）指向清单所在文件夹之外，拒绝处理"
                              if target is not None and (base / raw).absolute() != target
                              else f"清单第 {row_no} 行的路径指向清单所在文件夹之外，拒绝处理"))
            continue
        if "date" in explicit:
            try:
                dt.date.fromisoformat(explicit["date"])
            except ValueError:
                items.append(Item(None, label, explicit, f"清单第 {row_no} 行的日期 {explicit['date']!r} 无效：应为 YYYY-MM-DD"))
                continue
        items.extend(_one(base / raw, label, explicit))
    return items


class Inbox:
    """A scanner's drop folder. A file is taken only once its size and modification time
    have stood still for `settle` seconds, so a scan still being written is left alone."""

    def __init__(self, root: Path, settle: float = 2.0) -> None:
        self.root = Path(root)
        self.settle = settle
        self.done = self.root / "done"
        self.rejected = self.root / "rejected"
        self.processing = self.root / ".processing"
        for d in (self.done, self.rejected, self.processing):
            d.mkdir(parents=True, exist_ok=True)
        self._seen: dict[Path, tuple[int, int]] = {}

    def ready(self) -> list[Path]:
        """Files that have stood still long enough to be taken (symlinks included: they
        are taken in order to be refused, not followed)."""
        now = time.time()
        out = []
        seen: dict[Path, tuple[int, int]] = {}
        for entry in sorted(self.root.iterdir()):
            name = entry.name
            if name.startswith(".") or name.endswith(TEMP_SUFFIXES) or name.endswith(".reason.txt"):
                continue
            try:
                st = entry.lstat()
            except FileNotFoundError:
                continue
            if not (stat.S_ISREG(st.st_mode) or stat.S_ISLNK(st.st_mode)):
                continue
            sig = (st.st_size, st.st_mtime_ns)
            stable = self._seen.get(entry) == sig or self.settle == 0
            seen[entry] = sig
            if st.st_size > 0 and now - st.st_mtime >= self.settle and stable:
                out.append(entry)
            elif st.st_size == 0 and now - st.st_mtime >= self.settle * 5 and stable:
                out.append(entry)  # an empty file that stays empty is rejected, not kept forever
        self._seen = seen
        return out

    def claim(self, path: Path) -> Path:
        """Move into .processing/ (atomic on one filesystem) so it is taken exactly once.

        The claimed name carries a unique prefix, so a later file of the same name is a new
        claim and never mistaken for this one after a restart."""
        target = self.processing / f"{uuid.uuid4().hex[:12]}__{fit_name(path.name, 220)}"
        os.replace(path, target)
        self._seen.pop(path, None)
        return target

    def pending_claims(self) -> list[Path]:
        """Files a crashed run had claimed but not finished."""
        return sorted(p for p in self.processing.iterdir() if p.is_symlink() or p.is_file())

    @staticmethod
    def original_name(claimed: Path) -> str:
        return claimed.name.split("__", 1)[-1]

    def finish(self, path: Path, ok: bool, reason: str | None = None) -> Path:
        """Move a claimed file to done/ or rejected/ (with `NAME.reason.txt`), never over
        another file: a name already there gets a number."""
        target = self._free((self.done if ok else self.rejected) / fit_name(self.original_name(path), 200))
        if not ok:
            target.with_name(target.name + ".reason.txt").write_text((reason or "未知原因") + "\n",
                                                                       encoding="utf-8")
        os.replace(path, target)
        return target

    @staticmethod
    def _free(path: Path) -> Path:
        if not path.exists():
            return path
        stem, suffix = path.stem, path.suffix
        for n in range(1, 100_000):
            candidate = path.with_name(f"{stem}.{n}{suffix}")
            if not candidate.exists():
                return candidate
        raise InvalidInput(f"{path.parent} 中同名文件过多。")
