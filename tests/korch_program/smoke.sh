#!/usr/bin/env bash
# Smoke test of the `korch` program: its command line (version, help, usage
# errors), then a real `korch server` on a free loopback port driven by the
# machine's kubectl over HTTPS with the generated admin kubeconfig, a clean
# SIGTERM shutdown, a restart on the same data directory (credentials and
# data kept), and a plain-HTTP server on loopback.
#
#   smoke.sh PATH/TO/korch
#
# Every wait is bounded; the servers are killed on exit whatever happens.
# The kubectl steps are skipped, with a message, when kubectl is missing.
set -euo pipefail

KORCH=${1:?usage: smoke.sh PATH/TO/korch}
WAIT_SECONDS=30

WORK=$(mktemp -d "${TMPDIR:-/tmp}/korch_smoke.XXXXXX")
SERVER_PID=""
cleanup() {
  if [[ -n "$SERVER_PID" ]] && kill -0 "$SERVER_PID" 2>/dev/null; then
    kill -KILL "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
  fi
  rm -rf "$WORK"
}
trap cleanup EXIT

fail() {
  echo "FAIL: $*" >&2
  for log in "$WORK"/*.log; do
    [[ -f "$log" ]] || continue
    echo "---- $log" >&2
    tail -n 40 "$log" >&2
  done
  exit 1
}
pass() { echo "ok: $*"; }

# expect_exit CODE PATTERN CMD...: runs CMD (bounded), checks its exit code
# and that stdout+stderr contain PATTERN (a fixed string).
expect_exit() {
  local want=$1 pattern=$2
  shift 2
  local out rc=0
  out=$(timeout "$WAIT_SECONDS" "$@" 2>&1) || rc=$?
  [[ $rc -eq $want ]] || fail "'$*' exited $rc, want $want; output:
$out"
  [[ "$out" == *"$pattern"* ]] || fail "'$*' output lacks '$pattern':
$out"
  pass "'$*' -> exit $rc"
}

# ---- The command line --------------------------------------------------------
expect_exit 0 "korch version" "$KORCH" version
expect_exit 0 "Kubernetes API version v1." "$KORCH" version
expect_exit 0 "korch version" "$KORCH" --version
expect_exit 0 "Usage: korch" "$KORCH" --help
expect_exit 0 "--data-dir" "$KORCH" server --help
expect_exit 0 "--data-dir" "$KORCH" help server
expect_exit 2 "Usage: korch" "$KORCH"
expect_exit 2 'unknown command "frobnicate"' "$KORCH" frobnicate
expect_exit 2 "unknown flag: --bogus" "$KORCH" server --data-dir "$WORK/unused" --bogus
expect_exit 2 "unknown flag: --bogus" "$KORCH" version --bogus
expect_exit 2 "flag --data-dir is required" "$KORCH" server
expect_exit 2 "flag --listen needs a value" "$KORCH" server --data-dir "$WORK/unused" --listen
expect_exit 2 'invalid --listen "nope"' "$KORCH" server --data-dir "$WORK/unused" --listen nope
expect_exit 2 "not an IP address" "$KORCH" server --data-dir "$WORK/unused" --listen example.com:1
expect_exit 2 'invalid --store "mysql://x"' \
  "$KORCH" server --data-dir "$WORK/unused" --store mysql://x
expect_exit 2 'invalid --log-level "loud"' \
  "$KORCH" server --data-dir "$WORK/unused" --log-level loud
expect_exit 2 'invalid value "maybe" for flag --plain-http' \
  "$KORCH" server --data-dir "$WORK/unused" --plain-http=maybe
expect_exit 2 'unexpected argument "extra"' "$KORCH" server --data-dir "$WORK/unused" extra
[[ ! -e "$WORK/unused" ]] || fail "a usage error created the data directory"

# ---- A server ----------------------------------------------------------------
DATA="$WORK/data"
KUBECONFIG_FILE="$DATA/admin.kubeconfig"
SERVER_URL=""

# start_server LOG FLAGS...: starts korch server in the background and waits
# until it has written its kubeconfig; sets SERVER_PID and SERVER_URL.
start_server() {
  local log=$1
  shift
  "$KORCH" server --data-dir "$DATA" --listen 127.0.0.1:0 "$@" >"$log" 2>&1 &
  SERVER_PID=$!
  local deadline=$((SECONDS + WAIT_SECONDS))
  until grep -q "Wrote kubeconfig to $KUBECONFIG_FILE" "$log"; do
    kill -0 "$SERVER_PID" 2>/dev/null || fail "korch server exited during start"
    ((SECONDS < deadline)) || fail "korch server did not write its kubeconfig in ${WAIT_SECONDS}s"
    sleep 0.1
  done
  SERVER_URL=$(sed -n 's/.*Listening on \(http[s]*:\/\/[^ ]*\).*/\1/p' "$log" | head -n 1)
  [[ -n "$SERVER_URL" ]] || fail "the start log does not say where the server listens"
  grep -q "server: $SERVER_URL\$" "$KUBECONFIG_FILE" ||
    fail "the kubeconfig does not point at $SERVER_URL"
  pass "korch server $* listens on $SERVER_URL"
}

# stop_server LOG: SIGTERM, then waits (bounded) for exit status 0.
stop_server() {
  local log=$1
  kill -TERM "$SERVER_PID"
  local deadline=$((SECONDS + WAIT_SECONDS))
  while kill -0 "$SERVER_PID" 2>/dev/null; do
    ((SECONDS < deadline)) || fail "korch server still running ${WAIT_SECONDS}s after SIGTERM"
    sleep 0.1
  done
  local rc=0
  wait "$SERVER_PID" || rc=$?
  SERVER_PID=""
  [[ $rc -eq 0 ]] || fail "korch server exited $rc after SIGTERM, want 0"
  grep -q "Shut down cleanly" "$log" || fail "no 'Shut down cleanly' in the log"
  pass "korch server shut down on SIGTERM with exit 0"
}

mode_of() { stat -c %a "$1"; }

HAVE_KUBECTL=1
if ! command -v kubectl >/dev/null 2>&1; then
  HAVE_KUBECTL=0
  echo "SKIP: kubectl is not on PATH; the kubectl steps are skipped" >&2
fi

kc() {
  timeout "$WAIT_SECONDS" kubectl --kubeconfig "$KUBECONFIG_FILE" --cache-dir "$WORK/kubectl-cache" \
    --request-timeout=20s "$@"
}

start_server "$WORK/server1.log"
for f in ca.crt ca.key server.crt server.key admin.crt admin.key admin.token; do
  [[ -s "$DATA/pki/$f" ]] || fail "$DATA/pki/$f was not created"
done
for f in pki/ca.key pki/server.key pki/admin.key pki/admin.token admin.kubeconfig; do
  [[ $(mode_of "$DATA/$f") == 600 ]] || fail "$DATA/$f has mode $(mode_of "$DATA/$f"), want 600"
done
grep -q "certificate-authority-data: " "$KUBECONFIG_FILE" || fail "kubeconfig lacks the CA"
grep -q "client-certificate-data: " "$KUBECONFIG_FILE" || fail "kubeconfig lacks the client cert"
grep -q "token: $(cat "$DATA/pki/admin.token")" "$KUBECONFIG_FILE" ||
  fail "kubeconfig lacks the admin token"
pass "credentials and kubeconfig written with private modes"
CA_SUM=$(sha256sum <"$DATA/pki/ca.crt")

if ((HAVE_KUBECTL)); then
  out=$(kc get ns) || fail "kubectl get ns: $out"
  [[ "$out" == *default* && "$out" == *kube-system* ]] || fail "kubectl get ns lacks default:
$out"
  pass "kubectl get ns over HTTPS with the admin client certificate"
  # `kubectl create -f` sends JSON. (The imperative `kubectl create namespace`
  # of kubectl 1.3x sends a protobuf body, which korch does not decode yet.)
  out=$(echo '{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"smoke"}}' |
    kc create -f - 2>&1) || fail "kubectl create -f namespace smoke: $out"
  out=$(kc get ns smoke -o json) || fail "kubectl get ns smoke -o json: $out"
  [[ "$out" == *'"name": "smoke"'* ]] || fail "kubectl get ns smoke -o json:
$out"
  pass "kubectl create -f namespace smoke; get ns smoke -o json"
fi
if command -v curl >/dev/null 2>&1; then
  code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 20 --cacert "$DATA/pki/ca.crt" \
    "$SERVER_URL/api/v1/namespaces")
  [[ $code == 401 ]] || fail "GET without credentials over HTTPS: HTTP $code, want 401"
  code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 20 --cacert "$DATA/pki/ca.crt" \
    -H "Authorization: Bearer $(cat "$DATA/pki/admin.token")" "$SERVER_URL/api/v1/namespaces")
  [[ $code == 200 ]] || fail "GET with the admin token over HTTPS: HTTP $code, want 200"
  pass "HTTPS: no credentials -> 401, the admin token -> 200 (serving cert verifies with ca.crt)"
fi
stop_server "$WORK/server1.log"

# ---- Restart: the same credentials and the same data -----------------------
start_server "$WORK/server2.log"
[[ $(sha256sum <"$DATA/pki/ca.crt") == "$CA_SUM" ]] || fail "the CA changed on restart"
grep -q "Created" "$WORK/server2.log" && fail "restart created new credentials"
pass "restart reused the CA and credentials"
if ((HAVE_KUBECTL)); then
  out=$(kc get ns smoke -o json) || fail "after restart, kubectl get ns smoke: $out"
  pass "namespace smoke survived the restart"
fi
stop_server "$WORK/server2.log"

# ---- Plain HTTP on loopback ---------------------------------------------------
# kubectl sends no kubeconfig credentials over plain HTTP, so the server lets
# credential-less loopback requests in as system:unsecured (system:masters);
# a presented token must still be right.
start_server "$WORK/server3.log" --plain-http --simulated-nodes 3 --simulated-node-labels pool=smoke
[[ "$SERVER_URL" == http://* ]] || fail "--plain-http server URL is $SERVER_URL"
grep -q "client-certificate-data" "$KUBECONFIG_FILE" &&
  fail "the plain-HTTP kubeconfig carries a client certificate"
if ((HAVE_KUBECTL)); then
  out=$(kc get ns smoke -o name 2>&1) || fail "kubectl over plain HTTP: $out"
  [[ "$out" == "namespace/smoke" ]] || fail "kubectl get ns smoke -o name: $out"
  pass "kubectl over plain HTTP"
  out=$(kc get nodes -l pool=smoke -o name 2>&1) || fail "kubectl get nodes: $out"
  [[ $(wc -l <<<"$out") == 3 ]] || fail "want 3 simulated nodes labelled pool=smoke, got: $out"
  out=$(kc get node sim-node-1 2>&1) || fail "kubectl get node sim-node-1: $out"
  [[ "$out" == *Ready* ]] || fail "sim-node-1 is not Ready: $out"
  kc apply -f - >/dev/null <<'YAML' || fail "creating a pod bound to sim-node-2"
apiVersion: v1
kind: Pod
metadata: {name: on-sim, namespace: smoke}
spec:
  nodeName: sim-node-2
  containers: [{name: app, image: nginx}]
YAML
  deadline=$((SECONDS + WAIT_SECONDS))
  until [[ $(kc get pod on-sim -n smoke -o jsonpath='{.status.phase}' 2>/dev/null) == Running ]]; do
    ((SECONDS < deadline)) || fail "the pod on sim-node-2 is not Running after ${WAIT_SECONDS}s"
    sleep 0.2
  done
  pass "--simulated-nodes 3: three Ready nodes; a pod bound to one runs"
fi
if command -v curl >/dev/null 2>&1; then
  code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 20 \
    -H "Authorization: Bearer $(cat "$DATA/pki/admin.token")" "$SERVER_URL/api/v1/namespaces")
  [[ $code == 200 ]] || fail "GET with the admin token: HTTP $code, want 200"
  code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 20 \
    -H "Authorization: Bearer wrong" "$SERVER_URL/api/v1/namespaces")
  [[ $code == 401 ]] || fail "GET with a wrong token: HTTP $code, want 401"
  pass "the admin token works over plain HTTP and a wrong token is refused"
fi
stop_server "$WORK/server3.log"

echo "PASS: korch program smoke test"
