# Dangan: the web app (gunicorn), the ingest workers (dangan worker), the inbox watcher and
# the CLI in one image. docker-compose.yml runs it against PostgreSQL, MinIO and Elasticsearch.
FROM python:3.11-slim-bookworm

RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      tesseract-ocr tesseract-ocr-chi-sim tesseract-ocr-chi-tra tesseract-ocr-osd \
      fonts-wqy-zenhei poppler-utils libgl1 libglib2.0-0 \
 && rm -rf /var/lib/apt/lists/*

WORKDIR /app
COPY pyproject.toml README.md ./
COPY dangan ./dangan
RUN pip install --no-cache-dir '.[server]' \
 && useradd --system --create-home --home-dir /data dangan

USER dangan
ENV DANGAN_HOME=/data OMP_THREAD_LIMIT=1
VOLUME ["/data"]
EXPOSE 8000
CMD ["gunicorn", "-w", "4", "--threads", "4", "-b", "0.0.0.0:8000", "dangan.web.wsgi:app"]
