# The Python kubernetes client (Debian's python3-kubernetes, run by
# /usr/bin/python3) against a fresh `korch server`, configured from the
# admin kubeconfig the server wrote: list, create, patch (strategic, merge,
# JSON), delete, and watch.Watch().stream() seeing ADDED, MODIFIED, DELETED.

import threading
import time

from harness import Failure, clip, expect, wait_until

NS = "py"


def run(steps, server):
    from kubernetes import client, config, watch
    from kubernetes.client.rest import ApiException

    cfg = client.Configuration()
    config.load_kube_config(config_file=server.kubeconfig, client_configuration=cfg)
    api = client.ApiClient(cfg)
    core = client.CoreV1Api(api)
    apps = client.AppsV1Api(api)

    def api_error(fn, *args, **kwargs):
        try:
            fn(*args, **kwargs)
        except ApiException as e:
            return e
        raise Failure(f"{fn.__name__}{args}: succeeded, want an ApiException")

    def version():
        v = client.VersionApi(api).get_code()
        expect(v.major == "1" and v.minor.rstrip("+").isdigit(), f"get_code: {v}")

    steps.run("version (/version/)", version)

    def listing():
        names = [n.metadata.name for n in core.list_namespace().items]
        expect("default" in names and "kube-system" in names, f"list_namespace: {names}")
        pods = core.list_namespaced_pod("default")
        expect(pods.items == [], f"list_namespaced_pod(default): {pods.items}")
        expect(pods.metadata.resource_version, "a list has no resourceVersion")
        expect(apps.list_deployment_for_all_namespaces().items == [], "deployments not empty")
        core.list_node()
        core.list_service_for_all_namespaces()

    steps.run("list (namespaces, pods, deployments, nodes, services)", listing)

    def create():
        ns = core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=NS)))
        expect(ns.metadata.name == NS and ns.status.phase == "Active", f"namespace {ns}")
        cm = core.create_namespaced_config_map(NS, client.V1ConfigMap(
            metadata=client.V1ObjectMeta(name="conf", labels={"app": "py"}),
            data={"k": "v1"}))
        expect(cm.metadata.uid and cm.metadata.resource_version and cm.data == {"k": "v1"},
               f"created configmap: {cm}")
        e = api_error(core.create_namespaced_config_map, NS, client.V1ConfigMap(
            metadata=client.V1ObjectMeta(name="conf")))
        expect(e.status == 409 and "AlreadyExists" in e.body, f"create twice: {e.status} {e.body}")
        pod = core.create_namespaced_pod(NS, client.V1Pod(
            metadata=client.V1ObjectMeta(name="pod1", labels={"app": "py"}),
            spec=client.V1PodSpec(containers=[client.V1Container(
                name="main", image="busybox:1.36", command=["sleep", "3600"])])))
        expect(pod.status.phase == "Pending", f"created pod phase {pod.status.phase}")
        d = apps.create_namespaced_deployment(NS, client.V1Deployment(
            metadata=client.V1ObjectMeta(name="dep"),
            spec=client.V1DeploymentSpec(
                selector=client.V1LabelSelector(match_labels={"app": "dep"}),
                template=client.V1PodTemplateSpec(
                    metadata=client.V1ObjectMeta(labels={"app": "dep"}),
                    spec=client.V1PodSpec(containers=[
                        client.V1Container(name="main", image="busybox:1.36"),
                        client.V1Container(name="side", image="busybox:1.36")])))))
        expect(d.spec.replicas == 1, f"deployment spec.replicas defaulted to {d.spec.replicas}")
        e = api_error(core.create_namespaced_config_map, "no-such-ns", client.V1ConfigMap(
            metadata=client.V1ObjectMeta(name="x")))
        expect(e.status == 404, f"create in a missing namespace: {e.status}, want 404")
        got = core.list_namespaced_config_map(NS, label_selector="app=py")
        expect([c.metadata.name for c in got.items] == ["conf"], f"label_selector list {got}")
        got = core.list_pod_for_all_namespaces(field_selector=f"metadata.namespace={NS}")
        expect([p.metadata.name for p in got.items] == ["pod1"], "field_selector list")

    steps.run("create (namespace, configmap, pod, deployment; 409; 404)", create)

    def patch():
        cm = core.patch_namespaced_config_map("conf", NS, {"data": {"k2": "x"},
                                                          "metadata": {"labels": {"p": "1"}}})
        expect(cm.data == {"k": "v1", "k2": "x"} and cm.metadata.labels == {"app": "py", "p": "1"},
               f"strategic (dict) patch: data {cm.data} labels {cm.metadata.labels}")
        cm = core.patch_namespaced_config_map("conf", NS, [
            {"op": "replace", "path": "/data/k", "value": "v2"},
            {"op": "remove", "path": "/metadata/labels/p"}])
        expect(cm.data == {"k": "v2", "k2": "x"} and cm.metadata.labels == {"app": "py"},
               f"JSON (list) patch: data {cm.data} labels {cm.metadata.labels}")
        d = apps.patch_namespaced_deployment("dep", NS, {"spec": {"template": {"spec": {
            "containers": [{"name": "side", "image": "busybox:1.37"}]}}}})
        imgs = [(c.name, c.image) for c in d.spec.template.spec.containers]
        expect(imgs == [("main", "busybox:1.36"), ("side", "busybox:1.37")],
               f"strategic patch merged containers by name: {imgs}")
        s = apps.patch_namespaced_deployment_scale("dep", NS, {"spec": {"replicas": 3}})
        expect(s.spec.replicas == 3, f"patch scale: {s}")
        s = apps.read_namespaced_deployment_scale("dep", NS)
        expect(s.spec.replicas == 3 and s.status.replicas is not None, f"read scale: {s}")
        e = api_error(core.patch_namespaced_config_map, "conf", NS,
                      {"metadata": {"resourceVersion": "1"}, "data": {"k": "stale"}})
        expect(e.status == 409, f"patch with a stale resourceVersion: {e.status}, want 409")
        cm = core.read_namespaced_config_map("conf", NS)
        cm.data["k"] = "v3"
        cm = core.replace_namespaced_config_map("conf", NS, cm)
        expect(cm.data["k"] == "v3", "replace (PUT)")

    steps.run("patch (strategic dict, JSON list, deployment, scale, 409) and replace", patch)

    def delete():
        core.delete_namespaced_config_map("conf", NS)
        e = api_error(core.read_namespaced_config_map, "conf", NS)
        expect(e.status == 404 and "NotFound" in e.body, f"read after delete: {e.status}")
        core.delete_namespaced_pod("pod1", NS, grace_period_seconds=0)
        wait_until("pod1 to go", lambda: core.list_namespaced_pod(NS).items == [], timeout=20)
        apps.delete_namespaced_deployment("dep", NS, propagation_policy="Background")
        e = api_error(apps.read_namespaced_deployment, "dep", NS)
        expect(e.status == 404, f"read deployment after delete: {e.status}")
        e = api_error(core.delete_namespaced_config_map, "conf", NS)
        expect(e.status == 404, f"delete twice: {e.status}, want 404")

    steps.run("delete (configmap, pod, deployment; 404)", delete)

    def watch_stream():
        core.create_namespaced_config_map(NS, client.V1ConfigMap(
            metadata=client.V1ObjectMeta(name="sentinel")))
        w = watch.Watch()
        events = []
        errors = []
        lock = threading.Lock()

        def consume():
            try:
                for ev in w.stream(core.list_namespaced_config_map, NS, timeout_seconds=60):
                    obj = ev["object"]
                    with lock:
                        events.append((ev["type"], obj.metadata.name, obj.data))
            except Exception as e:  # reported below
                errors.append(e)

        t = threading.Thread(target=consume, daemon=True)
        t.start()

        def seen(kind, name):
            with lock:
                return any(e[0] == kind and e[1] == name for e in events)

        try:
            def started():
                if errors:
                    raise Failure(f"the watch raised: {errors}")
                return seen("ADDED", "sentinel")

            wait_until("the watch's initial ADDED for sentinel", started, timeout=20)
            core.create_namespaced_config_map(NS, client.V1ConfigMap(
                metadata=client.V1ObjectMeta(name="watched"), data={"n": "1"}))
            core.patch_namespaced_config_map("watched", NS, {"data": {"n": "2"}})
            core.delete_namespaced_config_map("watched", NS)
            wait_until("DELETED watched", lambda: seen("DELETED", "watched"), timeout=20)
        finally:
            w.stop()
        with lock:
            mine = [(k, d) for k, n, d in events if n == "watched"]
        expect(mine == [("ADDED", {"n": "1"}), ("MODIFIED", {"n": "2"}),
                        ("DELETED", {"n": "2"})],
               f"watch events for watched: {mine}, want ADDED n=1, MODIFIED n=2, DELETED")
        expect(not errors, f"the watch raised: {errors}")

    steps.run("watch.Watch().stream sees ADDED, MODIFIED, DELETED", watch_stream)

    def watch_from_version():
        rv = core.list_namespaced_config_map(NS).metadata.resource_version
        for i in range(3):
            core.create_namespaced_config_map(NS, client.V1ConfigMap(
                metadata=client.V1ObjectMeta(name=f"later-{i}")))
        w = watch.Watch()
        got = []
        deadline = time.monotonic() + 20
        for ev in w.stream(core.list_namespaced_config_map, NS, resource_version=rv,
                           timeout_seconds=10):
            got.append((ev["type"], ev["object"].metadata.name))
            if len(got) == 3 or time.monotonic() > deadline:
                w.stop()
        expect(got == [("ADDED", f"later-{i}") for i in range(3)],
               f"watch from the list's resourceVersion: {got}, want exactly the 3 later creates")

    steps.run("watch from a list's resourceVersion (no gaps, no replays)", watch_from_version)

    def delete_namespace():
        core.delete_namespace(NS)

        def gone():
            try:
                core.read_namespace(NS)
                return False
            except ApiException as e:
                if e.status == 404:
                    return True
                raise Failure(f"read_namespace: {e.status} {clip(e.body)}")

        wait_until(f"namespace {NS} and its configmaps to go", gone, timeout=60)

    steps.run("delete the namespace", delete_namespace)
