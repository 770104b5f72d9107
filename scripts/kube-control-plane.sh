#!/usr/bin/env bash
# A real Kubernetes control plane on loopback, for the cluster suite (tests/cluster/).
#
#   scripts/kube-control-plane.sh start    # etcd, kube-apiserver, kube-controller-manager
#   scripts/kube-control-plane.sh stop
#   scripts/kube-control-plane.sh status
#
# The binaries are NOT part of this repository and nothing here builds them: the script
# starts kube-apiserver and kube-controller-manager found in $PROMPTSALES_KUBE_BIN_DIR
# (default /opt/kubernetes/bin) and etcd from that directory or PATH (Debian's
# etcd-server package serves). What runs:
#   - etcd on 127.0.0.1 (client and peer ports below), data under the state directory;
#   - kube-apiserver on https://127.0.0.1:$PORT with RBAC (Node,RBAC), the PodSecurity
#     admission plugin, ServiceAccount tokens, and an audit log (Metadata level, every
#     request) at $STATE/audit.log, which the suite reads to count requests;
#   - kube-controller-manager with the controllers the platform relies on (garbage
#     collector, CronJob, Job, Deployment/ReplicaSet, namespace, ServiceAccount tokens).
# There is no kubelet: pods stay Pending, which is all the suite needs.
# It writes an admin kubeconfig to $STATE/admin.kubeconfig and prints its path.
set -euo pipefail

BIN="${PROMPTSALES_KUBE_BIN_DIR:-/opt/kubernetes/bin}"
STATE="${PROMPTSALES_KUBE_STATE_DIR:-${TMPDIR:-/tmp}/promptsales-kube}"
PORT="${PROMPTSALES_KUBE_PORT:-16443}"
ETCD_PORT="${PROMPTSALES_KUBE_ETCD_PORT:-23790}"
# The peer and controller-manager ports default to neighbours of the two above; a caller
# that picks free ports (scripts/test.sh) passes them too, since a neighbour may be taken.
ETCD_PEER_PORT="${PROMPTSALES_KUBE_ETCD_PEER_PORT:-$((ETCD_PORT + 10))}"
CM_PORT="${PROMPTSALES_KUBE_CM_PORT:-$((PORT + 1))}"
SERVICE_CIDR="10.96.0.0/24"

say() { printf 'kube-control-plane: %s\n' "$*" >&2; }

have_binaries() {
    [ -x "$BIN/kube-apiserver" ] && [ -x "$BIN/kube-controller-manager" ] && etcd_bin >/dev/null
}

etcd_bin() {
    if [ -x "$BIN/etcd" ]; then echo "$BIN/etcd"; else command -v etcd; fi
}

pid_alive() { [ -f "$STATE/$1.pid" ] && kill -0 "$(cat "$STATE/$1.pid")" 2>/dev/null; }

start_bg() {  # name, command...
    local name="$1"; shift
    if pid_alive "$name"; then return 0; fi
    nohup "$@" >"$STATE/$name.log" 2>&1 &
    echo $! >"$STATE/$name.pid"
}

# One self-signed CA signs the serving certificate and the client certificates; the
# ServiceAccount token key pair is separate, as on a real cluster.
make_pki() {
    local pki="$STATE/pki"
    [ -f "$pki/admin.crt" ] && return 0
    mkdir -p "$pki"
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 365 \
        -subj "/CN=promptsales-test-kubernetes-ca" \
        -keyout "$pki/ca.key" -out "$pki/ca.crt" 2>/dev/null
    openssl genrsa -out "$pki/sa.key" 2048 2>/dev/null
    openssl rsa -in "$pki/sa.key" -pubout -out "$pki/sa.pub" 2>/dev/null
    cat >"$pki/server.ext" <<EOF
subjectAltName=DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local,IP:127.0.0.1,IP:10.96.0.1
extendedKeyUsage=serverAuth
EOF
    printf 'extendedKeyUsage=clientAuth\n' >"$pki/client.ext"
    leaf() {  # name, subject, extfile
        openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "$2" \
            -keyout "$pki/$1.key" -out "$pki/$1.csr" 2>/dev/null
        openssl x509 -req -in "$pki/$1.csr" -CA "$pki/ca.crt" -CAkey "$pki/ca.key" \
            -CAcreateserial -days 365 -extfile "$3" -out "$pki/$1.crt" 2>/dev/null
    }
    leaf apiserver "/CN=kube-apiserver" "$pki/server.ext"
    leaf apiserver-etcd "/CN=kube-apiserver-etcd-client" "$pki/client.ext"
    leaf controller-manager "/CN=system:kube-controller-manager" "$pki/client.ext"
    leaf admin "/O=system:masters/CN=promptsales-test-admin" "$pki/client.ext"
}

kubeconfig() {  # file, user cert name
    local pki="$STATE/pki"
    cat >"$1" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: promptsales-test
  cluster:
    server: https://127.0.0.1:$PORT
    certificate-authority: $pki/ca.crt
users:
- name: $2
  user:
    client-certificate: $pki/$2.crt
    client-key: $pki/$2.key
contexts:
- name: promptsales-test
  context: {cluster: promptsales-test, user: $2, namespace: default}
current-context: promptsales-test
EOF
}

curl_admin() {
    curl -sf --cacert "$STATE/pki/ca.crt" --cert "$STATE/pki/admin.crt" \
        --key "$STATE/pki/admin.key" "https://127.0.0.1:$PORT$1"
}

wait_for_api() {  # the controller-manager needs RBAC's bootstrap roles in place
    for _ in $(seq 1 120); do
        curl_admin /readyz >/dev/null 2>&1 && return 0
        sleep 0.5
    done
    say "kube-apiserver did not become ready; see $STATE/kube-apiserver.log"
    tail -n 20 "$STATE/kube-apiserver.log" >&2 || true
    return 1
}

wait_ready() {
    local kc="$STATE/admin.kubeconfig"
    for _ in $(seq 1 120); do
        # The default ServiceAccount appears once the controller-manager runs.
        if curl_admin /api/v1/namespaces/default/serviceaccounts/default >/dev/null 2>&1; then
            say "ready: KUBECONFIG=$kc"
            return 0
        fi
        sleep 0.5
    done
    say "did not become ready; logs in $STATE/*.log"
    tail -n 20 "$STATE"/kube-apiserver.log "$STATE"/kube-controller-manager.log >&2 || true
    return 1
}

start() {
    if ! have_binaries; then
        say "no binaries: need kube-apiserver and kube-controller-manager in $BIN and etcd there or on PATH"
        return 3
    fi
    mkdir -p "$STATE"
    make_pki
    cat >"$STATE/audit-policy.yaml" <<EOF
apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: ["RequestReceived"]
rules:
- level: Metadata
EOF
    kubeconfig "$STATE/admin.kubeconfig" admin
    kubeconfig "$STATE/controller-manager.kubeconfig" controller-manager
    start_bg etcd "$(etcd_bin)" --name promptsales-test --data-dir "$STATE/etcd" \
        --listen-client-urls "http://127.0.0.1:$ETCD_PORT" \
        --advertise-client-urls "http://127.0.0.1:$ETCD_PORT" \
        --listen-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" \
        --initial-advertise-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" \
        --initial-cluster "promptsales-test=http://127.0.0.1:$ETCD_PEER_PORT" \
        --quota-backend-bytes 4294967296 --log-level warn
    local pki="$STATE/pki"
    start_bg kube-apiserver "$BIN/kube-apiserver" \
        --bind-address 127.0.0.1 --advertise-address 127.0.0.1 --secure-port "$PORT" \
        --etcd-servers "http://127.0.0.1:$ETCD_PORT" \
        --tls-cert-file "$pki/apiserver.crt" --tls-private-key-file "$pki/apiserver.key" \
        --client-ca-file "$pki/ca.crt" \
        --service-account-key-file "$pki/sa.pub" \
        --service-account-signing-key-file "$pki/sa.key" \
        --service-account-issuer https://kubernetes.default.svc.cluster.local \
        --service-cluster-ip-range "$SERVICE_CIDR" \
        --authorization-mode Node,RBAC \
        --enable-admission-plugins NamespaceLifecycle,ServiceAccount,PodSecurity,LimitRanger,ResourceQuota,DefaultStorageClass \
        --allow-privileged=false \
        --audit-policy-file "$STATE/audit-policy.yaml" --audit-log-path "$STATE/audit.log" \
        --audit-log-maxsize 500 --audit-log-maxbackup 1 \
        --endpoint-reconciler-type none --profiling=false --v 1
    wait_for_api
    start_bg kube-controller-manager "$BIN/kube-controller-manager" \
        --kubeconfig "$STATE/controller-manager.kubeconfig" \
        --authentication-kubeconfig "$STATE/controller-manager.kubeconfig" \
        --authorization-kubeconfig "$STATE/controller-manager.kubeconfig" \
        --bind-address 127.0.0.1 --secure-port "$CM_PORT" \
        --service-account-private-key-file "$pki/sa.key" --root-ca-file "$pki/ca.crt" \
        --use-service-account-credentials \
        --leader-elect=false --profiling=false --v 1
    wait_ready
    echo "$STATE/admin.kubeconfig"
}

stop() {
    for name in kube-controller-manager kube-apiserver etcd; do
        if pid_alive "$name"; then
            kill "$(cat "$STATE/$name.pid")" 2>/dev/null || true
            for _ in $(seq 1 40); do pid_alive "$name" || break; sleep 0.25; done
            pid_alive "$name" && kill -9 "$(cat "$STATE/$name.pid")" 2>/dev/null || true
        fi
        rm -f "$STATE/$name.pid"
    done
    if [ "${1:-}" = "--wipe" ]; then rm -rf "$STATE"; fi
    say "stopped"
}

case "${1:-}" in
    start) start ;;
    stop) shift; stop "${1:-}" ;;
    status)
        for name in etcd kube-apiserver kube-controller-manager; do
            if pid_alive "$name"; then say "$name running"; else say "$name stopped"; fi
        done ;;
    available) have_binaries ;;
    *) echo "usage: $0 start|stop [--wipe]|status|available" >&2; exit 2 ;;
esac
