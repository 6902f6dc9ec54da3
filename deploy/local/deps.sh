#!/usr/bin/env bash
# Install what building and testing hearlers needs on a Debian bookworm machine (idempotent).
#   build:  C toolchain, CMake/Ninja, the five libraries the design names (librdkafka, libpq,
#           avro-c, civetweb, mongo-c-driver/libbson) plus libsodium, libcurl, cmocka
#   stack:  PostgreSQL 15, Java 17 + Maven (Kafka, Connect, Apicurio), kcat; Go is expected on
#           PATH for the FerretDB launcher (mongo.sh explains if it is missing)
#   tests:  a Python venv in $HL_CACHE_DIR/venv with pytest, confluent-kafka, fastavro, pymongo,
#           schemathesis, check-jsonschema (the k8s manifests), and `names` (US Census name
#           lists, the load generator's name corpus)
#   corpora (with stack): Debian's fortunes (/usr/share/games/fortunes), the load generator's
#           message text (bench/README.md, hl-loadgen)
#   fuzz:   clang 14 with libFuzzer and the sanitizer runtimes (make fuzz, ctest -L fuzz)
# Usage: deps.sh build|stack|test|fuzz|all
set -euo pipefail
source "$(dirname "$0")/env.sh"; source "$(dirname "$0")/lib.sh"
HL_COMPONENT=deps

BUILD_PKGS=(build-essential cmake ninja-build pkg-config clang-format
  librdkafka-dev libpq-dev libavro-dev libcivetweb-dev libmongoc-dev libbson-dev
  libsodium-dev libcurl4-openssl-dev libcmocka-dev curl
  libwebsockets-dev)
FUZZ_PKGS=(clang libclang-rt-14-dev)
STACK_PKGS=(postgresql-15 postgresql-client-15 openjdk-17-jre-headless maven kcat fortunes
  nginx gettext-base wrk)
PY_REQS=(pytest==8.3.3 confluent-kafka==2.6.0 fastavro==1.9.7 pymongo==4.10.1 schemathesis==3.39.16 hypothesis==6.115.0 PyYAML==6.0.3 names==0.3.0
  check-jsonschema==0.39.0)

apt_install() {
  local missing=()
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  ((${#missing[@]})) || return 0
  [[ $(id -u) == 0 ]] || hl_die "missing Debian packages (${missing[*]}) and not root: install them"
  hl_say "apt-get install ${missing[*]}"
  # The stack runs its own PostgreSQL cluster and nginx on project ports: the packages' system
  # services must not start (they would take 5432 and 80). policy-rc.d answers "no" meanwhile.
  local policy=/usr/sbin/policy-rc.d created=0 rc=0
  if [[ ! -e $policy ]]; then printf '#!/bin/sh\nexit 101\n' > "$policy"; chmod +x "$policy"; created=1; fi
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null || rc=$?
  ((created)) && rm -f "$policy"
  ((rc == 0)) || hl_die "apt-get install failed (exit $rc)"
}

venv() {
  local v=$HL_CACHE_DIR/venv stamp=$HL_CACHE_DIR/venv/.hl-reqs want="${PY_REQS[*]}"
  if [[ -x $v/bin/python && -f $stamp && $(cat "$stamp") == "$want" ]]; then return 0; fi
  hl_dirs
  # A venv copied from another checkout (cp -a .../.cache) keeps scripts whose #! names the
  # original: its pip would install there. Start such a venv afresh.
  if [[ -f $v/bin/pip && $(head -1 "$v/bin/pip") != "#!$v/bin/python"* ]]; then
    hl_say "$v was copied from elsewhere ($(head -1 "$v/bin/pip")): recreating it"
    rm -rf "$v"
  fi
  hl_say "creating Python venv $v (${PY_REQS[*]})"
  python3 -m venv "$v"
  "$v/bin/pip" install -q --disable-pip-version-check "${PY_REQS[@]}"
  echo "$want" > "$stamp"
}

case "${1:-all}" in
  build) apt_install "${BUILD_PKGS[@]}" ;;
  stack) apt_install "${STACK_PKGS[@]}" ;;
  test) venv ;;
  fuzz) apt_install "${FUZZ_PKGS[@]}" ;;
  all) apt_install "${BUILD_PKGS[@]}" "${STACK_PKGS[@]}" "${FUZZ_PKGS[@]}"; venv ;;
  *) echo "usage: $0 build|stack|test|fuzz|all" >&2; exit 2 ;;
esac
