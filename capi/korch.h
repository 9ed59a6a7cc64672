/*
 * korch's stable C API (libkorch_c).
 *
 * Conventions:
 *  - Objects are opaque handles, korch_<thing>_t, created by a function that
 *    returns one through its first (output) parameter and freed with
 *    korch_<thing>_destroy(), which accepts NULL.
 *  - Every fallible function returns an int: KORCH_OK (0) or a negative
 *    KORCH_ERR_* code. The message of the last error on the calling thread
 *    is korch_last_error(); it stays valid until the next call into korch on
 *    that thread.
 *  - Output parameters come first. Strings and buffers that korch returns
 *    are NUL-terminated and freed with korch_free().
 *  - Kubernetes objects cross the boundary as JSON text (the same JSON as
 *    kubectl's -o json); store values as bytes with a length.
 *  - Callbacks take (fn, user_data). The comment of each says on which
 *    thread it runs. A callback must not destroy the handle that calls it.
 *  - Handles are thread-safe unless their comment says otherwise.
 *  - Signatures never change once shipped; a new variant gets a _v2 name.
 */
#ifndef KORCH_CAPI_KORCH_H_
#define KORCH_CAPI_KORCH_H_

#include <stddef.h>
#include <stdint.h>

#if defined(KORCH_C_BUILDING)
#define KORCH_C_API __attribute__((visibility("default")))
#else
#define KORCH_C_API
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------------ */
/* Errors, memory, version                                                  */
/* ------------------------------------------------------------------------ */

/* Return codes. The negative values follow absl::StatusCode; the
 * Kubernetes reason is given in the comment. */
#define KORCH_OK 0
#define KORCH_ERR_CANCELLED (-1)
#define KORCH_ERR_UNKNOWN (-2)
#define KORCH_ERR_INVALID (-3)            /* Invalid, BadRequest */
#define KORCH_ERR_TIMEOUT (-4)            /* Timeout */
#define KORCH_ERR_NOT_FOUND (-5)          /* NotFound */
#define KORCH_ERR_ALREADY_EXISTS (-6)     /* AlreadyExists */
#define KORCH_ERR_FORBIDDEN (-7)          /* Forbidden */
#define KORCH_ERR_RESOURCE_EXHAUSTED (-8) /* TooManyRequests, quota, limits */
#define KORCH_ERR_FAILED_PRECONDITION (-9)
#define KORCH_ERR_CONFLICT (-10)      /* Conflict: stale resourceVersion */
#define KORCH_ERR_GONE (-11)          /* Expired / Gone: compacted revision */
#define KORCH_ERR_UNIMPLEMENTED (-12) /* MethodNotAllowed */
#define KORCH_ERR_INTERNAL (-13)
#define KORCH_ERR_UNAVAILABLE (-14) /* ServiceUnavailable: retry later */
#define KORCH_ERR_DATA_LOSS (-15)
#define KORCH_ERR_UNAUTHORIZED (-16) /* Unauthorized */
/* A callback (plugin, authenticator) failed; see korch_last_error(). */
#define KORCH_ERR_CALLBACK (-100)

/* The message of the last error on this thread ("" after success). */
KORCH_C_API const char* korch_last_error(void);
/* Frees a string or buffer returned by korch. NULL is fine. */
KORCH_C_API void korch_free(void* p);
/* "MAJOR.MINOR.PATCH". Static storage; do not free. */
KORCH_C_API const char* korch_version(void);

/* ------------------------------------------------------------------------ */
/* Store: revisioned key-value storage (RocksDB, memory, or etcd)           */
/* ------------------------------------------------------------------------ */

typedef struct korch_store_t korch_store_t;

typedef struct korch_kv_meta_t {
  int64_t create_revision;
  int64_t mod_revision;
  int64_t version; /* number of writes since creation */
} korch_kv_meta_t;

/* Opens (creating if needed) a RocksDB store in directory `path`.
 * options_json may be NULL or {"sync": true} (false: faster, loses the
 * last writes on a machine crash). */
KORCH_C_API int korch_store_open_rocksdb(korch_store_t** out, const char* path,
                                         const char* options_json);
/* A store in memory (tests, caches). */
KORCH_C_API int korch_store_open_memory(korch_store_t** out);
/* Connects to an etcd cluster: endpoints "127.0.0.1:2379,127.0.0.1:22379";
 * every key is stored under `key_prefix` (may be NULL or ""). */
KORCH_C_API int korch_store_open_etcd(korch_store_t** out, const char* endpoints,
                                      const char* key_prefix);
/* Closes the store. Watches of this store must be destroyed first. */
KORCH_C_API void korch_store_destroy(korch_store_t* store);

/* The value of `key` (malloc'ed, NUL-terminated after value_len bytes) and
 * its revisions. meta may be NULL. KORCH_ERR_NOT_FOUND when absent. */
KORCH_C_API int korch_store_get(char** value, size_t* value_len, korch_kv_meta_t* meta,
                                korch_store_t* store, const char* key);
/* Creates `key`; KORCH_ERR_ALREADY_EXISTS when present. *revision (may be
 * NULL) receives the revision of the write. */
KORCH_C_API int korch_store_create(int64_t* revision, korch_store_t* store, const char* key,
                                   const void* value, size_t value_len);
/* Replaces `key` if its mod revision is expected_mod_revision (0: any);
 * KORCH_ERR_CONFLICT when it moved, KORCH_ERR_NOT_FOUND when absent. */
KORCH_C_API int korch_store_update(int64_t* revision, korch_store_t* store, const char* key,
                                   const void* value, size_t value_len,
                                   int64_t expected_mod_revision);
/* Deletes `key` under the same guard as update. */
KORCH_C_API int korch_store_delete(int64_t* revision, korch_store_t* store, const char* key,
                                   int64_t expected_mod_revision);

/* Called once per key, in key order, on the calling thread. Return 0 to go
 * on, anything else to stop early (the range call still returns KORCH_OK). */
typedef int (*korch_kv_fn)(const char* key, size_t key_len, const char* value, size_t value_len,
                           const korch_kv_meta_t* meta, void* user_data);
/* Keys in [start, end) (end NULL: every key with prefix `start`) at
 * `revision` (0: latest), at most `limit` keys (0: no limit).
 * *at_revision (may be NULL) receives the revision read; *more whether keys
 * were left out by the limit. KORCH_ERR_GONE for a compacted revision. */
KORCH_C_API int korch_store_range(int64_t* at_revision, int* more, korch_store_t* store,
                                  const char* start, const char* end, int64_t revision,
                                  int64_t limit, korch_kv_fn fn, void* user_data);
KORCH_C_API int korch_store_current_revision(int64_t* revision, korch_store_t* store);
/* Discards history before `revision`: watches and reads at older revisions
 * then fail with KORCH_ERR_GONE. */
KORCH_C_API int korch_store_compact(korch_store_t* store, int64_t revision);

typedef struct korch_watch_t korch_watch_t;

#define KORCH_EVENT_PUT 0
#define KORCH_EVENT_DELETE 1

/* One change. prev_value is NULL for creations. Runs on the watch's own
 * thread, one event at a time, in revision order. Return 0 to go on,
 * anything else to stop the watch. */
typedef int (*korch_store_event_fn)(int type, const char* key, size_t key_len, const char* value,
                                    size_t value_len, const char* prev_value, size_t prev_value_len,
                                    int64_t revision, void* user_data);
/* Called once when the watch ends by itself: code is KORCH_ERR_GONE when
 * start_revision was compacted, KORCH_ERR_RESOURCE_EXHAUSTED when the
 * callback fell too far behind (resume from the last revision seen),
 * KORCH_OK when the callback asked to stop. May be NULL. Same thread as
 * the event callback. */
typedef void (*korch_watch_end_fn)(int code, const char* message, void* user_data);
/* Watches every key with prefix `prefix` for changes after
 * `start_revision` (-1: from now). */
KORCH_C_API int korch_store_watch(korch_watch_t** out, korch_store_t* store, const char* prefix,
                                  int64_t start_revision, korch_store_event_fn on_event,
                                  korch_watch_end_fn on_end, void* user_data);
/* Stops the watch and waits for its thread: no callback runs after this
 * returns. Must not be called from the watch's own callback. */
KORCH_C_API void korch_watch_destroy(korch_watch_t* watch);

/* ------------------------------------------------------------------------ */
/* API server                                                               */
/* ------------------------------------------------------------------------ */

typedef struct korch_apiserver_options_t korch_apiserver_options_t;
typedef struct korch_apiserver_t korch_apiserver_t;

/* Options (not thread-safe; used once by korch_apiserver_start).
 * options_json (may be NULL):
 *   {"store": "memory" | {"rocksdb": "/path"} | {"etcd": "host:port,...", "prefix": "/k"},
 *    "listen": "127.0.0.1:0",      // also serve HTTP(S) (kubectl, Python client)
 *    "plain_http": true,           // with listen: no TLS (loopback development only)
 *    "tls_cert_file": "...", "tls_key_file": "...", "client_ca_file": "...",
 *    "token_auth_file": "...",     // static bearer tokens (CSV, like kube-apiserver)
 *    "anonymous": false,           // let unauthenticated HTTP requests in as system:anonymous
 *    "rbac": true,                 // false: every authenticated request is allowed
 *    "admission": true}            // Kubernetes' default admission plugins
 */
KORCH_C_API int korch_apiserver_options_new(korch_apiserver_options_t** out,
                                            const char* options_json);
KORCH_C_API void korch_apiserver_options_destroy(korch_apiserver_options_t* options);

#define KORCH_OP_CREATE 0
#define KORCH_OP_UPDATE 1
#define KORCH_OP_DELETE 2

/* An admission plugin written in C. Runs on API request threads,
 * concurrently: it must be thread-safe. `object_json` is the object being
 * written (the old one for deletes); `user_json` {"name":..., "groups":[...]}.
 *  - mutating: may set *mutated_json to a malloc'ed replacement object
 *    (freed by korch with free()); return KORCH_OK to admit.
 *  - validating: *mutated_json is NULL and must stay NULL.
 * Return a negative code to refuse: KORCH_ERR_FORBIDDEN (the request gets
 * 403 Forbidden) or KORCH_ERR_INVALID (422); *message (malloc'ed, freed by
 * korch, may be left NULL) says why. */
typedef int (*korch_admission_fn)(int operation, const char* object_json,
                                  const char* old_object_json, const char* user_json,
                                  char** mutated_json, char** message, void* user_data);
KORCH_C_API int korch_apiserver_options_add_admission(korch_apiserver_options_t* options,
                                                      const char* name, int mutating,
                                                      korch_admission_fn fn, void* user_data);

/* An authenticator written in C, asked before the built-in ones for HTTP
 * requests with a bearer token. Runs on request threads, concurrently.
 * Return 1 and set *user_json (malloc'ed, {"name":..., "groups":[...]}) to
 * authenticate, 0 for "not my token", or a negative code to reject. */
typedef int (*korch_authenticator_fn)(const char* bearer_token, char** user_json, void* user_data);
KORCH_C_API int korch_apiserver_options_add_authenticator(korch_apiserver_options_t* options,
                                                          const char* name,
                                                          korch_authenticator_fn fn,
                                                          void* user_data);

/* Starts an API server in this process (and its HTTP listener when asked).
 * `options` may be NULL (memory store, no listener) and may be destroyed
 * after this returns; the callbacks it holds must stay valid until the
 * server is destroyed. */
KORCH_C_API int korch_apiserver_start(korch_apiserver_t** out,
                                      const korch_apiserver_options_t* options);
/* The HTTP listener's URL ("http://127.0.0.1:40123"), or KORCH_ERR_FAILED_PRECONDITION
 * when the server has none. */
KORCH_C_API int korch_apiserver_url(char** url, korch_apiserver_t* server);
/* Stops the listener (ending watches), then the server. Clients and watches
 * of this server must be destroyed first. */
KORCH_C_API void korch_apiserver_destroy(korch_apiserver_t* server);

/* ------------------------------------------------------------------------ */
/* Client                                                                   */
/* ------------------------------------------------------------------------ */

typedef struct korch_client_t korch_client_t;

/* A client of an in-process server acting as `user_json`
 * ({"name": "alice", "groups": ["dev"]}; NULL: the cluster admin,
 * system:admin in system:masters). The server must outlive the client. */
KORCH_C_API int korch_client_new(korch_client_t** out, korch_apiserver_t* server,
                                 const char* user_json);
/* A client of a remote server from a kubeconfig file (context NULL: the
 * current context). */
KORCH_C_API int korch_client_connect(korch_client_t** out, const char* kubeconfig_path,
                                     const char* context);
KORCH_C_API void korch_client_destroy(korch_client_t* client);

/* Creates the object (apiVersion and kind from the JSON); *result is the
 * stored object. */
KORCH_C_API int korch_client_create(char** result, korch_client_t* client, const char* object_json);
/* namespace NULL or "" for cluster-scoped kinds. */
KORCH_C_API int korch_client_get(char** result, korch_client_t* client, const char* api_version,
                                 const char* kind, const char* ns, const char* name);
/* A List object ({"kind":"PodList","items":[...],"metadata":{...}});
 * namespace NULL or "" lists every namespace; selectors may be NULL. */
KORCH_C_API int korch_client_list(char** result, korch_client_t* client, const char* api_version,
                                  const char* kind, const char* ns, const char* label_selector,
                                  const char* field_selector);
/* Replaces the object; metadata.resourceVersion, when set, must be current
 * (KORCH_ERR_CONFLICT otherwise). */
KORCH_C_API int korch_client_update(char** result, korch_client_t* client, const char* object_json);
/* patch_type: "json" (RFC 6902), "merge" (RFC 7386), "strategic", or
 * "apply" (server-side apply; field_manager required). */
KORCH_C_API int korch_client_patch(char** result, korch_client_t* client, const char* api_version,
                                   const char* kind, const char* ns, const char* name,
                                   const char* patch_type, const char* patch,
                                   const char* field_manager);
KORCH_C_API int korch_client_delete(korch_client_t* client, const char* api_version,
                                    const char* kind, const char* ns, const char* name);

/* One watch event: type "ADDED", "MODIFIED", "DELETED" or "BOOKMARK" and
 * the object. Runs on the watch's own thread. Return 0 to go on. */
typedef int (*korch_client_event_fn)(const char* type, const char* object_json, void* user_data);
/* Watches objects of a kind (namespace NULL: all) from resource_version
 * (NULL or "": current state first, as ADDED events). on_end as for store
 * watches (KORCH_ERR_GONE: resource_version too old, list again). */
KORCH_C_API int korch_client_watch(korch_watch_t** out, korch_client_t* client,
                                   const char* api_version, const char* kind, const char* ns,
                                   const char* label_selector, const char* resource_version,
                                   korch_client_event_fn on_event, korch_watch_end_fn on_end,
                                   void* user_data);

/* ------------------------------------------------------------------------ */
/* Scheduler                                                                */
/* ------------------------------------------------------------------------ */

/* A plugin registry: the in-tree plugins plus plugins written in C. Not
 * thread-safe; register everything before creating schedulers from it. It
 * must outlive the schedulers created from it. */
typedef struct korch_scheduler_registry_t korch_scheduler_registry_t;
typedef struct korch_scheduler_t korch_scheduler_t;

KORCH_C_API int korch_scheduler_registry_new(korch_scheduler_registry_t** out);
KORCH_C_API void korch_scheduler_registry_destroy(korch_scheduler_registry_t* registry);

/* Filter results. */
#define KORCH_FILTER_FIT 0
#define KORCH_FILTER_UNSCHEDULABLE 1 /* preemption might help */
#define KORCH_FILTER_UNRESOLVABLE 2  /* preemption cannot help */

/* A Filter plugin: does the pod fit on the node? pod_json is the Pod;
 * node_json is {"node": <the Node>, "requested": {"cpu": "1500m", "memory":
 * "3221225472", ...}, "podCount": 4}: what the pods already placed there
 * request. Called on scheduler worker threads, concurrently for different
 * nodes of one pod: it must be thread-safe. Return KORCH_FILTER_*; for a
 * rejection, *reason (malloc'ed, freed by korch; may be left NULL) is the
 * text counted in "0/N nodes are available: ..." messages. A negative
 * return is an error that fails the scheduling of this pod
 * (korch_scheduler_schedule returns KORCH_ERR_CALLBACK with *reason as the
 * message). */
typedef int (*korch_filter_fn)(const char* pod_json, const char* node_json, char** reason,
                               void* user_data);
/* A Score plugin: *score in [0, 100] (higher is better; clamped), for each
 * node that passed the filters. Called on the scheduling thread, one node
 * after the other; a negative return fails the pod's cycle like a filter
 * error. */
typedef int (*korch_score_fn)(const char* pod_json, const char* node_json, int64_t* score,
                              void* user_data);
/* Registers a plugin under `name` (KORCH_ERR_ALREADY_EXISTS if taken).
 * A registered plugin runs only in profiles that enable it, e.g. with the
 * configuration
 *   {"profiles": [{"plugins": {"filter": {"enabled": [{"name": "MyFilter"}]},
 *                              "score": {"enabled": [{"name": "MyScore", "weight": 2}]}}}]}
 */
KORCH_C_API int korch_scheduler_registry_add_filter(korch_scheduler_registry_t* registry,
                                                    const char* name, korch_filter_fn fn,
                                                    void* user_data);
KORCH_C_API int korch_scheduler_registry_add_score(korch_scheduler_registry_t* registry,
                                                   const char* name, korch_score_fn fn,
                                                   void* user_data);

/* An embedded scheduler. config: a KubeSchedulerConfiguration document
 * (YAML or JSON, with its apiVersion and kind; NULL: the defaults).
 * registry: NULL for the in-tree plugins only. options_json (may be NULL):
 *   {"seed": 42,            // reproducible tie-breaks
 *    "parallelism": 1}      // 1: no threads (overrides the configuration)
 * Thread-safe. */
KORCH_C_API int korch_scheduler_new(korch_scheduler_t** out, const char* config,
                                    korch_scheduler_registry_t* registry, const char* options_json);
KORCH_C_API void korch_scheduler_destroy(korch_scheduler_t* scheduler);

/* Cluster state, as Kubernetes objects in JSON. A pod with spec.nodeName
 * counts on that node; one without is only recorded for
 * korch_scheduler_schedule_pending. */
KORCH_C_API int korch_scheduler_add_node(korch_scheduler_t* scheduler, const char* node_json);
KORCH_C_API int korch_scheduler_update_node(korch_scheduler_t* scheduler, const char* node_json);
KORCH_C_API int korch_scheduler_remove_node(korch_scheduler_t* scheduler, const char* name);
KORCH_C_API int korch_scheduler_add_pod(korch_scheduler_t* scheduler, const char* pod_json);
KORCH_C_API int korch_scheduler_remove_pod(korch_scheduler_t* scheduler, const char* pod_json);

/* Schedules one pod now; afterwards it counts on its node. *result:
 *   {"node": "n7", "evaluatedNodes": 100, "feasibleNodes": 42}
 * or, when it fits nowhere (still KORCH_OK):
 *   {"node": "", "message": "0/3 nodes are available: 3 Insufficient cpu.",
 *    "reasons": {"Insufficient cpu": 3}, "nominatedNode": ""}
 * KORCH_ERR_INVALID for a pod that cannot be read, KORCH_ERR_CALLBACK when a
 * C plugin failed. */
KORCH_C_API int korch_scheduler_schedule(char** result, korch_scheduler_t* scheduler,
                                         const char* pod_json);
/* The same for a JSON array of pods, in order; *results is a JSON array of
 * results (an {"error": "...", "code": -3} object for a pod that failed). */
KORCH_C_API int korch_scheduler_schedule_batch(char** results, korch_scheduler_t* scheduler,
                                               const char* pods_json);
/* Where the pod would go, changing nothing. */
KORCH_C_API int korch_scheduler_evaluate(char** result, korch_scheduler_t* scheduler,
                                         const char* pod_json);
/* {"nodes": 5000, "pods": 10000, "scheduled": 9000, "failed": 1000, ...} */
KORCH_C_API int korch_scheduler_stats(char** stats_json, korch_scheduler_t* scheduler);

/* A scheduler that runs against an API server: it watches pods and nodes
 * through `client`, binds through pods/binding, and writes PodScheduled
 * conditions and events, until destroyed. The client must outlive it. */
typedef struct korch_scheduler_runner_t korch_scheduler_runner_t;
KORCH_C_API int korch_scheduler_run(korch_scheduler_runner_t** out, korch_client_t* client,
                                    const char* config, korch_scheduler_registry_t* registry);
KORCH_C_API void korch_scheduler_runner_destroy(korch_scheduler_runner_t* runner);

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* KORCH_CAPI_KORCH_H_ */
