#!/usr/bin/env python3
"""Writes lib/api/proto/korch/k8swire/*.proto: korch's declarations of the
Kubernetes protobuf wire messages (application/vnd.kubernetes.protobuf) for
the kinds korch serves.

The wire format is a published protocol: message and field names, field
numbers and types must be exactly the published ones, so they are read from
the published sources rather than typed by hand:
  - k8s.io/api/<group>/v1/generated.proto and k8s.io/apimachinery's
    generated.proto files give names, numbers and types;
  - the matching types.go files say which Go fields are pointers (a zero
    value that was set must be kept: `replicas: 0`) and which embedded
    structs are inlined in JSON (Probe.handler, Volume.volumeSource).

Only the messages reachable from korch's kinds are declared, as proto3:
a Go pointer to a scalar becomes an `optional` field (explicit presence),
every other scalar has implicit presence (zero = unset, as Go's omitempty),
and inlined embedded structs carry the (korch.k8swire.inline) option.
Comments and documentation are not carried over.

Usage:
  scripts/gen_k8s_wire_protos.py SRC OUT VERSION
SRC holds api/<group>/{generated.proto,types.go} (github.com/kubernetes/api,
directory <group>/v1, at tag VERSION) and am/pkg/{api/resource,apis/meta/v1,
runtime,util/intstr}/generated.proto plus am/pkg/apis/meta/v1/types.go
(github.com/kubernetes/apimachinery at the same tag), e.g. with
  git -C api show v0.36.3:core/v1/generated.proto > SRC/api/core/generated.proto
Field numbers are never reused in Kubernetes, so declarations from a newer
release read bodies from older clients.
"""

import os
import re
import sys

GROUPS = ["core", "apps", "batch", "rbac", "scheduling", "policy", "coordination", "discovery",
          "autoscaling"]

# Published package -> (korch file stem, sources).
META = "k8s.io.apimachinery.pkg.apis.meta.v1"
RUNTIME = "k8s.io.apimachinery.pkg.runtime"
RESOURCE = "k8s.io.apimachinery.pkg.api.resource"
INTSTR = "k8s.io.apimachinery.pkg.util.intstr"

# Top-level kinds whose bodies korch reads (the kinds korch serves, plus
# DeleteOptions, and runtime.Unknown, the envelope).
ROOTS = {
    "k8s.io.api.core.v1": ["Pod", "Binding", "Namespace", "Node", "Service", "Endpoints",
                           "ConfigMap", "Secret", "ServiceAccount", "Event", "LimitRange",
                           "ResourceQuota"],
    "k8s.io.api.apps.v1": ["ReplicaSet", "Deployment", "DaemonSet", "StatefulSet"],
    "k8s.io.api.batch.v1": ["Job", "CronJob"],
    "k8s.io.api.rbac.v1": ["Role", "ClusterRole", "RoleBinding", "ClusterRoleBinding"],
    "k8s.io.api.scheduling.v1": ["PriorityClass"],
    "k8s.io.api.policy.v1": ["PodDisruptionBudget"],
    "k8s.io.api.coordination.v1": ["Lease"],
    "k8s.io.api.discovery.v1": ["EndpointSlice"],
    "k8s.io.api.autoscaling.v1": ["Scale"],
    META: ["DeleteOptions"],
    RUNTIME: ["Unknown"],
}

# Messages whose Go type has its own JSON form that lib/api/k8s_protobuf.cc
# does not produce yet: reaching one from a root is an error, so that it is
# never transcoded as a plain object. (Time, MicroTime, Quantity,
# IntOrString, RawExtension and FieldsV1 are handled there by name.)
UNHANDLED = {f"{META}.Duration"}

FIELD_RE = re.compile(r"^\s*(optional|repeated|required)?\s*(map<\s*\w+\s*,\s*[\w.]+\s*>|[\w.]+)"
                      r"\s+(\w+)\s*=\s*(\d+)\s*;")


def parse_proto(path):
    """Returns (package, {message: [(label, type, name, number)]})."""
    package = None
    messages = {}
    current = None
    depth = 0
    with open(path) as f:
        for line in f:
            line = line.split("//")[0].rstrip()
            if not line.strip():
                continue
            m = re.match(r"^package ([\w.]+);", line)
            if m:
                package = m.group(1)
                continue
            m = re.match(r"^\s*message (\w+) \{", line)
            if m:
                if depth != 0:
                    sys.exit(f"{path}: nested message {m.group(1)} is not handled")
                current = m.group(1)
                messages[current] = []
                depth = 1
                continue
            if current is None:
                continue
            if line.strip() == "}":
                depth -= 1
                if depth == 0:
                    current = None
                continue
            m = FIELD_RE.match(line)
            if not m:
                sys.exit(f"{path}: cannot read line in {current}: {line!r}")
            messages[current].append((m.group(1) or "", m.group(2).replace(" ", ""),
                                      m.group(3), int(m.group(4))))
    return package, messages


GO_FIELD_RE = re.compile(r"^\t(?:(\w+)\s+)?([^`\s]+)\s+`([^`]*)`")


def parse_go(path):
    """Returns {(struct, field number): (pointer, json name, inline)}."""
    out = {}
    struct = None
    with open(path) as f:
        for line in f:
            m = re.match(r"^type (\w+) struct \{", line)
            if m:
                struct = m.group(1)
                continue
            if line.startswith("}"):
                struct = None
                continue
            if struct is None:
                continue
            m = GO_FIELD_RE.match(line)
            if not m:
                continue
            name, gotype, tags = m.groups()
            pb = re.search(r'protobuf:"([^"]*)"', tags)
            if not pb:
                continue
            number = pb.group(1).split(",")[1]
            js = re.search(r'json:"([^"]*)"', tags)
            json_name = js.group(1).split(",")[0] if js else ""
            inline = name is None and json_name == ""
            out[(struct, int(number))] = (gotype.startswith("*"), json_name, inline)
    return out


def main():
    src, out_dir, version = sys.argv[1], sys.argv[2], sys.argv[3]
    packages = {}  # package -> messages
    go = {}  # package -> go field facts
    sources = [(os.path.join(src, "api", g, "generated.proto"),
                os.path.join(src, "api", g, "types.go")) for g in GROUPS]
    sources += [(os.path.join(src, "am/pkg/apis/meta/v1/generated.proto"),
                 os.path.join(src, "am/pkg/apis/meta/v1/types.go")),
                (os.path.join(src, "am/pkg/runtime/generated.proto"), None),
                (os.path.join(src, "am/pkg/api/resource/generated.proto"), None),
                (os.path.join(src, "am/pkg/util/intstr/generated.proto"), None)]
    for proto, types in sources:
        package, messages = parse_proto(proto)
        packages[package] = messages
        go[package] = parse_go(types) if types else {}

    def resolve(package, t):
        if t.startswith("."):
            return t[1:]
        if t in packages[package]:
            return f"{package}.{t}"
        return None  # a scalar

    # The closure of messages reachable from the roots.
    wanted = set()
    stack = [f"{p}.{m}" for p, ms in ROOTS.items() for m in ms]
    while stack:
        full = stack.pop()
        if full in wanted:
            continue
        wanted.add(full)
        if full in UNHANDLED:
            sys.exit(f"{full} is reachable from a root: teach lib/api/k8s_protobuf.cc its JSON")
        package, name = full.rsplit(".", 1)
        for _, t, _, _ in packages[package][name]:
            value = t[4:-1].split(",")[1] if t.startswith("map<") else t
            ref = resolve(package, value)
            if ref:
                stack.append(ref)

    stems = {}
    for package in packages:
        if package == META:
            stems[package] = "meta_v1"
        elif package == RUNTIME:
            stems[package] = "runtime"
        elif package == RESOURCE:
            stems[package] = "resource"
        elif package == INTSTR:
            stems[package] = "intstr"
        else:
            parts = package.split(".")
            stems[package] = f"{parts[-2]}_{parts[-1]}"

    os.makedirs(out_dir, exist_ok=True)
    for package, messages in packages.items():
        names = sorted(n for n in messages if f"{package}.{n}" in wanted)
        if not names:
            continue
        imports = set()
        body = []
        for name in names:
            body.append(f"message {name} {{")
            for label, t, fname, number in messages[name]:
                is_map = t.startswith("map<")
                if is_map:
                    key, value = t[4:-1].split(",")
                    ref = resolve(package, value)
                else:
                    ref = resolve(package, t)
                if ref:
                    ref_package = ref.rsplit(".", 1)[0]
                    if ref_package != package:
                        imports.add(stems[ref_package])
                    type_text = "." + ref
                else:
                    type_text = value if is_map else t
                if is_map:
                    type_text = f"map<{key}, {type_text}>"
                pointer, json_name, inline = go[package].get((name, number), (False, fname, False))
                options = []
                if inline:
                    options.append("(korch.k8swire.inline) = true")
                elif json_name and json_name != fname and json_name != "-":
                    options.append(f'json_name = "{json_name}"')
                if is_map:
                    prefix = ""
                elif label == "repeated":
                    prefix = "repeated "
                elif ref is None and pointer:
                    prefix = "optional "
                else:
                    prefix = ""
                opt = f" [{', '.join(options)}]" if options else ""
                body.append(f"  {prefix}{type_text} {fname} = {number}{opt};")
            body.append("}")
            body.append("")
        lines = [
            "// Generated by scripts/gen_k8s_wire_protos.py from the published Kubernetes",
            f"// definitions of k8s.io/api and k8s.io/apimachinery {version}; do not edit.",
            "// Declares the Kubernetes protobuf wire messages (published package, message",
            "// names and field numbers) that korch reads.",
            'syntax = "proto3";',
            "",
            f"package {package};",
            "",
        ]
        needs_options = any("(korch.k8swire.inline)" in b for b in body)
        if needs_options:
            imports.add("options")
        for stem in sorted(imports):
            lines.append(f'import "korch/k8swire/{stem}.proto";')
        if imports:
            lines.append("")
        with open(os.path.join(out_dir, f"{stems[package]}.proto"), "w") as f:
            f.write("\n".join(lines + body).rstrip() + "\n")
        print(f"{stems[package]}.proto: {len(names)} messages")


if __name__ == "__main__":
    main()
