#!/usr/bin/env python3
"""Overhead of the C API and of the Python bindings per scheduled pod, next
to the C++ embedded scheduler, on SchedulingBasic at 5,000 nodes (1,000 pods
placed first, then 10,000 measured pods; parallelism 1 everywhere), in one
run:

  C++     bench/scheduler_bench's matching case (Scheduler::Schedule)
  C API   korch_scheduler_schedule with the pod's JSON prepared in advance
          (called through ctypes: adds ~1 us of ctypes cost per call)
  batch   korch_scheduler_schedule_batch, all pods in one call
  Python  korch.Scheduler.schedule(dict) (json.dumps + C API + json.loads)

Usage: bench/bindings_overhead.py BUILD_DIR
"""
import ctypes
import json
import os
import re
import subprocess
import sys
import time

build = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else "build")
os.environ.setdefault("KORCH_C_LIBRARY", os.path.join(build, "capi", "libkorch_c.so"))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "bindings",
                                "python"))
import korch  # noqa: E402
from korch import _native  # noqa: E402

NODES, PLACED, PODS = 5000, 1000, 10000


def node(i):
    name = f"node-{i}"
    alloc = {"cpu": "4", "memory": "32Gi", "pods": "110"}
    return {"apiVersion": "v1", "kind": "Node",
            "metadata": {"name": name, "uid": f"uid-{name}",
                         "labels": {"kubernetes.io/hostname": name,
                                    "topology.kubernetes.io/zone": f"zone-{i % 3}"}},
            "status": {"capacity": alloc, "allocatable": alloc}}


def pod(ns, name, node_name=None):
    p = {"apiVersion": "v1", "kind": "Pod",
         "metadata": {"namespace": ns, "name": name, "uid": f"{ns}-{name}"},
         "spec": {"containers": [{"name": "pause", "image": "registry.k8s.io/pause:3.9",
                                  "resources": {"requests": {"cpu": "100m",
                                                             "memory": "500Mi"}}}]}}
    if node_name:
        p["spec"]["nodeName"] = node_name
    return p


def cluster():
    s = korch.Scheduler(seed=1, parallelism=1)
    for i in range(NODES):
        s.add_node(node(i))
    for i in range(PLACED):
        s.add_pod(pod("placed", f"p{i}", f"node-{i % NODES}"))
    return s


def cpp_pods_per_second():
    exe = os.path.join(build, "bench", "scheduler_bench")
    out = subprocess.run(
        [exe, "--benchmark_filter=BM_SchedulingBasic/nodes:5000/placed:1000/pods:10000/"
              "queued:0/par:1/bare:0"],
        capture_output=True, text=True, check=True).stdout
    m = re.search(r"pods/s=([0-9.]+)(k?)/s", out)
    return float(m.group(1)) * (1000 if m.group(2) == "k" else 1)


def main():
    results = {}
    results["C++ Scheduler::Schedule"] = cpp_pods_per_second()

    with cluster() as s:
        encoded = [json.dumps(pod("measured", f"c{i}")).encode() for i in range(PODS)]
        out = ctypes.c_void_p()
        start = time.perf_counter()
        for body in encoded:
            rc = _native.lib.korch_scheduler_schedule(ctypes.byref(out), s._h(), body)
            if rc != 0:
                raise RuntimeError(_native.lib.korch_last_error())
            _native.lib.korch_free(out)
        results["C API korch_scheduler_schedule"] = PODS / (time.perf_counter() - start)

    with cluster() as s:
        pods = [pod("measured", f"b{i}") for i in range(PODS)]
        start = time.perf_counter()
        placed = s.schedule_batch(pods)
        results["C API korch_scheduler_schedule_batch (Python)"] = PODS / (
            time.perf_counter() - start)
        assert sum(1 for r in placed if r.get("node")) == PODS

    with cluster() as s:
        pods = [pod("measured", f"y{i}") for i in range(PODS)]
        start = time.perf_counter()
        for p in pods:
            if not s.schedule(p)["node"]:
                raise RuntimeError("unschedulable")
        results["Python korch.Scheduler.schedule"] = PODS / (time.perf_counter() - start)

    base = results["C++ Scheduler::Schedule"]
    print(f"SchedulingBasic, {NODES} nodes, {PLACED} placed, {PODS} measured pods, parallelism 1")
    for name, pps in results.items():
        extra = 1e6 / pps - 1e6 / base
        print(f"  {name:<46} {pps:>9.0f} pods/s  {1e6 / pps:7.1f} us/pod  "
              f"(+{extra:.1f} us over C++)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
