# Dangan — the two commands: `make run` and `make test`.
VENV   := .venv
PY     := $(VENV)/bin/python
DANGAN := $(VENV)/bin/dangan
HOME_DIR ?= dangan-data
PORT   ?= 8000

.PHONY: run test bootstrap lint bench services services-stop clean

bootstrap:
	@scripts/bootstrap.sh

## make run: a working archive on embedded defaults with sample documents, served on :8000
run: bootstrap
	@$(DANGAN) --home $(HOME_DIR) demo --serve --port $(PORT)

## make test: the whole suite, against SQLite and real PostgreSQL, Elasticsearch and MinIO servers
## (MinIO is built from source once, ~4 min, and cached in ~/.cache/dangan; Elasticsearch runs
## twice: security off, and security on with TLS, a password and API keys for tests/search/test_es_security.py)
test: bootstrap
	@scripts/postgres.sh start >/dev/null
	@scripts/elasticsearch.sh start >/dev/null
	@scripts/elasticsearch.sh start-secure >/dev/null
	@scripts/minio.sh start >/dev/null
	@$(VENV)/bin/ruff check .
	@$(VENV)/bin/mypy
	@$(VENV)/bin/pytest -q $(PYTEST_ARGS)

lint: bootstrap
	@$(VENV)/bin/ruff check .
	@$(VENV)/bin/mypy

services: bootstrap
	@scripts/postgres.sh start
	@scripts/elasticsearch.sh start
	@scripts/elasticsearch.sh start-secure
	@scripts/minio.sh start

services-stop:
	@scripts/minio.sh stop || true
	@scripts/elasticsearch.sh stop-secure || true
	@scripts/elasticsearch.sh stop || true
	@scripts/postgres.sh stop || true

clean:
	rm -rf $(HOME_DIR) .pytest_cache .ruff_cache
