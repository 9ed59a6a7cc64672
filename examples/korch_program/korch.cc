// korch: the all-in-one program.
//
//   korch server --data-dir DIR [--listen HOST:PORT] [--store etcd://HOST:PORT,...]
//   korch version
//
// `korch server` runs the API server on the embedded RocksDB store (or on
// etcd) behind HTTPS, with the garbage collector and the namespace
// controller. On first start it makes a CA, a serving certificate and an
// admin credential under DIR/pki and writes DIR/admin.kubeconfig, so that
// `kubectl --kubeconfig DIR/admin.kubeconfig get pods` works at once. It
// serves until SIGINT or SIGTERM, then shuts down cleanly and exits 0.
//
// Exit status: 0 on success, 1 when the server cannot start or fails, 2 on
// usage errors (unknown command or flag, bad flag value).
#include <arpa/inet.h>
#include <pthread.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/time/time.h"
#include "korch/agent/simulated_nodes.h"
#include "korch/apiserver/admission.h"
#include "korch/apiserver/authn.h"
#include "korch/apiserver/discovery.h"
#include "korch/apiserver/http_server.h"
#include "korch/apiserver/pki.h"
#include "korch/apiserver/server.h"
#include "korch/base/logging.h"
#include "korch/base/status.h"
#include "korch/client/client.h"
#include "korch/controllers/garbage_collector.h"
#include "korch/controllers/namespace_controller.h"
#include "korch/store.h"

namespace {

namespace apiserver = korch::apiserver;

constexpr int kExitOk = 0;
constexpr int kExitFailure = 1;
constexpr int kExitUsage = 2;

// The admin credential written to the kubeconfig: a member of
// system:masters, which the bootstrap RBAC rules bind to cluster-admin.
constexpr char kAdminUser[] = "korch-admin";
constexpr char kAdminGroup[] = "system:masters";

// ---------------------------------------------------------------------------
// A small flag parser: --name=value, --name value, boolean --name (and
// --name=true|false), repeatable list flags, -h/--help. Nothing else.

class FlagSet {
 public:
  enum class Outcome { kOk, kHelp, kError };

  FlagSet(std::string command, std::string usage, std::string description)
      : command_(std::move(command)),
        usage_(std::move(usage)),
        description_(std::move(description)) {}

  void String(std::string name, std::string* target, std::string value_name, std::string help) {
    flags_.push_back({std::move(name), Kind::kString, target, nullptr, nullptr,
                      std::move(value_name), std::move(help)});
  }
  void Bool(std::string name, bool* target, std::string help) {
    flags_.push_back({std::move(name), Kind::kBool, nullptr, target, nullptr, "", std::move(help)});
  }
  void List(std::string name, std::vector<std::string>* target, std::string value_name,
            std::string help) {
    flags_.push_back({std::move(name), Kind::kList, nullptr, nullptr, target, std::move(value_name),
                      std::move(help)});
  }

  // Parses `args` (the words after the command). On kError, `*error` says
  // what is wrong.
  Outcome Parse(const std::vector<std::string>& args, std::string* error) {
    for (size_t i = 0; i < args.size(); ++i) {
      absl::string_view arg = args[i];
      if (arg == "-h" || arg == "--help" || arg == "-help") return Outcome::kHelp;
      if (!absl::StartsWith(arg, "--") || arg == "--") {
        *error = absl::StartsWith(arg, "-")
                     ? absl::StrCat("unknown flag: ", arg, " (flags start with --)")
                     : absl::StrCat("unexpected argument \"", arg, "\"");
        return Outcome::kError;
      }
      absl::string_view body = arg.substr(2);
      std::optional<std::string> value;
      if (size_t eq = body.find('='); eq != absl::string_view::npos) {
        value = std::string(body.substr(eq + 1));
        body = body.substr(0, eq);
      }
      Flag* flag = Find(body);
      if (flag == nullptr) {
        *error = absl::StrCat("unknown flag: --", body);
        return Outcome::kError;
      }
      if (flag->kind == Kind::kBool) {
        if (!value.has_value()) {
          *flag->bool_target = true;
        } else if (!absl::SimpleAtob(*value, flag->bool_target)) {
          *error = absl::StrCat("invalid value \"", *value, "\" for flag --", flag->name,
                                ": want true or false");
          return Outcome::kError;
        }
        continue;
      }
      if (!value.has_value()) {
        if (i + 1 >= args.size()) {
          *error = absl::StrCat("flag --", flag->name, " needs a value (--", flag->name, " ",
                                flag->value_name, ")");
          return Outcome::kError;
        }
        value = args[++i];
      }
      if (flag->kind == Kind::kString) {
        *flag->string_target = *value;
      } else {
        flag->list_target->push_back(*value);
      }
    }
    return Outcome::kOk;
  }

  std::string Help() const {
    std::string out = absl::StrCat("Usage: ", usage_, "\n\n", description_, "\n\nFlags:\n");
    std::vector<std::pair<std::string, std::string>> rows;
    for (const Flag& f : flags_) {
      std::string left = absl::StrCat("  --", f.name);
      if (!f.value_name.empty()) absl::StrAppend(&left, " ", f.value_name);
      std::string help = f.help;
      if (f.kind == Kind::kString && !f.string_target->empty()) {
        absl::StrAppend(&help, " (default ", *f.string_target, ")");
      }
      rows.emplace_back(std::move(left), std::move(help));
    }
    rows.emplace_back("  -h, --help", "show this help");
    size_t width = 0;
    for (const auto& [left, help] : rows) width = std::max(width, left.size());
    for (auto& [left, help] : rows) {
      left.resize(width + 3, ' ');
      absl::StrAppend(&out, left, help, "\n");
    }
    return out;
  }

  const std::string& command() const { return command_; }

 private:
  enum class Kind { kString, kBool, kList };
  struct Flag {
    std::string name;
    Kind kind;
    std::string* string_target;
    bool* bool_target;
    std::vector<std::string>* list_target;
    std::string value_name;
    std::string help;
  };

  Flag* Find(absl::string_view name) {
    for (Flag& f : flags_) {
      if (f.name == name) return &f;
    }
    return nullptr;
  }

  std::string command_;
  std::string usage_;
  std::string description_;
  std::vector<Flag> flags_;
};

int UsageError(absl::string_view command, absl::string_view message) {
  std::cerr << command << ": " << message << "\nRun '" << command << " --help' for usage.\n";
  return kExitUsage;
}

// Parses the flags of `set`; returns an exit code when the program should
// stop (help shown, or a usage error), nullopt to go on.
std::optional<int> ParseFlags(FlagSet& set, const std::vector<std::string>& args) {
  std::string error;
  switch (set.Parse(args, &error)) {
    case FlagSet::Outcome::kOk:
      return std::nullopt;
    case FlagSet::Outcome::kHelp:
      std::cout << set.Help();
      return kExitOk;
    case FlagSet::Outcome::kError:
      return UsageError(set.command(), error);
  }
  return kExitUsage;
}

// ---------------------------------------------------------------------------
// korch version

std::string VersionText() {
  apiserver::ServerVersion v;
  return absl::StrCat("korch version ", v.korch_version, "\nKubernetes API version v", v.major, ".",
                      v.minor, ".", v.patch, "\n");
}

int VersionCommand(const std::vector<std::string>& args) {
  FlagSet set("korch version", "korch version",
              "Prints korch's version and the Kubernetes API version it speaks.");
  if (auto exit = ParseFlags(set, args)) return *exit;
  std::cout << VersionText();
  return kExitOk;
}

// ---------------------------------------------------------------------------
// korch server: flags

struct ServerFlags {
  std::string data_dir;
  std::string listen = "127.0.0.1:6443";
  std::string store;
  bool plain_http = false;
  std::string token_auth_file;
  std::vector<std::string> tls_sans;
  std::string log_level = "info";
  // Simulated nodes (korch::agent::SimulatedNodes).
  std::string simulated_nodes = "0";
  std::string simulated_node_capacity;
  std::string simulated_node_labels;
  std::string simulated_node_zones = "3";
  korch::agent::SimulatedNodesOptions simulated;  // parsed from the above
};

// "k=v,k2=v2" -> map; errors name the flag.
absl::StatusOr<std::map<std::string, std::string>> ParsePairs(absl::string_view flag,
                                                              absl::string_view text) {
  std::map<std::string, std::string> out;
  for (absl::string_view item : absl::StrSplit(text, ',', absl::SkipWhitespace())) {
    std::pair<std::string, std::string> kv = absl::StrSplit(item, absl::MaxSplits('=', 1));
    if (kv.first.empty() || item.find('=') == absl::string_view::npos) {
      return absl::InvalidArgumentError(
          absl::StrCat("invalid --", flag, " \"", text, "\": \"", item, "\" is not KEY=VALUE"));
    }
    out[kv.first] = kv.second;
  }
  return out;
}

absl::Status ParseSimulatedNodeFlags(ServerFlags& flags) {
  int count = 0;
  if (!absl::SimpleAtoi(flags.simulated_nodes, &count) || count < 0 || count > 100000) {
    return absl::InvalidArgumentError(absl::StrCat("invalid --simulated-nodes \"",
                                                   flags.simulated_nodes,
                                                   "\": want a number from 0 to 100000"));
  }
  int zones = 0;
  if (!absl::SimpleAtoi(flags.simulated_node_zones, &zones) || zones < 0) {
    return absl::InvalidArgumentError(absl::StrCat("invalid --simulated-node-zones \"",
                                                   flags.simulated_node_zones,
                                                   "\": want a number, 0 or more"));
  }
  flags.simulated.count = count;
  flags.simulated.zones = zones;
  if (!flags.simulated_node_capacity.empty()) {
    KORCH_ASSIGN_OR_RETURN(auto capacity,
                           ParsePairs("simulated-node-capacity", flags.simulated_node_capacity));
    for (auto& [k, v] : capacity) flags.simulated.capacity[k] = v;
  }
  if (!flags.simulated_node_labels.empty()) {
    KORCH_ASSIGN_OR_RETURN(flags.simulated.labels,
                           ParsePairs("simulated-node-labels", flags.simulated_node_labels));
  }
  return absl::OkStatus();
}

// The --listen address, split.
struct ListenAddress {
  std::string host;  // without brackets; "" means every interface
  int port = 0;
};

absl::StatusOr<ListenAddress> ParseListen(absl::string_view text) {
  auto bad = [&](absl::string_view why) {
    return absl::InvalidArgumentError(absl::StrCat(
        "invalid --listen \"", text, "\": ", why,
        " (want HOST:PORT with HOST an IP address or localhost, e.g. 127.0.0.1:6443 or "
        "[::1]:6443; port 0 picks a free port)"));
  };
  ListenAddress out;
  absl::string_view port;
  if (absl::StartsWith(text, "[")) {
    size_t close = text.find("]:");
    if (close == absl::string_view::npos) return bad("an IPv6 host needs the form [HOST]:PORT");
    out.host = std::string(text.substr(1, close - 1));
    port = text.substr(close + 2);
  } else {
    size_t colon = text.rfind(':');
    if (colon == absl::string_view::npos) return bad("no port");
    out.host = std::string(text.substr(0, colon));
    port = text.substr(colon + 1);
    if (absl::StrContains(out.host, ':')) return bad("put an IPv6 host in brackets");
  }
  if (!absl::SimpleAtoi(port, &out.port) || out.port < 0 || out.port > 65535) {
    return bad("the port must be a number from 0 to 65535");
  }
  unsigned char buf[16];
  if (!out.host.empty() && out.host != "localhost" &&
      inet_pton(AF_INET, out.host.c_str(), buf) != 1 &&
      inet_pton(AF_INET6, out.host.c_str(), buf) != 1) {
    return bad(absl::StrCat("\"", out.host, "\" is not an IP address"));
  }
  return out;
}

bool IsUnspecified(absl::string_view host) {
  return host.empty() || host == "0.0.0.0" || host == "::";
}

// The host clients should dial: loopback when listening everywhere; IPv6
// literals in brackets.
std::string DialHost(const ListenAddress& listen) {
  std::string host = listen.host;
  if (host.empty() || host == "0.0.0.0") host = "127.0.0.1";
  if (host == "::") host = "::1";
  if (absl::StrContains(host, ':')) host = absl::StrCat("[", host, "]");
  return host;
}

absl::StatusOr<std::vector<std::string>> ParseEtcdEndpoints(absl::string_view store) {
  std::vector<std::string> endpoints;
  absl::string_view rest = store;
  if (!absl::ConsumePrefix(&rest, "etcd://")) {
    return absl::InvalidArgumentError(absl::StrCat(
        "invalid --store \"", store,
        "\": want etcd://HOST:PORT[,HOST:PORT...] (without --store: the embedded RocksDB "
        "store in DATA_DIR/db)"));
  }
  for (absl::string_view e : absl::StrSplit(rest, ',')) {
    e = absl::StripAsciiWhitespace(e);
    absl::ConsumePrefix(&e, "etcd://");
    if (e.empty() || !absl::StrContains(e, ':')) {
      return absl::InvalidArgumentError(
          absl::StrCat("invalid --store \"", store, "\": endpoint \"", e, "\" is not HOST:PORT"));
    }
    endpoints.emplace_back(e);
  }
  return endpoints;
}

// ---------------------------------------------------------------------------
// korch server: credentials

struct Credentials {
  std::optional<apiserver::CertificateAuthority> ca;
  apiserver::CertKeyPair serving;
  apiserver::CertKeyPair admin;
  std::string admin_token;
};

bool Exists(const std::string& path) {
  struct stat st;
  return stat(path.c_str(), &st) == 0;
}

absl::Status MakeDir(const std::string& path) {
  if (mkdir(path.c_str(), 0700) == 0 || errno == EEXIST) return absl::OkStatus();
  return absl::InternalError(absl::StrCat("creating directory ", path, ": ", strerror(errno)));
}

absl::StatusOr<apiserver::CertificateAuthority> LoadOrCreateCa(const std::string& dir,
                                                               const korch::Logger& log) {
  const std::string crt = dir + "/ca.crt", key = dir + "/ca.key";
  auto loaded = apiserver::CertificateAuthority::Load(crt, key);
  if (loaded.ok() || !absl::IsNotFound(loaded.status())) return loaded;
  if (Exists(crt) || Exists(key)) {
    // Half a CA: making a new one would silently invalidate every credential
    // the old one issued.
    return absl::FailedPreconditionError(
        absl::StrCat(loaded.status().message(),
                     "; restore it, or remove both ca.crt and ca.key to make a new CA (every "
                     "credential issued by the old one stops working)"));
  }
  KORCH_ASSIGN_OR_RETURN(auto ca, apiserver::CertificateAuthority::Create({}));
  KORCH_RETURN_IF_ERROR(apiserver::WriteCertKeyPair(ca.pem(), crt, key));
  KORCH_LOG(log, kInfo) << "Created a new CA in " << crt;
  return ca;
}

// Certificates are renewed when they expire within this long, as k3s does
// at start.
constexpr absl::Duration kRenewBefore = absl::Hours(24 * 90);

// Loads DIR/NAME.{crt,key} and checks it against the CA, the purpose and
// `hosts`; issues a new one with `issue` when it is missing, not from this
// CA, about to expire, or does not cover a host.
template <typename IssueFn>
absl::StatusOr<apiserver::CertKeyPair> LoadOrIssue(const std::string& dir, const std::string& name,
                                                   const apiserver::CertificateAuthority& ca,
                                                   absl::string_view purpose,
                                                   const std::vector<std::string>& hosts,
                                                   IssueFn issue, const korch::Logger& log) {
  const std::string crt = absl::StrCat(dir, "/", name, ".crt");
  const std::string key = absl::StrCat(dir, "/", name, ".key");
  auto loaded = apiserver::ReadCertKeyPair(crt, key);
  std::string why;
  if (loaded.ok()) {
    if (absl::Status s = ca.Verify(loaded->cert_pem, purpose); !s.ok()) {
      why = std::string(s.message());
    } else if (!ca.Verify(loaded->cert_pem, purpose, absl::Now() + kRenewBefore).ok()) {
      why = "it expires within 90 days";
    } else {
      for (const std::string& host : hosts) {
        if (!apiserver::CertificateCoversHost(loaded->cert_pem, host).ok()) {
          why = absl::StrCat("it does not name ", host);
          break;
        }
      }
    }
    if (why.empty()) return loaded;
  } else if (!absl::IsNotFound(loaded.status())) {
    return absl::Status(loaded.status().code(),
                        absl::StrCat(loaded.status().message(), " (remove ", crt, " and ", key,
                                     " to have new ones made)"));
  }
  KORCH_ASSIGN_OR_RETURN(apiserver::CertKeyPair pair, issue());
  KORCH_RETURN_IF_ERROR(apiserver::WriteCertKeyPair(pair, crt, key));
  if (why.empty()) {
    KORCH_LOG(log, kInfo) << "Created " << crt;
  } else {
    KORCH_LOG(log, kInfo) << "Renewed " << crt << " (" << why << ")";
  }
  return pair;
}

absl::StatusOr<std::string> LoadOrCreateToken(const std::string& path, const korch::Logger& log) {
  auto text = apiserver::ReadFileToString(path);
  if (text.ok()) {
    std::string token(absl::StripAsciiWhitespace(*text));
    if (token.empty() || token.find_first_of(",\" \t\r\n") != std::string::npos) {
      return absl::InvalidArgumentError(absl::StrCat(
          path,
          ": the admin token must be one word without commas or quotes; remove the file "
          "to have a new token made"));
    }
    return token;
  }
  if (!absl::IsNotFound(text.status())) return text.status();
  KORCH_ASSIGN_OR_RETURN(std::string token, apiserver::RandomHexToken());
  KORCH_RETURN_IF_ERROR(apiserver::WriteFileAtomically(path, token + "\n", 0600));
  KORCH_LOG(log, kInfo) << "Created the admin token in " << path;
  return token;
}

absl::StatusOr<Credentials> SetUpCredentials(const std::string& pki_dir,
                                             const std::vector<std::string>& serving_hosts,
                                             const korch::Logger& log) {
  KORCH_RETURN_IF_ERROR(MakeDir(pki_dir));
  Credentials out;
  KORCH_ASSIGN_OR_RETURN(out.ca, LoadOrCreateCa(pki_dir, log));
  const apiserver::CertificateAuthority& ca = *out.ca;
  auto issue_serving = [&] {
    apiserver::ServingCertOptions options;
    options.hosts = serving_hosts;
    return ca.IssueServingCertificate(options);
  };
  auto issue_admin = [&] {
    apiserver::ClientCertOptions options;
    options.user = kAdminUser;
    options.groups = {kAdminGroup};
    return ca.IssueClientCertificate(options);
  };
  KORCH_ASSIGN_OR_RETURN(out.serving, LoadOrIssue(pki_dir, "server", ca, "serverAuth",
                                                  serving_hosts, issue_serving, log));
  KORCH_ASSIGN_OR_RETURN(out.admin,
                         LoadOrIssue(pki_dir, "admin", ca, "clientAuth", {}, issue_admin, log));
  KORCH_ASSIGN_OR_RETURN(out.admin_token, LoadOrCreateToken(pki_dir + "/admin.token", log));
  return out;
}

// ---------------------------------------------------------------------------
// korch server: authentication

// ApiServerOptions takes one Authenticator; this one asks the whole chain
// (so the chain's rules, such as "a presented token nobody knows is an
// error", apply unchanged).
class ChainAuthenticator final : public apiserver::Authenticator {
 public:
  explicit ChainAuthenticator(std::unique_ptr<apiserver::AuthenticatorChain> chain)
      : chain_(std::move(chain)) {}
  absl::string_view Name() const override { return "chain"; }
  apiserver::AuthnResult Authenticate(const apiserver::AuthnRequest& request) const override {
    absl::StatusOr<apiserver::UserInfo> user = chain_->Authenticate(request);
    if (!user.ok()) return apiserver::AuthnResult::Rejected(std::string(user.status().message()));
    return apiserver::AuthnResult::Authenticated(*std::move(user));
  }

 private:
  std::unique_ptr<apiserver::AuthenticatorChain> chain_;
};

// The token file of --token-auth-file (if any) plus the admin token, as one
// "tokenfile" authenticator. The admin line goes last so that line numbers
// in errors are the user's file's.
absl::StatusOr<std::unique_ptr<apiserver::Authenticator>> TokenAuthenticator(
    const std::string& token_auth_file, const std::string& admin_token) {
  std::string text;
  if (!token_auth_file.empty()) {
    // Load() first: its errors name the file.
    KORCH_RETURN_IF_ERROR(apiserver::TokenFileAuthenticator::Load(token_auth_file).status());
    KORCH_ASSIGN_OR_RETURN(text, apiserver::ReadFileToString(token_auth_file));
    if (!text.empty() && text.back() != '\n') text.push_back('\n');
  }
  absl::StrAppend(&text, admin_token, ",", kAdminUser, ",", kAdminUser, ",", kAdminGroup, "\n");
  auto authenticator = apiserver::TokenFileAuthenticator::FromString(text);
  if (!authenticator.ok()) {
    return korch::Annotate(authenticator.status(),
                           absl::StrCat(token_auth_file, " together with the admin token"));
  }
  return authenticator;
}

// kubectl (client-go's clientcmd) never sends a kubeconfig's credentials
// over plain HTTP, so a --plain-http server on loopback treats requests that
// carry no credentials as this user, like Kubernetes' old insecure port did.
// A request with a bearer token is left to the token authenticator, so a
// wrong token is still an error.
constexpr char kUnsecuredUser[] = "system:unsecured";

class UnsecuredLoopbackAuthenticator final : public apiserver::Authenticator {
 public:
  absl::string_view Name() const override { return "unsecured-loopback"; }
  apiserver::AuthnResult Authenticate(const apiserver::AuthnRequest& request) const override {
    if (request.bearer_token.has_value() || request.client_cert_der.has_value()) {
      return apiserver::AuthnResult::NoOpinion();
    }
    apiserver::UserInfo user;
    user.name = kUnsecuredUser;
    user.groups = {kAdminGroup};
    return apiserver::AuthnResult::Authenticated(std::move(user));
  }
};

bool IsLoopback(absl::string_view host) {
  return host == "localhost" || host == "::1" || absl::StartsWith(host, "127.");
}

absl::StatusOr<std::shared_ptr<apiserver::Authenticator>> BuildAuthenticator(
    const ServerFlags& flags, const ListenAddress& listen, const Credentials& creds) {
  std::vector<std::unique_ptr<apiserver::Authenticator>> list;
  KORCH_ASSIGN_OR_RETURN(auto x509, apiserver::X509Authenticator::Create());
  list.push_back(std::move(x509));
  KORCH_ASSIGN_OR_RETURN(auto tokens, TokenAuthenticator(flags.token_auth_file, creds.admin_token));
  list.push_back(std::move(tokens));
  if (flags.plain_http && IsLoopback(listen.host)) {
    list.push_back(std::make_unique<UnsecuredLoopbackAuthenticator>());
  }
  KORCH_ASSIGN_OR_RETURN(auto chain, apiserver::AuthenticatorChain::Create(std::move(list)));
  return std::make_shared<ChainAuthenticator>(std::move(chain));
}

// ---------------------------------------------------------------------------
// korch server: kubeconfig

std::string Kubeconfig(const std::string& server_url, const Credentials& creds, bool tls) {
  std::string out = "apiVersion: v1\nkind: Config\nclusters:\n- name: korch\n  cluster:\n";
  absl::StrAppend(&out, "    server: ", server_url, "\n");
  if (tls) {
    absl::StrAppend(
        &out, "    certificate-authority-data: ", absl::Base64Escape(creds.ca->cert_pem()), "\n");
  }
  absl::StrAppend(
      &out, "contexts:\n- name: korch\n  context:\n    cluster: korch\n    user: ", kAdminUser,
      "\ncurrent-context: korch\npreferences: {}\nusers:\n- name: ", kAdminUser, "\n  user:\n");
  if (tls) {
    absl::StrAppend(&out, "    client-certificate-data: ", absl::Base64Escape(creds.admin.cert_pem),
                    "\n", "    client-key-data: ", absl::Base64Escape(creds.admin.key_pem), "\n");
  }
  // The token, for clients that cannot use the certificate. (kubectl sends
  // no kubeconfig credentials over plain HTTP; other clients, such as the
  // Python client, do.)
  absl::StrAppend(&out, "    token: ", creds.admin_token, "\n");
  return out;
}

// ---------------------------------------------------------------------------
// korch server: the run

// Blocks SIGINT and SIGTERM in the calling thread and, since threads inherit
// the mask, in every thread started later: the main thread takes them with
// sigwait() instead of a handler, so shutdown runs in ordinary code.
sigset_t BlockShutdownSignals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  return set;
}

int RunServer(const ServerFlags& flags, const ListenAddress& listen,
              const std::vector<std::string>& etcd_endpoints, korch::LogLevel level) {
  const sigset_t signals = BlockShutdownSignals();
  korch::Logger log("korch", level);
  auto fail = [&](absl::string_view what, const absl::Status& status) {
    KORCH_LOG(log, kError) << what << ": " << status.message();
    return kExitFailure;
  };

  std::error_code ec;
  std::filesystem::path dir = std::filesystem::absolute(flags.data_dir, ec).lexically_normal();
  if (ec) return fail("resolving --data-dir", absl::InternalError(ec.message()));
  if (!dir.has_filename()) dir = dir.parent_path();  // "DIR/"
  // Parents as the umask says; the data directory itself private, since it
  // holds keys.
  std::filesystem::create_directories(dir.parent_path(), ec);
  if (ec) {
    return fail("data directory",
                absl::InternalError(
                    absl::StrCat("creating ", dir.parent_path().string(), ": ", ec.message())));
  }
  const std::string data_dir = dir.string();
  if (absl::Status s = MakeDir(data_dir); !s.ok()) return fail("data directory", s);

  // Credentials.
  std::vector<std::string> hosts;
  if (!IsUnspecified(listen.host)) hosts.push_back(listen.host);
  hosts.insert(hosts.end(), flags.tls_sans.begin(), flags.tls_sans.end());
  auto creds = SetUpCredentials(data_dir + "/pki", hosts, log);
  if (!creds.ok()) return fail("setting up certificates", creds.status());

  // Store.
  absl::StatusOr<std::unique_ptr<korch::store::Storage>> storage;
  if (etcd_endpoints.empty()) {
    korch::store::RocksDbStorageOptions options;
    options.path = data_dir + "/db";
    storage = korch::store::OpenRocksDbStorage(options);
    KORCH_LOG(log, kInfo) << "Using the embedded RocksDB store in " << options.path;
  } else {
    korch::store::EtcdStorageOptions options;
    options.endpoints = etcd_endpoints;
    storage = korch::store::OpenEtcdStorage(options);
    KORCH_LOG(log, kInfo) << "Using etcd at " << absl::StrJoin(etcd_endpoints, ",");
  }
  if (!storage.ok()) return fail("opening the store", storage.status());

  // API server.
  auto authenticator = BuildAuthenticator(flags, listen, *creds);
  if (!authenticator.ok()) return fail("setting up authentication", authenticator.status());
  apiserver::ApiServerOptions api_options;
  api_options.storage = storage->get();
  api_options.authenticator = *std::move(authenticator);
  api_options.authorization.node = true;
  api_options.authorization.rbac = true;
  api_options.admission = apiserver::DefaultAdmissionChain();
  auto api = apiserver::ApiServer::Create(std::move(api_options));
  if (!api.ok()) return fail("starting the API server", api.status());

  // HTTP(S).
  apiserver::HttpServerOptions http_options;
  http_options.listen_address = flags.listen;
  http_options.plain_http = flags.plain_http;
  if (!flags.plain_http) {
    http_options.tls_cert_pem = creds->serving.cert_pem;
    http_options.tls_key_pem = creds->serving.key_pem;
    http_options.client_ca_pem = creds->ca->cert_pem();
  } else if (IsLoopback(listen.host)) {
    KORCH_LOG(log, kWarning) << "--plain-http: requests without credentials act as "
                             << kUnsecuredUser << " in " << kAdminGroup
                             << " (anyone on this machine is cluster admin)";
  } else {
    KORCH_LOG(log, kWarning)
        << "--plain-http on " << (listen.host.empty() ? "every interface" : listen.host)
        << ", which is not a loopback address: tokens travel in clear, and kubectl sends no "
           "credentials over plain HTTP";
  }
  auto http = apiserver::HttpServer::Start(**api, std::move(http_options));
  if (!http.ok()) return fail("starting the HTTP server", http.status());
  const std::string url = absl::StrCat(flags.plain_http ? "http" : "https", "://", DialHost(listen),
                                       ":", (*http)->port());
  KORCH_LOG(log, kInfo) << "Listening on " << url;

  // Controllers, over an in-process client with the API server's own
  // identity.
  std::unique_ptr<korch::client::Client> client =
      korch::client::NewInProcessClient(**api, apiserver::SystemUser());
  korch::controllers::GarbageCollectorOptions gc_options;
  gc_options.logger = korch::Logger("garbagecollector", level);
  auto gc = korch::controllers::GarbageCollector::Create(*client, std::move(gc_options));
  if (!gc.ok()) return fail("starting the garbage collector", gc.status());
  korch::controllers::NamespaceControllerOptions ns_options;
  ns_options.logger = korch::Logger("namespace-controller", level);
  auto namespaces = korch::controllers::NamespaceController::Create(*client, std::move(ns_options));
  if (!namespaces.ok()) return fail("starting the namespace controller", namespaces.status());
  (*gc)->Start();
  (*namespaces)->Start();

  // Simulated nodes, so that scheduling and workloads can be seen without
  // machines.
  std::unique_ptr<korch::agent::SimulatedNodes> simulated;
  if (flags.simulated.count > 0) {
    korch::agent::SimulatedNodesOptions sim_options = flags.simulated;
    auto created = korch::agent::SimulatedNodes::Create(*client, std::move(sim_options));
    if (!created.ok()) return fail("creating the simulated nodes", created.status());
    simulated = *std::move(created);
    if (absl::Status s = simulated->Start(); !s.ok()) {
      return fail("registering the simulated nodes", s);
    }
    KORCH_LOG(log, kInfo) << "Registered " << flags.simulated.count << " simulated nodes ("
                          << flags.simulated.name_prefix << "0.." << flags.simulated.count - 1
                          << ")";
  }

  // The admin kubeconfig (0600: it holds the admin's key and token).
  const std::string kubeconfig_path = data_dir + "/admin.kubeconfig";
  if (absl::Status s = apiserver::WriteFileAtomically(
          kubeconfig_path, Kubeconfig(url, *creds, !flags.plain_http), 0600);
      !s.ok()) {
    return fail("writing the kubeconfig", s);
  }
  KORCH_LOG(log, kInfo) << "Wrote kubeconfig to " << kubeconfig_path;
  KORCH_LOG(log, kInfo) << "korch is ready: kubectl --kubeconfig " << kubeconfig_path
                        << " get namespaces";

  int signal_number = 0;
  while (sigwait(&signals, &signal_number) != 0) {
  }
  KORCH_LOG(log, kInfo) << "Received " << strsignal(signal_number) << ", shutting down";
  // A second signal while shutting down means "now".
  std::thread([signals] {
    int again = 0;
    if (sigwait(&signals, &again) == 0) {
      std::fprintf(stderr, "korch: second signal, exiting without a clean shutdown\n");
      _exit(kExitFailure);
    }
  }).detach();

  (*http)->Shutdown();
  if (simulated != nullptr) simulated->Stop();
  (*namespaces)->Stop();
  (*gc)->Stop();
  namespaces->reset();
  gc->reset();
  client.reset();
  http->reset();
  api->reset();
  storage->reset();
  KORCH_LOG(log, kInfo) << "Shut down cleanly";
  return kExitOk;
}

int ServerCommand(const std::vector<std::string>& args) {
  ServerFlags flags;
  FlagSet set("korch server", "korch server --data-dir DIR [flags]",
              "Runs the Kubernetes API server with the garbage collector and the namespace\n"
              "controller. On first start it creates a CA, a serving certificate and an admin\n"
              "credential under DIR/pki, and writes DIR/admin.kubeconfig for kubectl. Serves\n"
              "until SIGINT or SIGTERM.");
  set.String("data-dir", &flags.data_dir, "DIR",
             "where the store, the certificates and the kubeconfig live (required)");
  set.String("listen", &flags.listen, "HOST:PORT", "address to serve on; port 0 picks a free port");
  set.String("store", &flags.store, "etcd://HOST:PORT,...",
             "use etcd instead of the embedded RocksDB store in DIR/db");
  set.Bool("plain-http", &flags.plain_http,
           "serve plain HTTP instead of HTTPS (development on loopback only)");
  set.String("token-auth-file", &flags.token_auth_file, "FILE",
             "static bearer tokens, CSV: token,user,uid,\"group1,group2\"");
  set.List("tls-san", &flags.tls_sans, "NAME",
           "extra DNS name or IP for the serving certificate (repeatable)");
  set.String("log-level", &flags.log_level, "LEVEL", "debug, info, warning, error or off");
  set.String("simulated-nodes", &flags.simulated_nodes, "N",
             "register N simulated nodes (sim-node-0...) whose pods run at once (default 0)");
  set.String("simulated-node-capacity", &flags.simulated_node_capacity, "R=Q,...",
             "capacity of each simulated node (default cpu=8,memory=32Gi,pods=110,"
             "ephemeral-storage=100Gi)");
  set.String("simulated-node-labels", &flags.simulated_node_labels, "K=V,...",
             "extra labels of every simulated node");
  set.String("simulated-node-zones", &flags.simulated_node_zones, "N",
             "spread simulated nodes over N zones (topology.kubernetes.io/zone=zone-I; "
             "default 3)");
  if (auto exit = ParseFlags(set, args)) return *exit;
  if (absl::Status s = ParseSimulatedNodeFlags(flags); !s.ok()) {
    return UsageError(set.command(), s.message());
  }

  if (flags.data_dir.empty()) return UsageError(set.command(), "flag --data-dir is required");
  auto listen = ParseListen(flags.listen);
  if (!listen.ok()) return UsageError(set.command(), listen.status().message());
  std::vector<std::string> etcd_endpoints;
  if (!flags.store.empty()) {
    auto endpoints = ParseEtcdEndpoints(flags.store);
    if (!endpoints.ok()) return UsageError(set.command(), endpoints.status().message());
    etcd_endpoints = *std::move(endpoints);
  }
  korch::LogLevel level;
  if (!korch::ParseLogLevel(flags.log_level, &level)) {
    return UsageError(set.command(), absl::StrCat("invalid --log-level \"", flags.log_level,
                                                  "\": want debug, info, warning, error or off"));
  }
  for (const std::string& san : flags.tls_sans) {
    if (san.empty()) return UsageError(set.command(), "--tls-san must not be empty");
  }
  if (!flags.token_auth_file.empty() && !Exists(flags.token_auth_file)) {
    return UsageError(set.command(),
                      absl::StrCat("--token-auth-file ", flags.token_auth_file, ": no such file"));
  }
  return RunServer(flags, *listen, etcd_endpoints, level);
}

// ---------------------------------------------------------------------------
// korch

constexpr char kTopUsage[] =
    "Usage: korch COMMAND [flags]\n"
    "\n"
    "korch runs the Kubernetes control plane as one program.\n"
    "\n"
    "Commands:\n"
    "  server    run the API server (see 'korch server --help')\n"
    "  version   print korch's version and the Kubernetes API version it speaks\n"
    "  help      show help for a command ('korch help server')\n"
    "\n"
    "Flags:\n"
    "  -h, --help      show this help\n"
    "  --version       same as 'korch version'\n";

int Main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  if (args.empty()) {
    std::cerr << kTopUsage;
    return kExitUsage;
  }
  std::string command = args[0];
  std::vector<std::string> rest(args.begin() + 1, args.end());
  if (command == "-h" || command == "--help" || command == "-help") {
    std::cout << kTopUsage;
    return kExitOk;
  }
  if (command == "help") {
    if (rest.empty()) {
      std::cout << kTopUsage;
      return kExitOk;
    }
    command = rest[0];
    rest = {"--help"};
  }
  if (command == "--version") command = "version";
  if (command == "version") return VersionCommand(rest);
  if (command == "server") return ServerCommand(rest);
  if (absl::StartsWith(command, "-")) {
    return UsageError("korch", absl::StrCat("unknown flag: ", command));
  }
  return UsageError("korch", absl::StrCat("unknown command \"", command, "\""));
}

}  // namespace

int main(int argc, char** argv) { return Main(argc, argv); }
