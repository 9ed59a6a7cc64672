import json
import os
import subprocess
import threading

import pytest

import korch

NS = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "team"}}


def pod(name, labels=None):
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": "team", "labels": labels or {}},
            "spec": {"containers": [{"name": "c", "image": "nginx"}]}}


@pytest.fixture
def server():
    with korch.ApiServer(store="memory") as s:
        s.client().create(NS)
        yield s


def test_crud_with_dicts(server):
    admin = server.client()
    created = admin.create(pod("web", {"app": "web"}))
    assert created["metadata"]["uid"]
    with pytest.raises(korch.AlreadyExists):
        admin.create(pod("web"))
    got = admin.get("v1", "Pod", "web", namespace="team")
    assert got["spec"]["containers"][0]["image"] == "nginx"
    assert [p["metadata"]["name"] for p in
            admin.list("v1", "Pod", "team", label_selector="app=web")["items"]] == ["web"]
    assert admin.list("v1", "Pod", "team", label_selector="app=db")["items"] == []
    with pytest.raises(korch.Invalid):
        admin.list("v1", "Pod", "team", label_selector="app in (")
    patched = admin.patch("v1", "Pod", "web", {"metadata": {"labels": {"tier": "1"}}},
                          namespace="team", patch_type="merge")
    assert patched["metadata"]["labels"] == {"app": "web", "tier": "1"}
    stale = dict(got)
    stale["metadata"]["labels"] = {"x": "y"}
    with pytest.raises(korch.Conflict):
        admin.update(stale)  # resourceVersion is from before the patch
    cm = admin.create({"apiVersion": "v1", "kind": "ConfigMap",
                       "metadata": {"name": "c", "namespace": "team"}, "data": {"a": "1"}})
    cm["data"]["a"] = "2"
    assert admin.update(cm)["data"]["a"] == "2"
    admin.delete("v1", "ConfigMap", "c", namespace="team")
    with pytest.raises(korch.NotFound):
        admin.get("v1", "ConfigMap", "c", namespace="team")


def test_server_side_apply(server):
    admin = server.client()
    cm = {"apiVersion": "v1", "kind": "ConfigMap",
          "metadata": {"name": "applied", "namespace": "team"}, "data": {"k": "v"}}
    out = admin.patch("v1", "ConfigMap", "applied", cm, namespace="team", patch_type="apply",
                      field_manager="py")
    assert out["data"] == {"k": "v"}


def test_watch_sees_added_modified_deleted(server):
    admin = server.client()
    with admin.watch("v1", "ConfigMap", "team") as watch:
        admin.create({"apiVersion": "v1", "kind": "ConfigMap",
                      "metadata": {"name": "w", "namespace": "team"}})
        admin.patch("v1", "ConfigMap", "w", {"data": {"x": "1"}}, namespace="team",
                    patch_type="merge")
        admin.delete("v1", "ConfigMap", "w", namespace="team")
        seen = [watch.next(timeout=10) for _ in range(3)]
    assert [t for t, _ in seen] == ["ADDED", "MODIFIED", "DELETED"]
    assert seen[1][1]["data"] == {"x": "1"}


def test_rbac_forbids_a_user_without_grants(server):
    alice = server.client({"name": "alice", "groups": ["dev"]})
    with pytest.raises(korch.Forbidden) as e:
        alice.list("v1", "Pod", "team")
    assert "alice" in str(e.value)
    with pytest.raises(korch.Invalid):
        server.client({"groups": []})


def test_python_admission_plugins():
    calls = []

    def add_label(op, obj, old, user):
        calls.append((op, user["name"]))
        if op == "CREATE" and obj["kind"] == "Pod":
            obj["metadata"].setdefault("labels", {})["admitted-by"] = "python"
            return obj
        return None

    def refuse(op, obj, old, user):
        name = obj["metadata"]["name"]
        if name == "forbidden":
            raise korch.Forbidden("pods named forbidden are not allowed")
        if name == "buggy":
            raise ZeroDivisionError("the plugin has a bug")

    with korch.ApiServer(admission=[("AddLabel", add_label, True), ("Refuse", refuse)]) as s:
        admin = s.client()
        admin.create(NS)
        assert admin.create(pod("ok"))["metadata"]["labels"]["admitted-by"] == "python"
        with pytest.raises(korch.Forbidden) as e:
            admin.create(pod("forbidden"))
        assert "pods named forbidden are not allowed" in str(e.value)
        # An unexpected exception in a plugin reaches the caller as itself.
        with pytest.raises(ZeroDivisionError):
            admin.create(pod("buggy"))
        with pytest.raises(korch.NotFound):
            admin.get("v1", "Pod", "buggy", namespace="team")
        assert ("CREATE", "system:admin") in calls or any(op == "CREATE" for op, _ in calls)


def test_http_listener_with_a_python_authenticator_and_the_kubernetes_client(tmp_path):
    def authn(token):
        if token == "py-token":
            return {"name": "py-user", "groups": ["system:masters"]}
        if token == "revoked":
            raise korch.Unauthorized("revoked")
        return None

    with korch.ApiServer(listen="127.0.0.1:0", plain_http=True,
                         authenticators=[("py", authn)]) as s:
        url = s.url
        assert url.startswith("http://127.0.0.1:")
        for token, ok in (("py-token", True), ("wrong", False), ("revoked", False)):
            kubeconfig = tmp_path / f"kc-{token}"
            kubeconfig.write_text(
                "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster:\n"
                f"    server: {url}\nusers:\n- name: u\n  user:\n    token: {token}\n"
                "contexts:\n- name: x\n  context:\n    cluster: c\n    user: u\n"
                "current-context: x\n")
            with korch.Client.connect(kubeconfig) as remote:
                if ok:
                    names = [n["metadata"]["name"] for n in
                             remote.list("v1", "Namespace")["items"]]
                    assert "kube-system" in names
                else:
                    with pytest.raises(korch.Unauthorized):
                        remote.list("v1", "Namespace")
        # The official Python client works against it too.
        from kubernetes import client as k8s
        config = k8s.Configuration()
        config.host = url
        config.api_key = {"authorization": "Bearer py-token"}
        with k8s.ApiClient(config) as api_client:
            names = [n.metadata.name for n in k8s.CoreV1Api(api_client).list_namespace().items]
        assert "default" in names


def test_closing_the_server_closes_clients_and_watches():
    s = korch.ApiServer()
    admin = s.client()
    w = admin.watch("v1", "Namespace")
    s.close()
    with pytest.raises(ValueError):
        admin.list("v1", "Namespace")
    w.close()  # idempotent
