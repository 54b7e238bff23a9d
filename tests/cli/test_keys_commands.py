"""`dangan keys rekey-index`, `keys rotate-cache` and `keys status` on the command line:
admin only (others exit 1 with one sentence), counts and generations in text and JSON."""

from __future__ import annotations

import io
import os

from dangan.archive.pii import text_tokens
from dangan.archive.records import RecordInput
from dangan.system import open_dangan

ID_CARD = "110101199003074514"


def test_rekey_index_rotate_cache_and_status(cli) -> None:
    system = open_dangan(cli.home)
    text = f"业主身份证号 {ID_CARD}"
    for i in range(3):
        data = RecordInput(original_name=f"{i}.pdf", media_type="application/pdf", title=f"登记表 {i}",
                           category="owner", location="A", text_pages=[{"page": 1, "text": f"{text} 第{i}份"}],
                           pii_tokens=text_tokens(system.blind_key, text))
        system.records.create(system.actor("wang"), io.BytesIO(os.urandom(500)), data)
    system.close()

    refused = cli("keys", "rekey-index", user="wang")
    assert refused.exit_code == 1 and refused.stderr.count("\n") == 1 and "无权" in refused.stderr

    before = cli.json("keys", "status", user="root")
    assert before["blind-index"]["generation"] == 1 and before["classifier-cache"]["generation"] == 1
    assert before["audit"]["rotated"] is False and ID_CARD not in str(before)

    report = cli.json("keys", "rekey-index", user="root")
    assert (report["generation"], report["previous"], report["records"]) == (2, 1, 3)
    assert report["tokens"] == report["removed"] == 3 and report["seconds"] >= 0
    text_out = cli("keys", "rotate-cache", user="root")
    assert text_out.exit_code == 0 and "第 2 代" in text_out.stdout

    after = cli("keys", "status", user="root")
    assert after.exit_code == 0
    assert "盲索引密钥" in after.stdout and "第 2 代" in after.stdout and "审计密钥" in after.stdout
    assert cli("search", "sync", user="root").exit_code == 0
    assert cli.json("search", ID_CARD, user="wang")["total"] == 3   # found under the new key
