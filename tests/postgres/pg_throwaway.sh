#!/usr/bin/env bash
# A throwaway PostgreSQL for the tests: Debian's postgresql server binaries,
# a fresh cluster in a temp dir, listening on 127.0.0.1 at a free port (and a
# Unix socket in the dir), run as an unprivileged user (the postgres system
# user when started by root, else the caller).
#   pg_throwaway.sh start DIR   creates and starts the cluster in DIR (must not
#                               exist) and prints its URL:
#                               postgres://usher@127.0.0.1:PORT/usher
#   pg_throwaway.sh stop DIR    stops it (fast) and removes DIR
#   pg_throwaway.sh pgctl DIR ARGS...  runs pg_ctl on it (stop/start in tests;
#                               `pgctl DIR start` needs the -o options of
#                               the first start again, which DIR/options holds)
set -euo pipefail
cmd=${1:?usage: pg_throwaway.sh start|stop|pgctl DIR}
dir=${2:?usage: pg_throwaway.sh start|stop|pgctl DIR}
PGBIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
[ -n "$PGBIN" ] || { echo "pg_throwaway: no PostgreSQL server (apt-get install postgresql)" >&2; exit 2; }
as_owner() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}
free_port() { python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'; }
case "$cmd" in
start)
  [ -e "$dir" ] && { echo "pg_throwaway: $dir exists" >&2; exit 2; }
  mkdir -p "$dir"
  [ "$(id -u)" = 0 ] && chown postgres "$dir"
  as_owner "$PGBIN/initdb" -D "$dir/data" -U usher -A trust -E UTF8 --no-sync >/dev/null
  port=$(free_port)
  echo "$port" > "$dir/port"
  echo "-p $port -k $dir -c listen_addresses=127.0.0.1 -c max_connections=300 -c fsync=on -c synchronous_commit=on -c shared_buffers=128MB" > "$dir/options"
  [ "$(id -u)" = 0 ] && chown postgres "$dir/port"
  as_owner "$PGBIN/pg_ctl" -D "$dir/data" -l "$dir/log" -w -t 60 -o "$(cat "$dir/options")" start >/dev/null
  as_owner "$PGBIN/createdb" -h "$dir" -p "$port" -U usher usher
  echo "postgres://usher@127.0.0.1:$port/usher"
  ;;
stop)
  if [ -f "$dir/data/postmaster.pid" ]; then
    as_owner "$PGBIN/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null 2>&1 || true
  fi
  rm -rf "$dir"
  ;;
pgctl)
  shift 2
  as_owner "$PGBIN/pg_ctl" -D "$dir/data" -l "$dir/log" "$@"
  ;;
*) echo "pg_throwaway: unknown command $cmd" >&2; exit 2 ;;
esac
