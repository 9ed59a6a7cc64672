#!/usr/bin/env python3
"""Drives a korch cluster from Python: an in-process API server with an
admission policy written in Python, the scheduler running against it, and a
watch that reports where the pods land.

    python3 examples/python/drive_cluster.py
"""
import os
import sys
import time

try:
    import korch
except ImportError:  # running from a checkout without installing
    sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "bindings", "python"))
    import korch


def require_team_label(op, obj, old, user):
    """Validating admission: every Pod must say which team owns it."""
    if op == "CREATE" and obj.get("kind") == "Pod":
        if "team" not in obj["metadata"].get("labels", {}):
            raise korch.Forbidden("pods must carry a 'team' label")


def main():
    with korch.ApiServer(store="memory", admission=[("RequireTeam", require_team_label)]) as api:
        admin = api.client()
        for i in range(3):
            admin.create({"apiVersion": "v1", "kind": "Node",
                          "metadata": {"name": f"node-{i}", "labels": {"tier": "web" if i else "db"}},
                          "status": {"allocatable": {"cpu": "2", "memory": "4Gi", "pods": "10"}}})
        admin.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "shop"}})
        try:
            admin.create({"apiVersion": "v1", "kind": "Pod",
                          "metadata": {"name": "anonymous", "namespace": "shop"},
                          "spec": {"containers": [{"name": "c", "image": "nginx"}]}})
        except korch.Forbidden as e:
            print(f"admission refused a pod: {e}")
        with korch.SchedulerRunner(admin), admin.watch("v1", "Pod", "shop") as events:
            for i in range(4):
                admin.create({"apiVersion": "v1", "kind": "Pod",
                              "metadata": {"name": f"web-{i}", "namespace": "shop",
                                           "labels": {"team": "storefront"}},
                              "spec": {"nodeSelector": {"tier": "web"},
                                       "containers": [{"name": "c", "image": "nginx",
                                                       "resources": {"requests": {"cpu": "500m"}}}]}})
            placed = {}
            deadline = time.monotonic() + 15
            while len(placed) < 4 and time.monotonic() < deadline:
                event = events.next(timeout=1)
                if event is None:
                    continue
                kind, pod = event
                node = pod["spec"].get("nodeName")
                if node and pod["metadata"]["name"] not in placed:
                    placed[pod["metadata"]["name"]] = node
                    print(f"{kind:<9} {pod['metadata']['name']} -> {node}")
        if len(placed) != 4 or any(n == "node-0" for n in placed.values()):
            print(f"unexpected placements: {placed}", file=sys.stderr)
            return 1
        print("all pods placed on web nodes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
