# Load: M concurrent HTTPS clients doing create / get / patch / delete for a
# bounded time with zero errors and nothing lost; then 1,000 concurrent
# watch connections (asyncio, raw HTTP/1.1 over TLS) each receiving every one
# of K events, in order.

import asyncio
import json
import threading
import time

from harness import Failure, clip, expect, wait_until, WAIT_SECONDS

LOAD_NS = "load"
WATCH_NS = "watch"


def _create_namespace(server, name):
    r = server.connection().request("POST", "/api/v1/namespaces", body={
        "apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})
    expect(r.status == 201, f"create namespace {name}: {r!r}")


def run_clients(steps, server, clients, seconds):
    def setup():
        _create_namespace(server, LOAD_NS)

    steps.run("set-up: namespace", setup)

    def load():
        base = f"/api/v1/namespaces/{LOAD_NS}/configmaps"
        errors = []
        kept = [set() for _ in range(clients)]
        ops = [0] * clients
        deadline = time.monotonic() + seconds

        def client(n):
            http = server.connection()
            i = 0
            try:
                while time.monotonic() < deadline and len(errors) < 20:
                    name = f"c{n}-{i}"
                    body = {"apiVersion": "v1", "kind": "ConfigMap",
                            "metadata": {"name": name, "labels": {"load": "1", "client": str(n)}},
                            "data": {"i": str(i)}}
                    r = http.request("POST", base, body=body)
                    if r.status != 201:
                        errors.append(f"client {n}: POST {name}: {r!r}")
                        break
                    r = http.request("GET", f"{base}/{name}")
                    if r.status != 200 or r.json().get("data") != {"i": str(i)}:
                        errors.append(f"client {n}: GET {name}: {r!r}")
                        break
                    r = http.request("PATCH", f"{base}/{name}", body={"data": {"p": "1"}},
                                     content_type="application/merge-patch+json")
                    if r.status != 200 or r.json().get("data") != {"i": str(i), "p": "1"}:
                        errors.append(f"client {n}: PATCH {name}: {r!r}")
                        break
                    ops[n] += 3
                    if i % 2 == 0:
                        r = http.request("DELETE", f"{base}/{name}")
                        if r.status != 200:
                            errors.append(f"client {n}: DELETE {name}: {r!r}")
                            break
                        ops[n] += 1
                    else:
                        kept[n].add(name)
                    i += 1
            except Exception as e:
                errors.append(f"client {n}: {type(e).__name__}: {e}")
            finally:
                http.close()

        threads = [threading.Thread(target=client, args=(n,), daemon=True)
                   for n in range(clients)]
        start = time.monotonic()
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=seconds + 2 * WAIT_SECONDS)
        elapsed = time.monotonic() - start
        expect(not any(t.is_alive() for t in threads), "a load client hung")
        expect(not errors, f"{len(errors)} errors under load, first: " + "\n".join(errors[:5]))
        total = sum(ops)
        print(f"  load: {clients} clients, {total} requests in {elapsed:.1f}s "
              f"({total / elapsed:.0f}/s), {sum(len(k) for k in kept)} objects kept")
        expect(total > clients * 4, f"only {total} requests in {seconds}s")

        # Nothing lost: the list (followed through `continue`) is exactly the kept set.
        http = server.connection()
        names = set()
        cont = ""
        for _ in range(10000):
            q = "labelSelector=load%3D1&limit=500" + (f"&continue={cont}" if cont else "")
            r = http.request("GET", f"{base}?{q}")
            expect(r.status == 200, f"list: {r!r}")
            lst = r.json()
            expect(isinstance(lst.get("items"), list), f"list items: {clip(r.body)}")
            names.update(i["metadata"]["name"] for i in lst["items"])
            cont = (lst.get("metadata") or {}).get("continue", "")
            if not cont:
                break
        want = set().union(*kept)
        expect(names == want, f"after the load: {len(names)} objects listed, want {len(want)}; "
                              f"missing {sorted(want - names)[:10]}, unexpected "
                              f"{sorted(names - want)[:10]}")
        for n in range(clients):
            r = http.request("GET", f"{base}?labelSelector=client%3D{n}")
            got = {i["metadata"]["name"] for i in r.json()["items"]}
            expect(got == kept[n], f"client {n}: {len(got)} listed by label, want "
                                   f"{len(kept[n])}")

    steps.run(f"{clients} concurrent clients for {seconds}s: create/get/patch/delete, zero "
              f"errors, nothing lost", load)

    def still_serving():
        expect(server.alive(), "the server died")
        r = server.connection().request("GET", "/readyz")
        expect(r.status == 200, f"/readyz: {r!r}")

    steps.run("server still serving", still_serving)


# ---------------------------------------------------------------------------
# Watchers.


class Watcher:
    def __init__(self, n):
        self.n = n
        self.connected = False
        self.events = []
        self.error = None


async def _read_head(reader):
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {}
    for l in lines[1:]:
        k, _, v = l.partition(":")
        if k:
            headers[k.strip().lower()] = v.strip()
    return status, headers


async def _watch(server, ctx, path, w, want, connect_sem, connected_event, total, done_event):
    try:
        async with connect_sem:
            reader, writer = await asyncio.open_connection(
                server.host, server.port, ssl=ctx, server_hostname=server.host)
            writer.write((f"GET {path} HTTP/1.1\r\nHost: {server.host}:{server.port}\r\n"
                          f"Authorization: Bearer {server.admin_token}\r\n"
                          f"Accept: application/json\r\n\r\n").encode())
            await writer.drain()
            status, headers = await _read_head(reader)
        if status != 200:
            body = await reader.read(2000)
            raise Failure(f"watch: HTTP {status} {clip(body)}")
        if headers.get("transfer-encoding", "").lower() != "chunked":
            raise Failure(f"watch: not chunked: {headers}")
        w.connected = True
        total[0] += 1
        if total[0] == total[1]:
            connected_event.set()
        pending = b""
        while len(w.events) < want:
            size_line = await reader.readuntil(b"\r\n")
            size = int(size_line.split(b";")[0], 16)
            if size == 0:
                raise Failure(f"the watch ended after {len(w.events)} events")
            data = await reader.readexactly(size + 2)
            pending += data[:-2]
            while b"\n" in pending:
                line, pending = pending.split(b"\n", 1)
                if not line.strip():
                    continue
                ev = json.loads(line)
                if ev.get("type") == "BOOKMARK":
                    continue
                obj = ev.get("object") or {}
                if ev.get("type") == "ERROR":
                    raise Failure(f"watch ERROR event: {clip(line)}")
                if obj.get("kind") != "ConfigMap" or obj.get("apiVersion") != "v1":
                    raise Failure(f"event object without kind/apiVersion: {clip(line)}")
                w.events.append((ev["type"], obj["metadata"]["name"],
                                 (obj.get("data") or {}).get("v")))
        writer.close()
    except Exception as e:
        w.error = f"{type(e).__name__}: {e}"
    finally:
        total[2] += 1
        if total[2] == total[1]:
            done_event.set()


def expected_events(k):
    """K events: k/2 creates, then k/4 modifications and k/4 deletions."""
    creates = k // 2
    mods = (k - creates) // 2
    dels = k - creates - mods
    ev = [("ADDED", f"w-{i}", "0") for i in range(creates)]
    ev += [("MODIFIED", f"w-{i}", "1") for i in range(mods)]
    ev += [("DELETED", f"w-{creates - 1 - i}", "0") for i in range(dels)]
    return ev


def make_events(server, k):
    http = server.connection()
    base = f"/api/v1/namespaces/{WATCH_NS}/configmaps"
    for kind, name, v in expected_events(k):
        if kind == "ADDED":
            r = http.request("POST", base, body={"apiVersion": "v1", "kind": "ConfigMap",
                                                 "metadata": {"name": name}, "data": {"v": v}})
            want = 201
        elif kind == "MODIFIED":
            r = http.request("PATCH", f"{base}/{name}", body={"data": {"v": v}},
                             content_type="application/merge-patch+json")
            want = 200
        else:
            r = http.request("DELETE", f"{base}/{name}")
            want = 200
        if r.status != want:
            raise Failure(f"{kind} {name}: {r!r}")


def run_watchers(steps, server, count, k):
    def setup():
        _create_namespace(server, WATCH_NS)

    steps.run("set-up: namespace", setup)

    def watchers():
        r = server.connection().request("GET", f"/api/v1/namespaces/{WATCH_NS}/configmaps")
        expect(r.status == 200, f"list: {r!r}")
        rv = r.json()["metadata"]["resourceVersion"]
        path = (f"/api/v1/namespaces/{WATCH_NS}/configmaps?watch=true&resourceVersion={rv}"
                f"&allowWatchBookmarks=true&timeoutSeconds=600")
        want = expected_events(k)
        ws = [Watcher(n) for n in range(count)]
        timing = {}

        async def main():
            ctx = server.ssl_context()
            connect_sem = asyncio.Semaphore(64)
            connected = asyncio.Event()
            done = asyncio.Event()
            total = [0, count, 0]  # connected, count, finished
            tasks = [asyncio.create_task(_watch(server, ctx, path, w, len(want), connect_sem,
                                                connected, total, done)) for w in ws]
            start = time.monotonic()
            try:
                await asyncio.wait_for(connected.wait(), timeout=120)
            except asyncio.TimeoutError:
                pass
            timing["connect"] = time.monotonic() - start
            n_connected = sum(w.connected for w in ws)
            if n_connected == count:
                start = time.monotonic()
                await asyncio.to_thread(make_events, server, k)
                timing["write"] = time.monotonic() - start
                try:
                    await asyncio.wait_for(done.wait(), timeout=120)
                except asyncio.TimeoutError:
                    pass
                timing["deliver"] = time.monotonic() - start
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            return n_connected

        n_connected = asyncio.run(main())
        errors = [f"watcher {w.n}: {w.error}" for w in ws if w.error and w.connected]
        not_connected = [f"watcher {w.n}: {w.error}" for w in ws if not w.connected]
        expect(n_connected == count,
               f"only {n_connected} of {count} watches connected in "
               f"{timing['connect']:.0f}s; first errors: {not_connected[:5]}")
        print(f"  watchers: {count} connected in {timing['connect']:.1f}s; {k} events written in "
              f"{timing.get('write', 0):.1f}s; all delivered {timing.get('deliver', 0):.1f}s "
              f"after the first write")
        short = [w for w in ws if w.events != want]
        expect(not short and not errors,
               f"{len(short)} of {count} watchers did not get exactly the {k} events in order; "
               f"errors: {errors[:5]}; e.g. watcher "
               f"{short[0].n if short else '-'} got {short[0].events if short else ''}")

    steps.run(f"{count} concurrent watch connections each receive all {k} events in order",
              watchers)

    def still_serving():
        expect(server.alive(), "the server died")

        def quiet():
            r = server.connection().request("GET", "/metrics",
                                            headers={"Accept": "text/plain"})
            return r.status == 200

        wait_until("/metrics to answer", quiet, timeout=10)
        r = server.connection().request("GET", "/readyz")
        expect(r.status == 200, f"/readyz: {r!r}")

    steps.run("server still serving", still_serving)
