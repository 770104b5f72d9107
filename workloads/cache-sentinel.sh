#!/bin/sh
# Start one Sentinel of the promptsales-cache set (workloads/cache.py renders the
# environment). It monitors the primary the other Sentinels report, or ordinal 0 of the
# data StatefulSet when none knows one (a new set). Sentinel rewrites its configuration
# as it learns the set, so the file is built afresh in a writable emptyDir at each start;
# the password lines are appended from the mounted Secret, never put on a command line.
set -eu
: "${CACHE_ANNOUNCE:?}" "${CACHE_SENTINEL_PORT:?}" "${CACHE_SEED:?}" "${CACHE_SENTINELS:?}"
: "${CACHE_MASTER:?}" "${CACHE_QUORUM:?}" "${CACHE_DOWN_AFTER_MS:?}"
: "${CACHE_FAILOVER_TIMEOUT_MS:?}" "${CACHE_CONFIG:?}" "${CACHE_WORK_DIR:?}"
: "${CACHE_SECRETS:?}" "${CACHE_TLS:?}"

REDISCLI_AUTH="$(cat "$CACHE_SECRETS/password")"
export REDISCLI_AUTH

ask() {
    timeout 3 redis-cli --tls --cacert "$CACHE_TLS/ca.crt" -h "${1%:*}" -p "${1##*:}" \
        --raw SENTINEL get-master-addr-by-name "$CACHE_MASTER" 2>/dev/null | tr '\n' ' '
}

primary=""
for sentinel in $CACHE_SENTINELS; do
    [ "$sentinel" = "$CACHE_ANNOUNCE:$CACHE_SENTINEL_PORT" ] && continue
    # shellcheck disable=SC2046 # split the reply into host and port
    set -- $(ask "$sentinel" || true)
    if [ $# -eq 2 ] && [ -n "$2" ] && [ -z "$(printf %s "$2" | tr -d 0-9)" ]; then
        primary="$1 $2"
        break
    fi
done
if [ -z "$primary" ]; then
    primary="${CACHE_SEED%:*} ${CACHE_SEED##*:}"
    echo "no other Sentinel knows a primary; monitoring ordinal 0 ($CACHE_SEED)"
else
    echo "monitoring $primary, the primary the other Sentinels report"
fi

# Sentinel refuses to start on a name it cannot resolve, and in a new set ordinal 0 may
# not have its DNS record yet: wait for it (a minute at most) rather than crash-loop.
tries=0
until getent hosts "${primary% *}" >/dev/null 2>&1 || [ "$tries" -ge 30 ]; do
    tries=$((tries + 1))
    sleep 2
done

conf="$CACHE_WORK_DIR/sentinel.conf"
cp "$CACHE_CONFIG" "$conf"
cat >>"$conf" <<END
sentinel announce-ip $CACHE_ANNOUNCE
sentinel announce-port $CACHE_SENTINEL_PORT
sentinel monitor $CACHE_MASTER $primary $CACHE_QUORUM
sentinel down-after-milliseconds $CACHE_MASTER $CACHE_DOWN_AFTER_MS
sentinel failover-timeout $CACHE_MASTER $CACHE_FAILOVER_TIMEOUT_MS
sentinel parallel-syncs $CACHE_MASTER 1
END
cat "$CACHE_SECRETS/sentinel-auth.conf" >>"$conf"
exec redis-server "$conf" --sentinel
