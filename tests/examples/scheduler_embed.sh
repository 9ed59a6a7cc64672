#!/usr/bin/env bash
# Runs examples/scheduler_embed on examples/data/scheduler_embed.json and
# checks what a user reads: where each pod went and why the unschedulable
# ones fit nowhere, in Kubernetes' words; the same seed gives the same
# placements; bad input and usage errors exit 1 and 2.
#
#   scheduler_embed.sh PATH/TO/scheduler_embed PATH/TO/scheduler_embed.json
set -euo pipefail

PROGRAM=${1:?usage: scheduler_embed.sh PROGRAM INPUT}
INPUT=${2:?usage: scheduler_embed.sh PROGRAM INPUT}

fail() {
  echo "FAIL: $*" >&2
  exit 1
}

rc=0
out=$(timeout 60 "$PROGRAM" --seed=7 "$INPUT" 2>&1) || rc=$?
echo "$out"
# Two pods cannot be placed: exit status 1.
[[ $rc -eq 1 ]] || fail "exit status $rc, want 1"

expect_line() {
  grep -qxF -- "$1" <<<"$out" || fail "no line '$1'"
  echo "ok: $1"
}
expect_prefix() {
  grep -qF -- "$1" <<<"$out" || fail "nothing starts with '$1'"
  echo "ok: $1..."
}

expect_line "default/db-0 on node-b (already bound)"
# Only node-b has disk=ssd; only gpu-1 has the GPU, and the pod tolerates
# its taint.
expect_line "default/cache -> node-b"
expect_line "ml/trainer -> gpu-1"
# The web pods go to untainted nodes.
grep -qxE "default/web-0 -> node-[ab]" <<<"$out" || fail "web-0 not on node-a or node-b"
grep -qxE "default/web-1 -> node-[ab]" <<<"$out" || fail "web-1 not on node-a or node-b"
expect_prefix "default/huge: unschedulable: 0/3 nodes are available: 1 node(s) had untolerated taint {dedicated: gpu}, 2 Insufficient cpu."
expect_prefix "default/arm-only: unschedulable: 0/3 nodes are available: 1 node(s) had untolerated taint {dedicated: gpu}, 2 node(s) didn't match Pod's node affinity/selector."
expect_line "4 placed, 2 unschedulable, 3 nodes"

# Reproducible: the same seed, the same output.
again=$(timeout 60 "$PROGRAM" --seed=7 "$INPUT" 2>&1) || true
[[ "$again" == "$out" ]] || fail "a second run with --seed=7 differs"
echo "ok: reproducible with --seed=7"

# Usage errors and bad input.
rc=0
timeout 60 "$PROGRAM" >/dev/null 2>&1 || rc=$?
[[ $rc -eq 2 ]] || fail "no arguments: exit $rc, want 2"
rc=0
timeout 60 "$PROGRAM" --bogus "$INPUT" >/dev/null 2>&1 || rc=$?
[[ $rc -eq 2 ]] || fail "--bogus: exit $rc, want 2"
bad=$(mktemp)
trap 'rm -f "$bad"' EXIT
echo '{"nodes": [{"metadata": {"name": "n"}, "status": {"allocatable": {"cpu": "lots"}}}]}' >"$bad"
rc=0
msg=$(timeout 60 "$PROGRAM" "$bad" 2>&1) || rc=$?
[[ $rc -eq 1 ]] || fail "bad quantity: exit $rc, want 1"
[[ "$msg" == *"nodes[0]"* ]] || fail "bad quantity: the error does not name nodes[0]: $msg"
echo "ok: usage errors exit 2, bad input exits 1 naming the item"
echo "PASS: scheduler_embed"
