# Sourced helpers for deploy/local scripts: logging, waiting with a timeout,
# background processes tracked by pid file. Requires env.sh to be sourced first.

hl_say()  { printf '[%s] %s\n' "${HL_COMPONENT:-stack}" "$*" >&2; }
hl_die()  { printf '[%s] ERROR: %s\n' "${HL_COMPONENT:-stack}" "$*" >&2; exit 1; }

hl_dirs() { mkdir -p "$HL_STACK_DIR" "$HL_CACHE_DIR" "$HL_LOG_DIR" "$HL_RUN_DIR"; }

# hl_wait_for TIMEOUT_S DESCRIPTION CMD...  — run CMD every 0.5 s until it succeeds.
hl_wait_for() {
  local timeout=$1 what=$2; shift 2
  local deadline=$((SECONDS + timeout))
  until "$@" >/dev/null 2>&1; do
    if ((SECONDS >= deadline)); then
      hl_say "timed out after ${timeout}s waiting for $what"
      return 1
    fi
    sleep 0.5
  done
}

# hl_port_open PORT — true when something accepts TCP on 127.0.0.1:PORT.
hl_port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# hl_pid_alive NAME — true when the pid in $HL_RUN_DIR/NAME.pid is a live process.
hl_pid_alive() {
  local f="$HL_RUN_DIR/$1.pid"
  [[ -f $f ]] && kill -0 "$(cat "$f")" 2>/dev/null
}

# hl_start_bg NAME CMD... — start CMD detached (own session), stdout/stderr to $HL_LOG_DIR/NAME.log,
# record its pid. Does nothing if NAME is already running.
hl_start_bg() {
  local name=$1; shift
  if hl_pid_alive "$name"; then hl_say "$name already running (pid $(cat "$HL_RUN_DIR/$name.pid"))"; return 0; fi
  hl_dirs
  setsid "$@" >>"$HL_LOG_DIR/$name.log" 2>&1 < /dev/null &
  echo $! > "$HL_RUN_DIR/$name.pid"
}

# hl_stop_bg NAME [TIMEOUT_S] — SIGTERM the recorded process group, wait, then SIGKILL. Only ever
# signals the pid we recorded ourselves.
hl_stop_bg() {
  local name=$1 timeout=${2:-30} f="$HL_RUN_DIR/$1.pid" pid
  [[ -f $f ]] || return 0
  pid=$(cat "$f")
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null
    local deadline=$((SECONDS + timeout))
    while kill -0 "$pid" 2>/dev/null && ((SECONDS < deadline)); do sleep 0.2; done
    if kill -0 "$pid" 2>/dev/null; then
      hl_say "$name did not stop in ${timeout}s; killing"
      kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null
    fi
  fi
  rm -f "$f"
}
