"""Pages for 移交 / 接管 and the 四性检测 report (Simplified Chinese)."""

from __future__ import annotations

import tempfile
from pathlib import Path

from flask import (
    Blueprint,
    Response,
    current_app,
    g,
    redirect,
    render_template,
    request,
    stream_with_context,
    url_for,
)
from flask.typing import ResponseReturnValue

from dangan.errors import DanganError, NotFound
from dangan.handover.checklist import STATE_NAMES
from dangan.handover.report import KIND_NAMES
from dangan.ingest.checks import CATEGORY_NAMES, catalogue
from dangan.integrity.service import report_pdf
from dangan.system import Dangan
from dangan.web.auth import check_csrf, login_required

bp = Blueprint("handover_pages", __name__)


def _system() -> Dangan:
    return current_app.config["DANGAN"]


def _pdf(blob: bytes, name: str) -> Response:
    return Response(blob, mimetype="application/pdf",
                    headers={"Content-Disposition": f'attachment; filename="{name}"'})


@bp.get("/handover")
@login_required
def index() -> ResponseReturnValue:
    svc = _system()
    return render_template("handover/index.html", actor=g.actor, scheme=svc.scheme,
                           projects=svc.projects.list(), packages=svc.handover.packages(g.actor),
                           incoming=svc.handover.incoming_packages(), error=None)


@bp.post("/handover/export")
@login_required
def export() -> ResponseReturnValue:
    check_csrf()
    svc = _system()
    location = (request.form.get("location") or "").strip() or None
    query = (request.form.get("query") or "").strip() or None
    try:
        facts, chunks = svc.handover.export_zip(g.actor, location=location, query=query,
                                                sender=(request.form.get("sender") or "").strip() or None,
                                                receiver=(request.form.get("receiver") or "").strip() or None)
    except DanganError as exc:
        return render_template("handover/index.html", actor=g.actor, scheme=svc.scheme,
                               projects=svc.projects.list(), packages=svc.handover.packages(g.actor),
                               incoming=svc.handover.incoming_packages(), error=str(exc)), exc.http_status
    name = f"handover-{(location or 'query')}-{facts['package_id'][:8]}.zip"
    return Response(stream_with_context(chunks), mimetype="application/zip",
                    headers={"Content-Disposition": f'attachment; filename="{name}"'})


@bp.post("/handover/import")
@login_required
def takeover() -> ResponseReturnValue:
    check_csrf()
    svc = _system()
    dry_run = request.form.get("dry_run") == "1"
    try:
        with tempfile.TemporaryDirectory(prefix="upload-", dir=svc.handover._scratch()) as tmp:
            checklist = None
            upload_list = request.files.get("checklist")
            if upload_list is not None and upload_list.filename:
                checklist = Path(tmp) / "checklist.toml"
                upload_list.save(checklist)
            upload = request.files.get("package")
            if upload is not None and upload.filename:
                source = Path(tmp) / "package.zip"
                upload.save(source)
                label = f"上传：{upload.filename}"
            elif request.form.get("incoming"):
                source = svc.handover.resolve_incoming(request.form["incoming"])
                label = f"接收目录：{request.form['incoming']}"
            else:
                raise NotFound("请选择要上传的 zip 移交包，或接收目录中的一个包。")
            report = svc.handover.takeover(g.actor, source, checklist=checklist, dry_run=dry_run, label=label)
    except DanganError as exc:
        return render_template("handover/index.html", actor=g.actor, scheme=svc.scheme,
                               projects=svc.projects.list(), packages=svc.handover.packages(g.actor),
                               incoming=svc.handover.incoming_packages(), error=str(exc)), exc.http_status
    if report.get("package_id"):
        return redirect(url_for("handover_pages.package", package_id=report["package_id"]))
    return render_template("handover/takeover.html", actor=g.actor, r=report, states=STATE_NAMES,
                           kinds=KIND_NAMES, package_id=None)


@bp.get("/handover/packages/<package_id>")
@login_required
def package(package_id: str) -> ResponseReturnValue:
    data = _system().handover.package(g.actor, package_id)
    if data["direction"] == "import":
        return render_template("handover/takeover.html", actor=g.actor, r=data["report"], states=STATE_NAMES,
                               kinds=KIND_NAMES, package_id=package_id)
    return render_template("handover/exported.html", actor=g.actor, p=data)


@bp.get("/handover/packages/<package_id>/report.pdf")
@login_required
def package_pdf(package_id: str) -> ResponseReturnValue:
    data = _system().handover.package(g.actor, package_id)
    if data["direction"] != "import":
        raise NotFound("移交包的清单在包内（data/report/transfer-list.pdf）。")
    return _pdf(_system().handover.report_pdf(data["report"]), f"takeover-{package_id[:8]}.pdf")


@bp.get("/verify")
@login_required
def verify() -> ResponseReturnValue:
    svc = _system()
    try:
        report = svc.verify.latest(g.actor)
    except NotFound:
        report = None
    return render_template("handover/verify.html", actor=g.actor, report=report, runs=svc.verify.runs(g.actor),
                           checks={c["id"]: c for c in catalogue()}, categories=CATEGORY_NAMES)


@bp.post("/verify")
@login_required
def run_verify() -> ResponseReturnValue:
    check_csrf()
    mode = "full" if request.form.get("mode") == "full" else "incremental"
    _system().verify.run(g.actor, mode=mode)
    return redirect(url_for("handover_pages.verify"))


@bp.get("/verify/report.pdf")
@login_required
def verify_pdf() -> ResponseReturnValue:
    report = _system().verify.latest(g.actor)
    return _pdf(report_pdf(report), f"verify-{report.get('run_id')}.pdf")
