/* Tests of korch's C API, written in C (C11) against capi/korch.h only.
 * Built with AddressSanitizer (and LeakSanitizer) so that handle lifetimes,
 * korch_free and callbacks are checked for leaks and double frees. */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "korch.h"

static int failures = 0;
static int checks = 0;

#define CHECK(cond)                                                                            \
  do {                                                                                         \
    ++checks;                                                                                  \
    if (!(cond)) {                                                                             \
      ++failures;                                                                              \
      fprintf(stderr, "%s:%d: CHECK failed: %s (last error: %s)\n", __FILE__, __LINE__, #cond, \
              korch_last_error());                                                             \
    }                                                                                          \
  } while (0)

#define CHECK_RC(expected, call)                                                               \
  do {                                                                                         \
    int rc_ = (call);                                                                          \
    ++checks;                                                                                  \
    if (rc_ != (expected)) {                                                                   \
      ++failures;                                                                              \
      fprintf(stderr, "%s:%d: %s returned %d, want %d (last error: %s)\n", __FILE__, __LINE__, \
              #call, rc_, (int)(expected), korch_last_error());                                \
    }                                                                                          \
  } while (0)

static void sleep_ms(int ms) {
  struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
  nanosleep(&ts, NULL);
}

/* ------------------------------------------------------------------------ */

static void test_version_and_errors(void) {
  CHECK(strlen(korch_version()) >= 5);
  korch_free(NULL);
  korch_store_destroy(NULL);
  korch_watch_destroy(NULL);
  korch_apiserver_destroy(NULL);
  korch_apiserver_options_destroy(NULL);
  korch_client_destroy(NULL);

  korch_store_t* store = NULL;
  CHECK_RC(KORCH_ERR_INVALID, korch_store_open_rocksdb(&store, NULL, NULL));
  CHECK(strstr(korch_last_error(), "path") != NULL);
  CHECK(store == NULL);
  CHECK_RC(KORCH_ERR_INVALID, korch_store_open_rocksdb(&store, "/tmp/x", "{\"sink\": true}"));
  CHECK(strstr(korch_last_error(), "sink") != NULL);
  CHECK_RC(KORCH_ERR_INVALID, korch_store_open_rocksdb(&store, "/tmp/x", "not json"));

  korch_apiserver_options_t* options = NULL;
  CHECK_RC(KORCH_ERR_INVALID, korch_apiserver_options_new(&options, "{\"lisen\": \"x\"}"));
  CHECK(strstr(korch_last_error(), "options.lisen: unknown field") != NULL);
  CHECK(options == NULL);
}

/* ------------------------------------------------------------------------ */

struct collected {
  int count;
  char keys[16][64];
};

static int collect_kv(const char* key, size_t key_len, const char* value, size_t value_len,
                      const korch_kv_meta_t* meta, void* user_data) {
  struct collected* c = user_data;
  (void)value;
  (void)value_len;
  (void)meta;
  if (c->count < 16 && key_len < 64) memcpy(c->keys[c->count], key, key_len + 1);
  c->count++;
  return c->count >= 3 ? 1 : 0; /* stop after three */
}

struct watch_log {
  pthread_mutex_t mu;
  int puts;
  int deletes;
  int saw_prev;
  int64_t last_revision;
  int ended;
  int end_code;
};

static int on_store_event(int type, const char* key, size_t key_len, const char* value,
                          size_t value_len, const char* prev, size_t prev_len, int64_t revision,
                          void* user_data) {
  struct watch_log* log = user_data;
  (void)key;
  (void)key_len;
  (void)value;
  (void)value_len;
  pthread_mutex_lock(&log->mu);
  if (type == KORCH_EVENT_PUT) log->puts++;
  if (type == KORCH_EVENT_DELETE) log->deletes++;
  if (prev != NULL && prev_len > 0) log->saw_prev++;
  log->last_revision = revision;
  pthread_mutex_unlock(&log->mu);
  return 0;
}

static void on_watch_end(int code, const char* message, void* user_data) {
  struct watch_log* log = user_data;
  (void)message;
  pthread_mutex_lock(&log->mu);
  log->ended = 1;
  log->end_code = code;
  pthread_mutex_unlock(&log->mu);
}

static int wait_for(struct watch_log* log, int puts, int deletes, int ended) {
  for (int i = 0; i < 500; ++i) { /* at most 10 s */
    pthread_mutex_lock(&log->mu);
    int ok = log->puts >= puts && log->deletes >= deletes && log->ended >= ended;
    pthread_mutex_unlock(&log->mu);
    if (ok) return 1;
    sleep_ms(20);
  }
  return 0;
}

static void test_store(korch_store_t* store) {
  int64_t rev1 = 0, rev2 = 0, rev3 = 0;
  struct watch_log log = {PTHREAD_MUTEX_INITIALIZER, 0, 0, 0, 0, 0, 0};
  korch_watch_t* watch = NULL;
  CHECK_RC(KORCH_OK,
           korch_store_watch(&watch, store, "/t/", -1, on_store_event, on_watch_end, &log));

  CHECK_RC(KORCH_OK, korch_store_create(&rev1, store, "/t/a", "one", 3));
  CHECK_RC(KORCH_ERR_ALREADY_EXISTS, korch_store_create(NULL, store, "/t/a", "x", 1));
  CHECK(strlen(korch_last_error()) > 0);

  char* value = NULL;
  size_t len = 0;
  korch_kv_meta_t meta;
  CHECK_RC(KORCH_OK, korch_store_get(&value, &len, &meta, store, "/t/a"));
  CHECK(value != NULL && len == 3 && strcmp(value, "one") == 0);
  CHECK(meta.mod_revision == rev1 && meta.create_revision == rev1 && meta.version == 1);
  korch_free(value);

  /* A guarded update with a stale revision is a conflict; nothing changes. */
  CHECK_RC(KORCH_OK, korch_store_update(&rev2, store, "/t/a", "two", 3, rev1));
  CHECK(rev2 > rev1);
  CHECK_RC(KORCH_ERR_CONFLICT, korch_store_update(NULL, store, "/t/a", "lost", 4, rev1));
  value = NULL;
  CHECK_RC(KORCH_OK, korch_store_get(&value, NULL, NULL, store, "/t/a"));
  CHECK(value != NULL && strcmp(value, "two") == 0);
  korch_free(value);

  CHECK_RC(KORCH_ERR_NOT_FOUND, korch_store_get(&value, NULL, NULL, store, "/t/missing"));
  CHECK_RC(KORCH_ERR_NOT_FOUND, korch_store_delete(NULL, store, "/t/missing", 0));

  for (int i = 0; i < 5; ++i) {
    char key[32];
    snprintf(key, sizeof key, "/t/k%d", i);
    CHECK_RC(KORCH_OK, korch_store_create(NULL, store, key, "v", 1));
  }
  struct collected c;
  memset(&c, 0, sizeof c);
  int64_t at = 0;
  int more = -1;
  CHECK_RC(KORCH_OK, korch_store_range(&at, &more, store, "/t/", NULL, 0, 0, collect_kv, &c));
  CHECK(c.count == 3); /* the callback stopped the iteration */
  CHECK(strcmp(c.keys[0], "/t/a") == 0 && strcmp(c.keys[1], "/t/k0") == 0);
  CHECK(more == 0);
  memset(&c, 0, sizeof c);
  CHECK_RC(KORCH_OK, korch_store_range(NULL, &more, store, "/t/k", NULL, 0, 2, collect_kv, &c));
  CHECK(c.count == 2 && more == 1);
  /* Reading the past: at rev1 the value was "one" and no k* key existed. */
  memset(&c, 0, sizeof c);
  CHECK_RC(KORCH_OK, korch_store_range(NULL, NULL, store, "/t/k", NULL, rev1, 0, collect_kv, &c));
  CHECK(c.count == 0);

  CHECK_RC(KORCH_OK, korch_store_delete(&rev3, store, "/t/a", 0));
  CHECK(wait_for(&log, 7, 1, 0));
  pthread_mutex_lock(&log.mu);
  CHECK(log.puts == 7 && log.deletes == 1);
  CHECK(log.saw_prev >= 2); /* the update and the delete carry the previous value */
  CHECK(log.last_revision == rev3);
  pthread_mutex_unlock(&log.mu);
  korch_watch_destroy(watch);

  /* After compaction, a watch from before it ends with GONE. */
  int64_t current = 0;
  CHECK_RC(KORCH_OK, korch_store_current_revision(&current, store));
  CHECK(current == rev3);
  CHECK_RC(KORCH_OK, korch_store_compact(store, current));
  struct watch_log old = {PTHREAD_MUTEX_INITIALIZER, 0, 0, 0, 0, 0, 0};
  watch = NULL;
  int rc = korch_store_watch(&watch, store, "/t/", rev1, on_store_event, on_watch_end, &old);
  if (rc == KORCH_OK) {
    CHECK(wait_for(&old, 0, 0, 1));
    CHECK(old.end_code == KORCH_ERR_GONE);
    korch_watch_destroy(watch);
  } else {
    CHECK(rc == KORCH_ERR_GONE);
    CHECK(strstr(korch_last_error(), "compacted") != NULL);
  }
  CHECK_RC(KORCH_ERR_GONE,
           korch_store_range(NULL, NULL, store, "/t/", NULL, rev1, 0, collect_kv, &c));
}

static void test_stores(void) {
  korch_store_t* store = NULL;
  CHECK_RC(KORCH_OK, korch_store_open_memory(&store));
  if (store != NULL) test_store(store);
  korch_store_destroy(store);

  char dir[] = "/tmp/korch-capi-XXXXXX";
  CHECK(mkdtemp(dir) != NULL);
  store = NULL;
  CHECK_RC(KORCH_OK, korch_store_open_rocksdb(&store, dir, "{\"sync\": true}"));
  if (store != NULL) {
    test_store(store);
    CHECK_RC(KORCH_OK, korch_store_create(NULL, store, "/persist", "kept", 4));
  }
  korch_store_destroy(store);
  /* Reopen: the acknowledged write is there. */
  store = NULL;
  CHECK_RC(KORCH_OK, korch_store_open_rocksdb(&store, dir, NULL));
  char* value = NULL;
  CHECK_RC(KORCH_OK, korch_store_get(&value, NULL, NULL, store, "/persist"));
  CHECK(value != NULL && strcmp(value, "kept") == 0);
  korch_free(value);
  korch_store_destroy(store);
  char cmd[128];
  snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
  CHECK(system(cmd) == 0);
}

/* ------------------------------------------------------------------------ */

struct admission_log {
  pthread_mutex_t mu;
  int mutating_calls;
  int validating_calls;
};

/* Adds the label "admitted-by: c" to every Pod. */
static int add_label(int operation, const char* object_json, const char* old_object_json,
                     const char* user_json, char** mutated_json, char** message, void* user_data) {
  struct admission_log* log = user_data;
  (void)old_object_json;
  (void)user_json;
  (void)message;
  pthread_mutex_lock(&log->mu);
  log->mutating_calls++;
  pthread_mutex_unlock(&log->mu);
  if (operation != KORCH_OP_CREATE || strstr(object_json, "\"kind\":\"Pod\"") == NULL) {
    return KORCH_OK;
  }
  const char* anchor = "\"metadata\":{";
  const char* at = strstr(object_json, anchor);
  if (at == NULL) return KORCH_OK;
  const char* label = "\"labels\":{\"admitted-by\":\"c\"},";
  if (strstr(object_json, "\"labels\"") != NULL) return KORCH_OK; /* keep the test simple */
  size_t head = (size_t)(at - object_json) + strlen(anchor);
  size_t total = strlen(object_json) + strlen(label) + 1;
  char* out = malloc(total);
  memcpy(out, object_json, head);
  strcpy(out + head, label);
  strcat(out, object_json + head);
  *mutated_json = out;
  return KORCH_OK;
}

/* Refuses pods named "forbidden-pod". */
static int refuse_named(int operation, const char* object_json, const char* old_object_json,
                        const char* user_json, char** mutated_json, char** message,
                        void* user_data) {
  struct admission_log* log = user_data;
  (void)operation;
  (void)old_object_json;
  (void)user_json;
  CHECK(mutated_json == NULL);
  pthread_mutex_lock(&log->mu);
  log->validating_calls++;
  pthread_mutex_unlock(&log->mu);
  if (strstr(object_json, "\"name\":\"forbidden-pod\"") != NULL) {
    *message = strdup("pods named forbidden-pod are not allowed here");
    return KORCH_ERR_FORBIDDEN;
  }
  return KORCH_OK;
}

struct api_events {
  pthread_mutex_t mu;
  int added;
  int modified;
  int deleted;
};

static int on_api_event(const char* type, const char* object_json, void* user_data) {
  struct api_events* e = user_data;
  pthread_mutex_lock(&e->mu);
  if (strcmp(type, "ADDED") == 0) e->added++;
  if (strcmp(type, "MODIFIED") == 0) e->modified++;
  if (strcmp(type, "DELETED") == 0) e->deleted++;
  pthread_mutex_unlock(&e->mu);
  CHECK(strstr(object_json, "\"kind\":\"ConfigMap\"") != NULL);
  return 0;
}

static int wait_events(struct api_events* e, int added, int modified, int deleted) {
  for (int i = 0; i < 500; ++i) {
    pthread_mutex_lock(&e->mu);
    int ok = e->added >= added && e->modified >= modified && e->deleted >= deleted;
    pthread_mutex_unlock(&e->mu);
    if (ok) return 1;
    sleep_ms(20);
  }
  return 0;
}

static const char* kPod =
    "{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":\"%s\",\"namespace\":"
    "\"team\"},\"spec\":{\"containers\":[{\"name\":\"c\",\"image\":\"nginx\"}]}}";

static void test_apiserver(void) {
  struct admission_log admission = {PTHREAD_MUTEX_INITIALIZER, 0, 0};
  korch_apiserver_options_t* options = NULL;
  CHECK_RC(KORCH_OK, korch_apiserver_options_new(&options, "{\"store\": \"memory\"}"));
  CHECK_RC(KORCH_OK,
           korch_apiserver_options_add_admission(options, "AddLabel", 1, add_label, &admission));
  CHECK_RC(KORCH_ERR_ALREADY_EXISTS,
           korch_apiserver_options_add_admission(options, "AddLabel", 1, add_label, &admission));
  CHECK_RC(KORCH_OK, korch_apiserver_options_add_admission(options, "RefuseNamed", 0, refuse_named,
                                                           &admission));
  korch_apiserver_t* server = NULL;
  CHECK_RC(KORCH_OK, korch_apiserver_start(&server, options));
  korch_apiserver_options_destroy(options); /* the server keeps what it needs */
  if (server == NULL) return;
  char* url = NULL;
  CHECK_RC(KORCH_ERR_FAILED_PRECONDITION, korch_apiserver_url(&url, server));

  korch_client_t* admin = NULL;
  CHECK_RC(KORCH_OK, korch_client_new(&admin, server, NULL));
  char* out = NULL;
  CHECK_RC(KORCH_OK,
           korch_client_create(&out, admin,
                               "{\"apiVersion\":\"v1\",\"kind\":\"Namespace\",\"metadata\":{"
                               "\"name\":\"team\"}}"));
  korch_free(out);

  char body[512];
  snprintf(body, sizeof body, kPod, "web");
  out = NULL;
  CHECK_RC(KORCH_OK, korch_client_create(&out, admin, body));
  CHECK(out != NULL && strstr(out, "\"admitted-by\":\"c\"") != NULL);
  CHECK(out != NULL && strstr(out, "\"uid\"") != NULL);
  korch_free(out);

  snprintf(body, sizeof body, kPod, "forbidden-pod");
  out = NULL;
  CHECK_RC(KORCH_ERR_FORBIDDEN, korch_client_create(&out, admin, body));
  CHECK(strstr(korch_last_error(), "pods named forbidden-pod are not allowed") != NULL);
  CHECK(out == NULL);
  CHECK(admission.mutating_calls >= 2 && admission.validating_calls >= 2);

  out = NULL;
  CHECK_RC(KORCH_OK, korch_client_get(&out, admin, "v1", "Pod", "team", "web"));
  CHECK(out != NULL && strstr(out, "\"name\":\"web\"") != NULL);
  korch_free(out);
  CHECK_RC(KORCH_ERR_NOT_FOUND, korch_client_get(&out, admin, "v1", "Pod", "team", "nope"));
  CHECK(strstr(korch_last_error(), "not found") != NULL);
  CHECK_RC(KORCH_ERR_NOT_FOUND, korch_client_get(&out, admin, "v1", "Pood", "team", "web"));
  CHECK(strstr(korch_last_error(), "Pood") != NULL);

  /* Watch config maps while creating, patching and deleting one. */
  struct api_events events = {PTHREAD_MUTEX_INITIALIZER, 0, 0, 0};
  korch_watch_t* watch = NULL;
  CHECK_RC(KORCH_OK, korch_client_watch(&watch, admin, "v1", "ConfigMap", "team", NULL, NULL,
                                        on_api_event, NULL, &events));
  const char* cm =
      "{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{\"name\":\"cfg\","
      "\"namespace\":\"team\",\"labels\":{\"tier\":\"db\"}},\"data\":{\"a\":\"1\"}}";
  out = NULL;
  CHECK_RC(KORCH_OK, korch_client_create(&out, admin, cm));
  korch_free(out);
  out = NULL;
  CHECK_RC(KORCH_OK, korch_client_list(&out, admin, "v1", "ConfigMap", "team", "tier=db", NULL));
  CHECK(out != NULL && strstr(out, "\"kind\":\"ConfigMapList\"") != NULL &&
        strstr(out, "\"name\":\"cfg\"") != NULL);
  korch_free(out);
  out = NULL;
  CHECK_RC(KORCH_OK, korch_client_list(&out, admin, "v1", "ConfigMap", "team", "tier=web", NULL));
  CHECK(out != NULL && strstr(out, "\"items\":[]") != NULL);
  korch_free(out);
  CHECK_RC(KORCH_ERR_INVALID,
           korch_client_list(&out, admin, "v1", "ConfigMap", "team", "tier==(", NULL));

  out = NULL;
  CHECK_RC(KORCH_OK, korch_client_patch(&out, admin, "v1", "ConfigMap", "team", "cfg", "merge",
                                        "{\"data\":{\"b\":\"2\"}}", NULL));
  CHECK(out != NULL && strstr(out, "\"b\":\"2\"") != NULL && strstr(out, "\"a\":\"1\"") != NULL);
  korch_free(out);
  CHECK_RC(KORCH_ERR_INVALID,
           korch_client_patch(&out, admin, "v1", "ConfigMap", "team", "cfg", "yaml", "{}", NULL));
  CHECK(strstr(korch_last_error(), "patch_type") != NULL);
  /* An update with a stale resourceVersion conflicts. */
  CHECK_RC(KORCH_ERR_CONFLICT,
           korch_client_update(&out, admin,
                               "{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{"
                               "\"name\":\"cfg\",\"namespace\":\"team\",\"resourceVersion\":"
                               "\"1\"},\"data\":{}}"));
  CHECK_RC(KORCH_OK, korch_client_delete(admin, "v1", "ConfigMap", "team", "cfg"));
  CHECK(wait_events(&events, 1, 1, 1));
  korch_watch_destroy(watch);

  /* A user without RBAC grants is refused. */
  korch_client_t* alice = NULL;
  CHECK_RC(KORCH_OK, korch_client_new(&alice, server, "{\"name\":\"alice\",\"groups\":[\"dev\"]}"));
  CHECK_RC(KORCH_ERR_FORBIDDEN, korch_client_list(&out, alice, "v1", "Pod", "team", NULL, NULL));
  CHECK(strstr(korch_last_error(), "alice") != NULL);
  korch_client_t* nobody = NULL;
  CHECK_RC(KORCH_ERR_INVALID, korch_client_new(&nobody, server, "{\"groups\":[]}"));
  CHECK(nobody == NULL && strstr(korch_last_error(), "user.name") != NULL);
  korch_client_destroy(alice);

  korch_client_destroy(admin);
  korch_apiserver_destroy(server);
}

/* ------------------------------------------------------------------------ */

static int token_authenticator(const char* token, char** user_json, void* user_data) {
  (void)user_data;
  if (strcmp(token, "open-sesame") == 0) {
    *user_json = strdup("{\"name\":\"cuser\",\"groups\":[\"system:masters\"]}");
    return 1;
  }
  if (strcmp(token, "revoked") == 0) return KORCH_ERR_UNAUTHORIZED;
  return 0;
}

static void test_http_listener_and_authenticator(void) {
  korch_apiserver_options_t* options = NULL;
  CHECK_RC(KORCH_OK, korch_apiserver_options_new(
                         &options, "{\"listen\": \"127.0.0.1:0\", \"plain_http\": true}"));
  CHECK_RC(KORCH_OK, korch_apiserver_options_add_authenticator(options, "c-tokens",
                                                               token_authenticator, NULL));
  korch_apiserver_t* server = NULL;
  CHECK_RC(KORCH_OK, korch_apiserver_start(&server, options));
  korch_apiserver_options_destroy(options);
  if (server == NULL) return;
  char* url = NULL;
  CHECK_RC(KORCH_OK, korch_apiserver_url(&url, server));
  CHECK(url != NULL && strncmp(url, "http://127.0.0.1:", 17) == 0);

  const char* tokens[] = {"open-sesame", "wrong", "revoked"};
  const int want[] = {KORCH_OK, KORCH_ERR_UNAUTHORIZED, KORCH_ERR_UNAUTHORIZED};
  for (int i = 0; i < 3; ++i) {
    char path[] = "/tmp/korch-capi-kubeconfig-XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0);
    FILE* f = fdopen(fd, "w");
    fprintf(f,
            "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster:\n    server: %s\n"
            "users:\n- name: u\n  user:\n    token: %s\ncontexts:\n- name: x\n  context:\n"
            "    cluster: c\n    user: u\ncurrent-context: x\n",
            url, tokens[i]);
    fclose(f);
    korch_client_t* remote = NULL;
    CHECK_RC(KORCH_OK, korch_client_connect(&remote, path, NULL));
    char* out = NULL;
    CHECK_RC(want[i], korch_client_list(&out, remote, "v1", "Namespace", NULL, NULL, NULL));
    if (want[i] == KORCH_OK) {
      CHECK(out != NULL && strstr(out, "\"name\":\"kube-system\"") != NULL);
    }
    korch_free(out);
    korch_client_destroy(remote);
    unlink(path);
  }
  korch_free(url);
  korch_apiserver_destroy(server);
}

/* ------------------------------------------------------------------------ */

/* The digit at the end of the node's name ("n3" -> 3), from node_json. */
static int node_digit(const char* node_json) {
  const char* at = strstr(node_json, "\"name\":\"n");
  return at == NULL ? -1 : at[9] - '0';
}

static int only_even(const char* pod_json, const char* node_json, char** reason, void* ud) {
  (void)ud;
  if (strstr(pod_json, "\"explode\"") != NULL) {
    *reason = strdup("the plugin blew up");
    return -1;
  }
  CHECK(strstr(node_json, "\"requested\"") != NULL && strstr(node_json, "\"podCount\"") != NULL);
  if (node_digit(node_json) % 2 == 1) {
    *reason = strdup("node(s) are odd");
    return KORCH_FILTER_UNSCHEDULABLE;
  }
  return KORCH_FILTER_FIT;
}

static int prefer_high(const char* pod_json, const char* node_json, int64_t* score, void* ud) {
  (void)pod_json;
  (void)ud;
  *score = node_digit(node_json) * 10;
  return 0;
}

static const char* kSchedConfig =
    "{\"apiVersion\":\"kubescheduler.config.k8s.io/v1\",\"kind\":\"KubeSchedulerConfiguration\","
    "\"percentageOfNodesToScore\":100,"
    "\"profiles\":[{\"schedulerName\":\"default-scheduler\",\"plugins\":{"
    "\"filter\":{\"enabled\":[{\"name\":\"OnlyEven\"}]},"
    "\"score\":{\"disabled\":[{\"name\":\"*\"}],\"enabled\":[{\"name\":\"PreferHigh\",\"weight\":5}"
    "]}}}]}";

static const char* kSchedPod =
    "{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":\"%s\",\"namespace\":"
    "\"default\","
    "\"uid\":\"%s\"},\"spec\":{\"containers\":[{\"name\":\"c\",\"image\":\"x\",\"resources\":{"
    "\"requests\":{\"cpu\":\"1\"}}}]}}";

static void test_scheduler(void) {
  korch_scheduler_registry_t* registry = NULL;
  CHECK_RC(KORCH_OK, korch_scheduler_registry_new(&registry));
  CHECK_RC(KORCH_OK, korch_scheduler_registry_add_filter(registry, "OnlyEven", only_even, NULL));
  CHECK_RC(KORCH_OK, korch_scheduler_registry_add_score(registry, "PreferHigh", prefer_high, NULL));
  CHECK_RC(KORCH_ERR_ALREADY_EXISTS,
           korch_scheduler_registry_add_filter(registry, "NodeResourcesFit", only_even, NULL));

  korch_scheduler_t* sched = NULL;
  CHECK_RC(KORCH_ERR_INVALID,
           korch_scheduler_new(&sched,
                               "{\"apiVersion\":\"kubescheduler.config.k8s.io/v1\","
                               "\"kind\":\"KubeSchedulerConfiguration\",\"parralelism\":2}",
                               registry, NULL));
  CHECK(strstr(korch_last_error(), "parralelism") != NULL);
  CHECK_RC(KORCH_ERR_INVALID, korch_scheduler_new(&sched, kSchedConfig, registry, "{\"sed\":1}"));
  CHECK_RC(KORCH_OK,
           korch_scheduler_new(&sched, kSchedConfig, registry, "{\"seed\":1,\"parallelism\":1}"));
  if (sched == NULL) {
    korch_scheduler_registry_destroy(registry);
    return;
  }
  for (int i = 0; i < 4; ++i) {
    char node[256];
    snprintf(node, sizeof node,
             "{\"apiVersion\":\"v1\",\"kind\":\"Node\",\"metadata\":{\"name\":\"n%d\"},"
             "\"status\":{\"allocatable\":{\"cpu\":\"2\",\"memory\":\"4Gi\",\"pods\":\"10\"}}}",
             i);
    CHECK_RC(KORCH_OK, korch_scheduler_add_node(sched, node));
  }
  CHECK_RC(KORCH_ERR_INVALID,
           korch_scheduler_add_node(sched, "{\"kind\":\"Node\",\"metdata\":{}}"));

  /* n2 scores highest among the even nodes until it is full, then n0. */
  const char* want[] = {"n2", "n2", "n0", "n0"};
  for (int i = 0; i < 4; ++i) {
    char pod[512], name[16];
    snprintf(name, sizeof name, "p%d", i);
    snprintf(pod, sizeof pod, kSchedPod, name, name);
    char* result = NULL;
    CHECK_RC(KORCH_OK, korch_scheduler_schedule(&result, sched, pod));
    char expect[64];
    snprintf(expect, sizeof expect, "\"node\":\"%s\"", want[i]);
    CHECK(result != NULL && strstr(result, expect) != NULL);
    korch_free(result);
  }
  /* Now nothing fits: the message counts the reasons per node. */
  char pod[512];
  snprintf(pod, sizeof pod, kSchedPod, "late", "late");
  char* result = NULL;
  CHECK_RC(KORCH_OK, korch_scheduler_schedule(&result, sched, pod));
  CHECK(result != NULL && strstr(result, "\"node\":\"\"") != NULL);
  CHECK(result != NULL &&
        strstr(result, "0/4 nodes are available: 2 Insufficient cpu, 2 node(s) are odd.") != NULL);
  korch_free(result);

  /* A failing plugin fails the call with its message. */
  snprintf(pod, sizeof pod, kSchedPod, "explode", "explode");
  result = NULL;
  CHECK_RC(KORCH_ERR_CALLBACK, korch_scheduler_schedule(&result, sched, pod));
  CHECK(strstr(korch_last_error(), "OnlyEven") != NULL);
  CHECK(strstr(korch_last_error(), "the plugin blew up") != NULL);
  CHECK(result == NULL);

  /* Evaluate changes nothing; a batch reports each pod. */
  CHECK_RC(KORCH_OK, korch_scheduler_remove_node(sched, "n0"));
  CHECK_RC(KORCH_OK, korch_scheduler_add_node(
                         sched,
                         "{\"apiVersion\":\"v1\",\"kind\":\"Node\",\"metadata\":{\"name\":"
                         "\"n8\"},\"status\":{\"allocatable\":{\"cpu\":\"4\",\"pods\":\"10\"}}}"));
  snprintf(pod, sizeof pod, kSchedPod, "q0", "q0");
  result = NULL;
  CHECK_RC(KORCH_OK, korch_scheduler_evaluate(&result, sched, pod));
  CHECK(result != NULL && strstr(result, "\"node\":\"n8\"") != NULL);
  korch_free(result);
  char batch[2048];
  char one[512], two[512];
  snprintf(one, sizeof one, kSchedPod, "b0", "b0");
  snprintf(two, sizeof two, kSchedPod, "b1", "b1");
  snprintf(batch, sizeof batch, "[%s,%s,{\"kind\":\"Pod\",\"spec\":{\"bogus\":1}}]", one, two);
  CHECK_RC(KORCH_ERR_INVALID, korch_scheduler_schedule_batch(&result, sched, batch));
  CHECK(strstr(korch_last_error(), "pods[2]") != NULL);
  snprintf(batch, sizeof batch, "[%s,%s]", one, two);
  result = NULL;
  CHECK_RC(KORCH_OK, korch_scheduler_schedule_batch(&result, sched, batch));
  CHECK(result != NULL && result[0] == '[');
  CHECK(result != NULL && strstr(result, "\"node\":\"n8\"") != NULL);
  korch_free(result);
  result = NULL;
  CHECK_RC(KORCH_OK, korch_scheduler_stats(&result, sched));
  CHECK(result != NULL && strstr(result, "\"nodes\":4") != NULL);
  korch_free(result);
  korch_scheduler_destroy(sched);
  korch_scheduler_registry_destroy(registry);
}

static void test_scheduler_against_the_api(void) {
  korch_apiserver_t* server = NULL;
  CHECK_RC(KORCH_OK, korch_apiserver_start(&server, NULL));
  if (server == NULL) return;
  korch_client_t* admin = NULL;
  CHECK_RC(KORCH_OK, korch_client_new(&admin, server, NULL));
  char* out = NULL;
  CHECK_RC(KORCH_OK,
           korch_client_create(&out, admin,
                               "{\"apiVersion\":\"v1\",\"kind\":\"Node\",\"metadata\":{\"name\":"
                               "\"worker\"},\"status\":{\"allocatable\":{\"cpu\":\"4\",\"memory\":"
                               "\"8Gi\",\"pods\":\"10\"}}}"));
  korch_free(out);
  korch_scheduler_runner_t* runner = NULL;
  CHECK_RC(KORCH_OK, korch_scheduler_run(&runner, admin, NULL, NULL));
  out = NULL;
  CHECK_RC(KORCH_OK,
           korch_client_create(&out, admin,
                               "{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":"
                               "\"api-pod\",\"namespace\":\"default\"},\"spec\":{\"containers\":[{"
                               "\"name\":\"c\",\"image\":\"nginx\"}]}}"));
  korch_free(out);
  int bound = 0;
  for (int i = 0; i < 500 && !bound; ++i) { /* at most 10 s */
    out = NULL;
    if (korch_client_get(&out, admin, "v1", "Pod", "default", "api-pod") == KORCH_OK) {
      bound = strstr(out, "\"nodeName\":\"worker\"") != NULL;
    }
    korch_free(out);
    if (!bound) sleep_ms(20);
  }
  CHECK(bound);
  korch_scheduler_runner_destroy(runner);
  korch_client_destroy(admin);
  korch_apiserver_destroy(server);
}

int main(void) {
  test_version_and_errors();
  test_stores();
  test_apiserver();
  test_http_listener_and_authenticator();
  test_scheduler();
  test_scheduler_against_the_api();
  printf("%d checks, %d failures\n", checks, failures);
  return failures == 0 ? 0 : 1;
}
