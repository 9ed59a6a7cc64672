"""An in-process API server and clients (in-process or remote over HTTP)."""
import ctypes
import json
import weakref

from . import _native, errors
from ._native import check, enc
from ._watch import Watch

_OPERATIONS = {0: "CREATE", 1: "UPDATE", 2: "DELETE"}


def _loads(text):
    return None if text is None else json.loads(text)


def _refusal(exc):
    """The C code and message for an exception raised by a plugin."""
    if isinstance(exc, errors.KorchError):
        return exc.code, str(exc)
    _native.park_exception(exc)
    return errors.CallbackError.code, f"{type(exc).__name__}: {exc}"


class ApiServer(_native.NativeHandle):
    """A Kubernetes API server in this process.

        with korch.ApiServer(store="memory", listen="127.0.0.1:0", plain_http=True) as server:
            admin = server.client()
            admin.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "a"}})
            print(server.url)   # for kubectl or the kubernetes client

    Options (all optional): store ("memory", {"rocksdb": path}, {"etcd":
    "host:port,..."}), listen, plain_http, tls_cert_file, tls_key_file,
    client_ca_file, token_auth_file, anonymous, rbac, admission.
    Plugins: admission=[(name, fn, mutating)], authenticators=[(name, fn)].

    An admission fn(operation, obj, old_obj, user) runs on request threads:
    it returns None to admit unchanged, or (mutating only) the changed
    object; it raises korch.Forbidden or korch.Invalid to refuse. Any other
    exception refuses the request too, and when the request came from a
    client in this thread, the exception itself is raised to that caller.
    An authenticator fn(token) returns None ("not my token") or a user dict
    {"name": ..., "groups": [...]}, and raises to reject the token.
    """

    def __init__(self, admission=(), authenticators=(), **options):
        self._callbacks = []
        self._clients = weakref.WeakSet()
        self._handle = None
        opts = ctypes.c_void_p()
        check(_native.lib.korch_apiserver_options_new(ctypes.byref(opts), enc(json.dumps(options))))
        try:
            for entry in admission:
                name, fn = entry[0], entry[1]
                mutating = bool(entry[2]) if len(entry) > 2 else False
                cb = _native.ADMISSION_FN(self._admission_callback(fn, mutating))
                self._callbacks.append(cb)
                check(_native.lib.korch_apiserver_options_add_admission(
                    opts, enc(name), 1 if mutating else 0, cb, None))
            for name, fn in authenticators:
                cb = _native.AUTHN_FN(self._authn_callback(fn))
                self._callbacks.append(cb)
                check(_native.lib.korch_apiserver_options_add_authenticator(opts, enc(name), cb,
                                                                            None))
            handle = ctypes.c_void_p()
            check(_native.lib.korch_apiserver_start(ctypes.byref(handle), opts))
            self._handle = handle
        finally:
            _native.lib.korch_apiserver_options_destroy(opts)

    @staticmethod
    def _admission_callback(fn, mutating):
        def callback(operation, obj, old, user, mutated_pp, message_pp, user_data):
            try:
                result = fn(_OPERATIONS.get(operation, str(operation)), _loads(obj and obj.decode()),
                            _loads(old and old.decode()), _loads(user.decode()))
                if result is not None:
                    if not mutating:
                        raise errors.Internal("a validating admission plugin returned an object")
                    mutated_pp[0] = _native.malloc_string(json.dumps(result))
                return 0
            except BaseException as e:  # never let it unwind through C
                code, message = _refusal(e)
                try:
                    message_pp[0] = _native.malloc_string(message)
                except BaseException:
                    pass
                return code
        return callback

    @staticmethod
    def _authn_callback(fn):
        def callback(token, user_pp, user_data):
            try:
                user = fn(token.decode())
                if user is None:
                    return 0
                user_pp[0] = _native.malloc_string(json.dumps(user))
                return 1
            except BaseException:
                return errors.Unauthorized.code
        return callback

    @property
    def url(self):
        """The HTTP(S) URL, when started with listen=..."""
        out = ctypes.c_void_p()
        check(_native.lib.korch_apiserver_url(ctypes.byref(out), self._h()))
        return _native.take_string(out.value)

    def _h(self):
        if self._handle is None:
            raise ValueError("the server is stopped")
        return self._handle

    def client(self, user=None):
        """A client acting as `user` ({"name": ..., "groups": [...]}; None:
        the cluster admin)."""
        handle = ctypes.c_void_p()
        check(_native.lib.korch_client_new(ctypes.byref(handle), self._h(),
                                           enc(json.dumps(user)) if user is not None else None))
        c = Client(handle, parent=self)
        self._clients.add(c)
        return c

    def close(self):
        """Stops the server (closing its clients and their watches first)."""
        for c in list(self._clients):
            c.close()
        if self._handle is not None:
            _native.lib.korch_apiserver_destroy(self._handle)
            self._handle = None


class Client(_native.NativeHandle):
    """Kubernetes API verbs with dicts in and out.

    Objects are named by apiVersion and kind ("v1", "Pod"; "apps/v1",
    "Deployment"). Errors raise korch.NotFound, AlreadyExists, Conflict,
    Invalid, Forbidden, Unauthorized, ...
    """

    def __init__(self, handle, parent=None):
        self._handle = handle
        self._parent = parent  # keeps the server alive
        self._watches = weakref.WeakSet()

    @classmethod
    def connect(cls, kubeconfig, context=None):
        """A client of a remote API server, from a kubeconfig file."""
        handle = ctypes.c_void_p()
        check(_native.lib.korch_client_connect(ctypes.byref(handle), enc(str(kubeconfig)),
                                               enc(context)))
        return cls(handle)

    def _h(self):
        if self._handle is None:
            raise ValueError("the client is closed")
        return self._handle

    def _call(self, fn, *args):
        out = ctypes.c_void_p()
        check(fn(ctypes.byref(out), self._h(), *args))
        return _loads(_native.take_string(out.value))

    def create(self, obj):
        return self._call(_native.lib.korch_client_create, enc(json.dumps(obj)))

    def get(self, api_version, kind, name, namespace=None):
        return self._call(_native.lib.korch_client_get, enc(api_version), enc(kind),
                          enc(namespace), enc(name))

    def list(self, api_version, kind, namespace=None, label_selector=None, field_selector=None):
        """The List object ({"items": [...], "metadata": {"resourceVersion": ...}})."""
        return self._call(_native.lib.korch_client_list, enc(api_version), enc(kind),
                          enc(namespace), enc(label_selector), enc(field_selector))

    def update(self, obj):
        return self._call(_native.lib.korch_client_update, enc(json.dumps(obj)))

    def patch(self, api_version, kind, name, patch, namespace=None, patch_type="strategic",
              field_manager=None):
        """patch_type: "json", "merge", "strategic" or "apply" (needs
        field_manager). `patch` is a dict/list or JSON text."""
        text = patch if isinstance(patch, str) else json.dumps(patch)
        return self._call(_native.lib.korch_client_patch, enc(api_version), enc(kind),
                          enc(namespace), enc(name), enc(patch_type), enc(text),
                          enc(field_manager))

    def delete(self, api_version, kind, name, namespace=None):
        check(_native.lib.korch_client_delete(self._h(), enc(api_version), enc(kind),
                                              enc(namespace), enc(name)))

    def watch(self, api_version, kind, namespace=None, label_selector=None,
              resource_version=None):
        """An iterator of (type, object) with type "ADDED", "MODIFIED",
        "DELETED" or "BOOKMARK". Without resource_version, the current
        objects come first as ADDED. Close it (or use `with`)."""
        w = Watch()

        def on_event(kind_, obj, user_data):
            return w._push((kind_.decode(), json.loads(obj)))

        event_cb = _native.CLIENT_EVENT_FN(on_event)
        end_cb = _native.WATCH_END_FN(w._on_end)
        w._callbacks = [event_cb, end_cb, self]
        handle = ctypes.c_void_p()
        check(_native.lib.korch_client_watch(ctypes.byref(handle), self._h(), enc(api_version),
                                             enc(kind), enc(namespace), enc(label_selector),
                                             enc(resource_version), event_cb, end_cb, None))
        w._handle = handle
        self._watches.add(w)
        return w

    def close(self):
        for w in list(self._watches):
            w.close()
        if self._handle is not None:
            _native.lib.korch_client_destroy(self._handle)
            self._handle = None
