#!/usr/bin/env bash
# Make sure the machine's PostgreSQL and Redis answer; start them if they do not.
# The MongoDB wire-protocol server (SecantusDB) is started by whoever needs it
# (the test harness, `promptsales up`), not here.
set -euo pipefail

wait_for() {  # name, probe command...
    local name="$1"; shift
    for _ in $(seq 1 60); do
        if "$@" >/dev/null 2>&1; then return 0; fi
        sleep 0.5
    done
    echo "error: $name did not come up; see the hint above" >&2
    return 1
}

pg_ready() { pg_isready -h 127.0.0.1 -p 5432 -q; }
redis_ready() { redis-cli -h 127.0.0.1 -p 6379 ping | grep -q PONG; }

if ! pg_ready; then
    echo "PostgreSQL is not answering on 127.0.0.1:5432; starting it" >&2
    if command -v pg_ctlcluster >/dev/null; then
        pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -1)" main start || true
    else
        echo "error: PostgreSQL 15+ is missing: apt-get install postgresql" >&2; exit 1
    fi
    wait_for PostgreSQL pg_ready
fi

if ! redis_ready; then
    echo "Redis is not answering on 127.0.0.1:6379; starting it" >&2
    if command -v redis-server >/dev/null; then
        mkdir -p /var/lib/redis /var/log/redis
        redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" \
            --appendonly no --dir /var/lib/redis --logfile /var/log/redis/ci.log
    else
        echo "error: Redis is missing: apt-get install redis-server" >&2; exit 1
    fi
    wait_for Redis redis_ready
fi
echo "services: PostgreSQL 127.0.0.1:5432 and Redis 127.0.0.1:6379 are up" >&2

# Redis Sentinel: the cache's hit-ratio and failover tests and bench.mcp_replicas start
# Sentinel-managed Redis sets on loopback ports themselves (harness/redis_sentinel.py);
# they need the program, not a running service.
if ! command -v redis-sentinel >/dev/null; then
    echo "redis-sentinel is missing; installing it" >&2
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-sentinel
fi

# MariaDB: only the dirty-read simulation needs it (PostgreSQL cannot show that anomaly).
mariadb_ready() { mariadb-admin -h 127.0.0.1 -P 3306 -u root ping >/dev/null 2>&1; }

if ! mariadb_ready; then
    echo "MariaDB is not answering on 127.0.0.1:3306; starting it" >&2
    if [ -x /usr/sbin/mariadbd ]; then
        start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd
    else
        echo "error: MariaDB is missing: apt-get install mariadb-server" >&2; exit 1
    fi
    wait_for MariaDB mariadb_ready
fi
echo "services: MariaDB 127.0.0.1:3306 is up" >&2

# promtool (Prometheus' rule checker and evaluator): the alert-rule tests run it. Debian's
# `prometheus` package ships it; the package's server is not started (nothing here needs it).
if ! command -v promtool >/dev/null; then
    echo "promtool is missing; installing Debian's prometheus package for it" >&2
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        apt-get update -qq >/dev/null
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
            prometheus >/dev/null
    else
        echo "error: promtool is missing: apt-get install prometheus (as root)" >&2; exit 1
    fi
fi
echo "services: $(promtool --version 2>&1 | head -1)" >&2
