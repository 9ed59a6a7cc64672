import time

import pytest

import korch


@pytest.fixture(params=["memory", "rocksdb"])
def store(request, tmp_path):
    if request.param == "memory":
        s = korch.Store.open_memory()
    else:
        s = korch.Store.open_rocksdb(tmp_path / "db")
    with s:
        yield s


def test_guarded_writes(store):
    rev = store.create("/apps/web", b"v1")
    with pytest.raises(korch.AlreadyExists):
        store.create("/apps/web", b"again")
    kv = store.get("/apps/web")
    assert kv.value == b"v1" and kv.mod_revision == rev and kv.version == 1
    rev2 = store.update("/apps/web", "v2", expected_mod_revision=rev)
    assert rev2 > rev
    with pytest.raises(korch.Conflict):
        store.update("/apps/web", b"lost", expected_mod_revision=rev)
    assert store.get("/apps/web").value == b"v2"
    with pytest.raises(korch.NotFound) as e:
        store.get("/apps/missing")
    assert "missing" in str(e.value)
    store.delete("/apps/web")
    with pytest.raises(korch.NotFound):
        store.delete("/apps/web")


def test_range_at_a_revision(store):
    first = store.create("/r/a", b"1")
    store.create("/r/b", b"2")
    store.create("/r/c", b"3")
    items, at, more = store.range("/r/")
    assert [kv.key for kv in items] == ["/r/a", "/r/b", "/r/c"]
    assert at == store.revision and not more
    items, _, more = store.range("/r/", limit=2)
    assert len(items) == 2 and more
    items, at, _ = store.range("/r/", revision=first)
    assert [kv.key for kv in items] == ["/r/a"] and at == first


def test_watch_sees_every_change_in_order(store):
    start = store.create("/w/x", b"0")
    with store.watch("/w/", start_revision=start) as watch:
        store.update("/w/x", b"1")
        store.delete("/w/x")
        events = [watch.next(timeout=10) for _ in range(2)]
    assert [e.type for e in events] == ["PUT", "DELETE"]
    assert events[0].value == b"1" and events[0].prev_value == b"0"
    assert events[1].prev_value == b"1"
    assert events[0].revision < events[1].revision


def test_watch_from_a_compacted_revision_raises_gone(store):
    old = store.create("/c/a", b"1")
    store.update("/c/a", b"2")
    store.compact(store.revision)
    with pytest.raises(korch.Gone) as e:
        with store.watch("/c/", start_revision=old) as watch:
            for _ in watch:
                pass
    assert "compacted" in str(e.value)
    with pytest.raises(korch.Gone):
        store.range("/c/", revision=old)


def test_rocksdb_keeps_acknowledged_writes_across_reopen(tmp_path):
    with korch.Store.open_rocksdb(tmp_path / "db") as s:
        rev = s.create("/k", b"kept")
    with korch.Store.open_rocksdb(tmp_path / "db") as s:
        kv = s.get("/k")
        assert kv.value == b"kept" and kv.mod_revision == rev
        assert s.create("/k2", b"x") > rev  # revisions continue


def test_bad_options_name_the_field(tmp_path):
    with pytest.raises(korch.Invalid):
        korch.Store.open_etcd("")
    s = korch.Store.open_memory()
    s.close()
    with pytest.raises(ValueError):
        s.get("/x")
