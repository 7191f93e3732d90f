#!/bin/sh
# bench.sh: `make bench`. Starts a fresh usherd (temp data dir, free 127.0.0.1 port), runs usher-bench
# against it, stops it. With --anchors, then runs ../shared/bench/anchors.sh --json in the same sitting
# and prints usher/anchor ratios. Other arguments go to usher-bench (--seconds 2, --scenario ping ...).
# Builds nothing: run `make all` first. BUILD picks the build folder (default build).
set -eu
BUILD=${BUILD:-build}
root=$(cd "$(dirname "$0")/.." && pwd)
anchors_sh="$root/../shared/bench/anchors.sh"

anchors=0
for arg in "$@"; do
  shift
  if [ "$arg" = "--anchors" ]; then anchors=1; else set -- "$@" "$arg"; fi
done

for prog in usherd usher-admin usher-bench; do
  [ -x "$BUILD/$prog" ] || { echo "bench.sh: $BUILD/$prog missing; run: make BUILD=$BUILD all" >&2; exit 2; }
done
if [ "$anchors" = 1 ] && [ ! -f "$anchors_sh" ]; then
  echo "bench.sh: $anchors_sh not found" >&2; exit 2
fi

dir=$(mktemp -d /tmp/usher-bench.XXXXXX)
server_pid=""
stop_server() {
  if [ -n "$server_pid" ]; then
    kill -TERM "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
    server_pid=""
  fi
}
cleanup() { stop_server; rm -rf "$dir"; }
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

port_in_use() { command -v ss >/dev/null && [ -n "$(ss -Htan "sport = :$1" 2>/dev/null)" ]; }
listening() { command -v ss >/dev/null && [ -n "$(ss -Hltn "sport = :$1" 2>/dev/null)" ]; }

# The admin token first: it creates DIR/keys, which usherd then uses.
token=$("$BUILD/usher-admin" --data "$dir/data" token)

# A random high port; usherd exits at once when it cannot bind, so try another then.
port=""
for _ in 1 2 3 4 5; do
  p=$(( $(od -An -N2 -tu2 /dev/urandom | tr -d ' ') % 30000 + 20000 ))
  port_in_use "$p" && continue
  "$BUILD/usherd" --listen "127.0.0.1:$p" --data "$dir/data" --max-active 100000 --max-holds 16 \
    --log-level warn --hold-ttl 10m >"$dir/usherd.log" 2>&1 &
  server_pid=$!
  for _ in $(seq 50); do
    kill -0 "$server_pid" 2>/dev/null || break
    listening "$p" && break
    command -v ss >/dev/null || { sleep 0.3; break; }
    sleep 0.1
  done
  if kill -0 "$server_pid" 2>/dev/null; then port=$p; break; fi
  wait "$server_pid" 2>/dev/null || true
  server_pid=""
done
if [ -z "$port" ]; then
  echo "bench.sh: usherd did not start:" >&2; tail -5 "$dir/usherd.log" >&2; exit 1
fi

echo "# usherd on 127.0.0.1:$port (sync full), $(nproc) cores"
{ "$BUILD/usher-bench" --port "$port" --admin "$token" "$@"; echo $? >"$dir/bench.rc"; } | tee "$dir/bench.out"
stop_server
rc=$(cat "$dir/bench.rc")
if [ "$rc" != 0 ]; then
  echo "bench.sh: usher-bench failed (exit $rc)" >&2
  [ -s "$dir/usherd.log" ] && { echo "usherd log:" >&2; tail -5 "$dir/usherd.log" >&2; }
  exit "$rc"
fi
[ "$anchors" = 1 ] || exit 0

echo "# anchors (same machine, same sitting)"
{ bash "$anchors_sh" --json; echo $? >"$dir/anchors.rc"; } | tee "$dir/anchors.out"
rc=$(cat "$dir/anchors.rc")
[ "$rc" = 0 ] || { echo "bench.sh: anchors.sh failed (exit $rc)" >&2; exit "$rc"; }

json=$(tail -1 "$dir/anchors.out")
echo "# ratio usher/anchor (ops per second)"
for pair in ping:redis_ping status:redis_zrank charge:redis_set_durable reserve:pg_hold_durable; do
  usher_name=${pair%%:*}; anchor_name=${pair#*:}
  usher_ops=$(awk -v n="$usher_name" '$1 == n { print $2 }' "$dir/bench.out")
  anchor_ops=$(printf '%s\n' "$json" | sed -n "s/.*\"$anchor_name\":\([0-9.]*\).*/\1/p")
  [ -n "$usher_ops" ] && [ -n "$anchor_ops" ] || continue
  awk -v u="$usher_ops" -v a="$anchor_ops" -v un="$usher_name" -v an="$anchor_name" \
    'BEGIN { printf "%-8s vs %-18s %9.0f / %9.0f = %.2f\n", un, an, u, a, (a > 0 ? u / a : 0) }'
done
