#!/bin/sh
# bench.sh: `make bench`. BENCH_ROUNDS rounds (default 3), each: a fresh usherd (temp data dir, free
# 127.0.0.1 port, its defaults: --sync full, --max-active 100) driven by usher-bench (ping, status, charge,
# enter, reserve and sale, BENCH_SECS seconds per scenario, default 5), then ../shared/bench/anchors.sh --json
# (Redis and PostgreSQL on the same machine; ANCHORS_SH names another), alternating so drift hits both sides alike. Prints one table
# at the end: medians over the rounds and the median usher/anchor ratio with its [min max].
# Options: --no-anchors skips anchors.sh (a quick run); --postgres runs usherd on PostgreSQL (one throwaway
# cluster, tests/postgres/pg_throwaway.sh, for the whole run and a fresh database each round) instead of a
# fresh LMDB data dir; --hosts N (default 1) starts N usherd each round on the same store (one data dir, or
# one database), host i on 127.0.0.(1+i) when those addresses can be bound (else all on 127.0.0.1), and
# spreads usher-bench's connections over them. Every other argument goes to usher-bench
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
store=lmdb
hosts=1
want_hosts=0
for arg in "$@"; do
  shift
  if [ "$want_hosts" = 1 ]; then hosts=$arg; want_hosts=0; continue; fi
  case "$arg" in
    --no-anchors) anchors=0 ;;
    --postgres) store=postgres ;;
    --hosts) want_hosts=1 ;;
    --hosts=*) hosts=${arg#--hosts=} ;;
    --scenario|--scenario=*) own_scenarios=1; set -- "$@" "$arg" ;;
    *) set -- "$@" "$arg" ;;
  esac
done
[ "$want_hosts" = 0 ] || { echo "bench.sh: --hosts needs a number" >&2; exit 2; }
case "$hosts" in
  ''|*[!0-9]*) echo "bench.sh: --hosts wants a number from 1 to 64, not '$hosts'" >&2; exit 2 ;;
esac
[ "$hosts" -ge 1 ] && [ "$hosts" -le 64 ] || { echo "bench.sh: --hosts wants 1 to 64" >&2; exit 2; }
[ "$own_scenarios" = 1 ] || set -- --scenario ping,status,charge,enter,reserve,sale "$@"

for prog in usherd usher-admin usher-bench; do
  [ -x "$BUILD/$prog" ] || { echo "bench.sh: $BUILD/$prog missing; run: make BUILD=$BUILD all" >&2; exit 2; }
done
if [ "$anchors" = 1 ] && [ ! -f "$anchors_sh" ]; then
  echo "bench.sh: $anchors_sh not found (--no-anchors skips it)" >&2; exit 2
fi
command -v python3 >/dev/null || { echo "bench.sh: python3 is needed for the summary" >&2; exit 2; }
pg_sh=$root/tests/postgres/pg_throwaway.sh
if [ "$store" = postgres ]; then
  [ -f "$pg_sh" ] || { echo "bench.sh: $pg_sh not found" >&2; exit 2; }
  command -v psql >/dev/null || { echo "bench.sh: --postgres needs psql (apt-get install postgresql-client)" >&2; exit 2; }
fi
# Host i listens on 127.0.0.(1+i) when this machine lets us bind 127.0.0.2 (Linux binds all of 127/8):
# separate addresses model separate hosts; else every usherd is on 127.0.0.1 on its own port.
multi_addr=0
if [ "$hosts" -gt 1 ] && python3 -c 'import socket; socket.socket().bind(("127.0.0.2", 0))' 2>/dev/null; then
  multi_addr=1
fi
host_addr() { if [ "$multi_addr" = 1 ]; then echo "127.0.0.$(( $1 + 1 ))"; else echo 127.0.0.1; fi; }

dir=$(mktemp -d /tmp/usher-bench.XXXXXX)
# The cluster's dir is beside ours, not in it: pg_throwaway.sh runs PostgreSQL as the postgres user when
# started by root, and our mktemp dir is private to us.
pg_dir=""
server_pids=""
stop_server() {
  for pid in $server_pids; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in $server_pids; do wait "$pid" 2>/dev/null || true; done
  server_pids=""
}
cleanup() {
  stop_server
  [ -z "$pg_dir" ] || bash "$pg_sh" stop "$pg_dir" >/dev/null 2>&1 || true
  rm -rf "$dir"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

port_in_use() { command -v ss >/dev/null && [ -n "$(ss -Htan "sport = :$1" 2>/dev/null)" ]; }
listening() { command -v ss >/dev/null && [ -n "$(ss -Hltn "sport = :$1" 2>/dev/null)" ]; }

# Starts one usherd on address $1 with store arguments $3... (--data DIR or --store URL), logging to $2;
# appends its port to $ports (comma list), its address to $addrs and its pid to $server_pids.
start_one() {
  addr=$1 log=$2
  shift 2
  # A random high port; usherd exits at once when it cannot bind, so try another then.
  for _ in 1 2 3 4 5; do
    p=$(( $(od -An -N2 -tu2 /dev/urandom | tr -d ' ') % 30000 + 20000 ))
    port_in_use "$p" && continue
    "$BUILD/usherd" --listen "$addr:$p" "$@" --log-level warn >>"$log" 2>&1 &
    pid=$!
    # PostgreSQL: the first usherd migrates the schema, the others wait for it: allow 10 s.
    for _ in $(seq 100); do
      kill -0 "$pid" 2>/dev/null || break
      listening "$p" && break
      command -v ss >/dev/null || { sleep 0.3; break; }
      sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
      ports=${ports:+$ports,}$p
      addrs=${addrs:+$addrs,}$addr
      server_pids="$server_pids $pid"
      return 0
    fi
    wait "$pid" 2>/dev/null || true
  done
  echo "bench.sh: usherd did not start:" >&2; tail -5 "$log" >&2; exit 1
}

# Starts round $1's $hosts usherd on a new store (LMDB: data dir $dir/data$1; PostgreSQL: database
# usher_bench_$1 of the cluster); sets $ports, $addrs, $server_pids and $token (the admin token).
start_servers() {
  n=$1 ports="" addrs="" server_pids=""
  log=$dir/data$n.log
  if [ "$store" = postgres ]; then
    psql -q -X -v ON_ERROR_STOP=1 "$pg_url" -c "CREATE DATABASE usher_bench_$1" >/dev/null
    round_url=${pg_url%/*}/usher_bench_$1
    set -- --store "$round_url"
  else
    set -- --data "$dir/data$1" --sync full
  fi
  i=0
  while [ "$i" -lt "$hosts" ]; do
    l=$log
    [ "$i" = 0 ] || l=$dir/data$n-host$i.log
    # The first one made the store (DIR/keys, or the schema and signing key) before the others start.
    start_one "$(host_addr "$i")" "$l" "$@"
    i=$((i + 1))
  done
  # usher-admin signs with the store's key (and never makes one).
  token=$("$BUILD/usher-admin" "$1" "$2" token)
}

# The server logs of the round, for a failure.
print_logs() {
  for l in "$dir/data$1.log" "$dir/data$1"-host*.log; do
    [ -s "$l" ] && { echo "usherd log ${l##*/}:" >&2; tail -5 "$l" >&2; }
  done
  return 0
}

if [ "$store" = postgres ]; then
  pg_dir=$(mktemp -d /tmp/usher-bench-pg.XXXXXX)
  rmdir "$pg_dir"   # pg_throwaway.sh makes it
  pg_url=$(bash "$pg_sh" start "$pg_dir") || { echo "bench.sh: the PostgreSQL cluster did not start" >&2; exit 1; }
  echo "# PostgreSQL cluster for the run: $pg_url (a fresh database each round)"
fi

round=1
while [ "$round" -le "$ROUNDS" ]; do
  start_servers "$round"
  if [ "$store" = lmdb ] && [ "$hosts" = 1 ]; then
    echo "# round $round/$ROUNDS: usherd on 127.0.0.1:$ports (sync full, default --max-active), $(nproc) cores"
    set -- --port "$ports" "$@"
    targets_args=2
  else
    desc="one data dir, sync full"
    [ "$store" = lmdb ] || desc="database usher_bench_$round"
    targets=$(python3 -c 'import sys; print(" ".join(a + ":" + p for a, p in zip(*(s.split(",") for s in sys.argv[1:]))))' "$addrs" "$ports")
    echo "# round $round/$ROUNDS: $hosts usherd on $store ($desc, default --max-active) at $targets, $(nproc) cores"
    set -- --host "$addrs" --port "$ports" "$@"
    targets_args=4
  fi
  { "$BUILD/usher-bench" --admin "$token" --seconds "$SECS" --json "$@"; echo $? >"$dir/bench.rc"; } |
    tee "$dir/bench$round.out" | grep -v '^{' || true
  shift "$targets_args"   # the round's --host and --port go again
  rss=""
  for pid in $server_pids; do
    r=$(awk '/^VmRSS/ { print $2 }' "/proc/$pid/status" 2>/dev/null || echo 0)
    rss="${rss:+$rss }${r:-0}"
  done
  if [ "$hosts" = 1 ]; then
    echo "# usherd VmRSS after the run: $rss kB"
  else
    echo "# usherd VmRSS after the run (each host): $rss kB"
  fi
  echo "$rss" >"$dir/rss$round"
  stop_server
  rc=$(cat "$dir/bench.rc")
  if [ "$rc" != 0 ]; then
    echo "bench.sh: usher-bench failed (exit $rc)" >&2
    print_logs "$round"
    exit "$rc"
  fi
  rm -rf "$dir/data$round"
  [ "$store" = lmdb ] || psql -q -X "$pg_url" -c "DROP DATABASE usher_bench_$round" >/dev/null 2>&1 || true
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

python3 - "$dir" "$ROUNDS" "$store" "$hosts" <<'PY'
import json, os, statistics, sys
d, rounds, store, hosts = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4])
def load(name):
    p = os.path.join(d, name)
    return json.load(open(p)) if os.path.exists(p) else None
usher = [load("usher%d.json" % r) for r in range(1, rounds + 1)]
anchor = [load("anchors%d.json" % r) for r in range(1, rounds + 1)]
rss = [[int(v) for v in open(os.path.join(d, "rss%d" % r)).read().split()] or [0] for r in range(1, rounds + 1)]
med = statistics.median
def fmt(v, nd=0):
    return "-" if v is None else ("{:,.%df}" % nd).format(v)
print("\n# usher-bench summary: %d round(s), medians over the rounds; store %s, %d usherd host%s" % (
    rounds, store, hosts, "" if hosts == 1 else "s"))
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
print("usherd VmRSS after each run: %s kB" % ", ".join(" + ".join(fmt(v) for v in r) for r in rss))
setup = [u.get("setup_s") for u in usher]
print("setup (crowd of %d): %s s (median)" % (usher[0].get("waiting", 0), fmt(med(setup), 1)))
PY
