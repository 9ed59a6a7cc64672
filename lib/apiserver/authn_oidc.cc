// OpenID Connect ID token authentication: compact JWS verification (RS256,
// ES256) against a static JWKS, then the issuer, audience and time claims.
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>

#include <cmath>
#include <fstream>
#include <sstream>
#include <utility>

#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/time.h"
#include "korch/apiserver/authn.h"
#include "korch/base/status.h"
#include "nlohmann/json.hpp"

namespace korch::apiserver {
namespace {

using nlohmann::json;

struct PkeyDeleter {
  void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};
using PkeyPtr = std::unique_ptr<EVP_PKEY, PkeyDeleter>;

struct BnDeleter {
  void operator()(BIGNUM* b) const { BN_free(b); }
};
using BnPtr = std::unique_ptr<BIGNUM, BnDeleter>;

enum class KeyType { kRsa, kEcP256 };

struct Jwk {
  std::string kid;
  KeyType type;
  std::string alg;  // the JWK's "alg", empty when absent
  PkeyPtr key;
};

// Strict base64url without padding (RFC 7515 section 2).
bool Base64UrlDecode(absl::string_view in, std::string* out) {
  for (char c : in) {
    if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '_') return false;
  }
  if (in.size() % 4 == 1) return false;
  return absl::WebSafeBase64Unescape(in, out);
}

// Parses `text` as a JSON object; nullopt when it is not one.
std::optional<json> ParseObject(absl::string_view text) {
  json j = json::parse(text.begin(), text.end(), nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) return std::nullopt;
  return j;
}

// The string member `name` of `obj`, or nullptr when absent or not a string.
const std::string* StringMember(const json& obj, const char* name) {
  auto it = obj.find(name);
  if (it == obj.end() || !it->is_string()) return nullptr;
  return it->get_ptr<const std::string*>();
}

absl::StatusOr<BnPtr> DecodeBignum(const json& jwk, const char* field, absl::string_view kid) {
  const std::string* s = StringMember(jwk, field);
  std::string raw;
  if (s == nullptr || s->empty() || !Base64UrlDecode(*s, &raw)) {
    return absl::InvalidArgumentError(
        absl::StrCat("JWKS key \"", kid, "\": \"", field, "\" must be a base64url string"));
  }
  BnPtr bn(BN_bin2bn(reinterpret_cast<const unsigned char*>(raw.data()),
                     static_cast<int>(raw.size()), nullptr));
  if (bn == nullptr) return absl::InternalError("BN_bin2bn failed");
  return bn;
}

absl::StatusOr<PkeyPtr> PkeyFromParams(const char* type, OSSL_PARAM_BLD* bld,
                                       absl::string_view kid) {
  OSSL_PARAM* params = OSSL_PARAM_BLD_to_param(bld);
  if (params == nullptr) return absl::InternalError("OSSL_PARAM_BLD_to_param failed");
  EVP_PKEY_CTX* ctx = EVP_PKEY_CTX_new_from_name(nullptr, type, nullptr);
  EVP_PKEY* pkey = nullptr;
  bool ok = ctx != nullptr && EVP_PKEY_fromdata_init(ctx) == 1 &&
            EVP_PKEY_fromdata(ctx, &pkey, EVP_PKEY_PUBLIC_KEY, params) == 1;
  EVP_PKEY_CTX_free(ctx);
  OSSL_PARAM_free(params);
  if (!ok || pkey == nullptr) {
    EVP_PKEY_free(pkey);
    return absl::InvalidArgumentError(
        absl::StrCat("JWKS key \"", kid, "\": not a valid ", type, " public key"));
  }
  return PkeyPtr(pkey);
}

absl::StatusOr<PkeyPtr> RsaKey(const json& jwk, absl::string_view kid) {
  KORCH_ASSIGN_OR_RETURN(BnPtr n, DecodeBignum(jwk, "n", kid));
  KORCH_ASSIGN_OR_RETURN(BnPtr e, DecodeBignum(jwk, "e", kid));
  if (BN_num_bits(n.get()) < 2048) {
    return absl::InvalidArgumentError(
        absl::StrCat("JWKS key \"", kid, "\": RSA keys must have at least 2048 bits"));
  }
  OSSL_PARAM_BLD* bld = OSSL_PARAM_BLD_new();
  if (bld == nullptr) return absl::InternalError("OSSL_PARAM_BLD_new failed");
  bool ok = OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, n.get()) == 1 &&
            OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, e.get()) == 1;
  absl::StatusOr<PkeyPtr> key =
      ok ? PkeyFromParams("RSA", bld, kid) : absl::InternalError("OSSL_PARAM_BLD_push_BN failed");
  OSSL_PARAM_BLD_free(bld);
  return key;
}

absl::StatusOr<PkeyPtr> EcP256Key(const json& jwk, absl::string_view kid) {
  std::string point = "\x04";
  for (const char* field : {"x", "y"}) {
    const std::string* s = StringMember(jwk, field);
    std::string raw;
    if (s == nullptr || !Base64UrlDecode(*s, &raw) || raw.size() != 32) {
      return absl::InvalidArgumentError(absl::StrCat("JWKS key \"", kid, "\": \"", field,
                                                     "\" must be 32 bytes of base64url (P-256)"));
    }
    point += raw;
  }
  OSSL_PARAM_BLD* bld = OSSL_PARAM_BLD_new();
  if (bld == nullptr) return absl::InternalError("OSSL_PARAM_BLD_new failed");
  bool ok =
      OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME, "prime256v1", 0) == 1 &&
      OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, point.data(), point.size()) ==
          1;
  absl::StatusOr<PkeyPtr> key =
      ok ? PkeyFromParams("EC", bld, kid) : absl::InternalError("OSSL_PARAM_BLD_push failed");
  OSSL_PARAM_BLD_free(bld);
  if (!key.ok()) return key;
  // EVP_PKEY_fromdata does not check that the point is on the curve.
  EVP_PKEY_CTX* ctx = EVP_PKEY_CTX_new_from_pkey(nullptr, key->get(), nullptr);
  bool valid = ctx != nullptr && EVP_PKEY_public_check(ctx) == 1;
  EVP_PKEY_CTX_free(ctx);
  if (!valid) {
    return absl::InvalidArgumentError(
        absl::StrCat("JWKS key \"", kid, "\": the point is not on the P-256 curve"));
  }
  return key;
}

absl::StatusOr<std::vector<Jwk>> ParseJwks(absl::string_view text) {
  std::optional<json> doc = ParseObject(text);
  if (!doc.has_value()) return absl::InvalidArgumentError("JWKS: not a JSON object");
  auto keys = doc->find("keys");
  if (keys == doc->end() || !keys->is_array()) {
    return absl::InvalidArgumentError("JWKS: missing \"keys\" array");
  }
  std::vector<Jwk> out;
  absl::flat_hash_set<std::string> kids;
  for (size_t i = 0; i < keys->size(); ++i) {
    const json& k = (*keys)[i];
    if (!k.is_object()) {
      return absl::InvalidArgumentError(absl::StrCat("JWKS: keys[", i, "] is not an object"));
    }
    const std::string* kty = StringMember(k, "kty");
    if (kty == nullptr) {
      return absl::InvalidArgumentError(absl::StrCat("JWKS: keys[", i, "] has no \"kty\""));
    }
    const std::string* use = StringMember(k, "use");
    if (use != nullptr && *use != "sig") continue;
    const std::string* kid_p = StringMember(k, "kid");
    std::string kid = kid_p != nullptr ? *kid_p : "";
    std::string label = kid.empty() ? absl::StrCat("keys[", i, "]") : kid;
    const std::string* alg = StringMember(k, "alg");
    Jwk jwk;
    jwk.kid = kid;
    jwk.alg = alg != nullptr ? *alg : "";
    if (*kty == "RSA") {
      jwk.type = KeyType::kRsa;
      KORCH_ASSIGN_OR_RETURN(jwk.key, RsaKey(k, label));
    } else if (*kty == "EC") {
      const std::string* crv = StringMember(k, "crv");
      if (crv == nullptr || *crv != "P-256") continue;  // other curves: not supported
      jwk.type = KeyType::kEcP256;
      KORCH_ASSIGN_OR_RETURN(jwk.key, EcP256Key(k, label));
    } else {
      continue;  // "oct", "OKP", ...: not supported
    }
    if (!kid.empty() && !kids.insert(kid).second) {
      return absl::InvalidArgumentError(absl::StrCat("JWKS: duplicate kid \"", kid, "\""));
    }
    out.push_back(std::move(jwk));
  }
  if (out.empty()) {
    return absl::InvalidArgumentError(
        "JWKS: no usable signing key (RSA, or EC on P-256, with \"use\" absent or \"sig\")");
  }
  return out;
}

// Verifies `sig` over `input` with SHA-256. For EC keys, `sig` is JWS's raw
// r||s (RFC 7518 section 3.4) and is converted to the DER ECDSA-Sig-Value
// that EVP expects.
bool VerifySha256(const Jwk& jwk, absl::string_view input, absl::string_view sig) {
  std::string der;
  if (jwk.type == KeyType::kEcP256) {
    if (sig.size() != 64) return false;
    ECDSA_SIG* es = ECDSA_SIG_new();
    if (es == nullptr) return false;
    BIGNUM* r = BN_bin2bn(reinterpret_cast<const unsigned char*>(sig.data()), 32, nullptr);
    BIGNUM* s = BN_bin2bn(reinterpret_cast<const unsigned char*>(sig.data()) + 32, 32, nullptr);
    if (r == nullptr || s == nullptr || ECDSA_SIG_set0(es, r, s) != 1) {
      BN_free(r);
      BN_free(s);
      ECDSA_SIG_free(es);
      return false;
    }
    unsigned char* buf = nullptr;
    int len = i2d_ECDSA_SIG(es, &buf);
    ECDSA_SIG_free(es);
    if (len <= 0) return false;
    der.assign(reinterpret_cast<const char*>(buf), static_cast<size_t>(len));
    OPENSSL_free(buf);
    sig = der;
  }
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  if (ctx == nullptr) return false;
  bool ok =
      EVP_DigestVerifyInit(ctx, nullptr, EVP_sha256(), nullptr, jwk.key.get()) == 1 &&
      EVP_DigestVerify(ctx, reinterpret_cast<const unsigned char*>(sig.data()), sig.size(),
                       reinterpret_cast<const unsigned char*>(input.data()), input.size()) == 1;
  EVP_MD_CTX_free(ctx);
  return ok;
}

// A NumericDate claim (RFC 7519 section 2): nullopt when absent; an error
// when present but not a finite number.
absl::StatusOr<std::optional<absl::Time>> TimeClaim(const json& claims, const char* name) {
  auto it = claims.find(name);
  if (it == claims.end()) return std::optional<absl::Time>();
  if (!it->is_number()) {
    return absl::InvalidArgumentError(absl::StrCat("claim \"", name, "\" is not a number"));
  }
  double v = it->get<double>();
  if (!std::isfinite(v) || std::fabs(v) > 1e12) {
    return absl::InvalidArgumentError(absl::StrCat("claim \"", name, "\" is out of range"));
  }
  return std::optional<absl::Time>(absl::FromUnixMicros(static_cast<int64_t>(v * 1e6)));
}

std::string Rfc3339(absl::Time t) {
  return absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", t, absl::UTCTimeZone());
}

}  // namespace

struct OidcAuthenticator::Impl {
  OidcOptions options;
  std::string name;
  std::string username_prefix;
  std::vector<Jwk> keys;
};

OidcAuthenticator::OidcAuthenticator(std::unique_ptr<const Impl> impl) : impl_(std::move(impl)) {}
OidcAuthenticator::~OidcAuthenticator() = default;

absl::string_view OidcAuthenticator::Name() const { return impl_->name; }

absl::StatusOr<std::unique_ptr<Authenticator>> OidcAuthenticator::Create(
    const OidcOptions& options) {
  if (!absl::StartsWith(options.issuer_url, "https://")) {
    return absl::InvalidArgumentError(
        "OidcOptions.issuer_url: must be an https:// URL (it must equal the tokens' \"iss\")");
  }
  if (options.client_id.empty()) {
    return absl::InvalidArgumentError("OidcOptions.client_id: required");
  }
  if (options.username_claim.empty()) {
    return absl::InvalidArgumentError("OidcOptions.username_claim: required");
  }
  if (options.clock == nullptr) return absl::InvalidArgumentError("OidcOptions.clock: required");
  if (options.max_clock_skew < absl::ZeroDuration()) {
    return absl::InvalidArgumentError("OidcOptions.max_clock_skew: must not be negative");
  }
  if (options.jwks_path.empty() == options.jwks_json.empty()) {
    return absl::InvalidArgumentError("OidcOptions: set exactly one of jwks_path and jwks_json");
  }
  std::string jwks_text = options.jwks_json;
  if (!options.jwks_path.empty()) {
    std::ifstream in(options.jwks_path, std::ios::binary);
    if (!in) return absl::NotFoundError(absl::StrCat("cannot read JWKS file ", options.jwks_path));
    std::stringstream ss;
    ss << in.rdbuf();
    jwks_text = ss.str();
  }
  auto keys = ParseJwks(jwks_text);
  if (!keys.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat(options.jwks_path.empty() ? "OidcOptions.jwks_json" : options.jwks_path, ": ",
                     keys.status().message()));
  }
  auto impl = std::make_unique<Impl>();
  impl->options = options;
  impl->name = absl::StrCat("oidc:", options.issuer_url);
  if (options.username_prefix.has_value()) {
    impl->username_prefix = *options.username_prefix;
  } else if (options.username_claim != "email") {
    impl->username_prefix = absl::StrCat(options.issuer_url, "#");
  }
  impl->keys = *std::move(keys);
  return std::unique_ptr<Authenticator>(new OidcAuthenticator(std::move(impl)));
}

AuthnResult OidcAuthenticator::Authenticate(const AuthnRequest& request) const {
  if (!request.bearer_token.has_value()) return AuthnResult::NoOpinion();
  const OidcOptions& opts = impl_->options;
  absl::string_view token = *request.bearer_token;

  // Is it a JWT at all, and is it for our issuer? Both are decided before
  // the signature is checked, only to route the token; nothing unverified is
  // trusted beyond that.
  std::vector<absl::string_view> parts = absl::StrSplit(token, '.');
  if (parts.size() != 3) return AuthnResult::NoOpinion();
  std::string header_text, payload_text, signature;
  if (!Base64UrlDecode(parts[0], &header_text) || !Base64UrlDecode(parts[1], &payload_text)) {
    return AuthnResult::NoOpinion();
  }
  std::optional<json> header = ParseObject(header_text);
  std::optional<json> claims = ParseObject(payload_text);
  if (!header.has_value() || !claims.has_value()) return AuthnResult::NoOpinion();
  const std::string* iss = StringMember(*claims, "iss");
  if (iss == nullptr || *iss != opts.issuer_url) return AuthnResult::NoOpinion();

  // From here on the token claims to be ours: every failure is a rejection.
  if (!Base64UrlDecode(parts[2], &signature)) {
    return AuthnResult::Rejected("the token's signature is not base64url");
  }
  const std::string* alg = StringMember(*header, "alg");
  if (alg == nullptr) return AuthnResult::Rejected("the token header has no \"alg\"");
  KeyType want;
  if (*alg == "RS256") {
    want = KeyType::kRsa;
  } else if (*alg == "ES256") {
    want = KeyType::kEcP256;
  } else {
    return AuthnResult::Rejected(
        absl::StrCat("unsupported signing algorithm \"", *alg, "\" (only RS256 and ES256)"));
  }
  if (header->contains("crit")) {
    return AuthnResult::Rejected("the token header has critical extensions (\"crit\")");
  }
  const std::string* kid = StringMember(*header, "kid");
  const absl::string_view signing_input(token.data(), parts[0].size() + 1 + parts[1].size());
  bool key_found = false;
  bool verified = false;
  for (const Jwk& jwk : impl_->keys) {
    if (kid != nullptr && jwk.kid != *kid) continue;
    if (jwk.type != want || (!jwk.alg.empty() && jwk.alg != *alg)) continue;
    key_found = true;
    if (VerifySha256(jwk, signing_input, signature)) {
      verified = true;
      break;
    }
  }
  if (!key_found) {
    return AuthnResult::Rejected(
        kid != nullptr ? absl::StrCat("unknown signing key id \"", *kid, "\" for ", *alg,
                                      "; the issuer may have rotated its keys (update the JWKS)")
                       : absl::StrCat("no ", *alg, " key in the JWKS"));
  }
  if (!verified) return AuthnResult::Rejected("bad signature");

  // Audience.
  bool aud_ok = false;
  if (auto it = claims->find("aud"); it != claims->end()) {
    if (it->is_string()) {
      aud_ok = it->get_ref<const std::string&>() == opts.client_id;
    } else if (it->is_array()) {
      for (const json& a : *it) {
        if (a.is_string() && a.get_ref<const std::string&>() == opts.client_id) aud_ok = true;
      }
    }
  }
  if (!aud_ok) {
    return AuthnResult::Rejected(absl::StrCat(
        "the token's audience (\"aud\") does not contain the client ID \"", opts.client_id, "\""));
  }

  // Time.
  const absl::Time now = opts.clock->Now();
  auto exp = TimeClaim(*claims, "exp");
  auto nbf = TimeClaim(*claims, "nbf");
  auto iat = TimeClaim(*claims, "iat");
  for (const auto* c : {&exp, &nbf, &iat}) {
    if (!c->ok()) return AuthnResult::Rejected(std::string(c->status().message()));
  }
  if (!exp->has_value()) return AuthnResult::Rejected("the token has no expiry (\"exp\")");
  if (now >= **exp) {
    return AuthnResult::Rejected(absl::StrCat("token expired at ", Rfc3339(**exp), " (now ",
                                              Rfc3339(now), "); get a new one"));
  }
  if (nbf->has_value() && now + opts.max_clock_skew < **nbf) {
    return AuthnResult::Rejected(
        absl::StrCat("token not valid before ", Rfc3339(**nbf), " (now ", Rfc3339(now), ")"));
  }
  if (iat->has_value() && now + opts.max_clock_skew < **iat) {
    return AuthnResult::Rejected(
        absl::StrCat("token issued in the future (", Rfc3339(**iat), ", now ", Rfc3339(now), ")"));
  }

  // Identity.
  const std::string* username = StringMember(*claims, opts.username_claim.c_str());
  if (username == nullptr || username->empty()) {
    return AuthnResult::Rejected(
        absl::StrCat("the token has no string claim \"", opts.username_claim, "\" (user name)"));
  }
  if (opts.username_claim == "email") {
    if (auto it = claims->find("email_verified"); it != claims->end()) {
      if (!it->is_boolean() || !it->get<bool>()) {
        return AuthnResult::Rejected("the token's email is not verified (\"email_verified\")");
      }
    }
  }
  UserInfo user;
  user.name = absl::StrCat(impl_->username_prefix, *username);
  if (!opts.groups_claim.empty()) {
    if (auto it = claims->find(opts.groups_claim); it != claims->end()) {
      if (it->is_string()) {
        user.groups.push_back(absl::StrCat(opts.groups_prefix, it->get_ref<const std::string&>()));
      } else if (it->is_array()) {
        for (const json& g : *it) {
          if (!g.is_string()) {
            return AuthnResult::Rejected(absl::StrCat("the token's claim \"", opts.groups_claim,
                                                      "\" must hold strings (groups)"));
          }
          user.groups.push_back(absl::StrCat(opts.groups_prefix, g.get_ref<const std::string&>()));
        }
      } else {
        return AuthnResult::Rejected(absl::StrCat("the token's claim \"", opts.groups_claim,
                                                  "\" must be a string or an array of strings"));
      }
    }
  }
  return AuthnResult::Authenticated(std::move(user));
}

}  // namespace korch::apiserver
