"""Roles, rights and clearance — the one table every service checks against.

三员分立: the system administrator, the security officer and the auditor are three
different people. The admin runs the system (projects, scheme, keys) but grants no roles
or clearance; the security officer grants them; the auditor only reads the trail and
checks integrity, never content. Nobody may hold two of the three.
"""

from __future__ import annotations

from dataclasses import dataclass

ROLES: dict[str, str] = {
    "admin": "系统管理员",
    "security": "安全保密员",
    "auditor": "安全审计员",
    "archivist": "档案管理员",
    "staff": "员工",
    "manager": "负责人",
    "owner": "业主",
}
SEPARATED = frozenset({"admin", "security", "auditor"})

LEVELS: dict[str, int] = {"public": 0, "internal": 1, "confidential": 2, "secret": 3}
LEVEL_NAMES: dict[str, str] = {"public": "公开", "internal": "内部", "confidential": "秘密",
                               "secret": "机密"}

_READ = {"record.meta", "record.text", "record.get", "search", "loan.request"}
RIGHTS: dict[str, frozenset[str]] = {
    "admin": frozenset({"project.manage", "keys.rotate", "search.admin", "user.list", "backup",
                        "system.status"}),
    "security": frozenset({"user.manage", "user.list"}),
    "auditor": frozenset({"audit.read", "audit.verify", "record.verify", "record.meta",
                          "user.list", "loan.ledger", "retention.read", "destroy.register",
                          "destroy.verify"}),
    "archivist": frozenset(_READ | {"record.ingest", "record.edit", "record.verify", "review",
                                    "search.admin", "loan.approve", "loan.desk", "custody.manage",
                                    "loan.ledger", "retention.read", "retention.appraise",
                                    "hold.manage", "destroy.create", "destroy.execute",
                                    "destroy.register", "handover.export", "handover.import"}),
    "staff": frozenset(_READ),
    "manager": frozenset(_READ | {"loan.approve", "loan.approve.sensitive", "loan.ledger",
                                  "retention.read", "destroy.approve", "destroy.register",
                                  "hold.manage"}),
    # an owner reads only the owner-visible records of the flats bound to the account
    "owner": frozenset({"owner.portal"}),
}

RIGHT_NAMES: dict[str, str] = {
    "project.manage": "登记项目", "keys.rotate": "轮换密钥", "search.admin": "维护检索索引",
    "user.list": "查看用户", "user.manage": "管理用户与密级授权", "audit.read": "查看审计日志",
    "audit.verify": "校验审计日志", "record.verify": "检测档案", "record.meta": "查看档案信息",
    "record.text": "查看档案全文", "record.get": "下载档案原件", "search": "检索档案",
    "record.ingest": "档案入库", "record.edit": "修改档案信息", "review": "处理待分类档案",
    "loan.approve": "审批借阅", "destroy.approve": "审批销毁",
    "loan.request": "申请借阅", "loan.approve.sensitive": "审批涉密档案借阅",
    "loan.desk": "办理借出与归还", "custody.manage": "管理实体档案存放", "loan.ledger": "查看借阅登记簿",
    "retention.read": "查看保管期限与到期档案", "retention.appraise": "鉴定档案",
    "hold.manage": "冻结与解冻档案", "destroy.create": "编制销毁清册", "destroy.execute": "执行销毁",
    "destroy.register": "查看销毁登记簿", "destroy.verify": "核验销毁", "handover.export": "移交导出",
    "handover.import": "接管导入", "backup": "备份与恢复", "system.status": "查看系统状态",
    "owner.portal": "业主查询本户档案",
}


@dataclass(frozen=True)
class Actor:
    """A snapshot of the acting user, safe to pass around outside a session."""

    name: str
    roles: frozenset[str]
    clearance: str
    department: str | None = None
    categories: frozenset[str] | None = None  # None = every category

    @property
    def level(self) -> int:
        return LEVELS[self.clearance]

    def can(self, right: str) -> bool:
        return any(right in RIGHTS[role] for role in self.roles)

    def may_see(self, security: str, category: str | None) -> bool:
        """Clearance and category rights for one record."""
        if LEVELS.get(security, 3) > self.level:
            return False
        return self.categories is None or category is None or category in self.categories


SYSTEM = Actor(name="system", roles=frozenset(), clearance="public")
