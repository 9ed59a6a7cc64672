#!/usr/bin/python3 -B
"""End-to-end tests of `korch server` with the real clients (no mocks).

Each run starts its own `korch server` on a free loopback port with a temp
data directory, drives it, and stops it (SIGTERM, clean exit asserted); the
server and the temp directories go away whatever happens.

  e2e.py --korch PATH/TO/korch [--build-dir DIR] SUITE [options]

Suites:
  kubectl --client dispatcher|1.27|...|1.33|1.20
            the kubectl scenario (kubectl_scenario.py) with that kubectl: the
            machine's dispatcher, a pinned kubectl.1.XX beside it, or Debian's
            kubectl 1.20 (from /opt/korch-test/kubectl-1.20, set up by
            scripts/setup, else unpacked from `apt-get download
            kubernetes-client` into BUILD_DIR/e2e-cache; skipped when neither
            works, e.g. offline)
  python    the Python kubernetes client (python_client.py)
  security  401 / 403 / foreign CA (security.py)
  bad-input malformed requests (bad_input.py)
  load      M concurrent clients for a bounded time (load.py)
  watchers  1,000 concurrent watches each receiving every event (load.py)
  all       every suite above, one after another, with a summary table

Run with /usr/bin/python3: Debian's python3-kubernetes and python3-yaml are
seen by that interpreter only. Exit status 0 when every step passed (or the
suite was skipped, with a "SKIPPED:" line), 1 otherwise.
"""

import sys

sys.dont_write_bytecode = True  # keep the source tree clean

import argparse  # noqa: E402
import os  # noqa: E402
import shutil  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402

import harness  # noqa: E402
from harness import Failure, Kubectl, Server, Steps, expect, kubectl_dir  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
MANIFESTS = os.path.join(HERE, "manifests")
SYSTEM_KUBECTL_1_20 = "/opt/korch-test/kubectl-1.20/usr/bin/kubectl"


class Skip(Exception):
    pass


def kubectl_1_20(build_dir):
    """Debian's kubectl 1.20: set up by scripts/setup, else fetched into the build dir."""
    if os.environ.get("KORCH_KUBECTL_1_20"):
        return os.environ["KORCH_KUBECTL_1_20"]
    if os.access(SYSTEM_KUBECTL_1_20, os.X_OK):
        return SYSTEM_KUBECTL_1_20
    cache = os.path.join(os.path.abspath(build_dir or "."), "e2e-cache", "kubectl-1.20")
    binary = os.path.join(cache, "usr", "bin", "kubectl")
    if os.access(binary, os.X_OK):
        return binary
    if not shutil.which("apt-get") or not shutil.which("dpkg"):
        raise Skip("kubectl 1.20 is not in /opt/korch-test/kubectl-1.20 and apt-get/dpkg are "
                   "missing")
    download = harness.make_temp_dir("korch_e2e_kubectl120.")
    os.chmod(download, 0o755)  # apt's _apt user writes here when it can
    try:
        r = subprocess.run(["apt-get", "download", "-qq", "kubernetes-client"], cwd=download,
                           capture_output=True, text=True, timeout=180)
    except subprocess.TimeoutExpired:
        raise Skip("`apt-get download kubernetes-client` timed out (offline?)")
    debs = [f for f in os.listdir(download) if f.endswith(".deb")]
    if r.returncode != 0 or not debs:
        raise Skip(f"`apt-get download kubernetes-client` failed (offline, or no apt lists: "
                   f"scripts/setup fetches it): {r.stderr.strip()[-300:]}")
    # Unpack beside the cache and rename into place, so that a concurrent run
    # sees either nothing or the whole thing.
    os.makedirs(os.path.dirname(cache), exist_ok=True)
    staging = tempfile.mkdtemp(prefix="kubectl-1.20.", dir=os.path.dirname(cache))
    try:
        r = subprocess.run(["dpkg", "-x", os.path.join(download, debs[0]), staging],
                           capture_output=True, text=True, timeout=120)
        if r.returncode != 0:
            raise Failure(f"dpkg -x {debs[0]} failed: {r.stderr}")
        shutil.rmtree(cache, ignore_errors=True)
        try:
            os.rename(staging, cache)
        except OSError:
            if not os.access(binary, os.X_OK):  # else another run put it there first
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return binary


def find_kubectl(client, build_dir):
    if client == "1.20":
        binary = kubectl_1_20(build_dir)
    else:
        d = kubectl_dir()
        if d is None:
            raise Failure("kubectl is not on PATH (see ../shared/reference/host-facts.md)")
        binary = shutil.which("kubectl") if client == "dispatcher" else os.path.join(
            d, f"kubectl.{client}")
    expect(os.access(binary, os.X_OK), f"kubectl {client}: {binary} is missing")
    r = subprocess.run([binary, "version", "--client"], capture_output=True, text=True,
                       timeout=30, env={**os.environ, "HOME": "/nonexistent"})
    first = (r.stdout + r.stderr).strip().splitlines()[:1]
    if client not in ("dispatcher",):
        expect(f"v{client}." in r.stdout, f"{binary} version --client: {r.stdout} {r.stderr}")
    print(f"kubectl {client}: {binary} ({first[0] if first else '?'})", flush=True)
    return binary


def stop_server(steps, server):
    steps.run("server shuts down cleanly on SIGTERM", server.stop)
    if not steps.failed():
        server.mark_ok()


def suite_kubectl(args):
    steps = Steps(f"kubectl {args.client}")
    try:
        binary = find_kubectl(args.client, args.build_dir)
    except Skip as e:
        print(f"SKIPPED: kubectl {args.client}: {e}")
        return 0
    import kubectl_scenario
    server = Server(args.korch, name=f"kubectl-{args.client}").start()
    kc = Kubectl(binary, server.kubeconfig, server.work, args.client.replace(".", "_"))
    kubectl_scenario.run(steps, server, kc, MANIFESTS, server.work)
    stop_server(steps, server)
    return steps.finish(args.summary)


def suite_python(args):
    steps = Steps("python client")
    import python_client
    server = Server(args.korch, name="python").start()
    python_client.run(steps, server)
    stop_server(steps, server)
    return steps.finish(args.summary)


def suite_security(args):
    steps = Steps("security")
    import security
    work = harness.make_temp_dir("korch_e2e_security_files.")
    server = Server(args.korch, ["--token-auth-file", security.token_file(work)],
                    name="security").start()
    binary = find_kubectl("dispatcher", args.build_dir)
    kc = Kubectl(binary, server.kubeconfig, server.work, "admin")
    security.run(steps, server, kc, work)
    stop_server(steps, server)
    return steps.finish(args.summary)


def suite_bad_input(args):
    steps = Steps("bad input")
    import bad_input
    server = Server(args.korch, name="bad_input").start()
    bad_input.run(steps, server)
    stop_server(steps, server)
    return steps.finish(args.summary)


def suite_load(args):
    steps = Steps("load")
    import load
    server = Server(args.korch, name="load").start()
    load.run_clients(steps, server, args.clients, args.seconds)
    stop_server(steps, server)
    return steps.finish(args.summary)


def suite_watchers(args):
    steps = Steps("watchers")
    import load
    limit = harness.raise_fd_limit(max(4096, 2 * args.watchers + 1024))
    if limit < args.watchers + 512:
        raise Failure(f"RLIMIT_NOFILE is {limit}: too low for {args.watchers} watches")
    server = Server(args.korch, name="watchers").start()
    load.run_watchers(steps, server, args.watchers, args.events)
    stop_server(steps, server)
    return steps.finish(args.summary)


def suite_all(args):
    """Every suite in turn (for people; CTest runs them one per test)."""
    summary = args.summary or os.path.join(harness.make_temp_dir("korch_e2e_all."), "s.jsonl")
    args.summary = summary
    rc = 0
    for client in ("dispatcher", "1.27", "1.33", "1.20"):
        args.client = client
        rc |= suite_kubectl(args)
    for fn in (suite_python, suite_security, suite_bad_input, suite_load, suite_watchers):
        rc |= fn(args)
    print_table(summary)
    return rc


def print_table(summary):
    import json
    rows = [json.loads(l) for l in open(summary)]
    kubectl_suites = [s for s in dict.fromkeys(r["suite"] for r in rows) if
                      s.startswith("kubectl")]
    steps = list(dict.fromkeys(r["step"] for r in rows if r["suite"] in kubectl_suites))
    result = {(r["suite"], r["step"]): r["result"] for r in rows}
    print("\n| step | " + " | ".join(s.replace("kubectl ", "") for s in kubectl_suites) + " |")
    print("|---|" + "---|" * len(kubectl_suites))
    for step in steps:
        print(f"| {step} | " + " | ".join(result.get((s, step), "-") for s in kubectl_suites)
              + " |")
    for suite in dict.fromkeys(r["suite"] for r in rows):
        if suite in kubectl_suites:
            continue
        for r in rows:
            if r["suite"] == suite:
                print(f"| {suite}: {r['step']} | {r['result']} |")


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--korch", required=True, help="the korch program")
    p.add_argument("--build-dir", default=None, help="where to cache Debian's kubectl 1.20")
    p.add_argument("--summary", default=None, help="append step results (JSON lines) here")
    sub = p.add_subparsers(dest="suite", required=True)
    k = sub.add_parser("kubectl")
    k.add_argument("--client", required=True,
                   help="dispatcher, 1.27 ... 1.33 (pinned beside the dispatcher), or 1.20")
    sub.add_parser("python")
    sub.add_parser("security")
    sub.add_parser("bad-input")
    for name in ("load", "all"):
        s = sub.add_parser(name)
        s.add_argument("--clients", type=int, default=16)
        s.add_argument("--seconds", type=float, default=20)
        if name == "all":
            s.add_argument("--watchers", type=int, default=1000)
            s.add_argument("--events", type=int, default=20)
    w = sub.add_parser("watchers")
    w.add_argument("--watchers", type=int, default=1000)
    w.add_argument("--events", type=int, default=20)
    args = p.parse_args()
    args.korch = os.path.abspath(args.korch)
    if not os.access(args.korch, os.X_OK):
        print(f"FAIL: {args.korch} is not an executable", file=sys.stderr)
        return 1
    suites = {"kubectl": suite_kubectl, "python": suite_python, "security": suite_security,
              "bad-input": suite_bad_input, "load": suite_load, "watchers": suite_watchers,
              "all": suite_all}
    start = time.monotonic()
    try:
        rc = suites[args.suite](args)
    except Failure as e:
        print(f"FAIL: {e}")
        rc = 1
    print(f"e2e {args.suite}: {time.monotonic() - start:.0f}s")
    return rc


if __name__ == "__main__":
    sys.exit(main())
