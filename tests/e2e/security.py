# Authentication and authorization at the wire: no credentials -> 401, a
# wrong token -> 401, a user without an RBAC grant -> 403 through kubectl
# (client certificate made with the server's CA, and a static token from
# --token-auth-file), a client certificate from another CA refused at the
# TLS handshake.

import os
import shutil
import socket
import ssl
import subprocess

from harness import (clip, expect, expect_status, make_ca, make_client_cert, write_kubeconfig,
                     WAIT_SECONDS)

TOKEN_USER_TOKEN = "e2e-token-user-0123456789abcdef"


def token_file(work):
    path = os.path.join(work, "tokens.csv")
    with open(path, "w") as f:
        f.write(f'{TOKEN_USER_TOKEN},token-user,1001,"e2e-token-group"\n')
    os.chmod(path, 0o600)
    return path


def run(steps, server, kc, work):
    def no_credentials():
        http = server.connection(token=None)
        st = expect_status(http.request("GET", "/api/v1/namespaces"), 401, "Unauthorized",
                           "GET /api/v1/namespaces without credentials")
        expect(st.get("message"), "the 401 Status has no message")
        expect_status(http.request("GET", "/api/v1/namespaces/default/pods"), 401,
                      "Unauthorized", "GET pods without credentials")
        expect_status(http.request("POST", "/api/v1/namespaces/default/configmaps",
                                   body={"apiVersion": "v1", "kind": "ConfigMap",
                                         "metadata": {"name": "anon"}}),
                      401, "Unauthorized", "POST without credentials")
        if shutil.which("curl"):
            r = subprocess.run(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}",
                                "--max-time", "20", "--cacert", server.ca,
                                f"{server.url}/api/v1/namespaces"],
                               capture_output=True, text=True, timeout=WAIT_SECONDS)
            expect(r.stdout == "401", f"curl --cacert (no cert, no token): HTTP {r.stdout!r}, "
                                      f"want 401 ({r.stderr})")

    steps.run("no credentials -> 401 Unauthorized", no_credentials)

    def wrong_token():
        http = server.connection(token="not-a-token")
        expect_status(http.request("GET", "/api/v1/namespaces"), 401, "Unauthorized",
                      "GET with a wrong bearer token")
        # A kubeconfig with only the token: with the admin's, kubectl would
        # also present the admin certificate, which authenticates by itself.
        cfg = write_kubeconfig(os.path.join(work, "wrong-token.kubeconfig"), server, "wrong",
                               token="not-a-token")
        out = kc.with_kubeconfig(cfg, "wrong").fails(["get", "pods"])
        # 401 reads "Unauthorized" in kubectl <= 1.2x and "the server has asked
        # for the client to provide credentials" in later ones.
        expect("Unauthorized" in out or "provide credentials" in out,
               f"kubectl with a wrong token: {clip(out)}")

    steps.run("a wrong bearer token -> 401", wrong_token)

    def admin_credentials():
        r = server.connection().request("GET", "/api/v1/namespaces")
        expect(r.status == 200, f"admin token: {r!r}")
        crt, key = os.path.join(server.pki, "admin.crt"), os.path.join(server.pki, "admin.key")
        r = server.connection(token=None, cert=crt, key=key).request("GET", "/api/v1/namespaces")
        expect(r.status == 200, f"admin client certificate (no token): {r!r}")

    steps.run("the admin token and the admin client certificate -> 200", admin_credentials)

    def cert_user_forbidden():
        crt, key = make_client_cert(work, "sec-user", server.ca, os.path.join(server.pki,
                                                                              "ca.key"),
                                    "sec-user", ["sec-group"])
        r = server.connection(token=None, cert=crt, key=key).request(
            "GET", "/api/v1/namespaces/default/pods")
        st = expect_status(r, 403, "Forbidden", "GET pods as sec-user (no grants)")
        expect('User "sec-user" cannot list resource "pods"' in st.get("message", ""),
               f"403 message: {st.get('message')!r}")
        expect((st.get("details") or {}).get("kind") == "pods",
               f"403 details: {st.get('details')}")
        cfg = write_kubeconfig(os.path.join(work, "sec-user.kubeconfig"), server, "sec-user",
                               cert=crt, key=key)
        user = kc.with_kubeconfig(cfg, "sec-user")
        out = user.fails(["get", "pods", "-n", "default"])
        expect("Forbidden" in out and 'User "sec-user" cannot list resource "pods"' in out
               and 'in the namespace "default"' in out,
               f"kubectl get pods as sec-user: want Forbidden, got: {clip(out)}")
        ns = os.path.join(work, "sec-ns.yaml")
        with open(ns, "w") as f:
            f.write("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: sec-ns\n")
        out = user.fails(["create", "-f", ns])
        expect("Forbidden" in out and 'cannot create resource "namespaces"' in out,
               f"kubectl create -f namespace.yaml as sec-user: {clip(out)}")
        kc.fails(["get", "namespace", "sec-ns"])

    steps.run("a client-cert user without RBAC -> 403 through kubectl", cert_user_forbidden)

    def authorized_before_decoding():
        # Kubernetes authorizes a request before it reads the body: a user
        # who may not create gets 403 whatever the body holds.
        crt, key = os.path.join(work, "sec-user.crt"), os.path.join(work, "sec-user.key")
        http = server.connection(token=None, cert=crt, key=key)
        path = "/api/v1/namespaces/default/configmaps"
        for body, ct, what in (("{nope", "application/json", "malformed JSON"),
                               (b"k8s\x00\x0a\x0f", "application/vnd.kubernetes.protobuf",
                                "a protobuf body"),
                               ("<x/>", "application/xml", "an XML body")):
            expect_status(http.request("POST", path, body=body, content_type=ct), 403,
                          "Forbidden", f"POST {what} as sec-user (no grants)")

    steps.run("a user without grants gets 403 before the body is decoded",
              authorized_before_decoding)

    def token_user_forbidden():
        # A kubeconfig with the token only (the admin one has a certificate too).
        cfg = write_kubeconfig(os.path.join(work, "token-user.kubeconfig"), server,
                               "token-user", token=TOKEN_USER_TOKEN)
        user = kc.with_kubeconfig(cfg, "token-user")
        out = user.fails(["get", "pods", "-n", "default"])
        expect("Forbidden" in out and 'User "token-user" cannot list resource "pods"' in out,
               f"kubectl get pods as token-user: {clip(out)}")

    steps.run("a token user without RBAC -> 403 through kubectl", token_user_forbidden)

    def token_user_can_i():
        cfg = os.path.join(work, "token-user.kubeconfig")
        r = kc.with_kubeconfig(cfg, "token-user").run(["auth", "can-i", "list", "pods"])
        expect(r.returncode == 1 and r.stdout.strip() == "no",
               f"token-user auth can-i list pods: {r.returncode} {r.stdout!r} {r.stderr!r}, "
               f"want exit 1 'no'")

    steps.run("auth can-i as a token user without RBAC -> no", token_user_can_i)

    def foreign_ca_refused():
        evil_ca, evil_key = make_ca(work, "evil-ca")
        # Same subject as the admin (system:masters): only the signature differs.
        crt, key = make_client_cert(work, "evil-admin", evil_ca, evil_key, "korch-admin",
                                    ["system:masters"])
        ctx = server.ssl_context(crt, key)
        answer = b""
        try:
            with socket.create_connection((server.host, server.port), timeout=WAIT_SECONDS) as s:
                with ctx.wrap_socket(s, server_hostname=server.host) as tls:
                    # With TLS 1.3 the server's verdict on our certificate
                    # arrives after the client's handshake is done: send a
                    # request and read.
                    tls.sendall(b"GET /api/v1/namespaces HTTP/1.1\r\nHost: x\r\n"
                                b"Connection: close\r\n\r\n")
                    while True:
                        chunk = tls.recv(65536)
                        if not chunk:
                            break
                        answer += chunk
        except (ssl.SSLError, ConnectionResetError, BrokenPipeError) as e:
            refused = str(e)
        else:
            refused = None
        expect(refused is not None and not answer.startswith(b"HTTP/"),
               f"a client certificate from another CA was not refused at TLS: "
               f"{clip(answer) if answer else 'the connection closed without an alert'}")
        expect("unknown ca" in refused.lower() or "certificate" in refused.lower() or
               "alert" in refused.lower() or "reset" in refused.lower(),
               f"TLS refusal reason: {refused}")
        cfg = write_kubeconfig(os.path.join(work, "evil.kubeconfig"), server, "evil",
                               cert=crt, key=key)
        out = kc.with_kubeconfig(cfg, "evil").fails(["get", "pods", "-n", "default"])
        expect("Forbidden" not in out and "NAME" not in out and
               ("tls" in out.lower() or "certificate" in out.lower() or "EOF" in out or
                "reset" in out),
               f"kubectl with a certificate from another CA: want a TLS error, got: {clip(out)}")

    steps.run("a client certificate from another CA is refused at TLS", foreign_ca_refused)

    def still_serving():
        r = server.connection().request("GET", "/readyz")
        expect(r.status == 200, f"/readyz: {r!r}")
        r = server.connection().request("GET", "/metrics", headers={"Accept": "text/plain"})
        expect(r.status == 200 and "# TYPE" in r.body.decode(errors="replace"),
               f"/metrics: {r!r}")
        kc.ok(["get", "namespaces"])

    steps.run("server still serving (and /metrics)", still_serving)
