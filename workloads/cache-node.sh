#!/bin/sh
# Start one data node of the promptsales-cache set (workloads/cache.py renders the
# environment). The Sentinels are asked who the primary is: a node they do not name
# replicates from it; a node they name starts as the primary again. Only when no
# Sentinel knows a primary (a new set) does ordinal 0 start as the primary and every
# other ordinal replicate from it. The password is read from the mounted Secret into
# REDISCLI_AUTH, never onto a command line.
set -eu
: "${CACHE_POD:?}" "${CACHE_ANNOUNCE:?}" "${CACHE_PORT:?}" "${CACHE_SEED:?}"
: "${CACHE_SENTINELS:?}" "${CACHE_MASTER:?}" "${CACHE_CONFIG:?}" "${CACHE_WORK_DIR:?}"
: "${CACHE_SECRETS:?}" "${CACHE_TLS:?}"

REDISCLI_AUTH="$(cat "$CACHE_SECRETS/password")"
export REDISCLI_AUTH

# "host port" of the primary a Sentinel ("host:port") reports; nothing if it knows none.
ask() {
    timeout 3 redis-cli --tls --cacert "$CACHE_TLS/ca.crt" -h "${1%:*}" -p "${1##*:}" \
        --raw SENTINEL get-master-addr-by-name "$CACHE_MASTER" 2>/dev/null | tr '\n' ' '
}

primary=""
for sentinel in $CACHE_SENTINELS; do
    # shellcheck disable=SC2046 # split the reply into host and port
    set -- $(ask "$sentinel" || true)
    if [ $# -eq 2 ] && [ -n "$2" ] && [ -z "$(printf %s "$2" | tr -d 0-9)" ]; then
        primary="$1 $2"
        break
    fi
done

conf="$CACHE_WORK_DIR/redis.conf"
# A writable copy: Sentinel's failover rewrites the configuration of the node it promotes.
cp "$CACHE_CONFIG" "$conf"
echo "replica-announce-ip $CACHE_ANNOUNCE" >>"$conf"
if [ -n "$primary" ]; then
    set -- $primary
    if [ "$1" = "$CACHE_ANNOUNCE" ] && [ "$2" = "$CACHE_PORT" ]; then
        echo "$CACHE_POD: the Sentinels name this node the primary"
    else
        echo "$CACHE_POD: replica of $1:$2, the primary the Sentinels report"
        echo "replicaof $1 $2" >>"$conf"
    fi
elif [ "${CACHE_POD##*-}" = 0 ]; then
    echo "$CACHE_POD: no Sentinel knows a primary; ordinal 0 starts as the first primary"
else
    echo "$CACHE_POD: no Sentinel knows a primary; replica of ordinal 0 ($CACHE_SEED)"
    echo "replicaof ${CACHE_SEED%:*} ${CACHE_SEED##*:}" >>"$conf"
fi
exec redis-server "$conf"
