#!/usr/bin/env bash
# TCP echo benchmark driver: runs the hand-written epoll baseline and the khz echo server
# (epoll and io_uring) side by side in one run, under the same closed-loop load, and prints
# a table (messages/s, latency percentiles, server CPU, peak RSS), an idle-memory table and
# each server's ratio to the baseline. Results also go to BUILD_DIR/bench-results/tcp_echo.csv.
# See bench/echo/README.md for what the figures mean.
#
#   bench/echo/run.sh BUILD_DIR [options]        (scripts/bench.sh calls it with build/release)
#
# Every process it starts is pinned (server on one CPU, load generator on another),
# bound to 127.0.0.1, bounded in time, and cleaned up on exit.
set -uo pipefail

usage() {
  cat <<'EOF'
usage: bench/echo/run.sh BUILD_DIR [options]

  -d, --duration S      measured seconds per row            (env KHZ_BENCH_DURATION, default 10)
  -w, --warmup S        unmeasured warm-up seconds per row  (env KHZ_BENCH_WARMUP, default 5)
  -b, --sizes LIST      message sizes in bytes              (env KHZ_BENCH_SIZES, default 1024,16384)
  -c, --connections C   concurrent connections              (env KHZ_BENCH_CONNECTIONS, default 100)
  -i, --idle N          idle connections for the memory test, 0 skips it
                                                            (env KHZ_BENCH_IDLE, default 10000)
  -s, --servers LIST    servers, in order, from: baseline khz-epoll khz-io_uring
                        (a name may repeat: "baseline,baseline" shows run-to-run noise)
                                                            (env KHZ_BENCH_SERVERS)
  -r, --rounds R        repeat every closed-loop row R times, interleaved; ratios use
                        the median of the rounds             (env KHZ_BENCH_ROUNDS, default 1)
  --server-cpu N        CPU the server is pinned to          (default 0)
  --load-cpu N          CPU the load generator is pinned to  (default 1)
  --load-threads T      load generator threads               (default 1)
  --idle-only           skip the closed-loop rows (only the idle-memory test)
  --quick               -d 3 -w 1 -i 2000, for a smoke test
  -h, --help            this text

Servers run with --loops 1. Peak RSS is the server's VmHWM; CPU is utime+stime from
/proc/PID/stat across the measured window; idle memory is the VmRSS delta per connection.
EOF
}

die() { echo "run.sh: $*" >&2; exit 2; }
# shellcheck source=../../scripts/lib/bench-common.sh
source "$(dirname "$0")/../../scripts/lib/bench-common.sh"

COMMAND_LINE="$0 $*"
[[ $# -ge 1 ]] || { usage >&2; exit 2; }
case $1 in -h|--help) usage; exit 0 ;; esac
BUILD_DIR=$1
shift

DURATION=${KHZ_BENCH_DURATION:-10}
WARMUP=${KHZ_BENCH_WARMUP:-5}
SIZES=${KHZ_BENCH_SIZES:-1024,16384}
CONNECTIONS=${KHZ_BENCH_CONNECTIONS:-100}
IDLE=${KHZ_BENCH_IDLE:-10000}
SERVERS=${KHZ_BENCH_SERVERS:-baseline,khz-epoll,khz-io_uring}
ROUNDS=${KHZ_BENCH_ROUNDS:-1}
SERVER_CPU=0
LOAD_CPU=1
LOAD_THREADS=1
RUN_LOAD=1

while [[ $# -gt 0 ]]; do
  case $1 in
    -d|--duration) need_value "$@"; DURATION=$2; shift 2 ;;
    -w|--warmup) need_value "$@"; WARMUP=$2; shift 2 ;;
    -b|--sizes) need_value "$@"; SIZES=$2; shift 2 ;;
    -c|--connections) need_value "$@"; CONNECTIONS=$2; shift 2 ;;
    -i|--idle) need_value "$@"; IDLE=$2; shift 2 ;;
    -s|--servers) need_value "$@"; SERVERS=$2; shift 2 ;;
    -r|--rounds) need_value "$@"; ROUNDS=$2; shift 2 ;;
    --server-cpu) need_value "$@"; SERVER_CPU=$2; shift 2 ;;
    --load-cpu) need_value "$@"; LOAD_CPU=$2; shift 2 ;;
    --load-threads) need_value "$@"; LOAD_THREADS=$2; shift 2 ;;
    --idle-only) RUN_LOAD=0; shift ;;
    --quick) DURATION=3; WARMUP=1; IDLE=2000; shift ;;
    -h|--help) usage; exit 0 ;;
    *) usage >&2; die "unknown option: $1" ;;
  esac
done


is_number "$DURATION" || die "--duration takes seconds > 0, got '$DURATION'"
awk -v d="$DURATION" 'BEGIN { exit !(d > 0) }' || die "--duration takes seconds > 0, got '$DURATION'"
is_number "$WARMUP" || die "--warmup takes seconds >= 0, got '$WARMUP'"
{ is_count "$CONNECTIONS" && ((CONNECTIONS >= 1)); } || die "--connections takes a count >= 1"
is_count "$IDLE" || die "--idle takes a count >= 0"
{ is_count "$ROUNDS" && ((ROUNDS >= 1)); } || die "--rounds takes a count >= 1"
{ is_count "$LOAD_THREADS" && ((LOAD_THREADS >= 1)); } || die "--load-threads takes a count >= 1"
read -r -a SIZE_LIST <<<"${SIZES//,/ }"
((${#SIZE_LIST[@]} > 0)) || die "--sizes is empty"
for b in "${SIZE_LIST[@]}"; do
  { is_count "$b" && ((b >= 1)); } || die "--sizes takes byte counts >= 1, got '$b'"
done
read -r -a SERVER_LIST <<<"${SERVERS//,/ }"
((${#SERVER_LIST[@]} > 0)) || die "--servers is empty"
for s in "${SERVER_LIST[@]}"; do
  case $s in baseline|khz-epoll|khz-io_uring) ;; *) die "unknown server '$s' (baseline, khz-epoll, khz-io_uring)" ;; esac
done

[[ -d $BUILD_DIR ]] || die "no build directory '$BUILD_DIR' (configure and build it first)"
BUILD_DIR=$(cd "$BUILD_DIR" && pwd)
BIN_DIR=$BUILD_DIR/bench/echo
BASELINE=$BIN_DIR/khz-tcp-echo-baseline
LOAD=$BIN_DIR/khz-tcp-echo-load
KHZ_SERVER=$BIN_DIR/khz-tcp-echo-server
[[ -x $BASELINE && -x $LOAD ]] ||
  die "$BIN_DIR has no khz-tcp-echo-baseline/khz-tcp-echo-load: build them (cmake --build $BUILD_DIR)"
command -v taskset >/dev/null || die "taskset (util-linux) is needed to pin the processes"

NCPU=$(nproc)
check_cpus "$SERVER_CPU" "$LOAD_CPU" run.sh

CLK_TCK=$(getconf CLK_TCK)
RESULTS_DIR=$BUILD_DIR/bench-results
CSV=$RESULTS_DIR/tcp_echo.csv
mkdir -p "$RESULTS_DIR" || die "cannot create $RESULTS_DIR"

# Descriptors: 10,000 idle connections need as many in the server and in the load
# generator. Children inherit this limit (the load generator raises its own as well).
want_fds=$((IDLE + 4096))
if (($(ulimit -Sn) < want_fds)); then
  ulimit -Hn "$want_fds" 2>/dev/null || true
  ulimit -Sn "$want_fds" 2>/dev/null || ulimit -Sn "$(ulimit -Hn)" 2>/dev/null || true
fi
if ((IDLE > 0 && $(ulimit -Sn) < IDLE + 64)); then
  die "the descriptor limit ($(ulimit -Sn)) is too low for --idle $IDLE; raise it (ulimit -n) or lower --idle"
fi

# ------------------------------------------------------------------ process bookkeeping
bench_init_tmp khz-echo-bench

SERVER_PID=""
SERVER_KIND=""
SERVER_PORT=""
SERVER_STATUS=""
# start_server NAME -> SERVER_PID/KIND/PORT; returns 1 (with a message) if it cannot start.
start_server() {
  local name=$1 bin transport
  case $name in
    baseline) bin=$BASELINE transport=epoll ;;
    khz-epoll) bin=$KHZ_SERVER transport=epoll ;;
    khz-io_uring) bin=$KHZ_SERVER transport=io_uring ;;
  esac
  : >"$TMP/server.out"
  : >"$TMP/server.err"
  # --port 0: the server binds a free port and prints it in its ready line.
  taskset -c "$SERVER_CPU" "$bin" --port 0 --host 127.0.0.1 --loops 1 --transport "$transport" \
    >"$TMP/server.out" 2>"$TMP/server.err" </dev/null &
  SERVER_PID=$!
  bench_track "$SERVER_PID"
  local line="" i
  for ((i = 0; i < 100; i++)); do  # 10 s
    line=$(grep -m1 '^ready ' "$TMP/server.out" 2>/dev/null) && break
    if ! kill -0 "$SERVER_PID" 2>/dev/null; then
      reap "$SERVER_PID"
      echo "  $name: the server exited (status $?) before it was ready: $(head -3 "$TMP/server.err" | tr '\n' ' ')" >&2
      return 1
    fi
    sleep 0.1
  done
  if [[ -z $line ]]; then
    echo "  $name: the server printed no 'ready' line within 10 s" >&2
    stop_server
    return 1
  fi
  read -r _ SERVER_KIND SERVER_PORT <<<"$line"
  if ! is_count "$SERVER_PORT" || ((SERVER_PORT == 0)); then
    echo "  $name: bad ready line '$line'" >&2
    stop_server
    return 1
  fi
  return 0
}

# stop_server: SIGTERM, then SIGKILL after 5 s; SERVER_STATUS gets the exit status.
stop_server() {
  local i
  kill -TERM "$SERVER_PID" 2>/dev/null
  for ((i = 0; i < 50; i++)); do kill -0 "$SERVER_PID" 2>/dev/null || break; sleep 0.1; done
  if kill -0 "$SERVER_PID" 2>/dev/null; then
    echo "  the server ignored SIGTERM for 5 s; killing it" >&2
    kill -KILL "$SERVER_PID" 2>/dev/null
  fi
  reap "$SERVER_PID"
  SERVER_STATUS=$?
  ((SERVER_STATUS == 0)) || echo "  note: the server exited with status $SERVER_STATUS (expected 0)" >&2
  [[ -s $TMP/server.err ]] && sed 's/^/  server stderr: /' "$TMP/server.err" | head -5 >&2
  return 0
}

# finish_load PID: give the load generator 10 s to exit on its own, then kill it.
finish_load() {
  local i
  for ((i = 0; i < 100; i++)); do kill -0 "$1" 2>/dev/null || break; sleep 0.1; done
  kill -KILL "$1" 2>/dev/null
  reap "$1"
}


# ------------------------------------------------------------------ machine info
repo=$(cd "$(dirname "$0")/../.." && pwd)
cache=$BUILD_DIR/CMakeCache.txt
cxx=$(sed -n 's/^CMAKE_CXX_COMPILER:[A-Z]*=//p' "$cache" 2>/dev/null)
build_type=$(sed -n 's/^CMAKE_BUILD_TYPE:[A-Z]*=//p' "$cache" 2>/dev/null)
sanitize=$(sed -n 's/^KHZ_SANITIZE:[A-Z]*=//p' "$cache" 2>/dev/null)
liburing=$(sed -n 's/^LIBURING_VERSION:[A-Z]*=//p' "$cache" 2>/dev/null)
cpu_model=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)
commit=$(git -C "$repo" rev-parse --short HEAD 2>/dev/null || echo unknown)
git -C "$repo" diff --quiet HEAD 2>/dev/null || commit="$commit (with uncommitted changes)"

echo "== khz TCP echo benchmark  $(date -u '+%Y-%m-%d %H:%M:%S UTC')"
echo "machine:   nproc=$NCPU, ${cpu_model:-unknown CPU}, $(awk '/MemTotal/ { printf "%.1f GiB RAM", $2 / 1048576 }' /proc/meminfo), load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "kernel:    $(uname -srm)"
echo "compiler:  ${cxx:-?} ($("${cxx:-c++}" --version 2>/dev/null | head -1)), CMAKE_BUILD_TYPE=${build_type:-?}${sanitize:+, sanitizers: $sanitize}${liburing:+, liburing $liburing}"
echo "khz:       commit $commit, build dir $BUILD_DIR"
echo "run:       servers on CPU $SERVER_CPU (--loops 1), load generator on CPU $LOAD_CPU ($LOAD_THREADS thread(s)), $CONNECTIONS connections,"
echo "           sizes ${SIZE_LIST[*]} B, $WARMUP s warm-up + $DURATION s measured per row, $ROUNDS round(s), idle test $IDLE connections"
echo "command:   $COMMAND_LINE"
[[ $build_type == Release ]] || echo "warning: not a Release build; figures are not representative" >&2
[[ -z $sanitize ]] || echo "warning: sanitizers are on; figures are not representative" >&2
echo

HAVE_KHZ=1
if [[ ! -x $KHZ_SERVER ]]; then
  HAVE_KHZ=0
  echo "note: $KHZ_SERVER is not built (bench/echo/khz_tcp_echo_server.cpp missing?): skipping the khz rows"
fi

ROWS=$TMP/rows.csv
CSV_HEADER="test,server,transport,round,bytes,connections,seconds,messages,msgs_per_sec,mean_us,p50_us,p99_us,p999_us,max_us,server_cpu_s,server_cpu_pct,load_cpu_pct,other_cpu_pct,cpu_us_per_msg,peak_rss_kib,errors,idle_connections,rss_before_kib,rss_after_kib,idle_bytes_per_conn,idle_kib_per_conn,server_exit"
: >"$ROWS"
SKIP_IO_URING=0

# Labels: "baseline" or "khz"; a repeated entry in --servers gets "#2", "#3"...
declare -A SEEN=()
LABELS=()
for s in "${SERVER_LIST[@]}"; do
  base=baseline
  [[ $s == baseline ]] || base=khz
  SEEN[$s]=$((${SEEN[$s]:-0} + 1))
  if ((SEEN[$s] > 1)); then LABELS+=("$base#${SEEN[$s]}"); else LABELS+=("$base"); fi
done

runnable() {
  case $1 in khz-*) ((HAVE_KHZ)) || return 1 ;; esac
  [[ $1 == khz-io_uring ]] && ((SKIP_IO_URING)) && return 1
  return 0
}

# Checks the transport the server reports; for io_uring, a fallback to epoll skips io_uring.
transport_ok() {
  if [[ $1 == khz-io_uring && $SERVER_KIND != io_uring ]]; then
    echo "  khz-io_uring: the server fell back to '$SERVER_KIND' (io_uring unavailable here): skipping the io_uring rows"
    SKIP_IO_URING=1
    return 1
  fi
  return 0
}

# ------------------------------------------------------------------ closed-loop rows
run_load_row() {
  local name=$1 label=$2 round=$3 bytes=$4
  start_server "$name" || return 0
  transport_ok "$name" || { stop_server; return 0; }
  local fifo=$TMP/load.fifo
  rm -f "$fifo"
  mkfifo "$fifo"
  taskset -c "$LOAD_CPU" "$LOAD" -c "$CONNECTIONS" -b "$bytes" -d "$DURATION" --warmup "$WARMUP" \
    --threads "$LOAD_THREADS" --host 127.0.0.1 --port "$SERVER_PORT" >"$fifo" 2>"$TMP/load.err" </dev/null &
  local load_pid=$!
  bench_track "$load_pid"
  local fd line="" result="" cpu0="" cpu1="" s0="" s1="" l0="" l1="" first_wait second_wait
  first_wait=$(awk -v w="$WARMUP" 'BEGIN { print int(w + 60) }')
  second_wait=$(awk -v d="$DURATION" 'BEGIN { print int(d + 60) }')
  exec {fd}<"$fifo"
  if IFS= read -r -t "$first_wait" -u "$fd" line && [[ $line == window=start ]]; then
    cpu0=$(cpu_ticks "$SERVER_PID")
    s0=$(cpu_usage "$SERVER_CPU")
    l0=$(cpu_usage "$LOAD_CPU")
    if IFS= read -r -t "$second_wait" -u "$fd" result && [[ $result == messages=* ]]; then
      # The window has closed and the load stopped: the server is idle from here on.
      cpu1=$(cpu_ticks "$SERVER_PID")
      s1=$(cpu_usage "$SERVER_CPU")
      l1=$(cpu_usage "$LOAD_CPU")
    fi
  fi
  exec {fd}<&-
  finish_load "$load_pid"
  local load_status=$?
  local hwm
  hwm=$(status_kib "$SERVER_PID" VmHWM)
  stop_server
  if [[ -z $cpu1 ]]; then
    echo "  $label/$SERVER_KIND B=$bytes: no result from the load generator: $(head -3 "$TMP/load.err" | tr '\n' ' ')" >&2
    return 0
  fi
  ((load_status == 0)) ||
    echo "  $label/$SERVER_KIND B=$bytes: the load generator reported errors: $(head -3 "$TMP/load.err" | tr '\n' ' ')" >&2
  awk -v OFS=, -v label="$label" -v kind="$SERVER_KIND" -v round="$round" -v bytes="$bytes" \
    -v conns="$CONNECTIONS" -v r="$result" -v ticks=$((cpu1 - cpu0)) -v hz="$CLK_TCK" -v hwm="$hwm" \
    -v s0="$s0" -v s1="$s1" -v l0="$l0" -v l1="$l1" -v status="$SERVER_STATUS" '
    function pct(busy0, total0, busy1, total1) { return total1 > total0 ? 100 * (busy1 - busy0) / (total1 - total0) : 0 }
    BEGIN {
      n = split(r, kvs, " ")
      for (i = 1; i <= n; i++) { eq = index(kvs[i], "="); v[substr(kvs[i], 1, eq - 1)] = substr(kvs[i], eq + 1) }
      split(s0, a, " "); split(s1, b, " "); split(l0, c, " "); split(l1, d, " ")
      secs = v["seconds"]; msgs = v["messages"]; cpu = ticks / hz
      server_pct = secs > 0 ? 100 * cpu / secs : 0
      load_pct = secs > 0 ? 100 * v["load_cpu_s"] / secs : 0
      # Time the pinned CPUs spent on anything but our two processes (other jobs, steal).
      other = pct(a[1], a[2], b[1], b[2]) - server_pct
      other2 = pct(c[1], c[2], d[1], d[2]) - load_pct
      if (other2 > other) other = other2
      if (other < 0) other = 0
      print "load", label, kind, round, bytes, conns, secs, msgs, v["msgs_per_sec"], v["mean_us"], v["p50_us"],
            v["p99_us"], v["p999_us"], v["max_us"], sprintf("%.2f", cpu), sprintf("%.1f", server_pct),
            sprintf("%.1f", load_pct), sprintf("%.0f", other), sprintf("%.3f", msgs > 0 ? cpu * 1e6 / msgs : 0),
            hwm, v["errors"], "", "", "", "", "", status
    }' >>"$ROWS"
  tail -1 "$ROWS" | awk -F, '{ printf "  %-10s %-8s B=%-6s %10.0f msg/s  p50 %8.1f us  p99 %8.1f us  server CPU %5.1f%%  load CPU %5.1f%%  other %3s%%\n",
                                 $2, $3, $5, $9, $11, $12, $16, $17, $18 }'
  return 0
}

# ------------------------------------------------------------------ idle-memory rows
run_idle_row() {
  local name=$1 label=$2
  start_server "$name" || return 0
  transport_ok "$name" || { stop_server; return 0; }
  local fifo=$TMP/idle.fifo
  rm -f "$fifo"
  mkfifo "$fifo"
  taskset -c "$LOAD_CPU" "$LOAD" --idle "$IDLE" --hold 120 --pause 60 --host 127.0.0.1 --port "$SERVER_PORT" \
    >"$fifo" 2>"$TMP/load.err" </dev/null &
  local load_pid=$!
  bench_track "$load_pid"
  local fd line="" rss0="" rss1="" connected="" closed=""
  exec {fd}<"$fifo"
  if IFS= read -r -t 60 -u "$fd" line && [[ $line == warmup=done ]]; then
    sleep 0.2  # let the server finish the warm-up connection's work
    rss0=$(status_kib "$SERVER_PID" VmRSS)
    kill -USR1 "$load_pid"
    if IFS= read -r -t 120 -u "$fd" line && [[ $line == connected=* ]]; then
      connected=$(kv connected "$line")
      sleep 0.5  # every connection was echoed once already; this only lets the loop settle
      rss1=$(status_kib "$SERVER_PID" VmRSS)
      kill -USR1 "$load_pid"
      IFS= read -r -t 10 -u "$fd" line && closed=$(kv closed_by_server "$line")
    fi
  fi
  exec {fd}<&-
  finish_load "$load_pid"
  stop_server
  if [[ -z $rss1 || -z $connected ]] || ((connected == 0)); then
    echo "  $label/$SERVER_KIND idle: the test did not complete: $(head -3 "$TMP/load.err" | tr '\n' ' ')" >&2
    return 0
  fi
  ((connected == IDLE)) || echo "  $label/$SERVER_KIND idle: only $connected of $IDLE connections were serviced" >&2
  [[ -z $closed || $closed == 0 ]] ||
    echo "  $label/$SERVER_KIND idle: the server closed $closed idle connections during the hold" >&2
  awk -v OFS=, -v label="$label" -v kind="$SERVER_KIND" -v n="$connected" -v r0="$rss0" -v r1="$rss1" \
    -v status="$SERVER_STATUS" 'BEGIN {
      per = (r1 - r0) * 1024 / n
      print "idle", label, kind, "", "", "", "", "", "", "", "", "", "", "", "", "", "", "", "", "", "",
            n, r0, r1, sprintf("%.0f", per), sprintf("%.3f", per / 1024), status
    }' >>"$ROWS"
  tail -1 "$ROWS" | awk -F, '{ printf "  %-10s %-8s idle %s: VmRSS %s -> %s KiB, %s B per connection\n", $2, $3, $22, $23, $24, $25 }'
  return 0
}

# Rows are interleaved (for each round and size, every server in turn) so that a change in
# the machine's background load during the run affects all servers alike.
((RUN_LOAD)) && echo "-- closed loop (each row: a fresh server, $WARMUP s warm-up, $DURATION s measured)"
((RUN_LOAD)) || ROUNDS=0
for ((round = 1; round <= ROUNDS; round++)); do
  for bytes in "${SIZE_LIST[@]}"; do
    for i in "${!SERVER_LIST[@]}"; do
      runnable "${SERVER_LIST[$i]}" || continue
      run_load_row "${SERVER_LIST[$i]}" "${LABELS[$i]}" "$round" "$bytes"
    done
  done
done
if ((IDLE > 0)); then
  echo "-- idle connections (a fresh server; VmRSS after one warm-up connection, then after $IDLE more)"
  for i in "${!SERVER_LIST[@]}"; do
    runnable "${SERVER_LIST[$i]}" || continue
    run_idle_row "${SERVER_LIST[$i]}" "${LABELS[$i]}"
  done
fi

# ------------------------------------------------------------------ report
{ echo "$CSV_HEADER"; cat "$ROWS"; } >"$CSV"

if ((RUN_LOAD)); then
  echo
  echo "== closed loop: C=$CONNECTIONS, $DURATION s measured after $WARMUP s warm-up; server pinned to CPU $SERVER_CPU, load to CPU $LOAD_CPU"
  awk -F, '
    BEGIN {
      printf "%-10s %-9s %2s %6s %5s %10s %9s %9s %9s %7s %6s %6s %6s %8s %9s %6s\n", "server", "transport", "r", "B", "C",
             "msgs/s", "p50 us", "p99 us", "p999 us", "CPU s", "CPU%", "load%", "other%", "us/msg", "peakRSS", "errors"
    }
    $1 == "load" {
      printf "%-10s %-9s %2s %6s %5s %10.0f %9.1f %9.1f %9.1f %7.2f %6.1f %6.1f %6s %8.3f %6.1fMiB %6s\n",
             $2, $3, $4, $5, $6, $9, $11, $12, $13, $15, $16, $17, $18, $19, $20 / 1024, $21
      if ($18 + 0 > worst) worst = $18 + 0
    }
    END {
      print "(r: round; CPU s: server user+system time in the window; CPU%: of one core; load%: the load"
      print " generator'"'"'s; other%: the most any other work took of either pinned CPU; us/msg: server CPU"
      print " microseconds per echoed message; peakRSS: server VmHWM)"
      if (worst > 10) printf "warning: other work took up to %d%% of a pinned CPU during a row: these figures are noisy\n", worst
    }' "$ROWS"
fi

if ((IDLE > 0)); then
  echo
  echo "== idle keep-alive connections: VmRSS delta / connections (goal <= 0.5 KiB; nginx 0.52, uWebSockets 0.25, Hertz 19.6)"
  awk -F, '
    BEGIN { printf "%-10s %-9s %11s %12s %12s %8s %9s\n", "server", "transport", "connections", "RSS before", "RSS after", "B/conn", "KiB/conn" }
    $1 == "idle" { printf "%-10s %-9s %11s %8s KiB %8s KiB %8s %9s\n", $2, $3, $22, $23, $24, $25, $26 }' "$ROWS"
fi

echo
if ((ROUNDS > 1)); then
  echo "== ratio to the baseline (medians of $ROUNDS rounds; same B; msgs/s: higher is better; CPU/msg: lower is better)"
else
  echo "== ratio to the baseline (same B; msgs/s: higher is better; CPU/msg: lower is better)"
fi
awk -F, '
  function median(list,    n, v, i, j, t) {
    n = split(list, v, " ")
    for (i = 2; i <= n; i++) { t = v[i] + 0; for (j = i - 1; j >= 1 && v[j] + 0 > t; j--) v[j + 1] = v[j]; v[j + 1] = t }
    return n % 2 ? v[(n + 1) / 2] : (v[n / 2] + v[n / 2 + 1]) / 2
  }
  $1 == "load" {
    key = $2 SUBSEP $3 SUBSEP $5
    if (!(key in rate)) order[++n] = key
    rate[key] = rate[key] " " $9
    cpu[key] = cpu[key] " " $19
  }
  $1 == "idle" { idle[++m] = $0; if ($2 == "baseline") base_idle = $25 }
  END {
    printf "%-10s %-9s %6s %13s %14s  %s\n", "server", "transport", "B", "msgs/s ratio", "CPU/msg ratio", "goal"
    for (i = 1; i <= n; i++) {
      split(order[i], k, SUBSEP)
      base = "baseline" SUBSEP "epoll" SUBSEP k[3]
      if (!(base in rate)) continue
      r = median(rate[order[i]]) / median(rate[base])
      c = median(cpu[base]) > 0 ? sprintf("%14.3f", median(cpu[order[i]]) / median(cpu[base])) : sprintf("%14s", "-")
      goal = ""
      if (k[1] == "khz" && k[2] == "epoll") goal = sprintf("khz epoll >= 0.95 x baseline: %s", r >= 0.95 ? "met" : "NOT met")
      ep = "khz" SUBSEP "epoll" SUBSEP k[3]
      if (k[1] == "khz" && k[2] == "io_uring" && (ep in rate)) {
        q = median(rate[order[i]]) / median(rate[ep])
        goal = sprintf("io_uring >= epoll: %.3f x khz epoll, %s", q, q >= 1 ? "met" : "NOT met")
      }
      printf "%-10s %-9s %6s %13.3f %s  %s\n", k[1], k[2], k[3], r, c, goal
    }
    for (i = 1; i <= m; i++) {
      split(idle[i], f, ",")
      printf "%-10s %-9s %6s %13s %14s  %s B per idle connection%s; goal <= 512 B: %s\n", f[2], f[3], "idle", "", "",
             f[25], base_idle != "" ? " (baseline " base_idle ")" : "", f[25] + 0 <= 512 ? "met" : "NOT met"
    }
  }' "$ROWS"
echo
echo "CSV: $CSV"
