# Bad input at the wire, as raw HTTP/1.1 over TLS with the admin token:
# each gets the Status code Kubernetes gives, nothing is stored, and the
# server keeps serving (also while many idle or half-sent connections are
# open).

import json
import re
import socket
import ssl
import time

from harness import Failure, clip, expect, expect_status, WAIT_SECONDS

NS = "bad"
CM = f"/api/v1/namespaces/{NS}/configmaps"


def configmap(name, **extra):
    body = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name},
            "data": {"a": "b"}}
    body.update(extra)
    return body


def _pb_field(number, payload):
    """One length-delimited protobuf field (wire type 2)."""
    def varint(n):
        out = b""
        while True:
            b, n = n & 0x7F, n >> 7
            out += bytes([b | (0x80 if n else 0)])
            if not n:
                return out
    return varint(number << 3 | 2) + varint(len(payload)) + payload


def k8s_protobuf(api_version, kind, raw):
    """A Kubernetes protobuf body: "k8s\\0" + runtime.Unknown{typeMeta, raw}."""
    type_meta = _pb_field(1, api_version.encode()) + _pb_field(2, kind.encode())
    return b"k8s\x00" + _pb_field(1, type_meta) + _pb_field(2, raw)


def warning_text(header):
    """The text of a `Warning: 299 - "text"` header, unquoted."""
    m = re.match(r'^\d{3} \S+ "((?:[^"\\]|\\.)*)"', header)
    return re.sub(r"\\(.)", r"\1", m.group(1)) if m else ""


def read_response(tls, buf=b""):
    """Reads one HTTP/1.1 response from a socket (after the bytes already in
    buf); returns (status, headers, body)."""
    while b"\r\n\r\n" not in buf:
        chunk = tls.recv(65536)
        if not chunk:
            raise Failure(f"connection closed before a complete response header: {clip(buf)}")
        buf += chunk
    head, body = buf.split(b"\r\n\r\n", 1)
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {}
    for l in lines[1:]:
        k, _, v = l.partition(":")
        headers[k.strip().lower()] = v.strip()
    if "content-length" in headers:
        n = int(headers["content-length"])
        while len(body) < n:
            chunk = tls.recv(65536)
            if not chunk:
                break
            body += chunk
        body = body[:n]
    elif headers.get("transfer-encoding", "").lower() == "chunked":
        out = b""
        while True:
            while b"\r\n" not in body:
                chunk = tls.recv(65536)
                if not chunk:
                    return status, headers, out
                body += chunk
            size_line, body = body.split(b"\r\n", 1)
            size = int(size_line.split(b";")[0], 16)
            while len(body) < size + 2:
                chunk = tls.recv(65536)
                if not chunk:
                    break
                body += chunk
            if size == 0:
                break
            out += body[:size]
            body = body[size + 2:]
        body = out
    return status, headers, body


def _early_bytes(tls):
    """Application data the server has sent already (b"" at EOF), or None.
    (select() is not enough: TLS 1.3 session tickets make the socket
    readable without any application data.)"""
    timeout = tls.gettimeout()
    tls.setblocking(False)
    try:
        return tls.recv(65536)
    except (ssl.SSLWantReadError, BlockingIOError):
        return None
    finally:
        tls.settimeout(timeout)


def raw_exchange(server, head, body_chunks=()):
    """Sends a request head and body chunks; stops sending when the server
    answers early (as it may for a body that is too large). Returns the
    response, or raises Failure when the server gave none."""
    ctx = server.ssl_context()
    with socket.create_connection((server.host, server.port), timeout=15) as s:
        with ctx.wrap_socket(s, server_hostname=server.host) as tls:
            sent = 0
            send_error = None
            early = b""
            try:
                tls.sendall(head)
                for chunk in body_chunks:
                    got = _early_bytes(tls)
                    if got is not None:
                        early = got
                        break
                    tls.sendall(chunk)
                    sent += len(chunk)
            except (BrokenPipeError, ConnectionResetError, ssl.SSLError) as e:
                send_error = e
            try:
                return read_response(tls, early)
            except (ConnectionResetError, ssl.SSLError, TimeoutError, Failure) as e:
                raise Failure(f"no HTTP response after sending {sent} body bytes "
                              f"(send error: {send_error}; read error: {e!r})")


def request_head(server, method, path, headers):
    lines = [f"{method} {path} HTTP/1.1", f"Host: {server.host}:{server.port}",
             f"Authorization: Bearer {server.admin_token}", "Accept: application/json"]
    lines += [f"{k}: {v}" for k, v in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def run(steps, server):
    http = server.connection()

    def setup():
        r = http.request("POST", "/api/v1/namespaces",
                         body={"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NS}})
        expect(r.status == 201, f"create namespace {NS}: {r!r}")

    steps.run("set-up: namespace", setup)

    def malformed_json():
        for body in ('{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"x"',
                     "this is not json", '{"apiVersion":"v1","kind":"ConfigMap",,}', "[1,2,3]"):
            expect_status(http.request("POST", CM, body=body), 400, "BadRequest",
                          f"POST {body!r}")
        r = http.request("POST", CM, body=configmap("good"))
        expect(r.status == 201, f"POST a good configmap: {r!r}")
        expect_status(http.request("PUT", f"{CM}/good", body='{"kind":'), 400, "BadRequest",
                      "PUT malformed JSON")
        for ct in ("application/merge-patch+json", "application/strategic-merge-patch+json",
                   "application/json-patch+json"):
            expect_status(http.request("PATCH", f"{CM}/good", body="{nope", content_type=ct),
                          400, "BadRequest", f"PATCH ({ct}) malformed JSON")
        deep = '{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"deep"},"x":' + \
               "[" * 5000 + "]" * 5000 + "}"
        expect_status(http.request("POST", CM, body=deep), 400, "BadRequest",
                      "POST JSON nested 5000 deep")

    steps.run("malformed JSON -> 400 BadRequest", malformed_json)

    def wrong_kind():
        body = configmap("wk")
        body["kind"] = "Secret"
        expect_status(http.request("POST", CM, body=body), 400, "BadRequest",
                      "POST kind Secret to configmaps")
        body = configmap("wk")
        body["apiVersion"] = "apps/v1"
        expect_status(http.request("POST", CM, body=body), 400, "BadRequest",
                      "POST apiVersion apps/v1 to configmaps")
        body = configmap("wk")
        body["apiVersion"] = "v2"
        expect_status(http.request("POST", CM, body=body), 400, "BadRequest",
                      "POST apiVersion v2 to configmaps")
        body = configmap("wk")
        body["kind"] = "NoSuchKind"
        expect_status(http.request("POST", CM, body=body), 400, "BadRequest",
                      "POST kind NoSuchKind to configmaps")
        body = configmap("wk")
        body["metadata"]["namespace"] = "default"
        expect_status(http.request("POST", CM, body=body), 400, "BadRequest",
                      "POST with metadata.namespace other than the URL's")
        r = http.request("GET", f"{CM}/wk")
        expect_status(r, 404, "NotFound", "the refused configmap wk")

    steps.run("wrong kind or apiVersion (and namespace) -> 400", wrong_kind)

    def strict_fields():
        body = configmap("strict", bogus=1)
        st = expect_status(http.request("POST", f"{CM}?fieldValidation=Strict", body=body), 400,
                           "BadRequest", "POST an unknown field with fieldValidation=Strict")
        expect('unknown field "bogus"' in st.get("message", ""),
               f"strict: message {st.get('message')!r} does not name the field as "
               f"'unknown field \"bogus\"'")
        body = configmap("strict")
        body["metadata"]["bogusMeta"] = "x"
        st = expect_status(http.request("POST", f"{CM}?fieldValidation=Strict", body=body), 400,
                           "BadRequest", "POST a nested unknown field, Strict")
        expect('unknown field "metadata.bogusMeta"' in st.get("message", ""),
               f"strict nested: message {st.get('message')!r}")
        dup = ('{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"strict"},'
               '"data":{"a":"1"},"data":{"b":"2"}}')
        st = expect_status(http.request("POST", f"{CM}?fieldValidation=Strict", body=dup), 400,
                           "BadRequest", "POST a duplicate field, Strict")
        expect('duplicate field "data"' in st.get("message", ""),
               f"strict duplicate: message {st.get('message')!r}")
        expect_status(http.request("GET", f"{CM}/strict"), 404, "NotFound",
                      "nothing stored by the refused strict requests")
        expect_status(http.request("POST", f"{CM}?fieldValidation=Sometimes",
                                   body=configmap("fv")), 400, "BadRequest",
                      "fieldValidation=Sometimes")
        # Warn (the default) stores and warns; Ignore stores silently.
        r = http.request("POST", f"{CM}?fieldValidation=Warn", body=configmap("warned", bogus=1))
        expect(r.status == 201, f"unknown field with fieldValidation=Warn: {r!r}, want 201")
        expect('unknown field "bogus"' in warning_text(r.headers.get("warning", "")),
               f"Warn: Warning header {r.headers.get('warning')!r}")
        r = http.request("POST", f"{CM}?fieldValidation=Ignore",
                         body=configmap("ignored", bogus=1))
        expect(r.status == 201 and "bogus" not in r.headers.get("warning", ""),
               f"unknown field with fieldValidation=Ignore: {r!r} {r.headers.get('warning')}")
        expect("bogus" not in r.json(), "an ignored unknown field was stored")
        st = expect_status(http.request("POST", CM, body=configmap("Bad_Name")), 422, "Invalid",
                           "POST an invalid name")
        causes = (st.get("details") or {}).get("causes") or []
        expect(any(c.get("field") == "metadata.name" for c in causes),
               f"422 causes {causes} do not name metadata.name")

    steps.run("unknown fields: Strict -> 400, Warn -> warning, Ignore; invalid -> 422",
              strict_fields)

    size = 4 * 1024 * 1024
    prefix = '{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"huge"},"data":{"x":"'

    def body_chunks():
        yield prefix.encode()
        left = size - len(prefix) - 3
        while left > 0:
            n = min(64 * 1024, left)
            yield b"a" * n
            left -= n
        yield b'"}}'

    def oversized():
        head = request_head(server, "POST", CM, {"Content-Type": "application/json",
                                                 "Content-Length": str(size)})
        status, _, body = raw_exchange(server, head, body_chunks())
        expect(status == 413, f"POST a 4 MiB body (Content-Length): HTTP {status} {clip(body)}, "
                              f"want 413")
        st = json.loads(body)
        expect(st.get("kind") == "Status" and st.get("reason") == "RequestEntityTooLarge" and
               st.get("code") == 413, f"413 Status: {clip(body)}")
        expect_status(http.request("GET", f"{CM}/huge"), 404, "NotFound", "the huge configmap")

    steps.run("oversized body (Content-Length) -> 413", oversized)

    def oversized_chunked():
        def chunked():
            for c in body_chunks():
                yield b"%x\r\n" % len(c) + c + b"\r\n"
            yield b"0\r\n\r\n"

        head = request_head(server, "POST", CM, {"Content-Type": "application/json",
                                                 "Transfer-Encoding": "chunked"})
        status, _, body = raw_exchange(server, head, chunked())
        expect(status == 413, f"POST a 4 MiB chunked body: HTTP {status} {clip(body)}, want 413")
        expect_status(http.request("GET", f"{CM}/huge"), 404, "NotFound", "the huge configmap")

    steps.run("oversized body (chunked) -> 413", oversized_chunked)

    def large_but_allowed():
        # Under the limit is fine (the object limit is the store's: 1.5 MiB in
        # etcd; a 1 MiB value passes both).
        r = http.request("POST", CM, body=configmap("big", data={"x": "b" * (1024 * 1024)}))
        expect(r.status == 201, f"POST a 1 MiB configmap: {r!r}")

    steps.run("a 1 MiB body is accepted", large_but_allowed)

    def oversized_header():
        head = request_head(server, "GET", "/api/v1/namespaces", {"X-Big": "h" * (2 << 20)})
        status, _, body = raw_exchange(server, head)
        expect(status == 431, f"a 2 MiB request header: HTTP {status} {clip(body)}, want 431")

    steps.run("oversized request header -> 431", oversized_header)

    def selectors():
        for q, what in (("labelSelector=app%20in%20(web", "an unclosed set"),
                        ("labelSelector=a%3D%3Db%3D%3Dc", "a==b==c"),
                        ("labelSelector=%21%21a", "!!a"),
                        ("labelSelector=a%20notin", "notin without a set"),
                        ("fieldSelector=spec.bogus%3D1", "an unknown pod field"),
                        ("fieldSelector=metadata.name", "no operator")):
            expect_status(http.request("GET", f"/api/v1/namespaces/{NS}/pods?{q}"), 400,
                          "BadRequest", f"GET pods?{q} ({what})")
        expect_status(http.request("GET", f"{CM}?fieldSelector=status.phase%3DRunning"), 400,
                      "BadRequest", "GET configmaps?fieldSelector=status.phase=Running")
        expect_status(http.request("GET", f"{CM}?watch=true&labelSelector=a%20in%20(b"), 400,
                      "BadRequest", "a watch with a bad selector")
        r = http.request("GET", f"/api/v1/namespaces/{NS}/pods?fieldSelector=status.phase%3D"
                                "Running,spec.nodeName%21%3Dx&labelSelector=a%20in%20(b,c),%21d")
        expect(r.status == 200 and r.json().get("items") == [], f"good selectors: {r!r}")

    steps.run("invalid label and field selectors -> 400", selectors)

    def unknown_paths():
        for path in ("/api/v1/foos", f"/api/v1/namespaces/{NS}/foos",
                     f"/api/v1/namespaces/{NS}/foos/x", "/apis/nosuch.example.com/v1/things",
                     "/apis/apps/v9/deployments", f"{CM}/good/nosuchsubresource"):
            expect_status(http.request("GET", path), 404, "NotFound", f"GET {path}")
        for path in ("/nope", "/api/v2", "/apis/apps/v1/nope/nope/nope/nope/nope"):
            r = http.request("GET", path)
            expect(r.status == 404, f"GET {path}: {r!r}, want 404")
        expect_status(http.request("PATCH", f"{CM}/good", body={"data": {"a": "c"}},
                                   content_type="text/plain"), 415, "UnsupportedMediaType",
                      "PATCH with Content-Type text/plain")
        expect_status(http.request("POST", CM, body="<x/>", content_type="application/xml"), 415,
                      "UnsupportedMediaType", "POST with Content-Type application/xml")
        expect_status(http.request("PUT", CM, body=configmap("x")), 405, "MethodNotAllowed",
                      "PUT on a collection")
        good = http.request("GET", f"{CM}/good").json()
        good["metadata"]["resourceVersion"] = "1"
        expect_status(http.request("PUT", f"{CM}/good", body=good), 409, "Conflict",
                      "PUT with a stale resourceVersion")

    steps.run("unknown paths -> 404; 415; 405; stale PUT -> 409", unknown_paths)

    def protobuf_bodies():
        pb = "application/vnd.kubernetes.protobuf"
        # ConfigMap{metadata{name: "pb"}, data{"a": "b"}}, as kubectl >= 1.32 sends it.
        cm = (_pb_field(1, _pb_field(1, b"pb")) +
              _pb_field(2, _pb_field(1, b"a") + _pb_field(2, b"b")))
        for body, what in ((b"k8s\x00\x0a\x05junk", "a broken envelope"),
                           (k8s_protobuf("v1", "ConfigMap", b"\x0a\xff"), "a broken object"),
                           (json.dumps(configmap("pb")).encode(), "JSON labelled protobuf")):
            expect_status(http.request("POST", CM, body=body, content_type=pb), 400, "BadRequest",
                          f"POST {what} as protobuf")
        r = http.request("POST", CM, body=k8s_protobuf("v1", "Widget", cm), content_type=pb)
        expect_status(r, 415, "UnsupportedMediaType", "POST a protobuf Widget")
        expect("Widget" in r.json().get("message", ""), f"the 415 does not name the kind: {r!r}")
        expect_status(http.request("POST", CM, body=k8s_protobuf("v1", "ConfigMap", cm),
                                   content_type=pb, headers={"Accept": pb}),
                      406, "NotAcceptable", "POST protobuf accepting only a protobuf reply")

    steps.run("bad protobuf bodies -> 400; undeclared kind -> 415; protobuf-only Accept -> 406",
              protobuf_bodies)

    def idle_and_slow_clients():
        # Connections that never finish their handshake or their request
        # must not keep others from being served.
        held = []
        try:
            for _ in range(200):
                held.append(socket.create_connection((server.host, server.port),
                                                     timeout=WAIT_SECONDS))
            ctx = server.ssl_context()
            for _ in range(50):
                s = ctx.wrap_socket(socket.create_connection((server.host, server.port),
                                                             timeout=WAIT_SECONDS),
                                    server_hostname=server.host)
                s.sendall(f"GET /api/v1/namespaces HTTP/1.1\r\nHost: {server.host}\r\n"
                          f"Authorization: Bearer ".encode())
                held.append(s)
            start = time.monotonic()
            fresh = server.connection(timeout=10)
            for i in range(20):
                r = fresh.request("GET", f"{CM}/good")
                expect(r.status == 200, f"request {i} with 250 stalled connections open: {r!r}")
            r = fresh.request("POST", CM, body=configmap("during-stall"))
            expect(r.status == 201, f"POST with stalled connections open: {r!r}")
            took = time.monotonic() - start
            expect(took < 10, f"21 requests took {took:.1f}s with 250 stalled connections open")
        finally:
            for s in held:
                s.close()

    steps.run("250 idle / half-sent connections do not block others", idle_and_slow_clients)

    def still_serving():
        expect(server.alive(), "the server process died")
        r = server.connection().request("GET", "/readyz")
        expect(r.status == 200, f"/readyz: {r!r}")
        r = http.request("GET", CM)
        expect(r.status == 200, f"list configmaps: {r!r}")
        names = sorted(i["metadata"]["name"] for i in r.json()["items"]
                       if i["metadata"]["name"] != "kube-root-ca.crt")
        expect(names == ["big", "during-stall", "good", "ignored", "warned"],
               f"configmaps stored after the bad requests: {names}")

    steps.run("server still serving; only the good objects were stored", still_serving)
