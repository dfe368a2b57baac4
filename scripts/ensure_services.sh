#!/usr/bin/env bash
# Make sure PostgreSQL and Redis answer at DATABASE_URL / REDIS_URL. When they point at this
# machine and nothing answers, start them (installing Debian's packages when missing).
# Anything still unreachable fails the run: no test is skipped for a missing service.
set -euo pipefail

read -r PGHOST PGPORT < <(.venv/bin/python -c "
import os, urllib.parse as u
p = u.urlparse(os.environ['DATABASE_URL']); print(p.hostname or '127.0.0.1', p.port or 5432)")
read -r RHOST RPORT < <(.venv/bin/python -c "
import os, urllib.parse as u
p = u.urlparse(os.environ['REDIS_URL']); print(p.hostname or '127.0.0.1', p.port or 6379)")

answers() { .venv/bin/python -c "import socket,sys; socket.create_connection(('$1', $2), timeout=2)" 2>/dev/null; }
is_local() { [[ "$1" == "127.0.0.1" || "$1" == "localhost" || "$1" == "::1" ]]; }
apt_install() {
  if [ "$(id -u)" != 0 ]; then echo "Need root to install $*" >&2; return 1; fi
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

if ! answers "$PGHOST" "$PGPORT" && is_local "$PGHOST"; then
  echo "PostgreSQL does not answer at $PGHOST:$PGPORT; starting it." >&2
  command -v pg_ctlcluster >/dev/null || apt_install postgresql
  if [ -z "$(ls /etc/postgresql 2>/dev/null)" ]; then apt_install postgresql; fi
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n1)" main start || true
  for _ in $(seq 1 30); do answers "$PGHOST" "$PGPORT" && break; sleep 1; done
fi
if ! answers "$RHOST" "$RPORT" && is_local "$RHOST"; then
  echo "Redis does not answer at $RHOST:$RPORT; starting it." >&2
  command -v redis-server >/dev/null || apt_install redis-server
  mkdir -p /var/lib/redis /var/log/redis
  redis-server --daemonize yes --bind 127.0.0.1 -::1 --port "$RPORT" --save "" --appendonly no --dir /var/lib/redis --logfile /var/log/redis/ci.log
  for _ in $(seq 1 30); do answers "$RHOST" "$RPORT" && break; sleep 1; done
fi
answers "$PGHOST" "$PGPORT" || { echo "FATAL: PostgreSQL is not reachable at $PGHOST:$PGPORT (DATABASE_URL)." >&2; exit 1; }
answers "$RHOST" "$RPORT" || { echo "FATAL: Redis is not reachable at $RHOST:$RPORT (REDIS_URL)." >&2; exit 1; }
echo "PostgreSQL at $PGHOST:$PGPORT and Redis at $RHOST:$RPORT answer."
