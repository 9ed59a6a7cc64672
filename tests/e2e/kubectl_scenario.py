# The kubectl scenario: one kubectl binary against a fresh `korch server`.
# Every step asserts what kubectl printed and what the server stored, not
# just the exit code. Steps run in order; a failed step is recorded and the
# scenario goes on (later steps may then fail too: read the first failure).

import json
import os
import re
import subprocess

import yaml

from harness import (Failure, clip, expect, expect_output, make_client_cert, parse_table,
                     wait_until, write_kubeconfig)

NS = "e2e"
AGE = re.compile(r"^\d+(s|m|h|d|y)(\d+(s|m|h))?$")


def labels_of(obj):
    return obj.get("metadata", {}).get("labels") or {}


def containers_of(deploy):
    return deploy["spec"]["template"]["spec"]["containers"]


def row(rows, name, what):
    for r in rows:
        if r.get("NAME") == name:
            return r
    raise Failure(f"{what}: no row named {name!r} in {rows}")


def expect_columns(cols, want, what):
    expect(cols == want, f"{what}: columns {cols}, want {want}")


def expect_not_found(kc, args, what):
    out = kc.fails(args)
    expect("NotFound" in out or "not found" in out, f"{what}: want NotFound, got: {clip(out)}")


def run(steps, server, kc, manifests, work):
    m = lambda name: os.path.join(manifests, name)  # noqa: E731
    state = {}

    # -- discovery -------------------------------------------------------------
    def discovery():
        v = json.loads(kc.ok(["version", "-o", "json"]))
        sv = v.get("serverVersion") or {}
        expect(sv.get("major") == "1" and sv.get("minor", "").rstrip("+").isdigit(),
               f"kubectl version -o json: bad serverVersion {sv}")
        out = kc.ok(["api-resources"])
        cols, rows = parse_table(out)
        expect(cols[:2] == ["NAME", "SHORTNAMES"], f"api-resources columns {cols}")
        by_name = {r["NAME"]: r for r in rows}
        for name, short in (("pods", "po"), ("deployments", "deploy"), ("services", "svc"),
                            ("namespaces", "ns"), ("configmaps", "cm"), ("nodes", "no")):
            expect(name in by_name, f"api-resources lacks {name}:\n{clip(out)}")
            expect(short in by_name[name]["SHORTNAMES"].split(","),
                   f"api-resources: {name} has short names {by_name[name]['SHORTNAMES']!r}, "
                   f"want {short}")
        expect_output(kc.ok(["get", "--raw", "/readyz"]), "ok", what="get --raw /readyz")

    steps.run("discovery: version, api-resources, /readyz", discovery)

    # -- create -----------------------------------------------------------------
    def create():
        out = kc.ok(["create", "-f", m("namespace.yaml")])
        expect_output(out, f"namespace/{NS} created", what="create -f namespace.yaml")
        out = kc.ok(["create", "-n", NS, "-f", m("objects.yaml")])
        expect_output(out, "pod/web created", "configmap/settings created",
                      "service/web-svc created", what="create -f objects.yaml")
        out = kc.ok(["create", "-f", m("node.yaml")])
        expect_output(out, "node/e2e-node created", what="create -f node.yaml")
        pod = kc.json(["get", "pod", "web", "-n", NS])
        expect(labels_of(pod) == {"app": "web", "tier": "frontend"},
               f"pod web labels {labels_of(pod)}")
        expect(pod["spec"]["containers"][0]["image"] == "busybox:1.36", "pod web image")
        svc = kc.json(["get", "svc", "web-svc", "-n", NS])
        expect(re.match(r"^\d+\.\d+\.\d+\.\d+$", svc["spec"].get("clusterIP", "")),
               f"service web-svc got no cluster IP: {svc['spec']}")
        out = kc.ok(["run", "other", "-n", NS, "--image=busybox:1.36", "--restart=Never",
                     "--labels=app=other", "--", "sleep", "3600"])
        expect_output(out, "pod/other created", what="kubectl run other")

    steps.run("create -f (validation on), run", create)

    def create_generators():
        # kubectl's own generators build typed objects; kubectl >= 1.32 sends
        # them as protobuf (application/vnd.kubernetes.protobuf), which korch
        # transcodes to JSON; older kubectl sends JSON.
        for args, want in ((["create", "namespace", "gen"], "namespace/gen created"),
                           (["create", "configmap", "gen-cm", "-n", "gen", "--from-literal=a=b"],
                            "configmap/gen-cm created"),
                           (["create", "secret", "generic", "gen-secret", "-n", "gen",
                             "--from-literal=a=b"], "secret/gen-secret created"),
                           (["create", "deployment", "gen-deploy", "-n", "gen",
                             "--image=busybox:1.36"], "deployment.apps/gen-deploy created"),
                           (["create", "serviceaccount", "gen-sa", "-n", "gen"],
                            "serviceaccount/gen-sa created"),
                           (["create", "rolebinding", "gen-rb", "-n", "gen",
                             "--clusterrole=view", "--user=nobody"],
                            "rolebinding.rbac.authorization.k8s.io/gen-rb created"),
                           (["create", "job", "gen-job", "-n", "gen", "--image=busybox:1.36",
                             "--", "sleep", "1"], "job.batch/gen-job created"),
                           (["create", "service", "clusterip", "gen-svc", "-n", "gen",
                             "--tcp=80:8080"], "service/gen-svc created"),
                           (["create", "priorityclass", "gen-pc", "--value=1000"],
                            "priorityclass.scheduling.k8s.io/gen-pc created")):
            expect_output(kc.ok(args), want, what="kubectl " + " ".join(args))
        cm = kc.json(["get", "cm", "gen-cm", "-n", "gen"])
        expect(cm.get("data") == {"a": "b"}, f"gen-cm data {cm.get('data')}")
        secret = kc.json(["get", "secret", "gen-secret", "-n", "gen"])
        expect(secret.get("data") == {"a": "Yg=="}, f"gen-secret data {secret.get('data')}")
        d = kc.json(["get", "deployment", "gen-deploy", "-n", "gen"])
        expect(containers_of(d)[0]["image"] == "busybox:1.36", "gen-deploy image")
        expect(d["spec"]["selector"] == {"matchLabels": {"app": "gen-deploy"}},
               f"gen-deploy selector {d['spec'].get('selector')}")
        rb = kc.json(["get", "rolebinding", "gen-rb", "-n", "gen"])
        expect(rb.get("roleRef", {}).get("name") == "view"
               and [s.get("name") for s in rb.get("subjects", [])] == ["nobody"],
               f"gen-rb roleRef {rb.get('roleRef')} subjects {rb.get('subjects')}")
        job = kc.json(["get", "job", "gen-job", "-n", "gen"])
        expect(containers_of(job)[0]["command"] == ["sleep", "1"],
               f"gen-job command {containers_of(job)[0].get('command')}")
        svc = kc.json(["get", "svc", "gen-svc", "-n", "gen"])
        ports = svc["spec"].get("ports") or [{}]
        expect(ports[0].get("port") == 80 and ports[0].get("targetPort") == 8080,
               f"gen-svc ports {ports}")
        pc = kc.json(["get", "priorityclass", "gen-pc"])
        expect(pc.get("value") == 1000, f"gen-pc value {pc.get('value')}")

    steps.run("create generators (namespace, configmap, secret, deployment, sa, rolebinding, "
              "job, service clusterip, priorityclass)", create_generators)

    def create_invalid():
        # Validation is on: an unknown field is refused (client-side with the
        # OpenAPI schema in old kubectl, server-side fieldValidation=Strict in
        # new), and nothing is created.
        bad = os.path.join(work, "bad-pod.yaml")
        with open(bad, "w") as f:
            f.write("apiVersion: v1\nkind: Pod\nmetadata:\n  name: bad\nspec:\n  containers:\n"
                    "  - name: c\n    image: busybox\n    bogusField: 1\n")
        out = kc.fails(["create", "-n", NS, "-f", bad])
        expect("bogusField" in out, f"create with an unknown field: the error does not name "
                                    f"it: {clip(out)}")
        expect_not_found(kc, ["get", "pod", "bad", "-n", NS], "the invalid pod")

    steps.run("create -f with an unknown field is refused (validation on)", create_invalid)

    # -- client-side apply --------------------------------------------------------
    def apply_create():
        out = kc.ok(["apply", "-n", NS, "-f", m("app-v1.yaml")])
        expect_output(out, "deployment.apps/app created", what="apply -f app-v1.yaml")
        d = kc.json(["get", "deployment", "app", "-n", NS])
        ann = d["metadata"].get("annotations") or {}
        expect("kubectl.kubernetes.io/last-applied-configuration" in ann,
               f"apply: no last-applied-configuration annotation: {ann}")
        expect(d["spec"]["replicas"] == 2, f"replicas {d['spec'].get('replicas')}, want 2")
        expect(labels_of(d) == {"app": "app", "tier": "web"}, f"labels {labels_of(d)}")

    steps.run("apply (client-side) creates", apply_create)

    def apply_change():
        out = kc.ok(["label", "deployment", "app", "-n", NS, "extra=kept"])
        expect_output(out, "deployment.apps/app labeled", what="label deployment")
        out = kc.ok(["apply", "-n", NS, "-f", m("app-v2.yaml")])
        expect_output(out, "deployment.apps/app configured", what="apply -f app-v2.yaml")
        d = kc.json(["get", "deployment", "app", "-n", NS])
        expect(labels_of(d) == {"app": "app", "extra": "kept"},
               f"after the second apply: labels {labels_of(d)}, want app=app (kept), tier "
               f"removed (was in the last applied), extra=kept (set by kubectl label, kept)")
        names = [c["name"] for c in containers_of(d)]
        expect(names == ["main", "side"], f"after the second apply: containers {names}, want "
                                          f"[main, side] (merged by name)")
        env = containers_of(d)[0].get("env")
        expect(env == [{"name": "A", "value": "10"}],
               f"after the second apply: main's env {env}, want [A=10] (B deleted)")
        expect(d["spec"]["replicas"] == 3, f"replicas {d['spec'].get('replicas')}, want 3")
        last = json.loads(d["metadata"]["annotations"]
                          ["kubectl.kubernetes.io/last-applied-configuration"])
        expect(len(containers_of(last)) == 2, "the last-applied annotation was not updated")
        out = kc.ok(["apply", "-n", NS, "-f", m("app-v2.yaml")])
        expect_output(out, "deployment.apps/app unchanged", what="apply -f app-v2.yaml again")

    steps.run("apply again with a change (3-way strategic merge)", apply_change)

    # -- server-side apply ---------------------------------------------------------
    def managers(obj):
        return {(f.get("manager"), f.get("operation"))
                for f in obj["metadata"].get("managedFields") or []}

    def server_side_apply():
        out = kc.ok(["apply", "--server-side", "-n", NS, "-f", m("ssa-v1.yaml")])
        expect_output(out, "configmap/ssa serverside-applied", what="apply --server-side (create)")
        cm = kc.json(["get", "cm", "ssa", "-n", NS])
        expect(cm.get("data") == {"k": "v1"}, f"data {cm.get('data')}")
        out = kc.ok(["apply", "--server-side", "-n", NS, "-f", m("ssa-v2.yaml")])
        expect_output(out, "configmap/ssa serverside-applied", what="apply --server-side (update)")
        cm = kc.json(["get", "cm", "ssa", "-n", NS])
        expect(cm.get("data") == {"k": "v2", "k2": "x"}, f"data {cm.get('data')}")
        expect(labels_of(cm).get("applied") == "yes", f"labels {labels_of(cm)}")
        state["ssa"] = True

    steps.run("apply --server-side (create, update)", server_side_apply)

    def get_managed(args, output="json"):
        """`kubectl get -o json|yaml` with managedFields, which kubectl 1.21+ hides unless
        --show-managed-fields (a flag older kubectl lacks: they always show them)."""
        r = kc.run([*args, "-o", output, "--show-managed-fields"])
        if r.returncode != 0 and "unknown flag" in r.stderr:
            r = kc.run([*args, "-o", output])
        expect(r.returncode == 0, f"`kubectl {' '.join(args)} -o {output}` exited "
                                  f"{r.returncode}: {clip(r.stderr)}")
        try:
            return json.loads(r.stdout) if output == "json" else yaml.safe_load(r.stdout)
        except ValueError:
            raise Failure(f"`kubectl {' '.join(args)} -o {output}` printed: {clip(r.stdout)}")

    def server_side_apply_managed_fields():
        expect(state.get("ssa"), "needs the previous step")
        cm = get_managed(["get", "cm", "ssa", "-n", NS])
        expect(("kubectl", "Apply") in managers(cm),
               f"managedFields lack manager kubectl, operation Apply: "
               f"{cm['metadata'].get('managedFields')}")
        entry = [f for f in cm["metadata"]["managedFields"] if f.get("manager") == "kubectl"][0]
        owned = json.dumps(entry.get("fieldsV1") or {})
        expect(entry.get("fieldsType") == "FieldsV1" and '"f:k"' in owned and '"f:k2"' in owned,
               f"kubectl's managedFields entry does not own .data.k and .data.k2: {entry}")

    steps.run("apply --server-side records managedFields", server_side_apply_managed_fields)

    def server_side_apply_conflict():
        expect(state.get("ssa"), "needs the apply --server-side step")
        # Another manager claiming .data.k conflicts, unless forced.
        out = kc.fails(["apply", "--server-side", "--field-manager=e2e-other", "-n", NS,
                        "-f", m("ssa-other.yaml")])
        expect("conflict" in out.lower(), f"apply --server-side by another manager: want a "
                                          f"conflict, got: {clip(out)}")
        cm = kc.json(["get", "cm", "ssa", "-n", NS])
        expect(cm["data"]["k"] == "v2", f"a refused apply changed data: {cm['data']}")
        out = kc.ok(["apply", "--server-side", "--field-manager=e2e-other", "--force-conflicts",
                     "-n", NS, "-f", m("ssa-other.yaml")])
        expect_output(out, "configmap/ssa serverside-applied", what="apply --force-conflicts")
        cm = get_managed(["get", "cm", "ssa", "-n", NS])
        expect(cm.get("data") == {"k": "other", "k2": "x"},
               f"after the forced apply: data {cm.get('data')}, want k=other, k2=x")
        expect(("e2e-other", "Apply") in managers(cm),
               f"managedFields {cm['metadata'].get('managedFields')}")

    steps.run("apply --server-side: another manager conflicts; --force-conflicts",
              server_side_apply_conflict)

    def server_side_apply_scale_conflict():
        apply = ["apply", "--server-side", "--field-manager=e2e-a", "-n", NS,
                 "-f", m("ssa-deploy.yaml")]
        out = kc.ok(apply)
        expect_output(out, "deployment.apps/ssa-deploy serverside-applied",
                      what="apply --server-side a Deployment")
        kc.ok(["scale", "deployment/ssa-deploy", "-n", NS, "--replicas=4"])
        d = get_managed(["get", "deployment", "ssa-deploy", "-n", NS], output="yaml")
        expect(d["spec"]["replicas"] == 4, f"after kubectl scale: replicas {d['spec']['replicas']}")
        scalers = [f for f in d["metadata"].get("managedFields") or []
                   if f.get("operation") == "Update" and
                   "f:replicas" in json.dumps(f.get("fieldsV1") or {})]
        expect(scalers, f"no Update entry owns .spec.replicas after kubectl scale: "
                        f"{d['metadata'].get('managedFields')}")
        out = kc.fails(apply)
        expect("Apply failed with 1 conflict" in out and ".spec.replicas" in out,
               f"apply after kubectl scale: want a conflict on .spec.replicas, got: {clip(out)}")
        d = kc.json(["get", "deployment", "ssa-deploy", "-n", NS])
        expect(d["spec"]["replicas"] == 4, f"a refused apply changed replicas: {d['spec']}")
        out = kc.ok([*apply, "--force-conflicts"])
        expect_output(out, "deployment.apps/ssa-deploy serverside-applied",
                      what="apply --server-side --force-conflicts")
        d = get_managed(["get", "deployment", "ssa-deploy", "-n", NS], output="yaml")
        expect(d["spec"]["replicas"] == 2, f"after the forced apply: replicas {d['spec']}")
        mine = [f for f in d["metadata"].get("managedFields") or []
                if (f.get("manager"), f.get("operation")) == ("e2e-a", "Apply")]
        expect(mine and "f:replicas" in json.dumps(mine[0].get("fieldsV1") or {}),
               f"e2e-a does not own .spec.replicas after --force-conflicts: "
               f"{d['metadata'].get('managedFields')}")
        kc.ok(["delete", "deployment", "ssa-deploy", "-n", NS])

    steps.run("apply --server-side: kubectl scale takes .spec.replicas; conflict; "
              "--force-conflicts", server_side_apply_scale_conflict)

    # -- get ----------------------------------------------------------------------
    def get_table():
        cols, rows = parse_table(kc.ok(["get", "pods", "-n", NS]))
        expect_columns(cols, ["NAME", "READY", "STATUS", "RESTARTS", "AGE"], "get pods")
        web = row(rows, "web", "get pods")
        expect(web["READY"] == "0/1" and web["STATUS"] == "Pending" and web["RESTARTS"] == "0",
               f"get pods: web row {web}, want READY 0/1, STATUS Pending, RESTARTS 0")
        expect(AGE.match(web["AGE"]), f"get pods: web AGE {web['AGE']!r}")
        cols, rows = parse_table(kc.ok(["get", "deployments", "-n", NS]))
        expect_columns(cols, ["NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE"], "get deploy")
        app = row(rows, "app", "get deploy")
        expect(app["READY"] == "0/3", f"get deploy: app READY {app['READY']!r}, want 0/3")
        cols, rows = parse_table(kc.ok(["get", "nodes"]))
        expect_columns(cols, ["NAME", "STATUS", "ROLES", "AGE", "VERSION"], "get nodes")
        node = row(rows, "e2e-node", "get nodes")
        expect(node["ROLES"] == "worker", f"get nodes: ROLES {node['ROLES']!r}, want worker")
        cols, rows = parse_table(kc.ok(["get", "svc", "-n", NS]))
        expect_columns(cols, ["NAME", "TYPE", "CLUSTER-IP", "EXTERNAL-IP", "PORT(S)", "AGE"],
                       "get svc")
        svc = row(rows, "web-svc", "get svc")
        expect(svc["TYPE"] == "ClusterIP" and svc["PORT(S)"] == "80/TCP", f"get svc: {svc}")
        cols, rows = parse_table(kc.ok(["get", "cm", "-n", NS]))
        expect_columns(cols, ["NAME", "DATA", "AGE"], "get cm")
        expect(row(rows, "settings", "get cm")["DATA"] == "1", "get cm: settings DATA")
        cols, rows = parse_table(kc.ok(["get", "namespaces"]))
        expect_columns(cols, ["NAME", "STATUS", "AGE"], "get ns")
        expect(row(rows, NS, "get ns")["STATUS"] == "Active", "get ns: e2e not Active")
        cols, rows = parse_table(kc.ok(["get", "pod", "web", "-n", NS]))
        expect(len(rows) == 1 and rows[0]["NAME"] == "web", f"get pod web: rows {rows}")

    steps.run("get (table: pods, deploy, nodes, svc, cm, ns)", get_table)

    def get_wide():
        cols, rows = parse_table(kc.ok(["get", "pods", "-n", NS, "-o", "wide"]))
        expect_columns(cols, ["NAME", "READY", "STATUS", "RESTARTS", "AGE", "IP", "NODE",
                              "NOMINATED NODE", "READINESS GATES"], "get pods -o wide")
        web = row(rows, "web", "get pods -o wide")
        expect(web["IP"] == "<none>" and web["NODE"] == "<none>", f"get pods -o wide: {web}")
        cols, rows = parse_table(kc.ok(["get", "deploy", "-n", NS, "-o", "wide"]))
        expect_columns(cols, ["NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE", "CONTAINERS",
                              "IMAGES", "SELECTOR"], "get deploy -o wide")
        app = row(rows, "app", "get deploy -o wide")
        expect(app["CONTAINERS"] == "main,side" and app["SELECTOR"] == "app=app",
               f"get deploy -o wide: {app}")

    steps.run("get -o wide", get_wide)

    def get_yaml():
        pod = yaml.safe_load(kc.ok(["get", "pod", "web", "-n", NS, "-o", "yaml"]))
        expect(pod.get("kind") == "Pod" and pod.get("apiVersion") == "v1",
               f"-o yaml: kind/apiVersion {pod.get('kind')}/{pod.get('apiVersion')}")
        md = pod["metadata"]
        expect(md["name"] == "web" and md["namespace"] == NS, f"-o yaml metadata {md}")
        for f in ("uid", "resourceVersion", "creationTimestamp"):
            expect(md.get(f), f"-o yaml: metadata.{f} missing: {md}")
        expect(re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$", str(md["creationTimestamp"]))
               or hasattr(md["creationTimestamp"], "year"),
               f"creationTimestamp {md['creationTimestamp']!r}")
        lst = yaml.safe_load(kc.ok(["get", "pods", "-n", NS, "-o", "yaml"]))
        expect(lst.get("kind") == "List", f"-o yaml list kind {lst.get('kind')}")
        names = sorted(i["metadata"]["name"] for i in lst["items"])
        expect(names == ["other", "web"], f"get pods -o yaml: items {names}")

    steps.run("get -o yaml", get_yaml)

    def get_json():
        pod = kc.json(["get", "pod", "web", "-n", NS])
        expect(pod.get("kind") == "Pod" and pod["metadata"]["name"] == "web", "-o json pod")
        expect(pod["status"].get("phase") == "Pending", f"phase {pod['status'].get('phase')}")
        lst = kc.json(["get", "pods", "-n", NS])
        names = sorted(i["metadata"]["name"] for i in lst["items"])
        expect(names == ["other", "web"], f"get pods -o json: items {names}")
        node = kc.json(["get", "node", "e2e-node"])
        expect(node["spec"].get("podCIDR") == "10.244.7.0/24", f"node spec {node['spec']}")
        out = kc.ok(["get", "pods", "-n", NS, "-o", "name"])
        expect(sorted(out.split()) == ["pod/other", "pod/web"], f"-o name: {out!r}")
        out = kc.ok(["get", "pod", "web", "-n", NS, "-o", "jsonpath={.metadata.labels.tier}"])
        expect(out == "frontend", f"-o jsonpath: {out!r}")

    steps.run("get -o json, -o name, -o jsonpath", get_json)

    def get_all_namespaces():
        cols, rows = parse_table(kc.ok(["get", "pods", "-A"]))
        expect_columns(cols, ["NAMESPACE", "NAME", "READY", "STATUS", "RESTARTS", "AGE"],
                       "get pods -A")
        got = sorted((r["NAMESPACE"], r["NAME"]) for r in rows)
        expect((NS, "web") in got and (NS, "other") in got, f"get pods -A rows: {got}")
        cols, rows = parse_table(kc.ok(["get", "cm", "-A"]))
        got = {(r["NAMESPACE"], r["NAME"]) for r in rows}
        expect((NS, "settings") in got and (NS, "ssa") in got, f"get cm -A rows: {got}")

    steps.run("get -A", get_all_namespaces)

    def get_selector():
        def names(selector):
            out = kc.ok(["get", "pods", "-n", NS, "-l", selector, "-o", "name"])
            return sorted(out.split())

        for sel, want in (("app=web", ["pod/web"]), ("app==web", ["pod/web"]),
                          ("app!=web", ["pod/other"]), ("app in (web,other)", ["pod/other",
                                                                                "pod/web"]),
                          ("app notin (web)", ["pod/other"]), ("tier", ["pod/web"]),
                          ("!tier", ["pod/other"]), ("app=web,tier=frontend", ["pod/web"]),
                          ("app=nothing", [])):
            got = names(sel)
            expect(got == want, f"get pods -l {sel!r}: {got}, want {want}")
        cols, rows = parse_table(kc.ok(["get", "pods", "-n", NS, "-l", "app=web"]))
        expect([r["NAME"] for r in rows] == ["web"], f"get pods -l app=web table: {rows}")
        out = kc.ok(["get", "pods", "-n", NS, "--field-selector", "metadata.name=other",
                     "-o", "name"])
        expect(out.split() == ["pod/other"], f"--field-selector metadata.name=other: {out!r}")

    steps.run("get -l (=, ==, !=, in, notin, exists, !exists), --field-selector", get_selector)

    def show_labels():
        cols, rows = parse_table(kc.ok(["get", "pods", "-n", NS, "--show-labels"]))
        expect_columns(cols, ["NAME", "READY", "STATUS", "RESTARTS", "AGE", "LABELS"],
                       "get pods --show-labels")
        web = row(rows, "web", "--show-labels")
        expect(sorted(web["LABELS"].split(",")) == ["app=web", "tier=frontend"],
               f"--show-labels: web LABELS {web['LABELS']!r}")

    steps.run("get --show-labels", show_labels)

    def get_watch():
        path = os.path.join(work, f"watch-{kc.label}.out")
        proc = kc.background(["get", "pods", "-n", NS, "-w", "--request-timeout=60s"], path)

        def output():
            with open(path) as f:
                return f.read()

        def rows_named(name):
            return [l for l in output().splitlines() if l.split()[:1] == [name]]

        try:
            wait_until("get -w to list the pod web", lambda: rows_named("web"), timeout=20)
            before = len(rows_named("web"))
            kc.ok(["run", "watched", "-n", NS, "--image=busybox:1.36", "--restart=Never", "--",
                   "sleep", "3600"])
            wait_until("get -w to show the new pod watched", lambda: rows_named("watched"),
                       timeout=20)
            kc.ok(["label", "pod", "web", "-n", NS, "seen=yes"])
            wait_until("get -w to show a new row for the modified pod web",
                       lambda: len(rows_named("web")) > before, timeout=20)
            expect(proc.poll() is None, f"get -w exited early ({proc.returncode}): "
                                        f"{clip(output())}")
            header_lines = [l for l in output().splitlines() if l.startswith("NAME")]
            expect(len(header_lines) == 1, f"get -w printed the header {len(header_lines)} "
                                           f"times:\n{clip(output())}")
            first = header_lines[0].split()
            expect(first[:3] == ["NAME", "READY", "STATUS"], f"get -w header: {first}")
        except Failure as e:
            raise Failure(f"{e}\nget -w output so far:\n{clip(output())}")
        finally:
            proc.kill()
            proc.wait(timeout=10)
            kc.run(["label", "pod", "web", "-n", NS, "seen-"])

    steps.run("get -w sees a new pod and a change", get_watch)

    # -- describe ---------------------------------------------------------------------
    def describe():
        out = kc.ok(["describe", "pod", "web", "-n", NS])
        expect_output(out, re.compile(r"^Name:\s+web$", re.M),
                      re.compile(rf"^Namespace:\s+{NS}$", re.M),
                      re.compile(r"^Status:\s+Pending$", re.M),
                      re.compile(r"^Labels:\s+app=web$", re.M),
                      re.compile(r"^Containers:$", re.M), re.compile(r"^\s+main:$", re.M),
                      re.compile(r"^\s+Image:\s+busybox:1.36$", re.M),
                      re.compile(r"^\s+Port:\s+8080/TCP", re.M), what="describe pod web")
        out = kc.ok(["describe", "node", "e2e-node"])
        expect_output(out, re.compile(r"^Name:\s+e2e-node$", re.M),
                      re.compile(r"^Roles:\s+worker$", re.M),
                      re.compile(r"^PodCIDR:\s+10.244.7.0/24$", re.M),
                      re.compile(r"^Non-terminated Pods:", re.M), what="describe node e2e-node")
        out = kc.ok(["describe", "deployment", "app", "-n", NS])
        expect_output(out, re.compile(r"^Name:\s+app$", re.M),
                      re.compile(rf"^Namespace:\s+{NS}$", re.M),
                      re.compile(r"^Selector:\s+app=app$", re.M),
                      re.compile(r"^Replicas:\s+3 desired", re.M),
                      re.compile(r"^StrategyType:\s+RollingUpdate$", re.M),
                      re.compile(r"^\s+side:$", re.M), what="describe deployment app")

    steps.run("describe pod, node, deployment", describe)

    # -- label, annotate, patch, scale ----------------------------------------------------
    def label():
        out = kc.ok(["label", "pod", "web", "-n", NS, "color=blue"])
        expect_output(out, "pod/web labeled", what="label")
        expect(labels_of(kc.json(["get", "pod", "web", "-n", NS])).get("color") == "blue",
               "label color=blue not stored")
        out = kc.fails(["label", "pod", "web", "-n", NS, "color=red"])
        expect("--overwrite" in out, f"label without --overwrite: {clip(out)}")
        kc.ok(["label", "pod", "web", "-n", NS, "color=red", "--overwrite"])
        expect(labels_of(kc.json(["get", "pod", "web", "-n", NS])).get("color") == "red",
               "label --overwrite color=red not stored")
        out = kc.ok(["label", "pod", "web", "-n", NS, "color-"])
        expect_output(out, "pod/web", what="label color-")
        labels = labels_of(kc.json(["get", "pod", "web", "-n", NS]))
        expect("color" not in labels and labels.get("app") == "web",
               f"label color- did not remove it: {labels}")
        out = kc.ok(["label", "pods", "-n", NS, "-l", "app in (web,other)", "batch=1"])
        expect_output(out, "pod/web labeled", "pod/other labeled", what="label -l")

    steps.run("label (add, refuse without --overwrite, overwrite, remove, -l)", label)

    def annotate():
        out = kc.ok(["annotate", "pod", "web", "-n", NS, "note=hello world"])
        # kubectl 1.27 prints "pod/web annotate" (its own typo), the others "annotated".
        expect_output(out, re.compile(r"^pod/web annotated?$", re.M), what="annotate")
        pod = kc.json(["get", "pod", "web", "-n", NS])
        expect((pod["metadata"].get("annotations") or {}).get("note") == "hello world",
               f"annotation not stored: {pod['metadata'].get('annotations')}")
        kc.ok(["annotate", "pod", "web", "-n", NS, "note-"])
        pod = kc.json(["get", "pod", "web", "-n", NS])
        expect("note" not in (pod["metadata"].get("annotations") or {}),
               "annotate note- did not remove it")

    steps.run("annotate (add, remove)", annotate)

    def patch():
        def deploy():
            return kc.json(["get", "deployment", "app", "-n", NS])

        out = kc.ok(["patch", "deployment", "app", "-n", NS, "--type=strategic", "-p",
                     '{"spec":{"template":{"spec":{"containers":'
                     '[{"name":"main","image":"busybox:1.37"}]}}}}'])
        expect_output(out, "deployment.apps/app patched", what="patch --type=strategic")
        cs = containers_of(deploy())
        expect([(c["name"], c["image"]) for c in cs] ==
               [("main", "busybox:1.37"), ("side", "busybox:1.36")],
               f"strategic patch: containers {[(c['name'], c['image']) for c in cs]}, want main "
               f"patched by name and side kept")
        expect(cs[0].get("env") == [{"name": "A", "value": "10"}], "strategic patch lost env")

        out = kc.ok(["patch", "deployment", "app", "-n", NS, "--type=merge", "-p",
                     '{"metadata":{"labels":{"merged":"yes"}},"spec":{"minReadySeconds":5}}'])
        expect_output(out, "deployment.apps/app patched", what="patch --type=merge")
        d = deploy()
        expect(labels_of(d) == {"app": "app", "extra": "kept", "merged": "yes"},
               f"merge patch: labels {labels_of(d)}")
        expect(d["spec"].get("minReadySeconds") == 5, "merge patch: minReadySeconds")
        kc.ok(["patch", "deployment", "app", "-n", NS, "--type=merge", "-p",
               '{"metadata":{"labels":{"merged":null}}}'])
        expect("merged" not in labels_of(deploy()), "merge patch with null kept the label")
        # A merge patch replaces lists.
        kc.ok(["patch", "deployment", "app", "-n", NS, "--type=merge", "-p",
               '{"spec":{"template":{"spec":{"containers":[{"name":"main","image":"busybox:1.37",'
               '"env":[{"name":"A","value":"10"}],"command":["sleep","3600"]}]}}}}'])
        expect([c["name"] for c in containers_of(deploy())] == ["main"],
               f"merge patch did not replace the container list: "
               f"{[c['name'] for c in containers_of(deploy())]}")

        out = kc.ok(["patch", "deployment", "app", "-n", NS, "--type=json", "-p",
                     '[{"op":"add","path":"/metadata/labels/jp","value":"1"},'
                     '{"op":"replace","path":"/spec/replicas","value":4},'
                     '{"op":"test","path":"/spec/template/spec/containers/0/name",'
                     '"value":"main"}]'])
        expect_output(out, "deployment.apps/app patched", what="patch --type=json")
        d = deploy()
        expect(labels_of(d).get("jp") == "1" and d["spec"]["replicas"] == 4,
               f"json patch: labels {labels_of(d)} replicas {d['spec']['replicas']}")
        rv = d["metadata"]["resourceVersion"]
        kc.fails(["patch", "deployment", "app", "-n", NS, "--type=json", "-p",
                  '[{"op":"replace","path":"/spec/replicas","value":9},'
                  '{"op":"test","path":"/spec/replicas","value":99}]'])
        d = deploy()
        expect(d["spec"]["replicas"] == 4 and d["metadata"]["resourceVersion"] == rv,
               "a json patch whose test op failed changed the object")
        out = kc.ok(["patch", "deployment", "app", "-n", NS, "--type=merge", "-p",
                     '{"spec":{"replicas":4}}'])
        expect_output(out, "deployment.apps/app patched (no change)", what="no-op patch")

    steps.run("patch --type strategic, merge, json (and a failed json test op)", patch)

    def scale():
        out = kc.ok(["scale", "deployment", "app", "-n", NS, "--replicas=5"])
        expect_output(out, "deployment.apps/app scaled", what="scale")
        d = kc.json(["get", "deployment", "app", "-n", NS])
        expect(d["spec"]["replicas"] == 5, f"scale: replicas {d['spec']['replicas']}, want 5")
        s = json.loads(kc.ok(["get", "--raw", f"/apis/apps/v1/namespaces/{NS}/deployments/app/"
                                              "scale"]))
        expect(s.get("kind") == "Scale" and s["spec"].get("replicas") == 5 and
               s.get("status", {}).get("selector") == "app=app",
               f"GET .../deployments/app/scale: {s}")
        kc.ok(["scale", "deployment", "app", "-n", NS, "--current-replicas=5", "--replicas=1"])
        d = kc.json(["get", "deployment", "app", "-n", NS])
        expect(d["spec"]["replicas"] == 1, f"scale --current-replicas=5: {d['spec']['replicas']}")
        kc.fails(["scale", "deployment", "app", "-n", NS, "--current-replicas=7",
                  "--replicas=2"])
        d = kc.json(["get", "deployment", "app", "-n", NS])
        expect(d["spec"]["replicas"] == 1, "scale with a wrong --current-replicas changed it")

    steps.run("scale (and --current-replicas)", scale)

    # -- delete ---------------------------------------------------------------------------
    def delete():
        out = kc.ok(["delete", "pod", "other", "-n", NS])
        expect_output(out, 'pod "other" deleted', what="delete pod other")
        expect_not_found(kc, ["get", "pod", "other", "-n", NS], "deleted pod other")
        out = kc.ok(["delete", "deployment", "app", "-n", NS, "--wait=true", "--timeout=30s"])
        expect_output(out, 'deployment.apps "app" deleted', what="delete deployment --wait")
        expect_not_found(kc, ["get", "deployment", "app", "-n", NS], "deleted deployment app")
        out = kc.ok(["delete", "-n", NS, "-f", os.path.join(manifests, "objects.yaml")])
        expect_output(out, 'pod "web" deleted', 'configmap "settings" deleted',
                      'service "web-svc" deleted', what="delete -f objects.yaml")
        out = kc.ok(["get", "pods,cm,svc", "-n", NS, "-l", "app=web", "-o", "name"])
        expect(out.strip() == "", f"after delete -f: still there: {out!r}")

    steps.run("delete (pod, deployment --wait, -f)", delete)

    def delete_wait_finalizer():
        out = kc.ok(["create", "-n", NS, "-f", m("held.yaml")])
        expect_output(out, "configmap/held created", what="create held")
        path = os.path.join(work, f"delete-held-{kc.label}.out")
        proc = kc.background(["delete", "configmap", "held", "-n", NS, "--wait=true",
                              "--timeout=60s", "--request-timeout=60s"], path)
        try:
            def terminating():
                o = kc.json(["get", "cm", "held", "-n", NS])
                return o if o["metadata"].get("deletionTimestamp") else None

            cm = wait_until("held to get a deletionTimestamp", terminating, timeout=20)
            expect(cm["metadata"].get("finalizers") == ["e2e.korch.dev/hold"],
                   f"finalizers {cm['metadata'].get('finalizers')}")
            try:
                proc.wait(timeout=1.5)
                with open(path) as f:
                    raise Failure(f"delete --wait returned ({proc.returncode}) while the "
                                  f"finalizer still holds the object: {clip(f.read())}")
            except subprocess.TimeoutExpired:
                pass  # still waiting, as it should
            kc.ok(["patch", "configmap", "held", "-n", NS, "--type=json", "-p",
                   '[{"op":"remove","path":"/metadata/finalizers"}]'])
            rc = proc.wait(timeout=30)
            with open(path) as f:
                out = f.read()
            expect(rc == 0, f"delete --wait exited {rc}: {clip(out)}")
            expect_output(out, 'configmap "held" deleted', what="delete --wait")
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait(timeout=10)
        expect_not_found(kc, ["get", "cm", "held", "-n", NS], "held after its finalizer went")

    steps.run("delete --wait waits for a finalizer", delete_wait_finalizer)

    def namespace_with_contents():
        ns = "doomed"
        out = kc.ok(["create", "-f", m("doomed.yaml")])
        expect_output(out, f"namespace/{ns} created", "configmap/c1 created",
                      "secret/s1 created", "pod/p1 created", "deployment.apps/d1 created",
                      what="create -f doomed.yaml")
        kc.ok(["apply", "-n", ns, "-f", m("app-v1.yaml")])
        kc.ok(["run", "p2", "-n", ns, "--image=busybox:1.36", "--restart=Never"])
        out = kc.ok(["delete", "namespace", ns, "--timeout=60s", "--request-timeout=60s"],
                    timeout=70)
        expect_output(out, f'namespace "{ns}" deleted', what="delete namespace")

        def gone():
            r = kc.run(["get", "namespace", ns, "-o", "json"])
            if r.returncode == 0:
                return None
            expect("NotFound" in r.stderr or "not found" in r.stderr,
                   f"get namespace {ns}: {clip(r.stderr)}")
            return True

        wait_until(f"namespace {ns} to be removed", gone, timeout=60)
        lst = kc.json(["get", "configmaps,secrets,pods,deployments", "-A"])
        left = [(i["kind"], i["metadata"]["name"]) for i in lst["items"]
                if i["metadata"].get("namespace") == ns]
        expect(not left, f"namespace {ns} is gone but its contents remain: {left}")

    steps.run("create/delete a namespace with contents", namespace_with_contents)

    # -- auth can-i, and a user without grants -------------------------------------------
    def can_i_admin():
        r = kc.run(["auth", "can-i", "create", "pods", "-n", NS])
        expect(r.returncode == 0 and r.stdout.strip() == "yes",
               f"admin: auth can-i create pods: exit {r.returncode} {r.stdout!r} {r.stderr!r}")
        r = kc.run(["auth", "can-i", "*", "*"])
        expect(r.returncode == 0 and r.stdout.strip() == "yes",
               f"admin: auth can-i '*' '*': exit {r.returncode} {r.stdout!r} {r.stderr!r}")
        r = kc.run(["auth", "can-i", "get", "/healthz"])
        expect(r.returncode == 0 and r.stdout.strip() == "yes",
               f"admin: auth can-i get /healthz: exit {r.returncode} {r.stdout!r} {r.stderr!r}")

    steps.run("auth can-i: admin -> yes", can_i_admin)

    def make_user():
        crt, key = make_client_cert(work, f"user-{kc.label}", server.ca,
                                    os.path.join(server.pki, "ca.key"), "e2e-user",
                                    ["e2e-group"])
        cfg = write_kubeconfig(os.path.join(work, f"user-{kc.label}.kubeconfig"), server,
                               "e2e-user", cert=crt, key=key)
        state["user"] = kc.with_kubeconfig(cfg, f"user-{kc.label}")

    def user():
        if "user" not in state:
            make_user()
        return state["user"]

    def can_i_user():
        r = user().run(["auth", "can-i", "list", "pods", "-n", NS])
        expect(r.returncode == 1 and r.stdout.strip() == "no",
               f"e2e-user: auth can-i list pods: exit {r.returncode} {r.stdout!r} "
               f"{r.stderr!r}, want exit 1 'no'")

    steps.run("auth can-i: a user without grants -> no", can_i_user)

    def forbidden():
        out = user().fails(["get", "pods", "-n", NS])
        expect("Forbidden" in out and 'User "e2e-user" cannot list resource "pods"' in out,
               f"e2e-user: get pods: want Forbidden, got: {clip(out)}")

    steps.run("a user without grants gets 403 Forbidden", forbidden)

    def role_binding():
        out = kc.ok(["create", "-f", m("rolebinding.yaml")])
        expect_output(out, "rolebinding.rbac.authorization.k8s.io/e2e-view created",
                      what="create -f rolebinding.yaml")

        def allowed():
            r = user().run(["get", "pods", "-n", NS, "-o", "name"])
            return r.returncode == 0

        wait_until("e2e-user to be allowed to list pods after the RoleBinding", allowed,
                   timeout=20)
        out = user().fails(["create", "-n", NS, "-f", m("ssa-v1.yaml")])
        expect("Forbidden" in out and 'cannot create resource "configmaps"' in out,
               f"e2e-user (view): create -f a configmap: {clip(out)}")
        out = user().fails(["get", "pods", "-n", "default"])
        expect("Forbidden" in out, f"e2e-user (view in {NS}) get pods -n default: {clip(out)}")

    steps.run("a RoleBinding to view lets the user read, not write, in one namespace",
              role_binding)

    def can_i_user_granted():
        r = user().run(["auth", "can-i", "list", "pods", "-n", NS])
        expect(r.returncode == 0 and r.stdout.strip() == "yes",
               f"e2e-user (view): auth can-i list pods: {r.returncode} {r.stdout!r} "
               f"{r.stderr!r}")
        r = user().run(["auth", "can-i", "create", "pods", "-n", NS])
        expect(r.returncode == 1 and r.stdout.strip() == "no",
               f"e2e-user (view): auth can-i create pods: {r.returncode} {r.stdout!r}")
        r = user().run(["auth", "can-i", "list", "pods", "-n", "default"])
        expect(r.returncode == 1 and r.stdout.strip() == "no",
               f"e2e-user: auth can-i list pods -n default: {r.returncode} {r.stdout!r}")
        # The rules review: view's pods rule in NS, not in default.
        def pods_verbs(ns):
            out = user().ok(["auth", "can-i", "--list", "-n", ns])
            verbs = set()
            for line in out.splitlines():
                cols = line.split(None, 1)
                if cols and cols[0] == "pods":
                    verbs |= set(line[line.rfind("[") + 1:line.rfind("]")].split())
            return out, verbs
        out, verbs = pods_verbs(NS)
        expect({"get", "list", "watch"} <= verbs and "create" not in verbs,
               f"e2e-user: auth can-i --list -n {NS}: want pods [get list watch], got: "
               f"{clip(out)}")
        out, verbs = pods_verbs("default")
        expect(not verbs, f"e2e-user: auth can-i --list -n default lists pods: {clip(out)}")

    steps.run("auth can-i: the user with view -> yes for list, no for create",
              can_i_user_granted)

    def still_serving():
        expect_output(kc.ok(["get", "--raw", "/readyz"]), "ok", what="/readyz at the end")
        kc.ok(["get", "namespaces", NS])

    steps.run("server still serving at the end", still_serving)
