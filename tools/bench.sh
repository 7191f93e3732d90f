#!/bin/sh
# bench.sh: `make bench`. BENCH_ROUNDS rounds (default 3), each: a fresh usherd (temp data dir, free
# 127.0.0.1 port, its defaults: --sync full, --max-active 100) driven by usher-bench (ping, status, charge,
# enter, reserve and sale, BENCH_SECS seconds per scenario, default 5), then ../shared/bench/anchors.sh --json
# (Redis and PostgreSQL on the same machine; ANCHORS_SH names another), alternating so drift hits both sides alike. Prints one table
# at the end: medians over the rounds and the median usher/anchor ratio with its [min max].
# Options: --no-anchors skips anchors.sh (a quick run); every other argument goes to usher-bench
# (--waiting 20000, --scenario ping, --depth 4 ...). Builds nothing: run `make all` first. BUILD picks the
# build folder (default build).
set -eu
BUILD=${BUILD:-build}
ROUNDS=${BENCH_ROUNDS:-3}
SECS=${BENCH_SECS:-5}
root=$(cd "$(dirname "$0")/.." && pwd)
# The anchors live beside the main checkout: ../shared/bench/anchors.sh from its root (from a git worktree,
# found through the repository's common git dir); ANCHORS_SH overrides.
anchors_sh=${ANCHORS_SH:-$root/../shared/bench/anchors.sh}
if [ ! -f "$anchors_sh" ] && [ -z "${ANCHORS_SH:-}" ]; then
  common=$(git -C "$root" rev-parse --path-format=absolute --git-common-dir 2>/dev/null || true)
  [ -n "$common" ] && [ -f "$common/../../shared/bench/anchors.sh" ] && anchors_sh="$common/../../shared/bench/anchors.sh"
fi

anchors=1
own_scenarios=0
for arg in "$@"; do
  shift
  case "$arg" in
    --no-anchors) anchors=0 ;;
    --scenario|--scenario=*) own_scenarios=1; set -- "$@" "$arg" ;;
    *) set -- "$@" "$arg" ;;
  esac
done
[ "$own_scenarios" = 1 ] || set -- --scenario ping,status,charge,enter,reserve,sale "$@"

for prog in usherd usher-admin usher-bench; do
  [ -x "$BUILD/$prog" ] || { echo "bench.sh: $BUILD/$prog missing; run: make BUILD=$BUILD all" >&2; exit 2; }
done
if [ "$anchors" = 1 ] && [ ! -f "$anchors_sh" ]; then
  echo "bench.sh: $anchors_sh not found (--no-anchors skips it)" >&2; exit 2
fi
command -v python3 >/dev/null || { echo "bench.sh: python3 is needed for the summary" >&2; exit 2; }

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

# Starts usherd on a new data dir $1; sets $port and $server_pid, and $token (the admin token).
start_server() {
  port=""
  # A random high port; usherd exits at once when it cannot bind, so try another then.
  for _ in 1 2 3 4 5; do
    p=$(( $(od -An -N2 -tu2 /dev/urandom | tr -d ' ') % 30000 + 20000 ))
    port_in_use "$p" && continue
    "$BUILD/usherd" --listen "127.0.0.1:$p" --data "$1" --sync full --log-level warn >"$1.log" 2>&1 &
    server_pid=$!
    for _ in $(seq 50); do
      kill -0 "$server_pid" 2>/dev/null || break
      listening "$p" && break
      command -v ss >/dev/null || { sleep 0.3; break; }
      sleep 0.1
    done
    if kill -0 "$server_pid" 2>/dev/null; then
      port=$p
      # usherd made DIR/keys at start; usher-admin signs with it (and never makes one).
      token=$("$BUILD/usher-admin" --data "$1" token)
      return 0
    fi
    wait "$server_pid" 2>/dev/null || true
    server_pid=""
  done
  echo "bench.sh: usherd did not start:" >&2; tail -5 "$1.log" >&2; exit 1
}

round=1
while [ "$round" -le "$ROUNDS" ]; do
  start_server "$dir/data$round"
  echo "# round $round/$ROUNDS: usherd on 127.0.0.1:$port (sync full, default --max-active), $(nproc) cores"
  { "$BUILD/usher-bench" --port "$port" --admin "$token" --seconds "$SECS" --json "$@"; echo $? >"$dir/bench.rc"; } |
    tee "$dir/bench$round.out" | grep -v '^{' || true
  rss=$(awk '/^VmRSS/ { print $2 }' "/proc/$server_pid/status" 2>/dev/null || echo 0)
  echo "# usherd VmRSS after the run: ${rss:-0} kB"
  echo "${rss:-0}" >"$dir/rss$round"
  stop_server
  rc=$(cat "$dir/bench.rc")
  if [ "$rc" != 0 ]; then
    echo "bench.sh: usher-bench failed (exit $rc)" >&2
    [ -s "$dir/data$round.log" ] && { echo "usherd log:" >&2; tail -5 "$dir/data$round.log" >&2; }
    exit "$rc"
  fi
  rm -rf "$dir/data$round"
  tail -1 "$dir/bench$round.out" >"$dir/usher$round.json"
  if [ "$anchors" = 1 ]; then
    echo "# round $round/$ROUNDS: anchors (same machine, same sitting)"
    { bash "$anchors_sh" --json; echo $? >"$dir/anchors.rc"; } | tee "$dir/anchors$round.out" | grep -v '^{' || true
    rc=$(cat "$dir/anchors.rc")
    [ "$rc" = 0 ] || { echo "bench.sh: anchors.sh failed (exit $rc)" >&2; exit "$rc"; }
    tail -1 "$dir/anchors$round.out" >"$dir/anchors$round.json"
  fi
  round=$((round + 1))
done

python3 - "$dir" "$ROUNDS" <<'PY'
import json, os, statistics, sys
d, rounds = sys.argv[1], int(sys.argv[2])
def load(name):
    p = os.path.join(d, name)
    return json.load(open(p)) if os.path.exists(p) else None
usher = [load("usher%d.json" % r) for r in range(1, rounds + 1)]
anchor = [load("anchors%d.json" % r) for r in range(1, rounds + 1)]
rss = [int(open(os.path.join(d, "rss%d" % r)).read() or 0) for r in range(1, rounds + 1)]
med = statistics.median
def fmt(v, nd=0):
    return "-" if v is None else ("{:,.%df}" % nd).format(v)
print("\n# usher-bench summary: %d round(s), medians over the rounds" % rounds)
print("%-8s %-18s %12s %12s %22s %11s" % ("scenario", "anchor", "usher ops/s", "anchor ops/s", "ratio [min max]", "usher p99us"))
rows = [("ping", "redis_ping"), ("status", "redis_zrank"), ("charge", "redis_set_durable"),
        ("enter", "redis_set_durable"), ("reserve", "pg_hold_durable")]
for sc, an in rows:
    figs = [u["scenarios"].get(sc) for u in usher]
    if not all(figs):
        continue
    ops = [f["ops_per_s"] for f in figs]
    p99 = [f["p99_us"] for f in figs]
    anc = [a.get(an) for a in anchor if a] if any(anchor) else []
    ratios = [o / a for o, a in zip(ops, anc) if a]
    ratio = "%.2f [%.2f %.2f]" % (med(ratios), min(ratios), max(ratios)) if ratios else "-"
    print("%-8s %-18s %12s %12s %22s %11s" % (sc, an if anc else "-", fmt(med(ops)), fmt(med(anc)) if anc else "-",
                                              ratio, fmt(med(p99))))
sales = [u["scenarios"].get("sale") for u in usher]
if all(sales):
    sold = [s["sold_out_s"] for s in sales if s["sold_out_s"] is not None]
    p99 = [s["methods"]["seat.reserve"]["p99_us"] for s in sales]
    print("sale of %d seats: time to sell out %s s (median; %d of %d rounds sold out), "
          "seat.reserve p99 %s us, oversold %d" % (
              sales[0]["seats"], fmt(med(sold), 2) if sold else "-", len(sold),
              rounds, fmt(med(p99)), max(s["oversold"] for s in sales)))
print("reserve counts seat.reserve and the reservation.cancel after each hold (both durable writes).")
print("usherd VmRSS after each run: %s kB" % ", ".join(fmt(v) for v in rss))
setup = [u.get("setup_s") for u in usher]
print("setup (crowd of %d): %s s (median)" % (usher[0].get("waiting", 0), fmt(med(setup), 1)))
PY
