# Shared by the benchmark drivers (bench/echo/run.sh, scripts/http-echo-bench.sh,
# scripts/load-vs-wrk.sh, scripts/instructions-per-request.sh):
# argument checks, process bookkeeping with cleanup on exit, and /proc readings.
# Source it after defining die(); it defines no globals other than those below.
#
#   bench_init_tmp PREFIX   make $TMP (removed on exit) and install the cleanup traps
#   bench_track PID         remember a started process: cleanup signals it (and its children)
#   reap PID                wait for a tracked process that is exiting and forget it; $? = status
#   descendants PID         PID and every process below it
#   kill_tree PID           SIGKILL to PID and its descendants
#   cpu_ticks PID...        utime+stime clock ticks summed over the PIDs (all their threads)
#   status_kib PID FIELD    a /proc/PID/status value in KiB (VmRSS, VmHWM)
#   peak_rss_kib PID...     VmHWM summed over the PIDs
#   cpu_usage CPU           "busy total" ticks of one CPU from /proc/stat
#   kv KEY LINE             the value of KEY=value in a "k=v k=v" line
#   wait_for_port PORT [N]  0 once 127.0.0.1:PORT accepts a connection (N tries, 0.1 s apart; 50)
#   write_echo_lua FILE     the wrk script of the 1 KiB echo row (POST /echo, 1 KiB test-header and body)
#   need_value / is_count / is_number / check_cpus SERVER_CPU LOAD_CPU NAME

need_value() { [[ $# -ge 2 && -n $2 ]] || die "$1 needs a value"; }
is_count() { [[ $1 =~ ^[0-9]+$ ]]; }
is_number() { [[ $1 =~ ^[0-9]+([.][0-9]+)?$ ]]; }

# check_cpus SERVER_CPU LOAD_CPU NAME: both exist; warn when they are the same.
check_cpus() {
  local ncpu cpu
  ncpu=$(nproc)
  for cpu in "$1" "$2"; do
    { is_count "$cpu" && ((cpu < ncpu)); } || die "CPU $cpu does not exist (nproc = $ncpu)"
  done
  [[ $1 != "$2" ]] || echo "$3: warning: the server and the load generator share CPU $1; figures will be lower" >&2
}

declare -A LIVE_PIDS=()  # started by us and not yet reaped: the only ones cleanup signals
bench_track() { LIVE_PIDS[$1]=1; }
reap() {
  local status=0
  wait "$1" 2>/dev/null || status=$?
  unset "LIVE_PIDS[$1]"
  return "$status"
}
descendants() {
  ps -e -o pid=,ppid= 2>/dev/null | awk -v root="$1" '
    { parent[$1] = $2; pids[++n] = $1 }
    END {
      keep[root] = 1; printf "%s", root
      do {
        added = 0
        for (i = 1; i <= n; i++) { p = pids[i]; if (!(p in keep) && (parent[p] in keep)) { keep[p] = 1; printf " %s", p; added = 1 } }
      } while (added)
      print ""
    }'
}
kill_tree() {
  local p
  for p in $(descendants "$1"); do kill -KILL "$p" 2>/dev/null; done
}
# On exit: SIGTERM to every tracked process, 2 s to go, then SIGKILL to what is left (with
# its children), and $TMP removed.
bench_cleanup() {
  local pid
  for pid in "${!LIVE_PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null; done
  for pid in "${!LIVE_PIDS[@]}"; do
    for _ in 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20; do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    kill_tree "$pid"
    wait "$pid" 2>/dev/null
  done
  [[ -n ${TMP:-} ]] && rm -rf "$TMP"
}
bench_init_tmp() {
  TMP=$(mktemp -d "${TMPDIR:-/tmp}/$1.XXXXXX") || die "mktemp failed"
  trap bench_cleanup EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM
}

# /proc/PID/stat fields after the ")" that ends the command name: utime is the 12th, stime
# the 13th. A process's line covers all its threads.
cpu_ticks() {
  local total=0 pid stat rest f
  for pid in "$@"; do
    stat=$(<"/proc/$pid/stat") 2>/dev/null || continue
    rest=${stat##*) }
    read -r -a f <<<"$rest"
    total=$((total + f[11] + f[12]))
  done
  echo "$total"
}
status_kib() { awk -v k="$2:" '$1 == k { print $2 }' "/proc/$1/status" 2>/dev/null; }
peak_rss_kib() {
  local total=0 pid v
  for pid in "$@"; do
    v=$(status_kib "$pid" VmHWM)
    total=$((total + ${v:-0}))
  done
  echo "$total"
}
# Busy is user+nice+system+steal (steal: time the hypervisor did not give us); irq/softirq
# are left out because on loopback they are mostly our own packets, which the process time
# does not include. guest time is already in user.
cpu_usage() {
  awk -v c="cpu$1" '$1 == c { t = 0; for (i = 2; i <= 9 && i <= NF; i++) t += $i; print $2 + $3 + $4 + $9, t }' /proc/stat
}
kv() { awk -v k="$1" '{ for (i = 1; i <= NF; i++) if (index($i, k "=") == 1) { print substr($i, length(k) + 2); exit } }' <<<"$2"; }

wait_for_port() {
  local tries=${2:-50}
  for _ in $(seq "$tries"); do
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
    sleep 0.1
  done
  return 1
}

write_echo_lua() {
  cat >"$1" <<'EOF'
wrk.method = "POST"
wrk.path = "/echo"
wrk.headers["Content-Type"] = "application/octet-stream"
wrk.headers["test-header"] = string.rep("v", 1024)
wrk.body = string.rep("a", 1024)
EOF
}
