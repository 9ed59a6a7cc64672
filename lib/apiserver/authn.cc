// The authenticator chain, static token file, X.509 client certificates and
// anonymous access. OIDC lives in authn_oidc.cc.
#include "korch/apiserver/authn.h"

#include <openssl/asn1.h>
#include <openssl/crypto.h>
#include <openssl/obj_mac.h>
#include <openssl/sha.h>
#include <openssl/x509.h>

#include <array>
#include <fstream>
#include <sstream>
#include <utility>

#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace korch::apiserver {

// ---------------------------------------------------------------------------
// AuthenticatorChain

absl::StatusOr<std::unique_ptr<AuthenticatorChain>> AuthenticatorChain::Create(
    std::vector<std::unique_ptr<Authenticator>> authenticators, AuthenticatorChainOptions options) {
  absl::flat_hash_set<std::string> names;
  for (size_t i = 0; i < authenticators.size(); ++i) {
    if (authenticators[i] == nullptr) {
      return absl::InvalidArgumentError(absl::StrCat("authenticator ", i, " is null"));
    }
    std::string name(authenticators[i]->Name());
    if (!names.insert(name).second) {
      return absl::AlreadyExistsError(
          absl::StrCat("two authenticators are named \"", name, "\"; names must be unique"));
    }
  }
  return std::unique_ptr<AuthenticatorChain>(
      new AuthenticatorChain(std::move(authenticators), options));
}

AuthenticatorChain::AuthenticatorChain(std::vector<std::unique_ptr<Authenticator>> authenticators,
                                       AuthenticatorChainOptions options)
    : authenticators_(std::move(authenticators)), options_(options) {}

std::vector<std::string> AuthenticatorChain::Names() const {
  std::vector<std::string> names;
  names.reserve(authenticators_.size());
  for (const auto& a : authenticators_) names.emplace_back(a->Name());
  return names;
}

namespace {

bool HasGroup(const UserInfo& user, absl::string_view group) {
  for (const auto& g : user.groups) {
    if (g == group) return true;
  }
  return false;
}

}  // namespace

absl::StatusOr<UserInfo> AuthenticatorChain::Authenticate(const AuthnRequest& request) const {
  for (const auto& a : authenticators_) {
    AuthnResult result = a->Authenticate(request);
    switch (result.decision) {
      case AuthnResult::Decision::kAuthenticated: {
        UserInfo user = std::move(result.user);
        if (!HasGroup(user, kAllUnauthenticatedGroup) && !HasGroup(user, kAllAuthenticatedGroup)) {
          user.groups.emplace_back(kAllAuthenticatedGroup);
        }
        return user;
      }
      case AuthnResult::Decision::kRejected:
        return absl::UnauthenticatedError(absl::StrCat(a->Name(), ": ", result.reason));
      case AuthnResult::Decision::kNoOpinion:
        break;
    }
  }
  if (request.bearer_token.has_value()) {
    return absl::UnauthenticatedError(absl::StrCat(
        "the bearer token is not valid for any configured authenticator (",
        absl::StrJoin(Names(), ", "), "); check that the token is complete and not revoked"));
  }
  if (options_.allow_anonymous) return AnonymousAuthenticator::User();
  if (request.client_cert_der.has_value()) {
    return absl::UnauthenticatedError(
        "the client certificate was not accepted by any configured authenticator (" +
        absl::StrJoin(Names(), ", ") + ")");
  }
  return absl::UnauthenticatedError(
      "no credentials: present a bearer token or a client certificate (anonymous access is "
      "disabled)");
}

// ---------------------------------------------------------------------------
// TokenFileAuthenticator

namespace {

using Digest = std::array<unsigned char, SHA256_DIGEST_LENGTH>;

Digest Sha256(absl::string_view data) {
  Digest d;
  SHA256(reinterpret_cast<const unsigned char*>(data.data()), data.size(), d.data());
  return d;
}

// Splits one CSV record (RFC 4180 quoting, Go encoding/csv with
// TrimLeadingSpace). Returns an error message on an unterminated or stray
// quote.
absl::StatusOr<std::vector<std::string>> SplitCsvLine(absl::string_view line) {
  std::vector<std::string> fields;
  size_t i = 0;
  while (true) {
    while (i < line.size() && (line[i] == ' ' || line[i] == '\t')) ++i;
    std::string field;
    if (i < line.size() && line[i] == '"') {
      ++i;
      bool closed = false;
      while (i < line.size()) {
        if (line[i] == '"') {
          if (i + 1 < line.size() && line[i + 1] == '"') {
            field.push_back('"');
            i += 2;
            continue;
          }
          closed = true;
          ++i;
          break;
        }
        field.push_back(line[i++]);
      }
      if (!closed) return absl::InvalidArgumentError("unterminated quoted field");
      if (i < line.size() && line[i] != ',') {
        return absl::InvalidArgumentError("unexpected character after a closing quote");
      }
    } else {
      while (i < line.size() && line[i] != ',') {
        if (line[i] == '"') {
          return absl::InvalidArgumentError(
              "a quote inside an unquoted field (quote the whole field)");
        }
        field.push_back(line[i++]);
      }
    }
    fields.push_back(std::move(field));
    if (i >= line.size()) break;
    ++i;  // the comma
  }
  return fields;
}

}  // namespace

struct TokenFileAuthenticator::Impl {
  struct Entry {
    Digest digest;
    UserInfo user;
  };
  std::vector<Entry> entries;
};

TokenFileAuthenticator::TokenFileAuthenticator(std::unique_ptr<const Impl> impl)
    : impl_(std::move(impl)) {}
TokenFileAuthenticator::~TokenFileAuthenticator() = default;

absl::string_view TokenFileAuthenticator::Name() const { return "tokenfile"; }

absl::StatusOr<std::unique_ptr<Authenticator>> TokenFileAuthenticator::FromString(
    absl::string_view text) {
  auto impl = std::make_unique<Impl>();
  absl::flat_hash_map<std::string, int> seen;  // token digest -> line number
  int line_no = 0;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    ++line_no;
    absl::ConsumeSuffix(&line, "\r");
    if (absl::StripAsciiWhitespace(line).empty()) continue;
    auto fields = SplitCsvLine(line);
    if (!fields.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("line ", line_no, ": ", fields.status().message()));
    }
    if (fields->size() < 3) {
      return absl::InvalidArgumentError(
          absl::StrCat("line ", line_no,
                       ": expected at least 3 columns (token,user,uid[,\"group1,group2\"]), got ",
                       fields->size()));
    }
    const std::string& token = (*fields)[0];
    if (token.empty()) {
      return absl::InvalidArgumentError(absl::StrCat("line ", line_no, ": the token is empty"));
    }
    if ((*fields)[1].empty()) {
      return absl::InvalidArgumentError(absl::StrCat("line ", line_no, ": the user name is empty"));
    }
    Digest digest = Sha256(token);
    std::string key(reinterpret_cast<const char*>(digest.data()), digest.size());
    auto [it, inserted] = seen.emplace(key, line_no);
    if (!inserted) {
      return absl::InvalidArgumentError(absl::StrCat(
          "line ", line_no, ": duplicate token (first defined on line ", it->second, ")"));
    }
    Impl::Entry entry;
    entry.digest = digest;
    entry.user.name = (*fields)[1];
    entry.user.uid = (*fields)[2];
    if (fields->size() >= 4 && !(*fields)[3].empty()) {
      for (absl::string_view g : absl::StrSplit((*fields)[3], ',')) {
        g = absl::StripAsciiWhitespace(g);
        if (!g.empty()) entry.user.groups.emplace_back(g);
      }
    }
    impl->entries.push_back(std::move(entry));
  }
  return std::unique_ptr<Authenticator>(new TokenFileAuthenticator(std::move(impl)));
}

absl::StatusOr<std::unique_ptr<Authenticator>> TokenFileAuthenticator::Load(
    absl::string_view path) {
  std::ifstream in{std::string(path), std::ios::binary};
  if (!in) {
    return absl::NotFoundError(absl::StrCat("cannot read token file ", path));
  }
  std::stringstream ss;
  ss << in.rdbuf();
  if (in.bad()) return absl::NotFoundError(absl::StrCat("cannot read token file ", path));
  auto result = FromString(ss.str());
  if (!result.ok()) {
    return absl::Status(result.status().code(),
                        absl::StrCat("token file ", path, ": ", result.status().message()));
  }
  return result;
}

AuthnResult TokenFileAuthenticator::Authenticate(const AuthnRequest& request) const {
  if (!request.bearer_token.has_value()) return AuthnResult::NoOpinion();
  // Compare fixed-size digests with CRYPTO_memcmp and visit every entry, so
  // that the time taken depends on neither the token nor where it matched.
  const Digest presented = Sha256(*request.bearer_token);
  size_t match = impl_->entries.size();
  for (size_t i = 0; i < impl_->entries.size(); ++i) {
    const int diff =
        CRYPTO_memcmp(presented.data(), impl_->entries[i].digest.data(), presented.size());
    // Digests are unique (duplicates are refused at load), so at most one
    // entry matches.
    match = diff == 0 ? i : match;
  }
  if (match == impl_->entries.size()) return AuthnResult::NoOpinion();
  return AuthnResult::Authenticated(impl_->entries[match].user);
}

// ---------------------------------------------------------------------------
// X509Authenticator

X509Authenticator::X509Authenticator(X509AuthenticatorOptions options)
    : options_(std::move(options)) {}

absl::StatusOr<std::unique_ptr<Authenticator>> X509Authenticator::Create(
    X509AuthenticatorOptions options) {
  if (options.check_validity && options.clock == nullptr) {
    return absl::InvalidArgumentError("X509AuthenticatorOptions.clock: required by check_validity");
  }
  return std::unique_ptr<Authenticator>(new X509Authenticator(std::move(options)));
}

absl::string_view X509Authenticator::Name() const { return "x509"; }

namespace {

struct X509Deleter {
  void operator()(X509* x) const { X509_free(x); }
};

// The UTF-8 values of every `nid` entry of `name`, in order.
std::vector<std::string> NameEntries(const X509_NAME* name, int nid) {
  std::vector<std::string> out;
  int idx = -1;
  while ((idx = X509_NAME_get_index_by_NID(name, nid, idx)) >= 0) {
    const X509_NAME_ENTRY* e = X509_NAME_get_entry(name, idx);
    const ASN1_STRING* data = X509_NAME_ENTRY_get_data(e);
    unsigned char* utf8 = nullptr;
    int len = ASN1_STRING_to_UTF8(&utf8, data);
    if (len < 0) continue;
    out.emplace_back(reinterpret_cast<const char*>(utf8), static_cast<size_t>(len));
    OPENSSL_free(utf8);
  }
  return out;
}

}  // namespace

AuthnResult X509Authenticator::Authenticate(const AuthnRequest& request) const {
  if (!request.client_cert_der.has_value()) return AuthnResult::NoOpinion();
  const std::string& der = *request.client_cert_der;
  const unsigned char* p = reinterpret_cast<const unsigned char*>(der.data());
  std::unique_ptr<X509, X509Deleter> cert(d2i_X509(nullptr, &p, static_cast<long>(der.size())));
  if (cert == nullptr || p != reinterpret_cast<const unsigned char*>(der.data()) + der.size()) {
    return AuthnResult::Rejected("the client certificate is not a valid DER X.509 certificate");
  }
  if (options_.check_validity) {
    time_t now = absl::ToTimeT(options_.clock->Now());
    // X509_cmp_time: -1 when the certificate's time is before `now`, 1 when
    // after, 0 on error.
    int nb = X509_cmp_time(X509_get0_notBefore(cert.get()), &now);
    int na = X509_cmp_time(X509_get0_notAfter(cert.get()), &now);
    if (nb == 0 || na == 0) {
      return AuthnResult::Rejected("the client certificate has a malformed validity period");
    }
    if (nb > 0) return AuthnResult::Rejected("the client certificate is not yet valid");
    if (na < 0) {
      return AuthnResult::Rejected("the client certificate has expired; request a new one");
    }
  }
  const X509_NAME* subject = X509_get_subject_name(cert.get());
  std::vector<std::string> cns = NameEntries(subject, NID_commonName);
  if (cns.empty() || cns.back().empty()) {
    return AuthnResult::Rejected(
        "the client certificate's subject has no common name (CN), which names the user");
  }
  UserInfo user;
  // Like Go's pkix.Name.CommonName, the last CN wins when there are several.
  user.name = cns.back();
  user.groups = NameEntries(subject, NID_organizationName);
  return AuthnResult::Authenticated(std::move(user));
}

// ---------------------------------------------------------------------------
// AnonymousAuthenticator

std::unique_ptr<Authenticator> AnonymousAuthenticator::Create() {
  return std::make_unique<AnonymousAuthenticator>();
}

absl::string_view AnonymousAuthenticator::Name() const { return "anonymous"; }

UserInfo AnonymousAuthenticator::User() {
  UserInfo user;
  user.name = kAnonymousUser;
  user.groups = {kAllUnauthenticatedGroup};
  return user;
}

AuthnResult AnonymousAuthenticator::Authenticate(const AuthnRequest& request) const {
  if (request.bearer_token.has_value()) return AuthnResult::NoOpinion();
  return AuthnResult::Authenticated(User());
}

}  // namespace korch::apiserver
