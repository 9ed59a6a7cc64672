// Kubeconfig files (kubectl's ~/.kube/config) -> HttpClientOptions.

#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "korch/api/codec.h"
#include "korch/apiserver/pki.h"
#include "korch/base/status.h"
#include "korch/client/http_client.h"
#include "nlohmann/json.hpp"

namespace korch::client {
namespace {

using json = nlohmann::json;

absl::Status Malformed(absl::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat("kubeconfig: ", what));
}

// The string member `key` of `object` ("" when absent); an error when it is
// there but not a string.
absl::StatusOr<std::string> StringMember(const json& object, const char* key,
                                         absl::string_view where) {
  auto it = object.find(key);
  if (it == object.end() || it->is_null()) return std::string();
  if (!it->is_string()) return Malformed(absl::StrCat(where, ".", key, " must be a string"));
  return it->get<std::string>();
}

// The entry named `name` of the list `list_key` ("clusters", "users",
// "contexts"), returning its `inner_key` member ("cluster", "user",
// "context").
absl::StatusOr<json> NamedEntry(const json& config, const char* list_key, const char* inner_key,
                                const std::string& name) {
  auto list = config.find(list_key);
  if (list != config.end() && !list->is_null()) {
    if (!list->is_array()) return Malformed(absl::StrCat(list_key, " must be a list"));
    for (const json& entry : *list) {
      if (!entry.is_object()) continue;
      auto n = entry.find("name");
      if (n == entry.end() || !n->is_string() || n->get<std::string>() != name) continue;
      auto inner = entry.find(inner_key);
      if (inner == entry.end() || inner->is_null()) return json::object();
      if (!inner->is_object()) {
        return Malformed(
            absl::StrCat(list_key, " entry \"", name, "\": ", inner_key, " must be a mapping"));
      }
      return *inner;
    }
  }
  // kubectl's words: `context was not found for specified context: x`.
  std::string singular(list_key);
  singular.pop_back();
  return Malformed(absl::StrCat(singular, " \"", name, "\" not found"));
}

// kubectl resolves relative paths against the kubeconfig's directory.
std::string Resolve(const std::string& path, absl::string_view base_dir) {
  if (path.empty() || path[0] == '/' || base_dir.empty()) return path;
  return absl::StrCat(base_dir, base_dir.back() == '/' ? "" : "/", path);
}

absl::StatusOr<std::string> Base64Member(const json& object, const char* key,
                                         absl::string_view where) {
  KORCH_ASSIGN_OR_RETURN(std::string encoded, StringMember(object, key, where));
  if (encoded.empty()) return std::string();
  std::string decoded;
  if (!absl::Base64Unescape(encoded, &decoded)) {
    return Malformed(absl::StrCat(where, ".", key, " is not valid base64"));
  }
  return decoded;
}

}  // namespace

absl::StatusOr<HttpClientOptions> ParseKubeconfig(absl::string_view yaml,
                                                  absl::string_view base_dir,
                                                  absl::string_view context) {
  absl::StatusOr<std::vector<json>> docs = api::ParseYaml(yaml, /*reject_duplicates=*/false);
  if (!docs.ok()) return Malformed(docs.status().message());
  if (docs->size() != 1 || !(*docs)[0].is_object()) {
    return Malformed("expected one YAML mapping (a Config)");
  }
  const json& config = (*docs)[0];

  std::string context_name(context);
  if (context_name.empty()) {
    KORCH_ASSIGN_OR_RETURN(context_name, StringMember(config, "current-context", "config"));
    if (context_name.empty()) return Malformed("no context given and no current-context set");
  }
  KORCH_ASSIGN_OR_RETURN(json ctx, NamedEntry(config, "contexts", "context", context_name));
  const std::string ctx_where = absl::StrCat("context \"", context_name, "\"");
  KORCH_ASSIGN_OR_RETURN(std::string cluster_name, StringMember(ctx, "cluster", ctx_where));
  KORCH_ASSIGN_OR_RETURN(std::string user_name, StringMember(ctx, "user", ctx_where));
  if (cluster_name.empty()) return Malformed(absl::StrCat(ctx_where, " names no cluster"));

  HttpClientOptions options;
  KORCH_ASSIGN_OR_RETURN(json cluster, NamedEntry(config, "clusters", "cluster", cluster_name));
  const std::string cluster_where = absl::StrCat("cluster \"", cluster_name, "\"");
  KORCH_ASSIGN_OR_RETURN(options.server, StringMember(cluster, "server", cluster_where));
  if (options.server.empty()) return Malformed(absl::StrCat(cluster_where, " has no server"));
  KORCH_ASSIGN_OR_RETURN(options.ca_pem,
                         Base64Member(cluster, "certificate-authority-data", cluster_where));
  KORCH_ASSIGN_OR_RETURN(std::string ca_file,
                         StringMember(cluster, "certificate-authority", cluster_where));
  options.ca_file = Resolve(ca_file, base_dir);
  KORCH_ASSIGN_OR_RETURN(options.tls_server_name,
                         StringMember(cluster, "tls-server-name", cluster_where));
  if (auto it = cluster.find("insecure-skip-tls-verify"); it != cluster.end() && !it->is_null()) {
    if (!it->is_boolean()) {
      return Malformed(absl::StrCat(cluster_where, ".insecure-skip-tls-verify must be a boolean"));
    }
    options.insecure_skip_tls_verify = it->get<bool>();
  }

  if (!user_name.empty()) {
    KORCH_ASSIGN_OR_RETURN(json user, NamedEntry(config, "users", "user", user_name));
    const std::string user_where = absl::StrCat("user \"", user_name, "\"");
    for (const char* unsupported : {"exec", "auth-provider", "username", "password"}) {
      auto it = user.find(unsupported);
      if (it != user.end() && !it->is_null()) {
        return absl::UnimplementedError(
            absl::StrCat("kubeconfig: ", user_where, " uses ", unsupported,
                         " credentials, which korch's HTTP client does not support (use a client "
                         "certificate or a token)"));
      }
    }
    KORCH_ASSIGN_OR_RETURN(options.client_cert_pem,
                           Base64Member(user, "client-certificate-data", user_where));
    KORCH_ASSIGN_OR_RETURN(options.client_key_pem,
                           Base64Member(user, "client-key-data", user_where));
    KORCH_ASSIGN_OR_RETURN(std::string cert_file,
                           StringMember(user, "client-certificate", user_where));
    KORCH_ASSIGN_OR_RETURN(std::string key_file, StringMember(user, "client-key", user_where));
    options.client_cert_file = Resolve(cert_file, base_dir);
    options.client_key_file = Resolve(key_file, base_dir);
    KORCH_ASSIGN_OR_RETURN(options.bearer_token, StringMember(user, "token", user_where));
    KORCH_ASSIGN_OR_RETURN(std::string token_file, StringMember(user, "tokenFile", user_where));
    if (options.bearer_token.empty() && !token_file.empty()) {
      token_file = Resolve(token_file, base_dir);
      absl::StatusOr<std::string> token = apiserver::ReadFileToString(token_file);
      if (!token.ok()) {
        return absl::Status(token.status().code(),
                            absl::StrCat("kubeconfig: ", user_where, ": cannot read tokenFile ",
                                         token_file, ": ", token.status().message()));
      }
      options.bearer_token = std::string(absl::StripAsciiWhitespace(*token));
    }
  }
  return options;
}

absl::StatusOr<HttpClientOptions> LoadKubeconfig(absl::string_view path,
                                                 absl::string_view context) {
  absl::StatusOr<std::string> text = apiserver::ReadFileToString(path);
  if (!text.ok()) {
    return absl::Status(text.status().code(), absl::StrCat("cannot read the kubeconfig ", path,
                                                           ": ", text.status().message()));
  }
  std::string dir(path);
  size_t slash = dir.rfind('/');
  dir = slash == std::string::npos ? "" : dir.substr(0, slash == 0 ? 1 : slash);
  absl::StatusOr<HttpClientOptions> options = ParseKubeconfig(*text, dir, context);
  if (!options.ok()) {
    return absl::Status(options.status().code(),
                        absl::StrCat(path, ": ", options.status().message()));
  }
  return options;
}

}  // namespace korch::client
