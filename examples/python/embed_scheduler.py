#!/usr/bin/env python3
"""Embeds korch's scheduler in a Python tool: a small "capacity planner" that
places a batch of pods on a fleet, with one policy written in Python.

Run from a checkout after building (scripts/build korch_c), or with the
package installed:  python3 examples/python/embed_scheduler.py
"""
import os
import sys

try:
    import korch
except ImportError:  # running from a checkout without installing
    sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "bindings", "python"))
    import korch


def node(name, zone, cpu, memory, labels=None, taints=None):
    n = {"apiVersion": "v1", "kind": "Node",
         "metadata": {"name": name, "labels": {"kubernetes.io/hostname": name,
                                               "topology.kubernetes.io/zone": zone,
                                               **(labels or {})}},
         "spec": {"taints": taints or []},
         "status": {"allocatable": {"cpu": cpu, "memory": memory, "pods": "110"}}}
    return n


def pod(name, app, cpu, memory, **spec):
    p = {"apiVersion": "v1", "kind": "Pod",
         "metadata": {"name": name, "namespace": "shop", "uid": f"shop-{name}",
                      "labels": {"app": app}},
         "spec": {"containers": [{"name": app, "image": f"registry.example/{app}:1",
                                  "resources": {"requests": {"cpu": cpu, "memory": memory}}}]}}
    p["spec"].update(spec)
    return p


# A policy in Python: keep a 10% cpu headroom on every node.
def keep_headroom(pod_obj, node_info):
    def milli(q):
        return int(q[:-1]) if q.endswith("m") else int(float(q) * 1000)
    allocatable = milli(node_info["node"]["status"]["allocatable"]["cpu"])
    requested = milli(node_info["requested"]["cpu"])
    wanted = sum(milli(c["resources"]["requests"].get("cpu", "0"))
                 for c in pod_obj["spec"]["containers"])
    if requested + wanted > allocatable * 0.9:
        return "node(s) would drop below 10% cpu headroom"
    return None


def main():
    fleet = [
        node("web-a1", "zone-a", "4", "16Gi"),
        node("web-a2", "zone-a", "4", "16Gi"),
        node("web-b1", "zone-b", "4", "16Gi"),
        node("db-b2", "zone-b", "16", "64Gi", labels={"disk": "ssd"}),
        node("gpu-c1", "zone-c", "8", "32Gi",
             taints=[{"key": "dedicated", "value": "gpu", "effect": "NoSchedule"}]),
    ]
    spread = [{"maxSkew": 1, "topologyKey": "topology.kubernetes.io/zone",
               "whenUnsatisfiable": "DoNotSchedule", "nodeTaintsPolicy": "Honor",
               "labelSelector": {"matchLabels": {"app": "frontend"}}}]
    anti = {"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [
        {"labelSelector": {"matchLabels": {"app": "cache"}},
         "topologyKey": "kubernetes.io/hostname"}]}}
    pods = (
        [pod(f"frontend-{i}", "frontend", "500m", "512Mi", topologySpreadConstraints=spread)
         for i in range(4)]
        + [pod(f"cache-{i}", "cache", "1", "2Gi", affinity=anti) for i in range(3)]
        + [pod("postgres", "postgres", "8", "32Gi", nodeSelector={"disk": "ssd"})]
        + [pod("trainer", "trainer", "6", "16Gi",
               tolerations=[{"key": "dedicated", "operator": "Equal", "value": "gpu",
                             "effect": "NoSchedule"}])]
        + [pod("batch-huge", "batch", "12", "8Gi")]
    )

    with korch.Scheduler(filters={"KeepHeadroom": keep_headroom}, seed=42,
                         percentage_of_nodes_to_score=100) as scheduler:
        for n in fleet:
            scheduler.add_node(n)
        print(f"korch {korch.__version__}: placing {len(pods)} pods on {len(fleet)} nodes "
              "(with a Python filter keeping 10% cpu headroom)")
        placed = 0
        for p, result in zip(pods, scheduler.schedule_batch(pods)):
            name = p["metadata"]["name"]
            if result.get("node"):
                placed += 1
                print(f"  {name:<12} -> {result['node']}")
            else:
                print(f"  {name:<12} -> unschedulable: {result.get('message', result)}")
        stats = scheduler.stats()
        print(f"placed {placed}/{len(pods)}; scheduler stats: {stats}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
