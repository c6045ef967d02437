#!/usr/bin/env bash
# khz-load against wrk, side by side (docs/client.md, "khz-load vs wrk"): one khz-echo-server
# (--loops 1) pinned to one CPU, and on the other CPU the two load generators in turn, one
# thread and C connections each, for GET / and for the 1 KiB echo (POST /echo, a 1 KiB
# header, a 1 KiB body), R interleaved rounds. Prints requests/s and the load generator's
# CPU time per request for every row, then the medians and the khz-load / wrk ratios.
#
#   scripts/load-vs-wrk.sh BUILD_DIR [-r ROUNDS] [-d SECONDS] [-c CONNECTIONS]
#                          [--transport epoll|io_uring|auto] [--server-cpu N] [--load-cpu N]
#
# Needs wrk (scripts/install-deps.sh --bench). Everything it starts is bound to 127.0.0.1,
# bounded in time and stopped on exit.
set -uo pipefail

die() { echo "load-vs-wrk: $*" >&2; exit 2; }
# shellcheck source=lib/bench-common.sh
source "$(dirname "$0")/lib/bench-common.sh"

[[ $# -ge 1 ]] || die "usage: scripts/load-vs-wrk.sh BUILD_DIR [-r R] [-d S] [-c C] [--transport T]"
BUILD_DIR=$1
shift
ROUNDS=5 DURATION=5 CONNECTIONS=100 TRANSPORT=auto SERVER_CPU=0 LOAD_CPU=1
while [[ $# -gt 0 ]]; do
  case $1 in
    -r) need_value "$@"; ROUNDS=$2; shift 2 ;;
    -d) need_value "$@"; DURATION=$2; shift 2 ;;
    -c) need_value "$@"; CONNECTIONS=$2; shift 2 ;;
    --transport) need_value "$@"; TRANSPORT=$2; shift 2 ;;
    --server-cpu) need_value "$@"; SERVER_CPU=$2; shift 2 ;;
    --load-cpu) need_value "$@"; LOAD_CPU=$2; shift 2 ;;
    *) die "unknown option $1" ;;
  esac
done
is_count "$ROUNDS" && is_count "$DURATION" && is_count "$CONNECTIONS" || die "-r, -d and -c take counts"
check_cpus "$SERVER_CPU" "$LOAD_CPU" load-vs-wrk
SERVER=$BUILD_DIR/bench/http_echo/khz-echo-server
LOAD=$BUILD_DIR/bench/load/khz-load
[[ -x $SERVER && -x $LOAD ]] || die "build $BUILD_DIR first (needs khz-echo-server and khz-load)"
command -v wrk >/dev/null || die "wrk is not installed (scripts/install-deps.sh --bench)"

bench_init_tmp khz-load-vs-wrk
write_echo_lua "$TMP/echo.lua"

PORT=$((20000 + RANDOM % 20000))
taskset -c "$SERVER_CPU" "$SERVER" --port "$PORT" --loops 1 >"$TMP/server.log" 2>&1 &
bench_track $!
wait_for_port "$PORT" || true  # a server that did not start shows in the first row
URL=http://127.0.0.1:$PORT

# run NAME CMD...: runs the load generator on LOAD_CPU with a hard time bound; prints
# "req/s cpu_us_per_req" (CPU: utime+stime of the generator, from its parent's cutime/cstime).
run() {
  local out ticks rps
  out=$(timeout -s KILL $((DURATION + 20)) bash -c '"$@" >"'"$TMP"'/run.out" 2>&1; read -ra s </proc/$$/stat; echo $((s[15] + s[16]))' _ \
    taskset -c "$LOAD_CPU" "$@")
  ticks=$out
  rps=$(awk '/Requests\/sec/ { print $2 }' "$TMP/run.out")
  [[ -n $rps ]] || { echo "load-vs-wrk: no Requests/sec from: $*" >&2; cat "$TMP/run.out" >&2; echo "0 0"; return; }
  awk -v r="$rps" -v t="$ticks" -v hz="$(getconf CLK_TCK)" -v d="$DURATION" \
    'BEGIN { printf "%.0f %.2f\n", r, t / hz * 1e6 / (r * d) }'
}

RESULTS=$TMP/results
echo "== khz-load vs wrk: server on CPU $SERVER_CPU (khz-echo-server --loops 1), load on CPU $LOAD_CPU, C=$CONNECTIONS, ${DURATION} s per row, one thread each, khz-load --transport $TRANSPORT"
printf '%-6s %-6s %-9s %10s %12s\n' round row driver req/s "CPU us/req"
for r in $(seq "$ROUNDS"); do
  for row in get echo; do
    for drv in khz-load wrk; do
      if [[ $row == get ]]; then
        if [[ $drv == wrk ]]; then line=$(run wrk -t1 -c"$CONNECTIONS" -d"${DURATION}s" "$URL/")
        else line=$(run "$LOAD" -c "$CONNECTIONS" -d "$DURATION" --transport "$TRANSPORT" "$URL/"); fi
      else
        if [[ $drv == wrk ]]; then line=$(run wrk -t1 -c"$CONNECTIONS" -d"${DURATION}s" -s "$TMP/echo.lua" "$URL/echo")
        else line=$(run "$LOAD" -c "$CONNECTIONS" -d "$DURATION" --transport "$TRANSPORT" --method POST \
          --body-size 1024 --header-size 1024 "$URL/echo"); fi
      fi
      read -r rps cpu <<<"$line"
      printf '%-6s %-6s %-9s %10s %12s\n' "$r" "$row" "$drv" "$rps" "$cpu"
      echo "$row $drv $rps $cpu" >>"$RESULTS"
    done
  done
done

echo "== medians of $ROUNDS rounds (ratio: khz-load / wrk; req/s higher is better, CPU/req lower is better)"
for row in get echo; do
  awk -v row="$row" '
    function median(a, n,   i, j, t) {
      for (i = 2; i <= n; i++) { t = a[i]; for (j = i - 1; j >= 1 && a[j] > t; j--) a[j + 1] = a[j]; a[j + 1] = t }
      return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
    }
    $1 == row && $2 == "khz-load" { kr[++nk] = $3; kc[nk] = $4 }
    $1 == row && $2 == "wrk" { wr[++nw] = $3; wc[nw] = $4 }
    END {
      mkr = median(kr, nk); mkc = median(kc, nk); mwr = median(wr, nw); mwc = median(wc, nw)
      printf "%-5s khz-load %8.0f req/s %6.2f us/req | wrk %8.0f req/s %6.2f us/req | req/s ratio %.3f, CPU/req ratio %.3f\n",
        row, mkr, mkc, mwr, mwc, (mwr > 0 ? mkr / mwr : 0), (mwc > 0 ? mkc / mwc : 0)
    }' "$RESULTS"
done
