#!/usr/bin/env bash
# User-space instructions per request of the echo benchmark's servers, counted by
# callgrind: a figure that does not move with the host's load, for comparing changes to
# the request path (the CPU time the benchmark reports does, by several per cent). Runs
# khz-echo-server (--transport epoll: valgrind does not follow io_uring) and the limit
# responder under callgrind, each under wrk for GET / and for the 1 KiB echo, and prints
# the instructions of the whole run divided by the requests wrk counted (the start-up's
# couple of million instructions are included; against 10^8-10^9 per run they are noise).
# It also prints the server's hot code footprint: the distinct 64-byte lines of code
# holding an instruction that ran at least once per two requests. Between two requests
# the kernel's network path evicts most of the instruction cache, so each request fetches
# about that many lines again (see bench/http_echo/README.md, "Measured").
#
#   scripts/instructions-per-request.sh BUILD_DIR [-d SECONDS] [-c CONNECTIONS] [-s khz,limit]
#                                       [--out DIR]
#
# --out DIR keeps the profiles there (callgrind_annotate DIR/echo.khz-echo-server.callgrind);
# a build with symbols (RelWithDebInfo) makes them readable; the counts barely differ. Needs valgrind and
# wrk (Debian packages). Everything it starts is bound to 127.0.0.1, bounded in time and
# stopped on exit.
set -uo pipefail

die() { echo "instructions-per-request: $*" >&2; exit 2; }
# shellcheck source=lib/bench-common.sh
source "$(dirname "$0")/lib/bench-common.sh"

[[ $# -ge 1 ]] || die "usage: scripts/instructions-per-request.sh BUILD_DIR [-d S] [-c C] [-s khz,limit]"
BUILD_DIR=$1
shift
DURATION=6 CONNECTIONS=100 SERVERS=khz,limit OUT=
while [[ $# -gt 0 ]]; do
  case $1 in
    -d) need_value "$@"; DURATION=$2; shift 2 ;;
    -c) need_value "$@"; CONNECTIONS=$2; shift 2 ;;
    -s) need_value "$@"; SERVERS=$2; shift 2 ;;
    --out) need_value "$@"; OUT=$2; shift 2 ;;
    *) die "unknown option $1" ;;
  esac
done
is_count "$DURATION" && is_count "$CONNECTIONS" || die "-d and -c take counts"
for tool in valgrind callgrind_annotate wrk; do
  command -v "$tool" >/dev/null || die "$tool is not installed (apt-get install valgrind wrk)"
done

bench_init_tmp khz-instructions
write_echo_lua "$TMP/echo.lua"

# hot_code_lines PROFILE REQUESTS: the 64-byte code lines of a --dump-instr=yes profile
# whose busiest instruction ran at least REQUESTS / 2 times. Cost lines are "address line
# Ir", addresses absolute (0x...) or relative to the previous one (+N, -N, *); the cost
# line after a calls= line is the call's inclusive cost, not the call site's own.
hot_code_lines() {
  awk -v n="$2" '
    function hex(s,    i, v) {
      v = 0; s = tolower(s)
      for (i = 3; i <= length(s); i++) v = v * 16 + index("0123456789abcdef", substr(s, i, 1)) - 1
      return v
    }
    function num(s) { return s ~ /^0x/ ? hex(s) : s + 0 }
    /^calls=/ { skip = 1; next }
    /^[0-9+*-]/ {
      p = $1
      if (p ~ /^0x/) a = hex(p)
      else if (p ~ /^[+]/) a += num(substr(p, 2))
      else if (p ~ /^-/) a -= num(substr(p, 2))
      else if (p != "*") a = num(p)
      if (skip) { skip = 0; next }
      cost[a] += $3
    }
    END {
      for (x in cost) { l = int(x / 64); if (cost[x] > best[l]) best[l] = cost[x] }
      for (l in best) if (best[l] >= n / 2) hot++
      print hot + 0
    }' "$1"
}

# count ROW BINARY ARGS...: one row; writes "requests instructions per-request" to
# $TMP/line. Not run in a subshell, so that the exit trap knows the server it started.
count() {
  local row=$1 bin=$2 out=$TMP/$1.$(basename "$2").callgrind port pid
  shift 2
  port=$((20000 + RANDOM % 20000))
  valgrind --tool=callgrind --dump-instr=yes --callgrind-out-file="$out" "$bin" --port "$port" --loops 1 "$@" \
    >"$out.log" 2>&1 &
  pid=$!
  bench_track "$pid"
  wait_for_port "$port" 100 || { echo "instructions-per-request: $bin did not start" >&2; cat "$out.log" >&2; kill -KILL "$pid"; reap "$pid"; return 1; }
  local wrk_out
  if [[ $row == get ]]; then
    wrk_out=$(timeout -s KILL $((DURATION + 30)) wrk -t1 -c"$CONNECTIONS" -d"${DURATION}s" "http://127.0.0.1:$port/")
  else
    wrk_out=$(timeout -s KILL $((DURATION + 30)) wrk -t1 -c"$CONNECTIONS" -d"${DURATION}s" -s "$TMP/echo.lua" \
      "http://127.0.0.1:$port/echo")
  fi
  kill -TERM "$pid" 2>/dev/null
  # callgrind writes its profile when the program exits: wait for it, bounded.
  for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -KILL "$pid" 2>/dev/null
  reap "$pid"
  local n ir
  n=$(awk '/requests in/ { print $1 }' <<<"$wrk_out")
  ir=$(callgrind_annotate "$out" 2>/dev/null | awk '/PROGRAM TOTALS/ { gsub(",", "", $1); print $1 }')
  [[ -n $n && -n $ir && $n -gt 0 ]] || { echo "instructions-per-request: no count for $row $bin" >&2; return 1; }
  echo "$n $ir $((ir / n)) $(hot_code_lines "$out" "$n")" >"$TMP/line"
  [[ -z $OUT ]] || cp "$out" "$OUT/"
}

echo "== callgrind, C=$CONNECTIONS, ${DURATION} s of wrk per row, build $BUILD_DIR"
printf '%-6s %-8s %10s %16s %12s %11s\n' row server requests instructions "per request" "code lines"
IFS=, read -ra server_list <<<"$SERVERS"
[[ -z $OUT ]] || mkdir -p "$OUT" || die "cannot create $OUT"
for row in get echo; do
  for s in "${server_list[@]}"; do
    rm -f "$TMP/line"
    case $s in
      khz) count "$row" "$BUILD_DIR/bench/http_echo/khz-echo-server" --transport epoll || continue ;;
      limit) count "$row" "$BUILD_DIR/bench/http_echo/khz-http-limit" || continue ;;
      *) die "unknown server $s (khz, limit)" ;;
    esac
    read -r n ir per lines <"$TMP/line"
    printf '%-6s %-8s %10s %16s %12s %11s\n' "$row" "$s" "$n" "$ir" "$per" "$lines"
  done
done
