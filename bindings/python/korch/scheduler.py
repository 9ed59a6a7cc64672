"""The embeddable scheduler: feed it nodes and pods (dicts), ask where pods go.

    sched = korch.Scheduler(seed=1)
    sched.add_node({"apiVersion": "v1", "kind": "Node", "metadata": {"name": "n1"},
                    "status": {"allocatable": {"cpu": "4", "memory": "8Gi", "pods": "110"}}})
    result = sched.schedule(pod)      # {"node": "n1", ...} or {"node": "", "message": ...}

Python functions can be Filter and Score plugins:

    def gpu_only(pod, node):            # node: {"node": {...}, "requested": {...}, "podCount": n}
        if "gpu" not in node["node"]["metadata"].get("labels", {}):
            return "node(s) have no gpu"    # a reason: the pod does not fit here
        return None                         # fits

    sched = korch.Scheduler(filters={"GpuOnly": gpu_only}, scores={"Spread": lambda p, n: ...})

A plugin returns None/True (fits) or a reason string (does not fit) for a
filter, and a number in [0, 100] for a score. A plugin that raises fails
the call and the exception is raised again from schedule().
"""
import ctypes
import json
import threading

from . import _native, errors
from ._native import check, enc

DEFAULT_API_VERSION = "kubescheduler.config.k8s.io/v1"


def _configuration(config, filters, scores, percentage):
    """The configuration text: `config` (a dict or YAML/JSON text) with the
    Python plugins enabled in its first profile."""
    if isinstance(config, str):
        if filters or scores or percentage is not None:
            raise errors.Invalid("pass the configuration as a dict to combine it with plugins")
        return config
    cfg = json.loads(json.dumps(config or {}))
    cfg.setdefault("apiVersion", DEFAULT_API_VERSION)
    cfg.setdefault("kind", "KubeSchedulerConfiguration")
    if percentage is not None:
        cfg["percentageOfNodesToScore"] = percentage
    if filters or scores:
        profiles = cfg.setdefault("profiles", [{"schedulerName": "default-scheduler"}])
        plugins = profiles[0].setdefault("plugins", {})
        for name in filters:
            plugins.setdefault("filter", {}).setdefault("enabled", []).append({"name": name})
        for name, weight in scores.items():
            plugins.setdefault("score", {}).setdefault("enabled", []).append(
                {"name": name, "weight": weight})
    return json.dumps(cfg)


class Scheduler(_native.NativeHandle):
    """An embedded korch scheduler (see the module docstring).

    config: a KubeSchedulerConfiguration as a dict or YAML/JSON text.
    filters: {name: fn(pod, node) -> None | reason}; scores: {name: fn(pod,
    node) -> 0..100} or {name: (fn, weight)}. seed: reproducible tie-breaks.
    parallelism: threads for filtering (1: none). percentage_of_nodes_to_score:
    100 for exact results on large clusters.
    """

    def __init__(self, config=None, filters=None, scores=None, seed=None, parallelism=None,
                 percentage_of_nodes_to_score=None):
        self._handle = None
        self._registry = None
        self._callbacks = []
        self._error_lock = threading.Lock()
        self._error = None
        filters = dict(filters or {})
        score_fns, weights = {}, {}
        for name, value in (scores or {}).items():
            fn, weight = value if isinstance(value, tuple) else (value, 1)
            score_fns[name], weights[name] = fn, weight
        registry = ctypes.c_void_p()
        check(_native.lib.korch_scheduler_registry_new(ctypes.byref(registry)))
        self._registry = registry
        for name, fn in filters.items():
            cb = _native.FILTER_FN(self._filter_callback(name, fn))
            self._callbacks.append(cb)
            check(_native.lib.korch_scheduler_registry_add_filter(registry, enc(name), cb, None))
        for name, fn in score_fns.items():
            cb = _native.SCORE_FN(self._score_callback(name, fn))
            self._callbacks.append(cb)
            check(_native.lib.korch_scheduler_registry_add_score(registry, enc(name), cb, None))
        options = {}
        if seed is not None:
            options["seed"] = seed
        if parallelism is not None:
            options["parallelism"] = parallelism
        text = _configuration(config, filters, weights, percentage_of_nodes_to_score)
        handle = ctypes.c_void_p()
        self._call(_native.lib.korch_scheduler_new, ctypes.byref(handle), enc(text), registry,
                   enc(json.dumps(options)))
        self._handle = handle

    # -- plugin plumbing ---------------------------------------------------

    def _record(self, exc):
        with self._error_lock:
            if self._error is None:
                self._error = exc

    def _filter_callback(self, name, fn):
        def callback(pod_json, node_json, reason_pp, user_data):
            try:
                verdict = fn(json.loads(pod_json), json.loads(node_json))
                if verdict is None or verdict is True:
                    return 0
                reason = verdict if isinstance(verdict, str) else f"node(s) rejected by {name}"
                reason_pp[0] = _native.malloc_string(reason)
                return 1
            except BaseException as e:  # never let it unwind through C
                self._record(e)
                try:
                    reason_pp[0] = _native.malloc_string(f"{type(e).__name__}: {e}")
                except BaseException:
                    pass
                return -1
        return callback

    def _score_callback(self, name, fn):
        def callback(pod_json, node_json, score_p, user_data):
            try:
                score_p[0] = int(fn(json.loads(pod_json), json.loads(node_json)))
                return 0
            except BaseException as e:
                self._record(e)
                return -1
        return callback

    def _call(self, fn, *args):
        with self._error_lock:
            self._error = None
        rc = fn(*args)
        with self._error_lock:
            exc, self._error = self._error, None
        if exc is not None:
            raise exc
        check(rc)

    def _h(self):
        if self._handle is None:
            raise ValueError("the scheduler is closed")
        return self._handle

    def _out(self, fn, *args):
        out = ctypes.c_void_p()
        self._call(fn, ctypes.byref(out), self._h(), *args)
        return json.loads(_native.take_string(out.value))

    # -- cluster state -------------------------------------------------------

    def add_node(self, node):
        self._call(_native.lib.korch_scheduler_add_node, self._h(), enc(json.dumps(node)))

    def update_node(self, node):
        self._call(_native.lib.korch_scheduler_update_node, self._h(), enc(json.dumps(node)))

    def remove_node(self, name):
        self._call(_native.lib.korch_scheduler_remove_node, self._h(), enc(name))

    def add_pod(self, pod):
        """A pod with spec.nodeName counts on its node."""
        self._call(_native.lib.korch_scheduler_add_pod, self._h(), enc(json.dumps(pod)))

    def remove_pod(self, pod):
        self._call(_native.lib.korch_scheduler_remove_pod, self._h(), enc(json.dumps(pod)))

    # -- decisions -------------------------------------------------------------

    def schedule(self, pod):
        """Places the pod now: {"node": name, "evaluatedNodes", "feasibleNodes"},
        or {"node": "", "message": "0/N nodes are available: ...", "reasons": {...}}."""
        return self._out(_native.lib.korch_scheduler_schedule, enc(json.dumps(pod)))

    def schedule_batch(self, pods):
        """The pods in order, each seeing the placements before it."""
        return self._out(_native.lib.korch_scheduler_schedule_batch, enc(json.dumps(list(pods))))

    def evaluate(self, pod):
        """Where the pod would go, changing nothing."""
        return self._out(_native.lib.korch_scheduler_evaluate, enc(json.dumps(pod)))

    def stats(self):
        return self._out(_native.lib.korch_scheduler_stats)

    def close(self):
        if self._handle is not None:
            _native.lib.korch_scheduler_destroy(self._handle)
            self._handle = None
        if self._registry is not None:
            _native.lib.korch_scheduler_registry_destroy(self._registry)
            self._registry = None


class SchedulerRunner(_native.NativeHandle):
    """The scheduler running against an API server through `client` (it binds
    pods and writes their PodScheduled conditions and events) until closed."""

    def __init__(self, client, config=None):
        text = None
        if config is not None:
            text = config if isinstance(config, str) else json.dumps(config)
        handle = ctypes.c_void_p()
        check(_native.lib.korch_scheduler_run(ctypes.byref(handle), client._h(), enc(text), None))
        self._handle = handle
        self._client = client  # keeps the client (and its server) alive
        client._watches.add(self)  # closed before the client is

    def close(self):
        if self._handle is not None:
            _native.lib.korch_scheduler_runner_destroy(self._handle)
            self._handle = None
