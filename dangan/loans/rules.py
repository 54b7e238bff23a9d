"""Loan rules as settings (`[loans]` in dangan.toml, or DANGAN_LOAN_* variables).

Defaults follow the paper practice they replace: a one-week loan that may be extended
to at most one month in total, and a cap on how many loans one borrower holds open.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

from dangan.errors import InvalidInput


@dataclass(frozen=True)
class LoanRules:
    default_days: int = 7        # DANGAN_LOAN_DEFAULT_DAYS
    max_days: int = 30           # DANGAN_LOAN_MAX_DAYS: the whole loan, renewals included
    max_open: int = 10           # DANGAN_LOAN_MAX_OPEN: requested, approved or out, per borrower
    mail_domain: str = ""        # DANGAN_LOAN_MAIL_DOMAIN: reminders go to NAME@domain
    smtp_host: str = ""          # DANGAN_LOAN_SMTP_HOST: empty = reminders are only logged
    smtp_port: int = 25          # DANGAN_LOAN_SMTP_PORT
    mail_from: str = "dangan@localhost"  # DANGAN_LOAN_MAIL_FROM


def load_rules(config_path: Path | None = None, env: dict | None = None) -> LoanRules:
    env = dict(os.environ if env is None else env)
    values: dict[str, Any] = {}  # raw TOML / environment values, checked below
    if config_path is not None and config_path.exists():
        try:
            values.update(tomllib.loads(config_path.read_text(encoding="utf-8")).get("loans", {}))
        except tomllib.TOMLDecodeError as exc:
            raise InvalidInput(f"配置文件 {config_path} 无法解析：{exc}。") from None
    for f in fields(LoanRules):
        var = f"DANGAN_LOAN_{f.name.upper()}"
        if env.get(var, "") != "":
            values[f.name] = env[var]
    rules = LoanRules()
    out: dict[str, Any] = {}  # each value converted to its field's type
    for f in fields(LoanRules):
        if f.name not in values:
            continue
        raw = values[f.name]
        if f.type == "int":
            try:
                out[f.name] = int(raw)
            except (TypeError, ValueError):
                raise InvalidInput(f"借阅设置 {f.name} 的值 {raw!r} 无效：应为整数。") from None
        else:
            out[f.name] = str(raw)
    rules = replace(rules, **out)
    if not 1 <= rules.default_days <= rules.max_days:
        raise InvalidInput("借阅设置无效：default_days 应在 1 到 max_days 之间。")
    return rules
