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

# hl_stop_component NAME [TIMEOUT_S] — a component script's stop: hl_stop_bg when NAME runs
# (then "stopped"), else only the stale pid file goes.
hl_stop_component() {
  local name=$1 timeout=${2:-30}
  if hl_pid_alive "$name"; then
    hl_stop_bg "$name" "$timeout"
    hl_say "stopped"
  else
    rm -f "$HL_RUN_DIR/$name.pid"
  fi
}

# hl_wait_started NAME LOG TIMEOUT_S WHAT [stop-on-timeout] — after hl_start_bg NAME, poll the
# script's `ready` function every 0.5 s: dies (with LOG's tail) when NAME exits, or after
# TIMEOUT_S with "WHAT after TIMEOUT_Ss" (stopping NAME first when stop-on-timeout is given).
hl_wait_started() {
  local name=$1 log=$2 timeout=$3 what=$4 stop_on_timeout=${5:-}
  local deadline=$((SECONDS + timeout))
  until ready; do
    hl_pid_alive "$name" || { tail -n 30 "$log" >&2; rm -f "$HL_RUN_DIR/$name.pid"; hl_die "$name exited during start; see $log"; }
    ((SECONDS < deadline)) || { tail -n 30 "$log" >&2; [[ -n $stop_on_timeout ]] && hl_stop_bg "$name" 30; hl_die "$what after ${timeout}s; see $log"; }
    sleep 0.5
  done
}

# hl_run_verb "VERB ..." [VERB [ARGS...]] — a component script's command line: runs the script's
# function named by VERB (dashes become underscores: ensure-topics -> ensure_topics) with ARGS
# when VERB is one of the listed ones; otherwise prints the usage and exits 2.
hl_run_verb() {
  local verbs=$1 verb=${2:-}
  shift $(($# < 2 ? $# : 2))
  if [[ -n $verb && " $verbs " == *" $verb "* ]]; then "${verb//-/_}" "$@"; return; fi
  echo "usage: $0 ${verbs// /|}" >&2
  exit 2
}
