#!/usr/bin/env bash
# HTTP echo benchmark driver (see bench/http_echo/README.md). In one run, on loopback, it
# measures the khz echo server (epoll and io_uring), the hand-written "limit" responder,
# nginx (return 200, and echo through njs when the module is installed) and a Node.js echo
# server, each under wrk, for:
#   get       GET /                                    (C connections, keep-alive)
#   echo      POST /echo, 1 KiB test-header, B-byte body, echoed back (B from --sizes)
#   pipeline  GET / with 16 requests in flight per connection (TechEmpower plaintext style)
# The server is pinned to one CPU and wrk to the other, so the server's CPU time per request
# (utime+stime of all its processes, from /proc, across the measured run) is the comparable
# figure; requests/s, p50/p99/p999 and peak RSS are reported with it. Output: a table, the
# ratios to the limit responder and to nginx, BUILD_DIR/bench-results/http_echo.csv and a
# chart BUILD_DIR/bench-results/http_echo.png (gnuplot).
#
#   scripts/http-echo-bench.sh BUILD_DIR [options]
#
# It installs nothing itself except through scripts/install-deps.sh --bench. Every process
# it starts is pinned, bound to 127.0.0.1, bounded in time and stopped on exit.
set -uo pipefail

usage() {
  cat <<'EOF'
usage: scripts/http-echo-bench.sh BUILD_DIR [options]

  -d, --duration S      measured seconds per row (integer)      (env KHZ_HTTP_BENCH_DURATION, default 7)
  -w, --warmup S        warm-up seconds before each row, 0 = none (env KHZ_HTTP_BENCH_WARMUP, default 2)
  -c, --connections C   concurrent keep-alive connections        (env KHZ_HTTP_BENCH_CONNECTIONS, default 100)
  -b, --sizes LIST      echo body sizes in bytes                 (env KHZ_HTTP_BENCH_SIZES, default 1024,4096,16384,65536)
  -s, --servers LIST    from: khz-epoll khz-io_uring limit nginx node
                                                                 (env KHZ_HTTP_BENCH_SERVERS, default all of them)
  -t, --scenarios LIST  from: get echo pipeline                  (env KHZ_HTTP_BENCH_SCENARIOS, default all)
  -p, --pipeline N      requests in flight per connection in the pipeline scenario (default 16)
  -r, --rounds R        repeat every row R times, interleaved; ratios, goals and the chart
                        use the median of the rounds             (env KHZ_HTTP_BENCH_ROUNDS, default 1)
  --server-cpu N        CPU the server is pinned to              (default 0)
  --load-cpu N          CPU wrk is pinned to                     (default 1)
  --no-install          do not call scripts/install-deps.sh --bench
  --quick               -d 2 -w 1, for a smoke test
  -h, --help            this text

Rows are interleaved: for each scenario and size, every server in turn, each on a fresh
start with one worker (khz/limit --loops 1, nginx worker_processes 1, node one process).
Round r takes the servers in the --servers order rotated by r - 1, so that no server
runs in the same slot in every round.
EOF
}

die() { echo "http-echo-bench: $*" >&2; exit 2; }
# shellcheck source=lib/bench-common.sh
source "$(dirname "$0")/lib/bench-common.sh"

COMMAND_LINE="$0 $*"
[[ $# -ge 1 ]] || { usage >&2; exit 2; }
case $1 in -h|--help) usage; exit 0 ;; esac
BUILD_DIR=$1
shift

DURATION=${KHZ_HTTP_BENCH_DURATION:-7}
WARMUP=${KHZ_HTTP_BENCH_WARMUP:-2}
CONNECTIONS=${KHZ_HTTP_BENCH_CONNECTIONS:-100}
SIZES=${KHZ_HTTP_BENCH_SIZES:-1024,4096,16384,65536}
SERVERS=${KHZ_HTTP_BENCH_SERVERS:-khz-epoll,khz-io_uring,limit,nginx,node}
SCENARIOS=${KHZ_HTTP_BENCH_SCENARIOS:-get,echo,pipeline}
PIPELINE=16
ROUNDS=${KHZ_HTTP_BENCH_ROUNDS:-1}
SERVER_CPU=0
LOAD_CPU=1
INSTALL=1
MAX_BODY=1048576
HEADER_BYTES=1024

while [[ $# -gt 0 ]]; do
  case $1 in
    -d|--duration) need_value "$@"; DURATION=$2; shift 2 ;;
    -w|--warmup) need_value "$@"; WARMUP=$2; shift 2 ;;
    -c|--connections) need_value "$@"; CONNECTIONS=$2; shift 2 ;;
    -b|--sizes) need_value "$@"; SIZES=$2; shift 2 ;;
    -s|--servers) need_value "$@"; SERVERS=$2; shift 2 ;;
    -t|--scenarios) need_value "$@"; SCENARIOS=$2; shift 2 ;;
    -p|--pipeline) need_value "$@"; PIPELINE=$2; shift 2 ;;
    -r|--rounds) need_value "$@"; ROUNDS=$2; shift 2 ;;
    --server-cpu) need_value "$@"; SERVER_CPU=$2; shift 2 ;;
    --load-cpu) need_value "$@"; LOAD_CPU=$2; shift 2 ;;
    --no-install) INSTALL=0; shift ;;
    --quick) DURATION=2; WARMUP=1; shift ;;
    -h|--help) usage; exit 0 ;;
    *) usage >&2; die "unknown option: $1" ;;
  esac
done

{ is_count "$DURATION" && ((DURATION >= 1 && DURATION <= 3600)); } || die "--duration takes whole seconds 1..3600, got '$DURATION'"
{ is_count "$WARMUP" && ((WARMUP <= 3600)); } || die "--warmup takes whole seconds 0..3600, got '$WARMUP'"
{ is_count "$CONNECTIONS" && ((CONNECTIONS >= 1 && CONNECTIONS <= 20000)); } || die "--connections takes 1..20000"
{ is_count "$PIPELINE" && ((PIPELINE >= 1 && PIPELINE <= 1024)); } || die "--pipeline takes 1..1024"
{ is_count "$ROUNDS" && ((ROUNDS >= 1 && ROUNDS <= 100)); } || die "--rounds takes 1..100"
read -r -a SIZE_LIST <<<"${SIZES//,/ }"
for b in "${SIZE_LIST[@]}"; do
  { is_count "$b" && ((b >= 1 && b <= MAX_BODY)); } || die "--sizes takes byte counts 1..$MAX_BODY, got '$b'"
done
read -r -a SERVER_LIST <<<"${SERVERS//,/ }"
((${#SERVER_LIST[@]} > 0)) || die "--servers is empty"
for s in "${SERVER_LIST[@]}"; do
  case $s in khz-epoll|khz-io_uring|limit|nginx|node) ;; *) die "unknown server '$s' (khz-epoll khz-io_uring limit nginx node)" ;; esac
done
read -r -a SCENARIO_LIST <<<"${SCENARIOS//,/ }"
((${#SCENARIO_LIST[@]} > 0)) || die "--scenarios is empty"
for s in "${SCENARIO_LIST[@]}"; do
  case $s in get|echo|pipeline) ;; *) die "unknown scenario '$s' (get echo pipeline)" ;; esac
done

[[ -d $BUILD_DIR ]] || die "no build directory '$BUILD_DIR' (configure and build it first)"
BUILD_DIR=$(cd "$BUILD_DIR" && pwd)
REPO=$(cd "$(dirname "$0")/.." && pwd)
BIN_DIR=$BUILD_DIR/bench/http_echo
LIMIT_BIN=$BIN_DIR/khz-http-limit
KHZ_BIN=$BIN_DIR/khz-echo-server

if ((INSTALL)); then
  "$REPO/scripts/install-deps.sh" --bench ||
    echo "http-echo-bench: warning: scripts/install-deps.sh --bench failed; using what is installed" >&2
fi
for tool in wrk taskset ps; do
  command -v "$tool" >/dev/null || die "$tool is needed (scripts/install-deps.sh --bench installs it)"
done
HAVE_CURL=1
command -v curl >/dev/null || {
  HAVE_CURL=0
  echo "http-echo-bench: warning: curl is not installed: the servers' answers are not checked before each row" >&2
}
NGINX=$(command -v nginx || { [[ -x /usr/sbin/nginx ]] && echo /usr/sbin/nginx; } || true)
NODE=$(command -v node || command -v nodejs || true)
GNUPLOT=$(command -v gnuplot || true)
NJS_MODULE=/usr/lib/nginx/modules/ngx_http_js_module.so

NCPU=$(nproc)
check_cpus "$SERVER_CPU" "$LOAD_CPU" http-echo-bench

CLK_TCK=$(getconf CLK_TCK)
RESULTS_DIR=$BUILD_DIR/bench-results
CSV=$RESULTS_DIR/http_echo.csv
PNG=$RESULTS_DIR/http_echo.png
mkdir -p "$RESULTS_DIR" || die "cannot create $RESULTS_DIR"
if (($(ulimit -Sn) < CONNECTIONS + 1024)); then
  ulimit -Sn "$(ulimit -Hn)" 2>/dev/null || true
fi

# ------------------------------------------------------------------ process bookkeeping
bench_init_tmp khz-http-bench

# A TCP port on 127.0.0.1 nobody listens on (connect refused), below the ephemeral range:
# a port wrk's own connections use as their local port cannot be bound for listening.
read -r EPHEMERAL_LOW _ </proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || EPHEMERAL_LOW=32768
PORT_LOW=10000
PORT_HIGH=$((EPHEMERAL_LOW > 12000 ? EPHEMERAL_LOW : 32768))
pick_port() {
  local p i
  for ((i = 0; i < 50; i++)); do
    p=$((PORT_LOW + (RANDOM * 32768 + RANDOM) % (PORT_HIGH - PORT_LOW)))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
      echo "$p"
      return 0
    fi
  done
  return 1
}

# ------------------------------------------------------------------ generated files
mkdir -p "$TMP/nginx/logs" "$TMP/nginx/body" "$TMP/lua" "$TMP/check"

# wrk scripts. done() prints one machine-readable line (wrk's own output has no p99.9).
cat >"$TMP/lua/done.lua" <<'EOF'
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("KHZ_RESULT requests=%d duration_us=%d bytes=%d mean_us=%.1f p50_us=%.1f p99_us=%.1f p999_us=%.1f max_us=%.1f err_connect=%d err_read=%d err_write=%d err_status=%d err_timeout=%d\n",
    summary.requests, summary.duration, summary.bytes, latency.mean, latency:percentile(50),
    latency:percentile(99), latency:percentile(99.9), latency.max,
    e.connect, e.read, e.write, e.status, e.timeout))
end
EOF
{ echo 'wrk.method = "GET"'; echo 'wrk.path = "/"'; cat "$TMP/lua/done.lua"; } >"$TMP/lua/get.lua"
{
  echo "local depth = $PIPELINE"
  cat <<'EOF'
-- depth copies of the request in one string: wrk counts them and keeps them in flight.
init = function(args)
  local r = {}
  for i = 1, depth do r[i] = wrk.format("GET", "/") end
  req = table.concat(r)
end
request = function() return req end
EOF
  cat "$TMP/lua/done.lua"
} >"$TMP/lua/pipeline.lua"
for b in "${SIZE_LIST[@]}"; do
  {
    echo 'wrk.method = "POST"'
    echo 'wrk.path = "/echo"'
    echo 'wrk.headers["Content-Type"] = "application/octet-stream"'
    echo "wrk.headers[\"test-header\"] = string.rep(\"v\", $HEADER_BYTES)"
    echo "wrk.body = string.rep(\"a\", $b)  -- wrk adds Content-Length"
    cat "$TMP/lua/done.lua"
  } >"$TMP/lua/echo_$b.lua"
  head -c "$b" /dev/urandom >"$TMP/check/body_$b"
done

# nginx: one worker, bodies kept in memory for njs, everything under $TMP/nginx.
HAVE_NJS=0
[[ -f $NJS_MODULE ]] && HAVE_NJS=1
cat >"$TMP/nginx/echo.js" <<'EOF'
function echo(r) {
  r.headersOut['Content-Type'] = 'application/octet-stream';
  r.return(200, r.requestBuffer || '');
}
export default { echo };
EOF
write_nginx_conf() {  # write_nginx_conf PORT
  {
    [[ $(id -u) == 0 ]] && echo "user $(id -un) $(id -gn);"  # workers as root can read $TMP
    ((HAVE_NJS)) && echo "load_module $NJS_MODULE;"
    cat <<EOF
worker_processes 1;
pid $TMP/nginx/nginx.pid;
error_log $TMP/nginx/logs/error.log warn;
events { worker_connections 4096; use epoll; }
http {
  access_log off;
  keepalive_requests 1000000;
  keepalive_timeout 120s;
  client_body_temp_path $TMP/nginx/body;
  client_max_body_size $MAX_BODY;
  client_body_buffer_size 128k;
  client_body_in_single_buffer on;
EOF
    ((HAVE_NJS)) && echo "  js_import echo from $TMP/nginx/echo.js;"
    cat <<EOF
  server {
    listen 127.0.0.1:$1 backlog=4096;
    location = / { default_type text/plain; return 200 "Hello, World!"; }
EOF
    ((HAVE_NJS)) && echo "    location = /echo { js_content echo.echo; }"
    cat <<EOF
    location / { return 404; }
  }
}
EOF
  } >"$TMP/nginx/nginx.conf"
}

# Node.js: one process, Node's own http module, the same three answers.
cat >"$TMP/node_echo.js" <<'EOF'
'use strict';
const http = require('http');
const port = Number(process.argv[2]);
const maxBody = Number(process.argv[3]);
const hello = Buffer.from('Hello, World!');
const notFound = Buffer.from('Not Found');
const server = http.createServer((req, res) => {
  if (req.method === 'GET' && req.url === '/') {
    res.writeHead(200, { 'Content-Type': 'text/plain', 'Content-Length': hello.length });
    res.end(hello);
  } else if (req.method === 'POST' && req.url === '/echo') {
    const chunks = [];
    let size = 0;
    req.on('data', (c) => { size += c.length; if (size <= maxBody) chunks.push(c); });
    req.on('end', () => {
      if (size > maxBody) {
        res.writeHead(413, { 'Content-Length': 0, Connection: 'close' });
        res.end();
        return;
      }
      const body = chunks.length === 1 ? chunks[0] : Buffer.concat(chunks, size);
      res.writeHead(200, { 'Content-Type': 'application/octet-stream', 'Content-Length': body.length });
      res.end(body);
    });
  } else {
    req.resume();
    res.writeHead(404, { 'Content-Type': 'text/plain', 'Content-Length': notFound.length });
    res.end(notFound);
  }
});
server.keepAliveTimeout = 120000;
server.listen(port, '127.0.0.1', () => process.stdout.write(`ready libuv ${server.address().port}\n`));
const stop = () => { server.close(); process.exit(0); };
process.on('SIGINT', stop);
process.on('SIGTERM', stop);
EOF

# ------------------------------------------------------------------ servers
SERVER_PID=""
SERVER_KIND=""
SERVER_PORT=""
status_of_last_stop=0

# wait_ready NAME: waits up to 10 s for the ready line (binaries, node) or an answer (nginx).
wait_ready() {
  local name=$1 i line
  for ((i = 0; i < 100; i++)); do
    if ! kill -0 "$SERVER_PID" 2>/dev/null; then
      reap "$SERVER_PID"
      echo "  $name: the server exited (status $?) before it was ready: $(head -c 400 "$TMP/server.err" | tr '\n' ' ')" >&2
      return 1
    fi
    if [[ $name == nginx ]]; then
      # nginx prints nothing: ready when the port accepts a connection.
      (exec 3<>"/dev/tcp/127.0.0.1/$SERVER_PORT") 2>/dev/null && { SERVER_KIND=epoll; return 0; }
    else
      line=$(grep -m1 '^ready ' "$TMP/server.out" 2>/dev/null)
      if [[ -n $line ]]; then
        local port
        read -r _ SERVER_KIND port <<<"$line"
        [[ $port == "$SERVER_PORT" ]] ||
          echo "  $name: note: ready line says port '$port', expected $SERVER_PORT" >&2
        return 0
      fi
    fi
    sleep 0.1
  done
  echo "  $name: not ready within 10 s" >&2
  stop_server
  return 1
}

# start_server NAME: a fresh server pinned to SERVER_CPU; sets SERVER_PID/KIND/PORT.
start_server() {
  local name=$1
  for _ in 1 2 3; do
    SERVER_PORT=$(pick_port) || { echo "  no free port found" >&2; return 1; }
    : >"$TMP/server.out"
    : >"$TMP/server.err"
    case $name in
      limit)
        taskset -c "$SERVER_CPU" "$LIMIT_BIN" --port "$SERVER_PORT" --loops 1 --max-body "$MAX_BODY" \
          >"$TMP/server.out" 2>"$TMP/server.err" </dev/null & ;;
      khz-epoll|khz-io_uring)
        taskset -c "$SERVER_CPU" "$KHZ_BIN" --port "$SERVER_PORT" --loops 1 --transport "${name#khz-}" \
          --max-body "$MAX_BODY" >"$TMP/server.out" 2>"$TMP/server.err" </dev/null & ;;
      nginx)
        write_nginx_conf "$SERVER_PORT"
        rm -f "$TMP/nginx/nginx.pid"
        taskset -c "$SERVER_CPU" "$NGINX" -p "$TMP/nginx" -c "$TMP/nginx/nginx.conf" -e "$TMP/nginx/logs/error.log" \
          -g "daemon off; master_process on;" >"$TMP/server.out" 2>"$TMP/server.err" </dev/null & ;;
      node)
        taskset -c "$SERVER_CPU" "$NODE" "$TMP/node_echo.js" "$SERVER_PORT" "$MAX_BODY" \
          >"$TMP/server.out" 2>"$TMP/server.err" </dev/null & ;;
    esac
    SERVER_PID=$!
    bench_track "$SERVER_PID"
    wait_ready "$name" && return 0
    # A port taken between the probe and the bind: try another one.
    grep -qi 'in use' "$TMP/server.err" "$TMP/nginx/logs/error.log" 2>/dev/null || return 1
  done
  return 1
}

# stop_server: SIGTERM, then SIGKILL (to the whole tree) after 5 s.
stop_server() {
  local i status=0 pids
  pids=$(descendants "$SERVER_PID")
  kill -TERM "$SERVER_PID" 2>/dev/null
  for ((i = 0; i < 50; i++)); do kill -0 "$SERVER_PID" 2>/dev/null || break; sleep 0.1; done
  if kill -0 "$SERVER_PID" 2>/dev/null; then
    echo "  the server ignored SIGTERM for 5 s; killing it" >&2
  fi
  for i in $pids; do kill -KILL "$i" 2>/dev/null; done  # stray nginx workers, if any
  reap "$SERVER_PID" || status=$?
  status_of_last_stop=$status
  ((status == 0)) || echo "  note: the server exited with status $status (expected 0)" >&2
  return 0
}

# check_server SCENARIO BYTES: the server answers correctly (GET body, exact echo, 404).
check_server() {
  ((HAVE_CURL)) || return 0
  local url=http://127.0.0.1:$SERVER_PORT body
  body=$(curl -s --max-time 5 "$url/") || return 1
  [[ $body == "Hello, World!" ]] || { echo "GET / answered '${body:0:60}'"; return 1; }
  local code
  code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 "$url/no-such-path") || return 1
  [[ $code == 404 ]] || { echo "GET /no-such-path answered $code, not 404"; return 1; }
  if [[ $1 == echo ]]; then
    curl -s --max-time 5 -H 'Expect:' -H 'Content-Type: application/octet-stream' -H "test-header: $(head -c "$HEADER_BYTES" /dev/zero | tr '\0' v)" \
      --data-binary "@$TMP/check/body_$2" -o "$TMP/check/echoed" "$url/echo" || { echo "POST /echo failed"; return 1; }
    cmp -s "$TMP/check/echoed" "$TMP/check/body_$2" ||
      { echo "POST /echo of $2 random bytes did not come back identical ($(stat -c %s "$TMP/check/echoed") bytes back)"; return 1; }
  fi
  return 0
}

# run_wrk SECONDS SCRIPT PATH OUT: wrk pinned to LOAD_CPU, bounded in time.
run_wrk() {
  timeout -k 5 $(($1 + 30)) taskset -c "$LOAD_CPU" wrk -t1 -c"$CONNECTIONS" -d"$1"s --timeout 5s --latency \
    -s "$2" "http://127.0.0.1:$SERVER_PORT$3" >"$4" 2>&1 </dev/null
}

# kv KEY LINE: the value of KEY=value in a "k=v k=v" line.
kv() { awk -v k="$1" '{ for (i = 1; i <= NF; i++) if (index($i, k "=") == 1) { print substr($i, length(k) + 2); exit } }' <<<"$2"; }

# ------------------------------------------------------------------ machine info
cache=$BUILD_DIR/CMakeCache.txt
cxx=$(sed -n 's/^CMAKE_CXX_COMPILER:[A-Z]*=//p' "$cache" 2>/dev/null)
build_type=$(sed -n 's/^CMAKE_BUILD_TYPE:[A-Z]*=//p' "$cache" 2>/dev/null)
sanitize=$(sed -n 's/^KHZ_SANITIZE:[A-Z]*=//p' "$cache" 2>/dev/null)
cpu_model=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)
commit=$(git -C "$REPO" rev-parse --short HEAD 2>/dev/null || echo unknown)
git -C "$REPO" diff --quiet HEAD 2>/dev/null || commit="$commit (with uncommitted changes)"
wrk_version=$(wrk -v 2>&1 | head -1 | awk '{ print $2 }')
nginx_version=$([[ -n $NGINX ]] && "$NGINX" -v 2>&1 | sed 's/^nginx version: //')
njs_version=$(dpkg-query -W -f='${Version}' libnginx-mod-http-js 2>/dev/null)
node_version=$([[ -n $NODE ]] && "$NODE" --version 2>/dev/null)

echo "== khz HTTP echo benchmark  $(date -u '+%Y-%m-%d %H:%M:%S UTC')"
echo "machine:   nproc=$NCPU, ${cpu_model:-unknown CPU}, $(awk '/MemTotal/ { printf "%.1f GiB RAM", $2 / 1048576 }' /proc/meminfo), load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "kernel:    $(uname -srm)"
echo "khz:       commit $commit, build dir $BUILD_DIR (${cxx:-?}, CMAKE_BUILD_TYPE=${build_type:-?}${sanitize:+, sanitizers: $sanitize})"
echo "peers:     wrk ${wrk_version:-?}, ${nginx_version:-nginx not installed}${njs_version:+ (njs $njs_version)}, node ${node_version:-not installed}"
echo "run:       servers on CPU $SERVER_CPU (one worker), wrk -t1 on CPU $LOAD_CPU, C=$CONNECTIONS, $WARMUP s warm-up + $DURATION s measured per row, $ROUNDS round(s)"
echo "command:   $COMMAND_LINE"
[[ $build_type == Release ]] || echo "warning: not a Release build; khz/limit figures are not representative" >&2
[[ -z $sanitize ]] || echo "warning: sanitizers are on; khz/limit figures are not representative" >&2
echo

# Which servers can run here.
declare -A SKIP=()
for s in "${SERVER_LIST[@]}"; do
  case $s in
    khz-*) [[ -x $KHZ_BIN ]] || SKIP[$s]="$KHZ_BIN is not built (bench/http_echo/khz_echo_server.cpp missing?)" ;;
    limit) [[ -x $LIMIT_BIN ]] || SKIP[$s]="$LIMIT_BIN is not built (cmake --build $BUILD_DIR --target khz-http-limit)" ;;
    nginx) [[ -n $NGINX ]] || SKIP[$s]="nginx is not installed (scripts/install-deps.sh --bench)" ;;
    node) [[ -n $NODE ]] || SKIP[$s]="node is not installed (scripts/install-deps.sh --bench)" ;;
  esac
  [[ -n ${SKIP[$s]:-} ]] && echo "note: skipping $s: ${SKIP[$s]}"
done
if [[ " ${SERVER_LIST[*]} " == *" nginx "* && -z ${SKIP[nginx]:-} ]] && ((!HAVE_NJS)); then
  echo "note: $NJS_MODULE not found (apt-get install libnginx-mod-http-js): nginx echo rows are skipped, nginx GET rows run"
fi

ROWS=$TMP/rows.csv
CSV_HEADER="server,transport,scenario,bytes,connections,pipeline,duration_s,requests,req_per_s,mean_us,p50_us,p99_us,p999_us,max_us,errors,server_cpu_s,server_cpu_pct,other_cpu_pct,cpu_us_per_req,peak_rss_kib,processes,server_exit,round"
: >"$ROWS"

# ------------------------------------------------------------------ one row
run_row() {
  local name=$1 scenario=$2 bytes=$3 round=$4 script path depth=1
  case $scenario in
    get) script=$TMP/lua/get.lua path=/ ;;
    pipeline) script=$TMP/lua/pipeline.lua path=/ depth=$PIPELINE ;;
    echo) script=$TMP/lua/echo_$bytes.lua path=/echo ;;
  esac
  local what="$name $scenario${bytes:+ B=$bytes}"
  start_server "$name" || return 0
  if [[ $name == khz-io_uring && $SERVER_KIND != io_uring ]]; then
    echo "  khz-io_uring: the server runs '$SERVER_KIND' (io_uring unavailable here): skipping the io_uring rows"
    SKIP[$name]="io_uring unavailable"
    stop_server
    return 0
  fi
  local problem
  if ! problem=$(check_server "$scenario" "$bytes"); then
    echo "  $what: wrong answer, row skipped: ${problem:-no answer}" >&2
    stop_server
    return 0
  fi
  ((WARMUP > 0)) && run_wrk "$WARMUP" "$script" "$path" "$TMP/warmup.out"
  local pids t0 t1 s0 s1
  pids=$(descendants "$SERVER_PID")
  # shellcheck disable=SC2086
  t0=$(cpu_ticks $pids)
  s0=$(cpu_usage "$SERVER_CPU")
  run_wrk "$DURATION" "$script" "$path" "$TMP/wrk.out"
  local wrk_status=$?
  # shellcheck disable=SC2086
  t1=$(cpu_ticks $pids)
  s1=$(cpu_usage "$SERVER_CPU")
  local hwm nproc_server
  # shellcheck disable=SC2086
  hwm=$(peak_rss_kib $pids)
  nproc_server=$(wc -w <<<"$pids")
  stop_server
  local server_exit=$status_of_last_stop
  local result
  result=$(grep -m1 '^KHZ_RESULT ' "$TMP/wrk.out")
  if [[ -z $result ]]; then
    echo "  $what: no result from wrk (status $wrk_status): $(head -c 300 "$TMP/wrk.out" | tr '\n' ' ')" >&2
    return 0
  fi
  awk -v OFS=, -v name="$name" -v kind="$SERVER_KIND" -v scen="$scenario" -v bytes="$bytes" \
    -v conns="$CONNECTIONS" -v depth="$depth" -v round="$round" -v r="$result" -v ticks=$((t1 - t0)) -v hz="$CLK_TCK" \
    -v hwm="$hwm" -v np="$nproc_server" -v s0="$s0" -v s1="$s1" -v exit_status="$server_exit" '
    BEGIN {
      n = split(r, kvs, " ")
      for (i = 2; i <= n; i++) { eq = index(kvs[i], "="); v[substr(kvs[i], 1, eq - 1)] = substr(kvs[i], eq + 1) }
      secs = v["duration_us"] / 1e6; reqs = v["requests"]; cpu = ticks / hz
      errors = v["err_connect"] + v["err_read"] + v["err_write"] + v["err_status"] + v["err_timeout"]
      server_pct = secs > 0 ? 100 * cpu / secs : 0
      split(s0, a, " "); split(s1, b, " ")
      busy = b[2] > a[2] ? 100 * (b[1] - a[1]) / (b[2] - a[2]) : 0
      other = busy - server_pct; if (other < 0) other = 0
      server = name; sub(/-.*/, "", server)
      # wrk'"'"'s percentile() returns 0 when its search runs out (seen at p99.9 when pipelined):
      # an unknown value, not a fast one.
      p999 = (v["p999_us"] + 0 >= v["p99_us"] + 0) ? v["p999_us"] : ""
      # Pipelined, wrk times a whole batch and its coordinated-omission correction (which
      # assumes one request per round trip) adds synthetic samples below the real ones:
      # its percentiles mean nothing there, so none are reported.
      if (depth > 1) { v["mean_us"] = v["p50_us"] = v["p99_us"] = v["max_us"] = ""; p999 = "" }
      print server, kind, scen, bytes, conns, depth, sprintf("%.2f", secs), reqs,
            sprintf("%.0f", secs > 0 ? reqs / secs : 0), v["mean_us"], v["p50_us"], v["p99_us"], p999,
            v["max_us"], errors, sprintf("%.2f", cpu), sprintf("%.1f", server_pct), sprintf("%.0f", other),
            sprintf("%.3f", reqs > 0 ? cpu * 1e6 / reqs : 0), hwm, np, exit_status, round
    }' >>"$ROWS"
  tail -1 "$ROWS" | awk -F, '{ printf "  %-6s %-8s %-8s %6s %10.0f req/s  p99 %9s us  CPU %5.1f%%  %7.2f us/req  errors %s\n",
                                 $1, $2, $3, $4, $9, $12 == "" ? "n/a" : sprintf("%.1f", $12), $17, $19, $15 }'
  return 0
}

runnable() {
  [[ -z ${SKIP[$1]:-} ]] || return 1
  [[ $1 == nginx && $2 == echo ]] && ((!HAVE_NJS)) && return 1
  return 0
}

echo "-- rows (each: fresh server, check of its answers, $WARMUP s warm-up, $DURATION s measured)"
for ((round = 1; round <= ROUNDS; round++)); do
  ((ROUNDS > 1)) && echo "  round $round of $ROUNDS"
  for scenario in "${SCENARIO_LIST[@]}"; do
    sizes=("")
    [[ $scenario == echo ]] && sizes=("${SIZE_LIST[@]}")
    for bytes in "${sizes[@]}"; do
      # Round r starts at the r-th server (rotated): the server that runs first after
      # another scenario's rows pays for the state they left (measured: about 4 % more
      # CPU per request in that slot), so no server may hold one slot in every round.
      for ((i = 0; i < ${#SERVER_LIST[@]}; i++)); do
        s=${SERVER_LIST[$(((i + round - 1) % ${#SERVER_LIST[@]}))]}
        runnable "$s" "$scenario" || continue
        run_row "$s" "$scenario" "$bytes" "$round"
      done
    done
  done
done

{ echo "$CSV_HEADER"; cat "$ROWS"; } >"$CSV"
[[ -s $ROWS ]] || die "no row was measured"

# ------------------------------------------------------------------ report
echo
echo "== results: C=$CONNECTIONS, $DURATION s measured after $WARMUP s warm-up; server on CPU $SERVER_CPU, wrk on CPU $LOAD_CPU"
awk -F, '
  function us(x) { return x == "" ? "n/a" : sprintf("%.1f", x) }
  BEGIN {
    printf "%-6s %-9s %-11s %2s %6s %4s %10s %9s %9s %9s %9s %6s %6s %9s %7s\n", "server", "transport", "scenario", "r", "B", "C",
           "req/s", "p50 us", "p99 us", "p999 us", "CPU us/r", "CPU%", "other%", "peakRSS", "errors"
  }
  {
    scen = $3; if ($6 > 1) scen = scen "x" $6
    printf "%-6s %-9s %-11s %2s %6s %4s %10.0f %9s %9s %9s %9.2f %6.1f %6s %6.1fMiB %7s\n",
           $1, $2, scen, $23, $4 == "" ? "-" : $4, $5, $9, us($11), us($12), us($13), $19, $17, $18, $20 / 1024, $15
    if ($18 + 0 > worst) worst = $18 + 0
  }
  END {
    print "(r: round; CPU us/r: server user+system CPU microseconds per request, all its processes and threads;"
    print " CPU%: of one core; other%: CPU time on the server'"'"'s core not spent by the server; peakRSS:"
    print " VmHWM summed over the server'"'"'s processes; latencies as wrk reports them (n/a when pipelined: see README))"
    if (worst > 10) printf "warning: other work took up to %d%% of the server'"'"'s CPU during a row: figures are noisy\n", worst
  }' "$ROWS"

echo
echo "== ratios (same scenario and B$( ((ROUNDS > 1)) && echo ", medians of $ROUNDS rounds"); CPU/req: lower is better; req/s: higher is better; p99: lower is better)"
awk -F, '
  function key(s, t, sc, b) { return s SUBSEP t SUBSEP sc SUBSEP b }
  function ratio(x, y) { return (y + 0 > 0) ? sprintf("%.2f", x / y) : "-" }
  function median(list,    m, v, i, j, t) {
    m = split(list, v, " ")
    if (m == 0) return ""
    for (i = 2; i <= m; i++) { t = v[i] + 0; for (j = i - 1; j >= 1 && v[j] + 0 > t; j--) v[j + 1] = v[j]; v[j + 1] = t }
    return m % 2 ? v[(m + 1) / 2] : (v[m / 2] + v[m / 2 + 1]) / 2
  }
  {
    k = key($1, $2, $3, $4)
    if (!(k in seen)) { seen[k] = 1; rows[++n] = k }
    rpsl[k] = rpsl[k] " " $9; cpul[k] = cpul[k] " " $19
    if ($12 != "") p99l[k] = p99l[k] " " $12
    base[$3 SUBSEP $4 SUBSEP $1] = k
  }
  END {
    for (i = 1; i <= n; i++) { k = rows[i]; rps[k] = median(rpsl[k]); cpu[k] = median(cpul[k]); p99[k] = median(p99l[k]) }
    printf "%-6s %-9s %-9s %6s | %9s %9s | %9s %9s %9s\n", "server", "transport", "scenario", "B",
           "CPU/limit", "rps/limit", "CPU/nginx", "rps/nginx", "p99/nginx"
    for (i = 1; i <= n; i++) {
      split(rows[i], f, SUBSEP)
      if (f[1] == "limit") continue
      l = base[f[3] SUBSEP f[4] SUBSEP "limit"]; g = base[f[3] SUBSEP f[4] SUBSEP "nginx"]
      printf "%-6s %-9s %-9s %6s | %9s %9s | %9s %9s %9s\n", f[1], f[2], f[3], f[4] == "" ? "-" : f[4],
             l != "" ? ratio(cpu[rows[i]], cpu[l]) : "-", l != "" ? ratio(rps[rows[i]], rps[l]) : "-",
             (g != "" && f[1] != "nginx") ? ratio(cpu[rows[i]], cpu[g]) : "-",
             (g != "" && f[1] != "nginx") ? ratio(rps[rows[i]], rps[g]) : "-",
             (g != "" && f[1] != "nginx" && p99[rows[i]] != "") ? ratio(p99[rows[i]], p99[g]) : "-"
    }
    # The issue'"'"'s goals for khz, from this run.
    for (i = 1; i <= n; i++) {
      split(rows[i], f, SUBSEP)
      if (f[1] != "khz") continue
      if (!printed) { print ""; print "== khz goals (from this run)"; printed = 1 }
      l = base[f[3] SUBSEP f[4] SUBSEP "limit"]; g = base[f[3] SUBSEP f[4] SUBSEP "nginx"]
      what = f[3] (f[4] != "" ? " B=" f[4] : "")
      if ((f[3] == "get" || (f[3] == "echo" && f[4] == 1024)) && l != "")
        printf "  %-9s %-14s CPU/req %.2f us = %.3f x limit (goal <= 1.10): %s\n", f[2], what, cpu[rows[i]],
               cpu[rows[i]] / cpu[l], (cpu[rows[i]] <= 1.10 * cpu[l]) ? "met" : "NOT met"
      if ((f[3] == "get" || (f[3] == "echo" && f[4] == 1024)) && g != "")
        printf "  %-9s %-14s CPU/req %.2f us vs nginx %.2f us (goal: below): %s\n", f[2], what, cpu[rows[i]],
               cpu[g], (cpu[rows[i]] < cpu[g]) ? "met" : "NOT met"
      if (f[3] == "pipeline" && l != "")
        printf "  %-9s %-14s req/s %.0f = %.3f x limit (goal >= 0.90): %s\n", f[2], what, rps[rows[i]],
               rps[rows[i]] / rps[l], (rps[rows[i]] >= 0.9 * rps[l]) ? "met" : "NOT met"
      if (g != "" && p99[rows[i]] != "" && p99[g] != "")
        printf "  %-9s %-14s p99 %.0f us vs nginx %.0f us (goal: at or below): %s\n", f[2], what, p99[rows[i]],
               p99[g], (p99[rows[i]] <= p99[g]) ? "met" : "NOT met"
    }
  }' "$ROWS"

# ------------------------------------------------------------------ chart
chart() {
  # Two tables (scenario x server) for gnuplot: CPU us/request and requests/s.
  local field
  for field in 19 9; do
    awk -F, -v f="$field" -v depth="$PIPELINE" '
      {
        srv = $1 ($1 == "khz" ? " " $2 : "")
        if ($3 == "get") sc = "GET /"
        else if ($3 == "pipeline") sc = "GET / x" depth " pipelined"
        else sc = sprintf("echo %s", $4 >= 1024 && $4 % 1024 == 0 ? ($4 / 1024) " KiB" : $4 " B")
        if (!(srv in sseen)) { sseen[srv] = 1; servers[++ns] = srv }
        if (!(sc in cseen)) { cseen[sc] = 1; scens[++nc] = sc }
        val[sc SUBSEP srv] = val[sc SUBSEP srv] " " $f
      }
      function median(list,    m, v, i, j, t) {
        m = split(list, v, " ")
        for (i = 2; i <= m; i++) { t = v[i] + 0; for (j = i - 1; j >= 1 && v[j] + 0 > t; j--) v[j + 1] = v[j]; v[j + 1] = t }
        return m % 2 ? v[(m + 1) / 2] : (v[m / 2] + v[m / 2 + 1]) / 2
      }
      END {
        printf "scenario"; for (j = 1; j <= ns; j++) printf "\t%s", servers[j]; print ""
        for (i = 1; i <= nc; i++) {
          printf "%s", scens[i]
          for (j = 1; j <= ns; j++) { k = scens[i] SUBSEP servers[j]; printf "\t%s", (k in val) ? median(val[k]) : "-" }
          print ""
        }
      }' "$ROWS" >"$TMP/chart_$field.dat"
  done
  local ncols nrows noise
  noise=$(awk -F, '$18 + 0 > m { m = $18 + 0 } END { print m + 0 }' "$ROWS")
  if ((noise > 10)); then
    noise="NOISY: other work took up to $noise% of the server's CPU during a row"
  else
    noise="other work took at most $noise% of the server's CPU during a row"
  fi
  ncols=$(head -1 "$TMP/chart_19.dat" | awk -F'\t' '{ print NF - 1 }')
  nrows=$(($(wc -l <"$TMP/chart_19.dat") - 1))
  cat >"$TMP/chart.gp" <<EOF
set terminal pngcairo size 1400,1050 font "DejaVu Sans,11" noenhanced
set output "$PNG"
set datafile separator "\t"
set datafile missing "-"
set style data histogram
set style histogram clustered gap 1
set style fill solid 0.85 border -1
set boxwidth 0.9
set grid ytics
set key outside right top
set logscale y
set xrange [-0.6:$nrows - 0.4]
N = $ncols
xpos(col) = \$0 - 1 + (col - 2 - (N - 1) / 2.0) / (N + 1.0)
set multiplot layout 2,1 title "HTTP echo benchmark: server pinned to 1 CPU, wrk on the other, C=$CONNECTIONS, ${DURATION} s per row$( ((ROUNDS > 1)) && echo ", median of $ROUNDS rounds")\\n$(date -u '+%Y-%m-%d') · $(echo "$cpu_model" | sed 's/"//g') · khz $commit · $noise"
set title "Server CPU time per request (µs, log scale; lower is better)"
set ylabel "CPU µs / request"
plot for [i=2:N+1] "$TMP/chart_19.dat" using i:xtic(1) title columnheader(i), \
     for [i=2:N+1] "$TMP/chart_19.dat" using (xpos(i)):(column(i)):(sprintf("%.1f", column(i))) with labels left rotate by 90 offset 0,0.3 font ",8" notitle
set title "Requests per second (log scale; higher is better)"
set ylabel "requests / s"
set format y "%.0s%c"
plot for [i=2:N+1] "$TMP/chart_9.dat" using i:xtic(1) title columnheader(i), \
     for [i=2:N+1] "$TMP/chart_9.dat" using (xpos(i)):(column(i)):(sprintf("%.0fk", column(i) / 1000.0)) with labels left rotate by 90 offset 0,0.3 font ",8" notitle
unset multiplot
EOF
  if timeout 60 "$GNUPLOT" "$TMP/chart.gp" 2>"$TMP/gnuplot.err"; then
    echo "PNG: $PNG"
  else
    echo "http-echo-bench: gnuplot failed: $(head -3 "$TMP/gnuplot.err" | tr '\n' ' ')" >&2
  fi
}

echo
echo "CSV: $CSV"
if [[ -n $GNUPLOT ]]; then
  chart
else
  echo "note: gnuplot is not installed (scripts/install-deps.sh --bench): no chart"
fi
