"""Elasticsearch with security on, as production runs it: a real node with x-pack security
(HTTP TLS under a CA of its own, the `elastic` password, API keys), started by
`scripts/elasticsearch.sh start-secure`. The client gets its settings from the same
environment variables docker-compose.yml sets; every refusal is one sentence that names
the setting to check and never the secret.
"""

from __future__ import annotations

import datetime
import json
import os
import re
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from dangan.config import load_settings
from dangan.errors import InvalidInput
from dangan.search.backend import SearchAccessRefused, SearchBackend, open_backend
from dangan.system import elastic_client_options
from tests.search.conftest import found, make_doc

pytestmark = pytest.mark.elasticsearch

ROOT = Path(__file__).resolve().parents[2]
DANGAN = Path(sys.executable).parent / "dangan"
SCRIPT = ROOT / "scripts" / "elasticsearch.sh"
#: what the client reads for a secured node (dangan/system.py, dangan/config.py)
CLIENT_READS = {"DANGAN_ES_URL", "DANGAN_ES_INDEX", "DANGAN_ES_USERNAME", "DANGAN_ES_PASSWORD",
                "DANGAN_ES_API_KEY", "DANGAN_ES_CA_CERTS"}


@pytest.fixture(scope="session")
def secure_es() -> dict[str, str]:
    """DANGAN_ES_URL / _USERNAME / _PASSWORD / _CA_CERTS of the running secure node."""
    if os.environ.get("DANGAN_SKIP_ES") == "1":
        pytest.skip("DANGAN_SKIP_ES=1: Elasticsearch tests skipped on request")
    try:
        started = subprocess.run([str(SCRIPT), "start-secure"], capture_output=True, text=True, timeout=900)
    except subprocess.TimeoutExpired:
        pytest.fail("the secure Elasticsearch node did not start within 900 s (scripts/elasticsearch.sh start-secure)")
    if started.returncode != 0:
        pytest.fail(f"the secure Elasticsearch node did not start: {started.stderr.strip()[-2000:]}")
    out = subprocess.run([str(SCRIPT), "env-secure"], capture_output=True, text=True, check=True).stdout
    env = dict(line.split("=", 1) for line in out.splitlines() if "=" in line)
    assert env["DANGAN_ES_URL"].startswith("https://") and env["DANGAN_ES_USERNAME"] == "elastic"
    return env


@pytest.fixture(scope="session")
def admin(secure_es: dict[str, str]) -> Iterator[Any]:
    """A client as `elastic`, for setting up API keys and cleaning up indices."""
    from elasticsearch import Elasticsearch

    es = Elasticsearch(secure_es["DANGAN_ES_URL"], ca_certs=secure_es["DANGAN_ES_CA_CERTS"],
                       basic_auth=("elastic", secure_es["DANGAN_ES_PASSWORD"]))
    yield es
    es.close()


@pytest.fixture
def index_name(admin: Any) -> Iterator[str]:
    name = f"dangan-sec-{uuid.uuid4().hex[:10]}"
    yield name
    admin.options(ignore_status=404).indices.delete(index=name)


@pytest.fixture
def api_key(admin: Any) -> Iterator[dict[str, str]]:
    """An API key that may do anything on dangan-sec-* indices and nothing else."""
    made = admin.security.create_api_key(
        name=f"dangan-test-{uuid.uuid4().hex[:6]}", expiration="1h",
        role_descriptors={"dangan": {"indices": [{"names": ["dangan-sec-*"], "privileges": ["all"]}]}})
    yield {"id": made["id"], "api_key": made["api_key"], "encoded": made["encoded"]}
    admin.security.invalidate_api_key(ids=[made["id"]])


def open_secure(env: dict[str, str], index: str, **extra: Any) -> SearchBackend:
    """The backend exactly as the app opens it: URL and options from the environment."""
    return open_backend("elasticsearch", url=env["DANGAN_ES_URL"], index=index, timeout=10,
                        **elastic_client_options(env), **extra)


def index_and_find(backend: SearchBackend) -> set[str]:
    backend.index([make_doc("电梯年检报告，曳引机运行正常。", record_id="sec-1"),
                   make_doc("绿化养护记录。", record_id="sec-2")])
    return found(backend, "曳引机")


def untrusted_ca(path: Path) -> Path:
    """A CA certificate that signed nothing of the node's."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Some other CA")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1)).not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return path


def assert_one_sentence(exc: pytest.ExceptionInfo, *needles: str, secret: str | None = None) -> None:
    msg = str(exc.value)
    assert "\n" not in msg and "Traceback" not in msg, msg
    for needle in needles:
        assert needle in msg, msg
    if secret:
        assert secret not in msg, msg


# ----------------------------------------------------------------- what works


def test_password_and_ca_from_the_environment_index_and_search_through_the_secure_node(
        secure_es: dict[str, str], index_name: str) -> None:
    backend = open_secure(secure_es, index_name)
    try:
        assert index_and_find(backend) == {"sec-1"}
    finally:
        backend.close()


def test_an_api_key_alone_indexes_and_searches(secure_es: dict[str, str], api_key: dict[str, str],
                                               index_name: str) -> None:
    env = {"DANGAN_ES_URL": secure_es["DANGAN_ES_URL"], "DANGAN_ES_CA_CERTS": secure_es["DANGAN_ES_CA_CERTS"],
           "DANGAN_ES_API_KEY": api_key["encoded"]}
    backend = open_secure(env, index_name)
    try:
        assert index_and_find(backend) == {"sec-1"}
    finally:
        backend.close()


def test_an_api_key_given_as_id_and_key_works_too(secure_es: dict[str, str], api_key: dict[str, str],
                                                  index_name: str) -> None:
    env = {"DANGAN_ES_URL": secure_es["DANGAN_ES_URL"], "DANGAN_ES_CA_CERTS": secure_es["DANGAN_ES_CA_CERTS"],
           "DANGAN_ES_API_KEY": f"{api_key['id']}:{api_key['api_key']}"}
    backend = open_secure(env, index_name)
    try:
        assert backend.count() == 0
    finally:
        backend.close()


def test_an_api_key_takes_precedence_over_a_user_and_password(secure_es: dict[str, str], api_key: dict[str, str],
                                                              index_name: str) -> None:
    env = {**secure_es, "DANGAN_ES_PASSWORD": "not-the-password", "DANGAN_ES_API_KEY": api_key["encoded"]}
    backend = open_secure(env, index_name)
    try:
        assert backend.count() == 0
    finally:
        backend.close()


# -------------------------------------------------------- refused, clearly


def test_a_wrong_password_is_one_sentence_naming_the_settings_not_the_password(
        secure_es: dict[str, str], index_name: str) -> None:
    wrong = "Wr0ng-" + uuid.uuid4().hex
    with pytest.raises(SearchAccessRefused) as exc:
        open_secure({**secure_es, "DANGAN_ES_PASSWORD": wrong}, index_name)
    assert_one_sentence(exc, "用户 elastic", "DANGAN_ES_USERNAME", "DANGAN_ES_PASSWORD", secret=wrong)
    assert secure_es["DANGAN_ES_PASSWORD"] not in str(exc.value)


def test_no_credentials_says_which_settings_to_set(secure_es: dict[str, str], index_name: str) -> None:
    env = {k: v for k, v in secure_es.items() if k not in ("DANGAN_ES_USERNAME", "DANGAN_ES_PASSWORD")}
    with pytest.raises(SearchAccessRefused) as exc:
        open_secure(env, index_name)
    assert_one_sentence(exc, "要求登录", "DANGAN_ES_API_KEY", "DANGAN_ES_PASSWORD")


def test_an_invalidated_api_key_is_refused_clearly(secure_es: dict[str, str], admin: Any, api_key: dict[str, str],
                                                   index_name: str) -> None:
    admin.security.invalidate_api_key(ids=[api_key["id"]])
    env = {"DANGAN_ES_URL": secure_es["DANGAN_ES_URL"], "DANGAN_ES_CA_CERTS": secure_es["DANGAN_ES_CA_CERTS"],
           "DANGAN_ES_API_KEY": api_key["encoded"]}
    with pytest.raises(SearchAccessRefused) as exc:
        open_secure(env, index_name)
    assert_one_sentence(exc, "API 密钥", "DANGAN_ES_API_KEY", secret=api_key["api_key"])
    assert api_key["encoded"] not in str(exc.value)


def test_an_api_key_without_rights_on_the_index_is_refused_clearly(secure_es: dict[str, str],
                                                                   api_key: dict[str, str]) -> None:
    env = {"DANGAN_ES_URL": secure_es["DANGAN_ES_URL"], "DANGAN_ES_CA_CERTS": secure_es["DANGAN_ES_CA_CERTS"],
           "DANGAN_ES_API_KEY": api_key["encoded"]}
    with pytest.raises(SearchAccessRefused) as exc:
        open_secure(env, "dangan-records-not-granted")
    assert_one_sentence(exc, "不允许", "dangan-records-not-granted", "权限", secret=api_key["api_key"])


def test_without_the_ca_the_nodes_certificate_is_not_trusted(secure_es: dict[str, str], index_name: str) -> None:
    env = {k: v for k, v in secure_es.items() if k != "DANGAN_ES_CA_CERTS"}
    with pytest.raises(SearchAccessRefused) as exc:
        open_secure(env, index_name, max_retries=0)
    assert_one_sentence(exc, "证书未通过验证", "DANGAN_ES_CA_CERTS", secret=secure_es["DANGAN_ES_PASSWORD"])


def test_a_wrong_ca_is_refused(secure_es: dict[str, str], index_name: str, tmp_path: Path) -> None:
    env = {**secure_es, "DANGAN_ES_CA_CERTS": str(untrusted_ca(tmp_path / "other-ca.crt"))}
    with pytest.raises(SearchAccessRefused) as exc:
        open_secure(env, index_name, max_retries=0)
    assert_one_sentence(exc, "证书未通过验证", "DANGAN_ES_CA_CERTS", secret=secure_es["DANGAN_ES_PASSWORD"])


def test_a_missing_ca_file_is_named(secure_es: dict[str, str], index_name: str, tmp_path: Path) -> None:
    missing = tmp_path / "nowhere" / "ca.crt"
    with pytest.raises(InvalidInput) as exc:
        open_secure({**secure_es, "DANGAN_ES_CA_CERTS": str(missing)}, index_name)
    assert_one_sentence(exc, str(missing), "DANGAN_ES_CA_CERTS")


def test_a_password_in_the_url_stays_out_of_messages(secure_es: dict[str, str], index_name: str) -> None:
    wrong = "Url-" + uuid.uuid4().hex
    url = secure_es["DANGAN_ES_URL"].replace("https://", f"https://elastic:{wrong}@")
    with pytest.raises(SearchAccessRefused) as exc:
        open_backend("elasticsearch", url=url, index=index_name, ca_certs=secure_es["DANGAN_ES_CA_CERTS"])
    assert_one_sentence(exc, secure_es["DANGAN_ES_URL"], "用户 elastic", secret=wrong)


# ------------------------------------------------- the compose file and the CLI


def compose_env() -> dict[str, str]:
    """The app's environment in docker-compose.yml, as compose fills it in from a .env that
    sets every required secret (``${X:?…}``) and none of the optional ones (``${X:-}``)."""
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text(encoding="utf-8"))

    def fill(m: re.Match) -> str:
        return m.group(3) if m.group(2) == "-" else f"<{m.group(1)}>"

    return {k: re.sub(r"\$\{(\w+)(?::?([-?])([^}]*))?\}", fill, str(v))
            for k, v in compose["x-dangan-env"].items()}


def test_the_compose_file_sets_only_settings_the_client_reads_and_production_gets_tls_and_a_login(
        tmp_path: Path) -> None:
    env = compose_env()
    names = {k for k in env if k.startswith("DANGAN_ES_")}
    assert names <= CLIENT_READS, names - CLIENT_READS
    assert env["DANGAN_SEARCH_BACKEND"] == "elasticsearch" and env["DANGAN_ES_URL"].startswith("https://")
    options = elastic_client_options(env)
    assert options == {"basic_auth": ("elastic", "<ELASTIC_PASSWORD>"), "ca_certs": env["DANGAN_ES_CA_CERTS"]}
    with_key = elastic_client_options({**env, "DANGAN_ES_API_KEY": "a2V5"})
    assert with_key == {"api_key": "a2V5", "ca_certs": env["DANGAN_ES_CA_CERTS"]}
    assert load_settings(tmp_path, env=env).elasticsearch_url == env["DANGAN_ES_URL"]


def run(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(DANGAN), *args], capture_output=True, text=True, env=env, timeout=300)


@pytest.fixture
def cli_env(secure_es: dict[str, str], index_name: str, db_url: str, tmp_path: Path) -> dict[str, str]:
    """Only what a deployment sets: the compose file's DANGAN_ES_* names with this node's
    values, a data directory and a database; nothing from the test process."""
    env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path), "PYTHONPATH": str(ROOT), "LANG": "C.UTF-8",
           "DANGAN_HOME": str(tmp_path / "data"), "DANGAN_DATABASE_URL": db_url, "OMP_THREAD_LIMIT": "1"}
    local = {**secure_es, "DANGAN_ES_INDEX": index_name}
    for name, value in compose_env().items():
        if name.startswith("DANGAN_ES_") and value:   # DANGAN_ES_API_KEY is empty unless set
            env[name] = local[name]
    env["DANGAN_SEARCH_BACKEND"] = compose_env()["DANGAN_SEARCH_BACKEND"]
    env["DANGAN_ES_INDEX"] = index_name
    return env


SETUP = [("init", "--admin", "root", "--security", "sec", "--auditor", "aud"),
         ("--as", "sec", "user", "add", "wang", "--role", "archivist", "--clearance", "secret"),
         ("--as", "root", "project", "add", "A", "--name", "翠湖花园", "--type", "residential")]


def lift_report(tmp_path: Path) -> Path:
    from dangan.demo import render

    return Path(render.text_pdf(tmp_path / "电梯年检.pdf", [
        "电梯年检报告\n项目名称：翠湖花园\n位置：A区1栋\n检验日期：2024年4月8日\n结论：曳引机运行正常，准予使用。"]))


def ingest_args(pdf: Path) -> tuple[str, ...]:
    return ("--as", "wang", "ingest", str(pdf), "--category", "equipment", "--location", "A-01",
            "--date", "2024-04-08")


def test_the_dangan_command_inits_ingests_and_searches_on_the_secure_node_from_the_environment(
        cli_env: dict[str, str], admin: Any, index_name: str, tmp_path: Path) -> None:
    for step in [*SETUP, ingest_args(lift_report(tmp_path))]:
        done = run(cli_env, *step)
        assert done.returncode == 0, (step, done.stderr)
    assert "检索索引暂未更新" not in done.stdout + done.stderr
    searched = run(cli_env, "--as", "wang", "search", "曳引机", "--json")
    assert searched.returncode == 0, searched.stderr
    result = json.loads(searched.stdout)
    assert result["total"] == 1 and result["hits"][0]["title"]
    assert admin.count(index=index_name)["count"] == 1   # it is in the secured node's index


def test_a_wrong_password_loses_nothing_and_the_dangan_command_says_so_in_one_line(
        cli_env: dict[str, str], tmp_path: Path) -> None:
    for step in SETUP:
        assert run(cli_env, *step).returncode == 0, step
    wrong = "Wr0ng-" + uuid.uuid4().hex
    bad_env = {**cli_env, "DANGAN_ES_PASSWORD": wrong}
    ingested = run(bad_env, *ingest_args(lift_report(tmp_path)))
    assert ingested.returncode == 0, ingested.stderr          # the record is stored all the same
    assert "检索索引暂未更新" in ingested.stderr and "DANGAN_ES_PASSWORD" in ingested.stderr
    searched = run(bad_env, "--as", "wang", "search", "曳引机")
    assert searched.returncode == 1
    for err in (ingested.stderr, searched.stderr.strip()):
        assert "Traceback" not in err and wrong not in err and cli_env["DANGAN_ES_PASSWORD"] not in err, err
    err = searched.stderr.strip()
    assert err.startswith("错误：") and len(err.splitlines()) == 1 and "DANGAN_ES_PASSWORD" in err, err
    # the password put right, the outbox catches up
    synced = run(cli_env, "--as", "root", "search", "sync", "--json")
    assert synced.returncode == 0 and json.loads(synced.stdout)["applied"] >= 1, synced.stderr
    found_now = run(cli_env, "--as", "wang", "search", "曳引机", "--json")
    assert json.loads(found_now.stdout)["total"] == 1


@pytest.fixture
def secure_env(secure_es: dict[str, str], index_name: str, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """The process environment of a deployment on the secure node (before the archive opens)."""
    monkeypatch.setenv("DANGAN_SEARCH_BACKEND", "elasticsearch")
    monkeypatch.setenv("DANGAN_ES_INDEX", index_name)
    for name, value in secure_es.items():
        monkeypatch.setenv(name, value)
    return secure_es


def test_the_web_api_answers_a_refused_login_with_503_and_the_sentence(
        secure_env: dict[str, str], sqlite_system: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from dangan.web.app import create_app

    assert sqlite_system.settings.search_backend == "elasticsearch"
    wrong = "Wr0ng-" + uuid.uuid4().hex
    monkeypatch.setenv("DANGAN_ES_PASSWORD", wrong)
    sqlite_system.__dict__.pop("search_service", None)   # opened afresh, with the wrong password
    app = create_app(sqlite_system)
    app.config["TESTING"] = True
    token = sqlite_system.users.new_token(sqlite_system.actor("wang"), "wang")
    resp = app.test_client().get("/api/v1/search?q=电梯", headers={"Authorization": f"Bearer {token}"})
    body = resp.get_data(as_text=True)
    assert resp.status_code == 503, body
    assert "DANGAN_ES_PASSWORD" in resp.get_json()["error"] and "用户 elastic" in resp.get_json()["error"]
    assert wrong not in body and secure_env["DANGAN_ES_PASSWORD"] not in body and "Traceback" not in body
