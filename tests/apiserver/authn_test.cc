#include "korch/apiserver/authn.h"

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "korch/base/clock.h"
#include "nlohmann/json.hpp"

namespace korch::apiserver {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using Decision = AuthnResult::Decision;
using nlohmann::json;

AuthnRequest Bearer(std::string token) {
  AuthnRequest r;
  r.bearer_token = std::move(token);
  return r;
}

AuthnRequest Cert(std::string der) {
  AuthnRequest r;
  r.client_cert_der = std::move(der);
  return r;
}

// ---------------------------------------------------------------------------
// Test-only OpenSSL helpers: keys, a JWT signer, a certificate maker.

struct PkeyDeleter {
  void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};
using PkeyPtr = std::unique_ptr<EVP_PKEY, PkeyDeleter>;

std::string B64Url(absl::string_view s) { return absl::WebSafeBase64Escape(s); }

std::string BnBytes(const BIGNUM* bn, int pad = 0) {
  std::string out(pad > 0 ? pad : BN_num_bytes(bn), '\0');
  if (pad > 0) {
    BN_bn2binpad(bn, reinterpret_cast<unsigned char*>(out.data()), pad);
  } else {
    BN_bn2bin(bn, reinterpret_cast<unsigned char*>(out.data()));
  }
  return out;
}

std::string BnParam(EVP_PKEY* key, const char* name, int pad = 0) {
  BIGNUM* bn = nullptr;
  EXPECT_EQ(EVP_PKEY_get_bn_param(key, name, &bn), 1) << name;
  std::string out = BnBytes(bn, pad);
  BN_free(bn);
  return out;
}

struct TestKeys {
  PkeyPtr rsa;
  PkeyPtr ec;
  PkeyPtr other_rsa;  // not in the JWKS
};

// RSA-2048 key generation is slow; make the keys once.
const TestKeys& Keys() {
  static const TestKeys* keys = [] {
    auto* k = new TestKeys;
    k->rsa.reset(EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", size_t{2048}));
    k->ec.reset(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256"));
    k->other_rsa.reset(EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", size_t{2048}));
    return k;
  }();
  return *keys;
}

json RsaJwk(EVP_PKEY* key, const std::string& kid) {
  return {{"kty", "RSA"},
          {"kid", kid},
          {"use", "sig"},
          {"alg", "RS256"},
          {"n", B64Url(BnParam(key, OSSL_PKEY_PARAM_RSA_N))},
          {"e", B64Url(BnParam(key, OSSL_PKEY_PARAM_RSA_E))}};
}

json EcJwk(EVP_PKEY* key, const std::string& kid) {
  return {{"kty", "EC"},
          {"kid", kid},
          {"crv", "P-256"},
          {"x", B64Url(BnParam(key, OSSL_PKEY_PARAM_EC_PUB_X, 32))},
          {"y", B64Url(BnParam(key, OSSL_PKEY_PARAM_EC_PUB_Y, 32))}};
}

std::string TestJwks() {
  json jwks = {{"keys",
                {RsaJwk(Keys().rsa.get(), "rsa1"),
                 EcJwk(Keys().ec.get(), "ec1"),
                 // Unsupported key types are skipped.
                 {{"kty", "oct"}, {"kid", "hmac"}, {"k", "c2VjcmV0"}}}}};
  return jwks.dump();
}

std::string Sha256Sign(EVP_PKEY* key, absl::string_view input) {
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  size_t len = 0;
  EXPECT_EQ(EVP_DigestSignInit(ctx, nullptr, EVP_sha256(), nullptr, key), 1);
  EXPECT_EQ(EVP_DigestSign(ctx, nullptr, &len, reinterpret_cast<const unsigned char*>(input.data()),
                           input.size()),
            1);
  std::string sig(len, '\0');
  EXPECT_EQ(EVP_DigestSign(ctx, reinterpret_cast<unsigned char*>(sig.data()), &len,
                           reinterpret_cast<const unsigned char*>(input.data()), input.size()),
            1);
  sig.resize(len);
  EVP_MD_CTX_free(ctx);
  return sig;
}

// DER ECDSA-Sig-Value -> JWS's raw r||s.
std::string DerToRawEcdsa(const std::string& der) {
  const unsigned char* p = reinterpret_cast<const unsigned char*>(der.data());
  ECDSA_SIG* sig = d2i_ECDSA_SIG(nullptr, &p, static_cast<long>(der.size()));
  EXPECT_NE(sig, nullptr);
  const BIGNUM* r = nullptr;
  const BIGNUM* s = nullptr;
  ECDSA_SIG_get0(sig, &r, &s);
  std::string out = BnBytes(r, 32) + BnBytes(s, 32);
  ECDSA_SIG_free(sig);
  return out;
}

// Signs `claims` as a compact JWS. alg: RS256, ES256, HS256 (with
// `hmac_secret`) or none.
std::string SignJwt(const json& header, const json& claims, EVP_PKEY* key,
                    const std::string& hmac_secret = "") {
  std::string input = B64Url(header.dump()) + "." + B64Url(claims.dump());
  const std::string alg = header.value("alg", "");
  std::string sig;
  if (alg == "RS256") {
    sig = Sha256Sign(key, input);
  } else if (alg == "ES256") {
    sig = DerToRawEcdsa(Sha256Sign(key, input));
  } else if (alg == "HS256") {
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int mac_len = 0;
    HMAC(EVP_sha256(), hmac_secret.data(), static_cast<int>(hmac_secret.size()),
         reinterpret_cast<const unsigned char*>(input.data()), input.size(), mac, &mac_len);
    sig.assign(reinterpret_cast<const char*>(mac), mac_len);
  }
  return input + "." + B64Url(sig);
}

std::string PublicKeyPem(EVP_PKEY* key) {
  BIO* bio = BIO_new(BIO_s_mem());
  PEM_write_bio_PUBKEY(bio, key);
  char* data = nullptr;
  long len = BIO_get_mem_data(bio, &data);
  std::string pem(data, static_cast<size_t>(len));
  BIO_free(bio);
  return pem;
}

// A self-signed certificate, DER-encoded. `cn` empty: no CN entry.
std::string MakeCertDer(const std::string& cn, const std::vector<std::string>& orgs,
                        absl::Time not_before, absl::Time not_after) {
  X509* x = X509_new();
  X509_set_version(x, 2);
  ASN1_INTEGER_set(X509_get_serialNumber(x), 42);
  ASN1_TIME_set(X509_getm_notBefore(x), absl::ToTimeT(not_before));
  ASN1_TIME_set(X509_getm_notAfter(x), absl::ToTimeT(not_after));
  X509_NAME* name = X509_get_subject_name(x);
  for (const auto& o : orgs) {
    X509_NAME_add_entry_by_txt(name, "O", MBSTRING_UTF8,
                               reinterpret_cast<const unsigned char*>(o.c_str()), -1, -1, 0);
  }
  if (!cn.empty()) {
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8,
                               reinterpret_cast<const unsigned char*>(cn.c_str()), -1, -1, 0);
  }
  X509_set_issuer_name(x, name);
  X509_set_pubkey(x, Keys().ec.get());
  EXPECT_GT(X509_sign(x, Keys().ec.get(), EVP_sha256()), 0);
  unsigned char* der = nullptr;
  int len = i2d_X509(x, &der);
  std::string out(reinterpret_cast<const char*>(der), static_cast<size_t>(len));
  OPENSSL_free(der);
  X509_free(x);
  return out;
}

// ---------------------------------------------------------------------------
// Static token file

TEST(TokenFileTest, ParsesUsersUidsAndQuotedGroups) {
  auto authn = TokenFileAuthenticator::FromString(
      "\n"
      "tok-alice,alice,1001,\"admins, devs\"\r\n"
      "  tok-bob , bob,1002\n"
      "\n"
      "\"tok,carol\",carol,1003,ops,ignored-extra-column\n"
      "tok-dave,dave,,\"\"\n");
  ASSERT_TRUE(authn.ok()) << authn.status();
  EXPECT_EQ((*authn)->Name(), "tokenfile");

  AuthnResult alice = (*authn)->Authenticate(Bearer("tok-alice"));
  ASSERT_EQ(alice.decision, Decision::kAuthenticated);
  EXPECT_EQ(alice.user.name, "alice");
  EXPECT_EQ(alice.user.uid, "1001");
  EXPECT_THAT(alice.user.groups, ElementsAre("admins", "devs"));

  // Leading spaces of a field are dropped (Go's csv TrimLeadingSpace), trailing
  // ones are kept: the token is "tok-bob ".
  EXPECT_EQ((*authn)->Authenticate(Bearer("tok-bob")).decision, Decision::kNoOpinion);
  AuthnResult bob = (*authn)->Authenticate(Bearer("tok-bob "));
  ASSERT_EQ(bob.decision, Decision::kAuthenticated);
  EXPECT_EQ(bob.user.name, "bob");
  EXPECT_THAT(bob.user.groups, IsEmpty());

  AuthnResult carol = (*authn)->Authenticate(Bearer("tok,carol"));
  ASSERT_EQ(carol.decision, Decision::kAuthenticated);
  EXPECT_THAT(carol.user.groups, ElementsAre("ops"));

  AuthnResult dave = (*authn)->Authenticate(Bearer("tok-dave"));
  ASSERT_EQ(dave.decision, Decision::kAuthenticated);
  EXPECT_EQ(dave.user.uid, "");
  EXPECT_THAT(dave.user.groups, IsEmpty());
}

TEST(TokenFileTest, UnknownPrefixAndMissingTokensHaveNoOpinion) {
  auto authn = TokenFileAuthenticator::FromString("s3cret-token-value,alice,1\n");
  ASSERT_TRUE(authn.ok()) << authn.status();
  EXPECT_EQ((*authn)->Authenticate(Bearer("s3cret-token-value")).decision,
            Decision::kAuthenticated);
  // A token sharing a prefix, or extending the real one, does not match.
  for (const char* t :
       {"s3cret-token-valu", "s3cret", "", "s3cret-token-value2", "S3cret-token-value"}) {
    EXPECT_EQ((*authn)->Authenticate(Bearer(t)).decision, Decision::kNoOpinion) << t;
  }
  EXPECT_EQ((*authn)->Authenticate(AuthnRequest{}).decision, Decision::kNoOpinion);
  EXPECT_EQ((*authn)->Authenticate(Cert("x")).decision, Decision::kNoOpinion);
}

TEST(TokenFileTest, MalformedLinesAreErrorsNamingTheLine) {
  struct Case {
    const char* text;
    const char* want;
  };
  for (const Case& c : {
           Case{"a,alice,1\nb,bob\n", "line 2: expected at least 3 columns"},
           Case{"a,alice,1\n\n\nonlytoken\n", "line 4: expected at least 3 columns"},
           Case{",alice,1\n", "line 1: the token is empty"},
           Case{"a,,1\n", "line 1: the user name is empty"},
           Case{"a,alice,1,\"g1,g2\n", "line 1: unterminated quoted field"},
           Case{"a,alice,1,\"g1\"x\n", "line 1: unexpected character after a closing quote"},
           Case{"a,ali\"ce,1\n", "line 1: a quote inside an unquoted field"},
           Case{"a,alice,1\nb,bob,2\na,mallory,3\n",
                "line 3: duplicate token (first defined on line 1)"},
       }) {
    auto authn = TokenFileAuthenticator::FromString(c.text);
    ASSERT_FALSE(authn.ok()) << c.text;
    EXPECT_EQ(authn.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(authn.status().message(), HasSubstr(c.want)) << c.text;
  }
}

TEST(TokenFileTest, LoadReadsAFileAndNamesItInErrors) {
  const std::string good = testing::TempDir() + "/authn_tokens_good.csv";
  const std::string bad = testing::TempDir() + "/authn_tokens_bad.csv";
  std::ofstream(good) << "tok1,alice,1,\"a,b\"\n";
  std::ofstream(bad) << "tok1,alice,1\ntok2\n";

  auto authn = TokenFileAuthenticator::Load(good);
  ASSERT_TRUE(authn.ok()) << authn.status();
  EXPECT_EQ((*authn)->Authenticate(Bearer("tok1")).user.name, "alice");

  auto err = TokenFileAuthenticator::Load(bad);
  ASSERT_FALSE(err.ok());
  EXPECT_THAT(err.status().message(), HasSubstr(bad));
  EXPECT_THAT(err.status().message(), HasSubstr("line 2"));

  auto missing = TokenFileAuthenticator::Load(testing::TempDir() + "/no-such-token-file.csv");
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
}

// ---------------------------------------------------------------------------
// X.509 client certificates

class X509Test : public testing::Test {
 protected:
  std::shared_ptr<FakeClock> clock_ = std::make_shared<FakeClock>();
  absl::Time now_ = clock_->Now();
};

TEST_F(X509Test, CommonNameIsTheUserAndOrganizationsAreGroups) {
  auto authn = X509Authenticator::Create({.check_validity = true, .clock = clock_});
  ASSERT_TRUE(authn.ok()) << authn.status();
  EXPECT_EQ((*authn)->Name(), "x509");
  std::string der = MakeCertDer("jane", {"system:masters", "dev-team"}, now_ - absl::Hours(1),
                                now_ + absl::Hours(24));
  AuthnResult r = (*authn)->Authenticate(Cert(der));
  ASSERT_EQ(r.decision, Decision::kAuthenticated) << r.reason;
  EXPECT_EQ(r.user.name, "jane");
  EXPECT_THAT(r.user.groups, ElementsAre("system:masters", "dev-team"));
}

TEST_F(X509Test, RefusesCertificatesWithoutCnOrOutsideTheirValidity) {
  auto authn = X509Authenticator::Create({.check_validity = true, .clock = clock_});
  ASSERT_TRUE(authn.ok()) << authn.status();

  AuthnResult no_cn = (*authn)->Authenticate(
      Cert(MakeCertDer("", {"org"}, now_ - absl::Hours(1), now_ + absl::Hours(1))));
  EXPECT_EQ(no_cn.decision, Decision::kRejected);
  EXPECT_THAT(no_cn.reason, HasSubstr("no common name"));

  std::string expiring = MakeCertDer("jane", {}, now_ - absl::Hours(1), now_ + absl::Hours(1));
  EXPECT_EQ((*authn)->Authenticate(Cert(expiring)).decision, Decision::kAuthenticated);
  clock_->Advance(absl::Hours(2));
  AuthnResult expired = (*authn)->Authenticate(Cert(expiring));
  EXPECT_EQ(expired.decision, Decision::kRejected);
  EXPECT_THAT(expired.reason, HasSubstr("expired"));

  AuthnResult future = (*authn)->Authenticate(Cert(
      MakeCertDer("jane", {}, clock_->Now() + absl::Hours(1), clock_->Now() + absl::Hours(9))));
  EXPECT_EQ(future.decision, Decision::kRejected);
  EXPECT_THAT(future.reason, HasSubstr("not yet valid"));

  // Without the validity check the transport's verification is trusted.
  auto lenient = X509Authenticator::Create({.check_validity = false, .clock = nullptr});
  ASSERT_TRUE(lenient.ok());
  EXPECT_EQ((*lenient)->Authenticate(Cert(expiring)).decision, Decision::kAuthenticated);
}

TEST_F(X509Test, GarbageIsRejectedAndNoCertificateHasNoOpinion) {
  auto authn = X509Authenticator::Create({.check_validity = true, .clock = clock_});
  ASSERT_TRUE(authn.ok());
  EXPECT_EQ((*authn)->Authenticate(Cert("not a certificate")).decision, Decision::kRejected);
  std::string der = MakeCertDer("jane", {}, now_ - absl::Hours(1), now_ + absl::Hours(1));
  EXPECT_EQ((*authn)->Authenticate(Cert(der + "trailing")).decision, Decision::kRejected);
  EXPECT_EQ((*authn)->Authenticate(Bearer("tok")).decision, Decision::kNoOpinion);
  EXPECT_EQ(X509Authenticator::Create({.check_validity = true, .clock = nullptr}).status().code(),
            absl::StatusCode::kInvalidArgument);
}

// ---------------------------------------------------------------------------
// OIDC

constexpr char kIssuer[] = "https://issuer.example.com";
constexpr char kClientId[] = "korch";

class OidcTest : public testing::Test {
 protected:
  void SetUp() override {
    options_.issuer_url = kIssuer;
    options_.client_id = kClientId;
    options_.jwks_json = TestJwks();
    options_.groups_claim = "groups";
    options_.clock = clock_;
  }

  std::unique_ptr<Authenticator> Make() {
    auto authn = OidcAuthenticator::Create(options_);
    EXPECT_TRUE(authn.ok()) << authn.status();
    return authn.ok() ? *std::move(authn) : nullptr;
  }

  json Claims() {
    int64_t now = absl::ToUnixSeconds(clock_->Now());
    return {{"iss", kIssuer},         {"aud", kClientId},
            {"sub", "user-1234"},     {"email", "jane@example.com"},
            {"email_verified", true}, {"groups", {"dev", "ops"}},
            {"iat", now - 10},        {"exp", now + 3600}};
  }

  std::string Rs256(const json& claims, const std::string& kid = "rsa1") {
    return SignJwt({{"alg", "RS256"}, {"typ", "JWT"}, {"kid", kid}}, claims, Keys().rsa.get());
  }
  std::string Es256(const json& claims) {
    return SignJwt({{"alg", "ES256"}, {"kid", "ec1"}}, claims, Keys().ec.get());
  }

  std::shared_ptr<FakeClock> clock_ = std::make_shared<FakeClock>();
  OidcOptions options_;
};

TEST_F(OidcTest, ValidRs256TokenAuthenticatesWithIssuerPrefixedSubject) {
  auto authn = Make();
  EXPECT_EQ(authn->Name(), absl::StrCat("oidc:", kIssuer));
  AuthnResult r = authn->Authenticate(Bearer(Rs256(Claims())));
  ASSERT_EQ(r.decision, Decision::kAuthenticated) << r.reason;
  EXPECT_EQ(r.user.name, absl::StrCat(kIssuer, "#user-1234"));
  EXPECT_THAT(r.user.groups, ElementsAre("dev", "ops"));
}

TEST_F(OidcTest, ValidEs256TokenAuthenticates) {
  auto authn = Make();
  AuthnResult r = authn->Authenticate(Bearer(Es256(Claims())));
  ASSERT_EQ(r.decision, Decision::kAuthenticated) << r.reason;
  EXPECT_EQ(r.user.name, absl::StrCat(kIssuer, "#user-1234"));
}

TEST_F(OidcTest, AudienceMayBeAnArray) {
  json claims = Claims();
  claims["aud"] = {"other", kClientId};
  EXPECT_EQ(Make()->Authenticate(Bearer(Rs256(claims))).decision, Decision::kAuthenticated);
}

TEST_F(OidcTest, EmailClaimIsNotPrefixedAndPrefixOptionsApply) {
  options_.username_claim = "email";
  options_.groups_prefix = "oidc:";
  AuthnResult r = Make()->Authenticate(Bearer(Es256(Claims())));
  ASSERT_EQ(r.decision, Decision::kAuthenticated) << r.reason;
  EXPECT_EQ(r.user.name, "jane@example.com");
  EXPECT_THAT(r.user.groups, ElementsAre("oidc:dev", "oidc:ops"));

  json unverified = Claims();
  unverified["email_verified"] = false;
  AuthnResult u = Make()->Authenticate(Bearer(Es256(unverified)));
  EXPECT_EQ(u.decision, Decision::kRejected);
  EXPECT_THAT(u.reason, HasSubstr("not verified"));

  options_.username_claim = "sub";
  options_.username_prefix = "";
  EXPECT_EQ(Make()->Authenticate(Bearer(Es256(Claims()))).user.name, "user-1234");
  options_.username_prefix = "corp:";
  EXPECT_EQ(Make()->Authenticate(Bearer(Es256(Claims()))).user.name, "corp:user-1234");
}

TEST_F(OidcTest, ExpiredTokenIsRejected) {
  auto authn = Make();
  std::string token = Rs256(Claims());
  EXPECT_EQ(authn->Authenticate(Bearer(token)).decision, Decision::kAuthenticated);
  clock_->Advance(absl::Hours(1));  // now == exp
  AuthnResult r = authn->Authenticate(Bearer(token));
  EXPECT_EQ(r.decision, Decision::kRejected);
  EXPECT_THAT(r.reason, HasSubstr("token expired"));

  json no_exp = Claims();
  no_exp.erase("exp");
  EXPECT_THAT(authn->Authenticate(Bearer(Rs256(no_exp))).reason, HasSubstr("no expiry"));
}

TEST_F(OidcTest, NotBeforeAndIssuedAtAllowOnlySmallSkew) {
  auto authn = Make();
  int64_t now = absl::ToUnixSeconds(clock_->Now());
  json claims = Claims();
  claims["nbf"] = now + 30;  // within the one-minute skew
  claims["iat"] = now + 30;
  EXPECT_EQ(authn->Authenticate(Bearer(Rs256(claims))).decision, Decision::kAuthenticated);
  claims["nbf"] = now + 600;
  AuthnResult r = authn->Authenticate(Bearer(Rs256(claims)));
  EXPECT_EQ(r.decision, Decision::kRejected);
  EXPECT_THAT(r.reason, HasSubstr("not valid before"));
  claims.erase("nbf");
  claims["iat"] = now + 600;
  EXPECT_THAT(authn->Authenticate(Bearer(Rs256(claims))).reason, HasSubstr("issued in the future"));
}

TEST_F(OidcTest, WrongAudienceIsRejected) {
  json claims = Claims();
  claims["aud"] = "someone-else";
  AuthnResult r = Make()->Authenticate(Bearer(Rs256(claims)));
  EXPECT_EQ(r.decision, Decision::kRejected);
  EXPECT_THAT(r.reason, HasSubstr("audience"));
}

TEST_F(OidcTest, OtherIssuersAndNonJwtsHaveNoOpinion) {
  auto authn = Make();
  json claims = Claims();
  claims["iss"] = "https://other.example.com";
  EXPECT_EQ(authn->Authenticate(Bearer(Rs256(claims))).decision, Decision::kNoOpinion);
  claims.erase("iss");
  EXPECT_EQ(authn->Authenticate(Bearer(Rs256(claims))).decision, Decision::kNoOpinion);
  for (const char* t : {"static-token", "a.b.c", "a.b", "", "eyJ.eyJ.x.y"}) {
    EXPECT_EQ(authn->Authenticate(Bearer(t)).decision, Decision::kNoOpinion) << t;
  }
  EXPECT_EQ(authn->Authenticate(AuthnRequest{}).decision, Decision::kNoOpinion);
}

TEST_F(OidcTest, TamperedPayloadFailsTheSignature) {
  auto authn = Make();
  for (const std::string& token : {Rs256(Claims()), Es256(Claims())}) {
    json evil = Claims();
    evil["sub"] = "admin";
    evil["groups"] = {"system:masters"};
    size_t dot1 = token.find('.');
    size_t dot2 = token.find('.', dot1 + 1);
    std::string tampered = token.substr(0, dot1 + 1) + B64Url(evil.dump()) + token.substr(dot2);
    AuthnResult r = authn->Authenticate(Bearer(tampered));
    EXPECT_EQ(r.decision, Decision::kRejected);
    EXPECT_EQ(r.reason, "bad signature");
  }
  // A token signed by a key that is not in the JWKS, under a known kid.
  std::string forged =
      SignJwt({{"alg", "RS256"}, {"kid", "rsa1"}}, Claims(), Keys().other_rsa.get());
  EXPECT_EQ(authn->Authenticate(Bearer(forged)).reason, "bad signature");
}

TEST_F(OidcTest, UnknownKidIsRejected) {
  AuthnResult r = Make()->Authenticate(Bearer(Rs256(Claims(), "rotated-away")));
  EXPECT_EQ(r.decision, Decision::kRejected);
  EXPECT_THAT(r.reason, HasSubstr("unknown signing key id \"rotated-away\""));
  // An RS256 token naming the EC key's kid is refused too (key type mismatch).
  EXPECT_EQ(Make()->Authenticate(Bearer(Rs256(Claims(), "ec1"))).decision, Decision::kRejected);
}

TEST_F(OidcTest, TokenWithoutKidTriesKeysOfItsType) {
  std::string token = SignJwt({{"alg", "ES256"}}, Claims(), Keys().ec.get());
  EXPECT_EQ(Make()->Authenticate(Bearer(token)).decision, Decision::kAuthenticated);
}

TEST_F(OidcTest, AlgNoneIsRejected) {
  std::string token = SignJwt({{"alg", "none"}, {"kid", "rsa1"}}, Claims(), nullptr);
  ASSERT_EQ(token.back(), '.');
  AuthnResult r = Make()->Authenticate(Bearer(token));
  EXPECT_EQ(r.decision, Decision::kRejected);
  EXPECT_THAT(r.reason, HasSubstr("unsupported signing algorithm \"none\""));
}

TEST_F(OidcTest, Hs256WithThePublicKeyAsSecretIsRejected) {
  auto authn = Make();
  // The classic key-confusion attack: HMAC with the RSA public key (as PEM,
  // and as the JWK's raw modulus) as the shared secret.
  for (const std::string& secret :
       {PublicKeyPem(Keys().rsa.get()), BnParam(Keys().rsa.get(), OSSL_PKEY_PARAM_RSA_N)}) {
    std::string token = SignJwt({{"alg", "HS256"}, {"kid", "rsa1"}}, Claims(), nullptr, secret);
    AuthnResult r = authn->Authenticate(Bearer(token));
    EXPECT_EQ(r.decision, Decision::kRejected);
    EXPECT_THAT(r.reason, HasSubstr("HS256"));
  }
}

TEST_F(OidcTest, MissingUsernameOrMalformedGroupsAreRejected) {
  auto authn = Make();
  json claims = Claims();
  claims.erase("sub");
  EXPECT_THAT(authn->Authenticate(Bearer(Rs256(claims))).reason, HasSubstr("\"sub\""));
  claims = Claims();
  claims["groups"] = 7;
  EXPECT_EQ(authn->Authenticate(Bearer(Rs256(claims))).decision, Decision::kRejected);
  claims["groups"] = "solo";
  EXPECT_THAT(authn->Authenticate(Bearer(Rs256(claims))).user.groups, ElementsAre("solo"));
}

TEST_F(OidcTest, CreateValidatesOptionsAndJwks) {
  OidcOptions o = options_;
  o.issuer_url = "http://issuer.example.com";
  EXPECT_EQ(OidcAuthenticator::Create(o).status().code(), absl::StatusCode::kInvalidArgument);
  o = options_;
  o.client_id = "";
  EXPECT_EQ(OidcAuthenticator::Create(o).status().code(), absl::StatusCode::kInvalidArgument);
  o = options_;
  o.jwks_path = "/somewhere";
  EXPECT_THAT(OidcAuthenticator::Create(o).status().message(), HasSubstr("exactly one"));
  o = options_;
  for (const char* bad :
       {"not json", "{}", R"({"keys":[]})",
        R"({"keys":[{"kty":"RSA","kid":"k","n":"AQAB","e":"AQAB"}]})",
        R"({"keys":[{"kty":"EC","kid":"k","crv":"P-256","x":"AAAA","y":"AAAA"}]})"}) {
    o.jwks_json = bad;
    EXPECT_EQ(OidcAuthenticator::Create(o).status().code(), absl::StatusCode::kInvalidArgument)
        << bad;
  }
  // A point that is not on the curve.
  json ec = EcJwk(Keys().ec.get(), "ec1");
  ec["y"] = ec["x"];
  o.jwks_json = json{{"keys", {ec}}}.dump();
  EXPECT_THAT(OidcAuthenticator::Create(o).status().message(), HasSubstr("JWKS key \"ec1\""));
  // Duplicate kids.
  o.jwks_json = json{{"keys", {EcJwk(Keys().ec.get(), "k"), RsaJwk(Keys().rsa.get(), "k")}}}.dump();
  EXPECT_THAT(OidcAuthenticator::Create(o).status().message(), HasSubstr("duplicate kid"));
}

TEST_F(OidcTest, JwksFromAFile) {
  const std::string path = testing::TempDir() + "/authn_jwks.json";
  std::ofstream(path) << TestJwks();
  options_.jwks_json.clear();
  options_.jwks_path = path;
  EXPECT_EQ(Make()->Authenticate(Bearer(Es256(Claims()))).decision, Decision::kAuthenticated);
  options_.jwks_path = testing::TempDir() + "/no-such-jwks.json";
  EXPECT_EQ(OidcAuthenticator::Create(options_).status().code(), absl::StatusCode::kNotFound);
}

// ---------------------------------------------------------------------------
// The chain and anonymous access

// Answers with a fixed decision and counts its calls.
class FixedAuthenticator : public Authenticator {
 public:
  FixedAuthenticator(std::string name, AuthnResult result, int* calls)
      : name_(std::move(name)), result_(std::move(result)), calls_(calls) {}
  absl::string_view Name() const override { return name_; }
  AuthnResult Authenticate(const AuthnRequest&) const override {
    ++*calls_;
    return result_;
  }

 private:
  std::string name_;
  AuthnResult result_;
  int* calls_;
};

UserInfo User(std::string name) {
  UserInfo u;
  u.name = std::move(name);
  return u;
}

TEST(AuthnChainTest, FirstAuthenticatedWinsAndGetsSystemAuthenticated) {
  int a = 0, b = 0, c = 0;
  std::vector<std::unique_ptr<Authenticator>> list;
  list.push_back(std::make_unique<FixedAuthenticator>("a", AuthnResult::NoOpinion(), &a));
  list.push_back(
      std::make_unique<FixedAuthenticator>("b", AuthnResult::Authenticated(User("bob")), &b));
  list.push_back(
      std::make_unique<FixedAuthenticator>("c", AuthnResult::Authenticated(User("carol")), &c));
  auto chain = AuthenticatorChain::Create(std::move(list));
  ASSERT_TRUE(chain.ok()) << chain.status();
  EXPECT_THAT((*chain)->Names(), ElementsAre("a", "b", "c"));
  auto user = (*chain)->Authenticate(Bearer("t"));
  ASSERT_TRUE(user.ok()) << user.status();
  EXPECT_EQ(user->name, "bob");
  EXPECT_THAT(user->groups, ElementsAre(kAllAuthenticatedGroup));
  EXPECT_EQ(a, 1);
  EXPECT_EQ(b, 1);
  EXPECT_EQ(c, 0);
}

TEST(AuthnChainTest, RejectionStopsTheChainWithItsReason) {
  int a = 0, b = 0;
  std::vector<std::unique_ptr<Authenticator>> list;
  list.push_back(
      std::make_unique<FixedAuthenticator>("a", AuthnResult::Rejected("token expired"), &a));
  list.push_back(
      std::make_unique<FixedAuthenticator>("b", AuthnResult::Authenticated(User("bob")), &b));
  auto chain = AuthenticatorChain::Create(std::move(list), {.allow_anonymous = true});
  ASSERT_TRUE(chain.ok());
  auto user = (*chain)->Authenticate(Bearer("t"));
  EXPECT_EQ(user.status().code(), absl::StatusCode::kUnauthenticated);
  EXPECT_EQ(user.status().message(), "a: token expired");
  EXPECT_EQ(b, 0);
}

TEST(AuthnChainTest, DuplicateOrNullAuthenticatorsAreRefused) {
  int n = 0;
  std::vector<std::unique_ptr<Authenticator>> list;
  list.push_back(std::make_unique<FixedAuthenticator>("x", AuthnResult::NoOpinion(), &n));
  list.push_back(std::make_unique<FixedAuthenticator>("x", AuthnResult::NoOpinion(), &n));
  EXPECT_EQ(AuthenticatorChain::Create(std::move(list)).status().code(),
            absl::StatusCode::kAlreadyExists);
  std::vector<std::unique_ptr<Authenticator>> with_null;
  with_null.push_back(nullptr);
  EXPECT_EQ(AuthenticatorChain::Create(std::move(with_null)).status().code(),
            absl::StatusCode::kInvalidArgument);
}

// A chain of the real authenticators, as an API server would build it.
std::unique_ptr<AuthenticatorChain> RealChain(std::shared_ptr<FakeClock> clock,
                                              bool allow_anonymous) {
  std::vector<std::unique_ptr<Authenticator>> list;
  list.push_back(*X509Authenticator::Create({.check_validity = true, .clock = clock}));
  list.push_back(*TokenFileAuthenticator::FromString("static-tok,alice,1,\"admins\"\n"));
  OidcOptions o;
  o.issuer_url = kIssuer;
  o.client_id = kClientId;
  o.jwks_json = TestJwks();
  o.clock = clock;
  list.push_back(*OidcAuthenticator::Create(o));
  return *AuthenticatorChain::Create(std::move(list), {.allow_anonymous = allow_anonymous});
}

TEST(AuthnChainTest, RealAuthenticatorsInOrder) {
  auto clock = std::make_shared<FakeClock>();
  auto chain = RealChain(clock, /*allow_anonymous=*/false);

  auto alice = chain->Authenticate(Bearer("static-tok"));
  ASSERT_TRUE(alice.ok()) << alice.status();
  EXPECT_EQ(alice->name, "alice");
  EXPECT_THAT(alice->groups, ElementsAre("admins", kAllAuthenticatedGroup));

  int64_t now = absl::ToUnixSeconds(clock->Now());
  json claims = {{"iss", kIssuer}, {"aud", kClientId}, {"sub", "42"}, {"exp", now + 60}};
  std::string jwt = SignJwt({{"alg", "ES256"}, {"kid", "ec1"}}, claims, Keys().ec.get());
  auto oidc_user = chain->Authenticate(Bearer(jwt));
  ASSERT_TRUE(oidc_user.ok()) << oidc_user.status();
  EXPECT_EQ(oidc_user->name, absl::StrCat(kIssuer, "#42"));

  auto cert_user = chain->Authenticate(Cert(MakeCertDer(
      "node-1", {"system:nodes"}, clock->Now() - absl::Hours(1), clock->Now() + absl::Hours(1))));
  ASSERT_TRUE(cert_user.ok()) << cert_user.status();
  EXPECT_EQ(cert_user->name, "node-1");
  EXPECT_THAT(cert_user->groups, ElementsAre("system:nodes", kAllAuthenticatedGroup));

  clock->Advance(absl::Minutes(2));
  auto expired = chain->Authenticate(Bearer(jwt));
  EXPECT_EQ(expired.status().code(), absl::StatusCode::kUnauthenticated);
  EXPECT_THAT(expired.status().message(), HasSubstr("token expired"));
  EXPECT_THAT(expired.status().message(), HasSubstr(absl::StrCat("oidc:", kIssuer)));

  auto unknown = chain->Authenticate(Bearer("who-knows"));
  EXPECT_EQ(unknown.status().code(), absl::StatusCode::kUnauthenticated);
  EXPECT_THAT(unknown.status().message(), HasSubstr("not valid for any configured authenticator"));

  auto nothing = chain->Authenticate(AuthnRequest{});
  EXPECT_EQ(nothing.status().code(), absl::StatusCode::kUnauthenticated);
  EXPECT_THAT(nothing.status().message(), HasSubstr("anonymous access is disabled"));
}

TEST(AuthnChainTest, AnonymousOnlyForRequestsWithoutToken) {
  auto clock = std::make_shared<FakeClock>();
  auto chain = RealChain(clock, /*allow_anonymous=*/true);
  auto anon = chain->Authenticate(AuthnRequest{});
  ASSERT_TRUE(anon.ok()) << anon.status();
  EXPECT_EQ(anon->name, kAnonymousUser);
  EXPECT_THAT(anon->groups, ElementsAre(kAllUnauthenticatedGroup));
  // A wrong token is an error even when anonymous access is on.
  EXPECT_EQ(chain->Authenticate(Bearer("wrong")).status().code(),
            absl::StatusCode::kUnauthenticated);
  EXPECT_TRUE(chain->Authenticate(Bearer("static-tok")).ok());
}

TEST(AuthnAnonymousTest, AnonymousAuthenticatorAtTheEndOfAChain) {
  auto anon = AnonymousAuthenticator::Create();
  EXPECT_EQ(anon->Name(), "anonymous");
  EXPECT_EQ(anon->Authenticate(Bearer("t")).decision, Decision::kNoOpinion);

  std::vector<std::unique_ptr<Authenticator>> list;
  list.push_back(*TokenFileAuthenticator::FromString("tok,alice,1\n"));
  list.push_back(std::move(anon));
  auto chain = AuthenticatorChain::Create(std::move(list));
  ASSERT_TRUE(chain.ok());
  auto user = (*chain)->Authenticate(AuthnRequest{});
  ASSERT_TRUE(user.ok());
  EXPECT_EQ(user->name, kAnonymousUser);
  // The anonymous user is not in system:authenticated.
  EXPECT_THAT(user->groups, ElementsAre(kAllUnauthenticatedGroup));
  EXPECT_EQ((*chain)->Authenticate(Bearer("tok"))->name, "alice");
  EXPECT_FALSE((*chain)->Authenticate(Bearer("nope")).ok());
}

}  // namespace
}  // namespace korch::apiserver
