// Authentication: the first stage of the API server's request pipeline.
//
// An Authenticator looks at the credentials of one request (a bearer token,
// the client certificate that the transport verified) and says who the
// caller is, that the credentials are not its kind, or that they are its
// kind but invalid. An AuthenticatorChain, owned by the host, asks its
// authenticators in order and turns their answers into a UserInfo or an
// Unauthorized (kUnauthenticated) status.
//
// Built-in authenticators, as in Kubernetes:
//   - TokenFileAuthenticator: static bearer tokens from a CSV file
//     (`--token-auth-file`).
//   - X509Authenticator: verified client certificates; user = subject CN,
//     groups = subject O (`--client-ca-file`).
//   - OidcAuthenticator: OpenID Connect ID tokens (signed JWTs, RS256 or
//     ES256) from one issuer whose keys are given as a JWKS (`--oidc-*`).
//   - AnonymousAuthenticator: system:anonymous for requests that carry no
//     credentials (`--anonymous-auth`).
//
// No OpenSSL type appears in this header. Authenticators never throw.
#ifndef KORCH_APISERVER_AUTHN_H_
#define KORCH_APISERVER_AUTHN_H_

#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "korch/base/clock.h"
#include "korch/export.h"

namespace korch::apiserver {

// Well-known names (Kubernetes `k8s.io/apiserver/pkg/authentication/user`).
inline constexpr char kAnonymousUser[] = "system:anonymous";
inline constexpr char kAllAuthenticatedGroup[] = "system:authenticated";
inline constexpr char kAllUnauthenticatedGroup[] = "system:unauthenticated";

// Who made a request. A value type.
struct UserInfo {
  // The user name, unique among users ("alice", "https://issuer#1234").
  std::string name;
  // A unique, stable identifier; may be empty when the source has none.
  std::string uid;
  // Group memberships. The chain adds kAllAuthenticatedGroup to every user it
  // authenticates other than the anonymous one.
  std::vector<std::string> groups;
  // Additional information for authorizers and audit.
  absl::flat_hash_map<std::string, std::vector<std::string>> extra;
};

// The credentials of one request.
struct AuthnRequest {
  // The token of an `Authorization: Bearer <token>` header, without the
  // "Bearer " prefix.
  std::optional<std::string> bearer_token;
  // The DER encoding of the leaf certificate of the client's certificate
  // chain. The transport must already have verified the chain against the
  // client CA: X509Authenticator trusts it.
  std::optional<std::string> client_cert_der;
};

// One authenticator's answer.
struct AuthnResult {
  enum class Decision {
    // The credentials are valid; `user` says who the caller is.
    kAuthenticated,
    // The credentials are not this authenticator's kind (no token, a token
    // it does not know, a JWT of another issuer); the chain asks the next.
    kNoOpinion,
    // The credentials are this authenticator's kind but invalid (expired,
    // bad signature); `reason` says why and the request fails.
    kRejected,
  };

  static AuthnResult Authenticated(UserInfo user) {
    return {Decision::kAuthenticated, std::move(user), ""};
  }
  static AuthnResult NoOpinion() { return {Decision::kNoOpinion, {}, ""}; }
  static AuthnResult Rejected(std::string reason) {
    return {Decision::kRejected, {}, std::move(reason)};
  }

  Decision decision = Decision::kNoOpinion;
  // Set when decision == kAuthenticated.
  UserInfo user;
  // Set when decision == kRejected: a message a person can act on.
  std::string reason;
};

// An authentication plugin. Implementations are thread-safe (Authenticate
// is called concurrently from request threads) and must not throw.
class KORCH_EXPORT Authenticator {
 public:
  virtual ~Authenticator() = default;

  // A name unique within a chain ("tokenfile", "x509", "oidc:<issuer>").
  virtual absl::string_view Name() const = 0;

  virtual AuthnResult Authenticate(const AuthnRequest& request) const = 0;
};

// Options of an AuthenticatorChain.
struct AuthenticatorChainOptions {
  // Requests that carry no bearer token and that no authenticator claims are
  // let in as kAnonymousUser in kAllUnauthenticatedGroup (Kubernetes'
  // `--anonymous-auth`). A request with a bearer token that nobody
  // recognizes is refused even so, as in Kubernetes: a wrong token is an
  // error the client should hear about, not a silent downgrade.
  bool allow_anonymous = false;
};

// An ordered list of authenticators that the host builds once and owns.
// Immutable after Create(), hence thread-safe.
//
// Authenticate() asks the authenticators in order:
//   - the first kAuthenticated wins;
//   - the first kRejected stops the chain with kUnauthenticated and its
//     reason. (Kubernetes' union authenticator keeps going after an error;
//     korch stops, because an authenticator that claims a credential, for
//     example a JWT of its issuer, is the one that knows whether it is good,
//     and a later one must not get a chance to accept it under weaker rules.)
//   - if all have no opinion: anonymous when allowed and no bearer token was
//     presented, otherwise kUnauthenticated.
class KORCH_EXPORT AuthenticatorChain {
 public:
  // Fails with kInvalidArgument on a null authenticator and with
  // kAlreadyExists when two authenticators share a Name().
  static absl::StatusOr<std::unique_ptr<AuthenticatorChain>> Create(
      std::vector<std::unique_ptr<Authenticator>> authenticators,
      AuthenticatorChainOptions options = {});

  // Returns the user, or kUnauthenticated (HTTP 401) with a reason.
  absl::StatusOr<UserInfo> Authenticate(const AuthnRequest& request) const;

  // The authenticators' names, in order.
  std::vector<std::string> Names() const;

 private:
  AuthenticatorChain(std::vector<std::unique_ptr<Authenticator>> authenticators,
                     AuthenticatorChainOptions options);

  const std::vector<std::unique_ptr<Authenticator>> authenticators_;
  const AuthenticatorChainOptions options_;
};

// Static bearer tokens, in Kubernetes' `--token-auth-file` CSV format, one
// user per line:
//
//   token,user,uid,"group1,group2"
//
// The groups column is optional (quote it when it lists several groups);
// further columns are ignored. Fields may be double-quoted ("" inside quotes
// is a quote); leading spaces of a field are dropped; blank lines are
// skipped. A line with fewer than three columns, an empty token or user
// name, or an unterminated quote is a load error naming the line; so is a
// token that appears twice.
//
// Tokens are kept only as SHA-256 digests, and a presented token is compared
// with every entry in constant time, so timing reveals neither how much of a
// token matched nor which entry. A token that is not in the file gets
// kNoOpinion. Name() is "tokenfile". Thread-safe.
class KORCH_EXPORT TokenFileAuthenticator final : public Authenticator {
 public:
  // Reads the file at `path`: kNotFound when it cannot be read,
  // kInvalidArgument ("<path>:<line>: ...") when it is malformed.
  static absl::StatusOr<std::unique_ptr<Authenticator>> Load(absl::string_view path);
  // Parses `text` in the same format; errors say "line <n>: ...".
  static absl::StatusOr<std::unique_ptr<Authenticator>> FromString(absl::string_view text);

  ~TokenFileAuthenticator() override;
  absl::string_view Name() const override;
  AuthnResult Authenticate(const AuthnRequest& request) const override;

 private:
  struct Impl;
  explicit TokenFileAuthenticator(std::unique_ptr<const Impl> impl);
  std::unique_ptr<const Impl> impl_;
};

// Options of an X509Authenticator.
struct X509AuthenticatorOptions {
  // Also check the certificate's validity period against `clock` (the
  // transport normally did, against the system time). Requires `clock`.
  bool check_validity = true;
  // The source of "now" for check_validity.
  std::shared_ptr<Clock> clock = RealClock();
};

// Client certificates that the transport verified against the client CA.
// user = the subject's common name (CN), groups = every organization (O) of
// the subject, in order. A request without a certificate gets kNoOpinion; a
// certificate that does not parse, has no CN, or (with check_validity) is
// outside its validity period is rejected. Name() is "x509". Thread-safe.
class KORCH_EXPORT X509Authenticator final : public Authenticator {
 public:
  // kInvalidArgument when check_validity is set without a clock.
  static absl::StatusOr<std::unique_ptr<Authenticator>> Create(
      X509AuthenticatorOptions options = {});

  absl::string_view Name() const override;
  AuthnResult Authenticate(const AuthnRequest& request) const override;

 private:
  explicit X509Authenticator(X509AuthenticatorOptions options);
  const X509AuthenticatorOptions options_;
};

// Options of an OidcAuthenticator (Kubernetes' `--oidc-*` flags).
struct OidcOptions {
  // The issuer URL; must use https. Tokens whose `iss` claim differs are
  // not this authenticator's (kNoOpinion).
  std::string issuer_url;
  // The client ID: the `aud` claim must contain it.
  std::string client_id;
  // The issuer's signing keys as a JWKS ({"keys": [...]}): RSA keys (n, e)
  // and EC P-256 keys (x, y), base64url. Set exactly one of the two: a file
  // to read at Create(), or the JSON text itself. Keys of other types are
  // skipped; keys with "use" other than "sig" are skipped.
  std::string jwks_path;
  std::string jwks_json;
  // The claim that holds the user name.
  std::string username_claim = "sub";
  // Prepended to the user name. When unset, Kubernetes' rule applies: the
  // user name is prefixed with "<issuer_url>#" unless username_claim is
  // "email". Set it to "" for no prefix.
  std::optional<std::string> username_prefix;
  // The claim that holds the groups (a string or an array of strings); empty
  // for none.
  std::string groups_claim;
  // Prepended to every group.
  std::string groups_prefix;
  // Allowed clock difference with the issuer for `nbf` and `iat`. `exp` is
  // checked strictly.
  absl::Duration max_clock_skew = absl::Minutes(1);
  // The source of "now".
  std::shared_ptr<Clock> clock = RealClock();
};

// OpenID Connect ID tokens: compact JWS (header.payload.signature) signed
// with RS256 or ES256 by a key of the JWKS, selected by the header's `kid`
// (every key of the right type is tried when the token has no kid).
//
// A bearer token that is not a JWT, or a JWT whose `iss` is another issuer,
// gets kNoOpinion. A JWT of this issuer is rejected with a reason when any
// check fails: algorithm other than RS256/ES256 (so "none" and HS256 are
// refused), unknown kid, bad signature, `aud` without client_id, expired
// (`exp` <= now), not yet valid (`nbf`), issued in the future (`iat`), a
// missing or non-string username claim, a malformed groups claim, or
// `email_verified: false` when the username claim is "email".
// Name() is "oidc:<issuer_url>". Thread-safe.
class KORCH_EXPORT OidcAuthenticator final : public Authenticator {
 public:
  // kInvalidArgument for bad options or a malformed JWKS, kNotFound when
  // jwks_path cannot be read.
  static absl::StatusOr<std::unique_ptr<Authenticator>> Create(const OidcOptions& options);

  ~OidcAuthenticator() override;
  absl::string_view Name() const override;
  AuthnResult Authenticate(const AuthnRequest& request) const override;

 private:
  struct Impl;
  explicit OidcAuthenticator(std::unique_ptr<const Impl> impl);
  std::unique_ptr<const Impl> impl_;
};

// kAnonymousUser in kAllUnauthenticatedGroup for every request that carries
// no bearer token; kNoOpinion for the others (a presented token must be
// recognized by someone). Put it last in a chain, or use
// AuthenticatorChainOptions::allow_anonymous, which does the same.
// Name() is "anonymous". Thread-safe.
class KORCH_EXPORT AnonymousAuthenticator final : public Authenticator {
 public:
  static std::unique_ptr<Authenticator> Create();

  absl::string_view Name() const override;
  AuthnResult Authenticate(const AuthnRequest& request) const override;

  // The anonymous user.
  static UserInfo User();
};

}  // namespace korch::apiserver

#endif  // KORCH_APISERVER_AUTHN_H_
