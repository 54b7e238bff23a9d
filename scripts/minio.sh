#!/usr/bin/env bash
# A private MinIO (S3) server for tests and local runs, without Docker.
#
# Usage: scripts/minio.sh build|start|stop|status|url|env
#   build   build the server once from source (go install github.com/minio/minio@latest),
#           cached in ~/.cache/dangan (or $DANGAN_CACHE); later calls do nothing
#   start   build (once), start on a free loopback port with a private data folder and
#           generated credentials, wait until it answers, print the endpoint URL
#   stop    stop the server (its data stays for the next start)
#   status  "running URL" (exit 0) or "stopped" (exit 1)
#   url     the endpoint URL (http://127.0.0.1:PORT)
#   env     shell lines exporting DANGAN_S3_ENDPOINT, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY
#
# MinIO's community edition is distributed as source and licensed AGPLv3: it runs as a
# separate process and Dangan talks to it only through the Apache-2.0 `minio` client.
# The build takes ~4 minutes and 1.6 GB of module cache on 2 cores (GOPATH and GOCACHE
# live under the cache folder so later runs skip it); the binary is ~150 MB.
#
# Credentials are generated at the first start and kept in $MINIO_DIR/credentials (0600),
# never in the repository or in Dangan's config file.
#
# Settings (environment): DANGAN_MINIO_DIR ($CACHE/minio), DANGAN_MINIO_PORT (a free port,
# remembered), DANGAN_MINIO_BIN (use this binary instead of building), DANGAN_CACHE,
# DANGAN_GO (the go binary to build with; "download" fetches a toolchain into the cache even
# when an installed one — perhaps too old — would be found), DANGAN_GO_DIST (where Go is
# downloaded from: https://go.dev/dl, or a mirror with the same layout such as
# https://golang.google.cn/dl; its ?mode=json index gives the SHA-256 the archive must match).
set -euo pipefail

CACHE=${DANGAN_CACHE:-$HOME/.cache/dangan}
GO_DIST=${DANGAN_GO_DIST:-https://go.dev/dl}
GO_DIST=${GO_DIST%/}
MDIR=${DANGAN_MINIO_DIR:-$CACHE/minio}
GOPATH_DIR=$CACHE/go
BIN=${DANGAN_MINIO_BIN:-$GOPATH_DIR/bin/minio}

say() { echo "minio.sh: $*" >&2; }
die() { say "$*"; exit 1; }

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# Go: $DANGAN_GO, else on PATH, /usr/local/go, or a toolchain fetched once from $GO_DIST
# into the cache (checked against the SHA-256 its index publishes). Debian's golang-go is
# too old for MinIO.
find_go() {
  local g
  if [ "${DANGAN_GO:-}" = download ]; then set -- "$CACHE/go-toolchain/go/bin/go"
  else set -- "$(command -v go 2>/dev/null || true)" /usr/local/go/bin/go "$CACHE/go-toolchain/go/bin/go"; fi
  for g in "$@"; do
    [ -n "$g" ] && [ -x "$g" ] && { echo "$g"; return 0; }
  done
  return 1
}

fetch_go() {
  command -v curl >/dev/null || die "curl is needed to download Go"
  local arch; case "$(uname -m)" in x86_64) arch=amd64 ;; aarch64|arm64) arch=arm64 ;; *) die "no Go download for $(uname -m)" ;; esac
  local info file sum got dl part
  info=$(curl -fsSL -m 30 "$GO_DIST/?mode=json") \
    || die "cannot reach $GO_DIST to download Go; set DANGAN_GO_DIST to a mirror, or install Go 1.24+ and run again"
  read -r file sum < <(printf '%s' "$info" | python3 -c 'import json,re,sys
a=sys.argv[1]
f=[f for f in json.load(sys.stdin)[0]["files"] if f["os"]=="linux" and f["arch"]==a and f["kind"]=="archive"][0]
assert re.fullmatch(r"go[0-9][0-9a-z.]*\.linux-%s\.tar\.gz" % a, f["filename"])
assert re.fullmatch(r"[0-9a-f]{64}", f["sha256"])
print(f["filename"], f["sha256"])' "$arch" 2>/dev/null) || die "unexpected answer from $GO_DIST/?mode=json (no linux-$arch archive with a SHA-256)"
  dl=$CACHE/downloads/$file
  mkdir -p "$CACHE/downloads"
  if [ ! -f "$dl" ]; then
    say "downloading Go ($file) once from $GO_DIST into $CACHE/go-toolchain"
    curl -fsSL --retry 3 -o "$dl.part" "$GO_DIST/$file" || { rm -f "$dl.part"; die "Go download from $GO_DIST/$file failed"; }
    mv "$dl.part" "$dl"
  fi
  read -r got _ < <(sha256sum "$dl")
  if [ "$got" != "$sum" ]; then
    rm -f "$dl"
    die "Go download $file does not match the SHA-256 published by $GO_DIST (expected $sum, got $got): refused, nothing unpacked"
  fi
  part=$CACHE/go-toolchain.part
  rm -rf "$part"; mkdir -p "$part"
  tar -C "$part" -xzf "$dl" || { rm -rf "$part"; die "cannot unpack $dl"; }
  [ -x "$part/go/bin/go" ] || { rm -rf "$part"; die "$file holds no go/bin/go"; }
  mkdir -p "$CACHE/go-toolchain"
  rm -rf "$CACHE/go-toolchain/go"
  mv "$part/go" "$CACHE/go-toolchain/go"
  rm -rf "$part"
}

build() {
  [ -x "$BIN" ] && return 0
  mkdir -p "$CACHE"
  exec 8>"$CACHE/.minio-build.lock"
  flock -w 1800 8 || die "another build is still running"
  [ -x "$BIN" ] && return 0
  local go
  if [ -n "${DANGAN_GO:-}" ] && [ "$DANGAN_GO" != download ]; then
    [ -x "$DANGAN_GO" ] || die "DANGAN_GO=$DANGAN_GO is not an executable go"
    go=$DANGAN_GO
  else
    go=$(find_go) || { fetch_go; go=$(find_go) || die "Go is needed to build MinIO (https://go.dev/dl/)"; }
  fi
  say "building MinIO from source once (go install github.com/minio/minio@latest; ~4 min)"
  GOPATH=$GOPATH_DIR GOCACHE=$CACHE/go-build GOFLAGS=-buildvcs=false CGO_ENABLED=0 \
    "$go" install github.com/minio/minio@latest >&2 || die "go install github.com/minio/minio@latest failed"
  [ -x "$BIN" ] || die "build finished but $BIN is missing"
}

pid_alive() { [ -f "$MDIR/pid" ] && kill -0 "$(cat "$MDIR/pid")" 2>/dev/null; }

port() { cat "$MDIR/port" 2>/dev/null || true; }

url() { local p; p=$(port); [ -n "$p" ] || die "never started (run: $0 start)"; echo "http://127.0.0.1:$p"; }

healthy() {
  local p; p=$(port); [ -n "$p" ] || return 1
  curl -fsS -m 2 "http://127.0.0.1:$p/minio/health/live" >/dev/null 2>&1
}

credentials() {
  if [ ! -f "$MDIR/credentials" ]; then
    umask 077
    local user pass
    user=dangan-$(head -c 6 /dev/urandom | od -An -tx1 | tr -d ' \n')
    pass=$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')
    printf 'MINIO_ROOT_USER=%s\nMINIO_ROOT_PASSWORD=%s\n' "$user" "$pass" > "$MDIR/credentials"
  fi
  # shellcheck disable=SC1091
  . "$MDIR/credentials"
}

start() {
  build
  mkdir -p "$MDIR/data"
  chmod 700 "$MDIR"
  exec 9>"$MDIR/.lock"
  flock -w 120 9 || die "another start is still running"
  credentials
  if pid_alive && healthy; then url; return 0; fi
  if pid_alive; then
    local i
    for i in $(seq 1 20); do healthy && { url; return 0; }; sleep 1; done
    stop_server
  fi
  rm -f "$MDIR/pid"
  local p cp
  p=${DANGAN_MINIO_PORT:-$(port)}
  if [ -z "$p" ] || port_in_use "$p"; then p=$(free_port); fi
  cp=$(free_port); while [ "$cp" = "$p" ]; do cp=$(free_port); done
  echo "$p" > "$MDIR/port"
  say "starting MinIO on 127.0.0.1:$p (data $MDIR/data)"
  MINIO_ROOT_USER=$MINIO_ROOT_USER MINIO_ROOT_PASSWORD=$MINIO_ROOT_PASSWORD \
    MINIO_BROWSER=off MINIO_UPDATE=off \
    setsid "$BIN" server "$MDIR/data" --quiet --address "127.0.0.1:$p" \
    --console-address "127.0.0.1:$cp" </dev/null >"$MDIR/server.log" 2>&1 8>&- 9>&- &
  echo $! > "$MDIR/pid"
  local i
  for i in $(seq 1 60); do
    if healthy; then url; return 0; fi
    pid_alive || break
    sleep 0.5
  done
  tail -n 30 "$MDIR/server.log" >&2 || true
  die "MinIO did not start (log: $MDIR/server.log)"
}

stop_server() {
  pid_alive || { rm -f "$MDIR/pid"; return 0; }
  local pid i
  pid=$(cat "$MDIR/pid")
  kill "$pid" 2>/dev/null || true
  for i in $(seq 1 40); do kill -0 "$pid" 2>/dev/null || break; sleep 0.25; done
  if kill -0 "$pid" 2>/dev/null; then kill -9 "$pid" 2>/dev/null || true; fi
  rm -f "$MDIR/pid"
}

stop() {
  [ -d "$MDIR" ] || return 0
  exec 9>"$MDIR/.lock"
  flock -w 120 9 || die "another start/stop is still running"
  stop_server
}

envlines() {
  [ -f "$MDIR/credentials" ] || die "never started (run: $0 start)"
  . "$MDIR/credentials"
  echo "export DANGAN_S3_ENDPOINT=$(url)"
  echo "export AWS_ACCESS_KEY_ID=$MINIO_ROOT_USER"
  echo "export AWS_SECRET_ACCESS_KEY=$MINIO_ROOT_PASSWORD"
}

case "${1:-}" in
  build) build; echo "$BIN" ;;
  start) start ;;
  stop) stop ;;
  status) if pid_alive && healthy; then echo "running $(url)"; else echo "stopped"; exit 1; fi ;;
  url) url ;;
  env) envlines ;;
  *) echo "usage: $0 build|start|stop|status|url|env" >&2; exit 2 ;;
esac
