"""BagIt (RFC 8493) bags, written and read by hand: a transfer package anyone can check.

Writing: files go under `data/` as they are made; `finish` writes `manifest-sha256.txt`,
`bag-info.txt` (with Payload-Oxum), `bagit.txt` and `tagmanifest-sha256.txt`. Reading
(`inspect`) never trusts the bag: every manifest path must stay inside `data/`, every
listed file must exist with its digest, no unlisted file may hide in `data/`, and the
Payload-Oxum must tell the truth about bytes and count. Findings are sentences.
"""

from __future__ import annotations

import hashlib
import os
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

BAGIT_TXT = "BagIt-Version: 1.0\nTag-File-Character-Encoding: UTF-8\n"


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def _encode(path: str) -> str:
    """RFC 8493 §2.1.3: percent-encode CR, LF and % in manifest paths."""
    return path.replace("%", "%25").replace("\n", "%0A").replace("\r", "%0D")


def _decode(path: str) -> str:
    return path.replace("%0A", "\n").replace("%0D", "\r").replace("%0a", "\n").replace(
        "%0d", "\r").replace("%25", "%")


class BagWriter:
    """Build a bag in `root` (an empty directory); add payload files, then `finish`."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.data = root / "data"
        self.data.mkdir(parents=True)
        self.entries: dict[str, tuple[str, int]] = {}  # data/… → (sha256, size)

    def path(self, rel: str) -> Path:
        """Where to write payload file `rel` (a POSIX path under data/); parents made."""
        target = self.data / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        return target

    def added(self, rel: str, sha256: str | None = None) -> None:
        """Record a payload file written at `path(rel)` (its digest computed unless given)."""
        target = self.data / rel
        self.entries[f"data/{rel}"] = (sha256 or _sha256(target), target.stat().st_size)

    def write_text(self, rel: str, text: str) -> None:
        self.path(rel).write_text(text, encoding="utf-8")
        self.added(rel)

    def write_bytes(self, rel: str, blob: bytes) -> None:
        self.path(rel).write_bytes(blob)
        self.added(rel)

    def finish(self, info: dict[str, str | Iterable[str]]) -> None:
        size = sum(s for _, s in self.entries.values())
        lines = [f"{digest}  {_encode(p)}" for p, (digest, _) in sorted(self.entries.items())]
        (self.root / "manifest-sha256.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
        (self.root / "bagit.txt").write_text(BAGIT_TXT, encoding="utf-8")
        meta: list[str] = []
        for key, value in {**info, "Payload-Oxum": f"{size}.{len(self.entries)}",
                           "Bag-Size": _human(size)}.items():
            for v in ([value] if isinstance(value, str) else list(value)):
                if not str(v).strip():
                    continue
                meta.append(f"{key}: {' '.join(str(v).split())}")
        (self.root / "bag-info.txt").write_text("\n".join(meta) + "\n", encoding="utf-8")
        tags = [f"{_sha256(self.root / n)}  {n}" for n in ("bag-info.txt", "bagit.txt", "manifest-sha256.txt")]
        (self.root / "tagmanifest-sha256.txt").write_text("\n".join(tags) + "\n", encoding="utf-8")


def _human(size: int) -> str:
    value = float(size)
    for unit in ("B", "KB", "MB"):
        if value < 1024:
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} GB"


@dataclass
class Inspection:
    """What a bag holds and what is wrong with it."""

    root: Path
    files: dict[str, str] = field(default_factory=dict)  # data/… → sha256 from the manifest
    info: dict[str, list[str]] = field(default_factory=dict)
    findings: list[str] = field(default_factory=list)

    def payload(self, rel: str) -> Path:
        return self.root / rel


def read_info(path: Path) -> dict[str, list[str]]:
    info: dict[str, list[str]] = {}
    key = None
    for line in path.read_text(encoding="utf-8").splitlines():
        if line[:1] in (" ", "\t") and key:
            info[key][-1] += " " + line.strip()
        elif ":" in line:
            key, value = line.split(":", 1)
            key = key.strip()
            info.setdefault(key, []).append(value.strip())
    return info


def safe_relative(root: Path, rel: str) -> Path | None:
    """`root / rel` if `rel` is a plain relative path that stays inside `root`, else None."""
    if not rel or "\x00" in rel or rel.startswith(("/", "\\")) or "\\" in rel:
        return None
    parts = PurePosixPath(rel).parts
    if any(p in ("..", "") for p in parts) or (parts and ":" in parts[0]):
        return None
    target = root / rel
    try:
        target.resolve().relative_to(root.resolve())
    except ValueError:
        return None  # a symbolic link out of the package
    return target


def inspect(root: Path) -> Inspection:
    """Check a bag thoroughly; nothing in it is trusted."""
    out = Inspection(root)
    if not (root / "bagit.txt").is_file():
        out.findings.append("缺少 bagit.txt：这不是 BagIt 包。")
        return out
    declaration = (root / "bagit.txt").read_text(encoding="utf-8", errors="replace")
    if "BagIt-Version" not in declaration:
        out.findings.append("bagit.txt 没有声明 BagIt-Version。")
    manifest = root / "manifest-sha256.txt"
    if not manifest.is_file():
        out.findings.append("缺少 manifest-sha256.txt：无法核对文件。")
        return out
    if (root / "bag-info.txt").is_file():
        try:
            out.info = read_info(root / "bag-info.txt")
        except UnicodeDecodeError:
            out.findings.append("bag-info.txt 不是 UTF-8 编码。")
    try:
        lines = manifest.read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError:
        out.findings.append("manifest-sha256.txt 不是 UTF-8 编码。")
        return out
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        digest, _, rel = line.partition(" ")
        rel = _decode(rel.strip())
        digest = digest.strip().lower()
        if len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest):
            out.findings.append(f"清单第 {n} 行的 SHA-256 摘要格式无效。")
            continue
        if not rel.startswith("data/") or safe_relative(root, rel) is None:
            out.findings.append(f"清单第 {n} 行的路径 {rel!r} 超出了包的 data/ 目录，已拒绝。")
            continue
        rel = unicodedata.normalize("NFC", rel)
        if rel in out.files:
            out.findings.append(f"清单中 {rel} 出现了两次。")
        out.files[rel] = digest
    present: set[str] = set()
    data_dir = root / "data"
    if data_dir.is_dir():
        for dirpath, dirnames, filenames in os.walk(data_dir, followlinks=False):
            for name in filenames + [d for d in dirnames if os.path.islink(os.path.join(dirpath, d))]:
                full = Path(dirpath) / name
                rel = unicodedata.normalize("NFC", full.relative_to(root).as_posix())
                if full.is_symlink():
                    out.findings.append(f"包中的 {rel} 是符号链接，已拒绝。")
                    continue
                present.add(rel)
    size = 0
    for rel, digest in sorted(out.files.items()):
        if rel not in present:
            out.findings.append(f"清单列出的文件 {rel} 在包中不存在。")
            continue
        path = root / rel
        size += path.stat().st_size
        if _sha256(path) != digest:
            out.findings.append(f"文件 {rel} 的 SHA-256 与清单不符：文件被改动过。")
    for rel in sorted(present - set(out.files)):
        out.findings.append(f"包中的文件 {rel} 不在清单中（多出的文件）。")
    oxums = out.info.get("Payload-Oxum")
    oxum = oxums[0] if oxums else None
    if oxum:
        try:
            octets, count = (int(x) for x in oxum.split("."))
        except ValueError:
            out.findings.append(f"bag-info.txt 的 Payload-Oxum {oxum!r} 格式无效。")
        else:
            real_count = len(present)
            real_size = sum((root / p).stat().st_size for p in present)
            if octets != real_size or count != real_count:
                out.findings.append(f"bag-info.txt 写明 {octets} 字节 {count} 个文件，"
                                    f"实际为 {real_size} 字节 {real_count} 个文件：清单与内容不符。")
    return out


