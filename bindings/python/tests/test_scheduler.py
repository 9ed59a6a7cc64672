import time

import pytest

import korch


def node(name, cpu="4", labels=None, taints=None):
    n = {"apiVersion": "v1", "kind": "Node",
         "metadata": {"name": name, "labels": dict(labels or {}, **{"kubernetes.io/hostname": name})},
         "status": {"allocatable": {"cpu": cpu, "memory": "16Gi", "pods": "110"}}}
    if taints:
        n["spec"] = {"taints": taints}
    return n


def pod(name, cpu="1", **spec):
    p = {"apiVersion": "v1", "kind": "Pod",
         "metadata": {"name": name, "namespace": "default", "uid": name, "labels": {"app": "web"}},
         "spec": {"containers": [{"name": "c", "image": "nginx",
                                  "resources": {"requests": {"cpu": cpu}}}]}}
    p["spec"].update(spec)
    return p


def test_places_pods_and_explains_failures():
    with korch.Scheduler(seed=7, parallelism=1) as s:
        s.add_node(node("small", cpu="1"))
        s.add_node(node("big", cpu="8"))
        s.add_node(node("gpu", cpu="8", taints=[{"key": "dedicated", "value": "gpu",
                                                  "effect": "NoSchedule"}]))
        placed = s.schedule(pod("p1", cpu="2"))
        assert placed["node"] == "big"
        result = s.schedule(pod("huge", cpu="64"))
        assert result["node"] == ""
        assert result["message"].startswith("0/3 nodes are available: ")
        assert result["reasons"]["Insufficient cpu"] == 2
        assert result["reasons"]["node(s) had untolerated taint {dedicated: gpu}"] == 1
        tolerant = pod("t", cpu="7", tolerations=[{"key": "dedicated", "operator": "Equal",
                                                    "value": "gpu", "effect": "NoSchedule"}])
        assert s.schedule(tolerant)["node"] == "gpu"
        stats = s.stats()
        assert stats["nodes"] == 3 and stats["scheduled"] == 2 and stats["failed"] == 1


def test_batches_see_earlier_placements_and_anti_affinity():
    anti = {"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [
        {"labelSelector": {"matchLabels": {"app": "web"}}, "topologyKey": "kubernetes.io/hostname"}]}}
    with korch.Scheduler(seed=1) as s:
        for i in range(3):
            s.add_node(node(f"n{i}"))
        results = s.schedule_batch([pod(f"r{i}", affinity=anti) for i in range(4)])
        nodes = [r["node"] for r in results]
        assert sorted(nodes[:3]) == ["n0", "n1", "n2"]  # one replica per node
        assert nodes[3] == "" and "anti-affinity" in results[3]["message"]


def test_python_plugins():
    calls = {"filter": 0}

    def even_only(p, n):
        calls["filter"] += 1
        assert "requested" in n and "podCount" in n
        return None if int(n["node"]["metadata"]["name"][1:]) % 2 == 0 else "node(s) are odd"

    def prefer_high(p, n):
        return int(n["node"]["metadata"]["name"][1:]) * 10

    with korch.Scheduler(filters={"EvenOnly": even_only}, scores={"High": (prefer_high, 5)},
                         seed=1, percentage_of_nodes_to_score=100) as s:
        for i in range(5):
            s.add_node(node(f"n{i}", cpu="1"))
        assert s.schedule(pod("a"))["node"] == "n4"
        assert s.schedule(pod("b"))["node"] == "n2"
        assert s.evaluate(pod("c"))["node"] == "n0"
        assert calls["filter"] > 0
        s.schedule(pod("c"))
        full = s.schedule(pod("d"))
        assert full["node"] == ""
        assert full["reasons"] == {"Insufficient cpu": 3, "node(s) are odd": 2}


def test_an_exception_in_a_plugin_reaches_the_caller():
    def broken(p, n):
        raise ZeroDivisionError("plugin bug")

    with korch.Scheduler(filters={"Broken": broken}) as s:
        s.add_node(node("n0"))
        with pytest.raises(ZeroDivisionError, match="plugin bug"):
            s.schedule(pod("x"))
        # The scheduler is still usable, and nothing was placed.
        assert s.stats()["pods"] == 0


def test_bad_configuration_names_the_field():
    with pytest.raises(korch.Invalid, match="percentageOfNodesToScor"):
        korch.Scheduler(config={"percentageOfNodesToScor": 50})
    with pytest.raises(korch.Invalid):
        korch.Scheduler(config={"profiles": [{"plugins": {"score": {"enabled": [{"name": "Nope"}]}}}]})
    with korch.Scheduler() as s:
        with pytest.raises(korch.Invalid):
            s.add_node({"kind": "Node", "metadata": {"name": "x"}, "spek": {}})


def test_the_scheduler_against_an_api_server():
    with korch.ApiServer() as server:
        admin = server.client()
        admin.create(node("worker", cpu="2"))
        with korch.SchedulerRunner(admin):
            admin.create(pod("api-pod", cpu="1"))
            admin.create(pod("too-big", cpu="8"))
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                got = admin.get("v1", "Pod", "api-pod", namespace="default")
                if got["spec"].get("nodeName"):
                    break
                time.sleep(0.02)
            assert got["spec"]["nodeName"] == "worker"
            while time.monotonic() < deadline:
                big = admin.get("v1", "Pod", "too-big", namespace="default")
                conds = {c["type"]: c for c in big.get("status", {}).get("conditions", [])}
                if "PodScheduled" in conds:
                    break
                time.sleep(0.02)
            assert conds["PodScheduled"]["status"] == "False"
            assert "Insufficient cpu" in conds["PodScheduled"]["message"]
