#include "korch/apiserver/pki.h"

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>
#include <stdlib.h>
#include <sys/stat.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "korch/apiserver/authn.h"
#include "korch/base/clock.h"

namespace korch::apiserver {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsSupersetOf;

struct X509Free {
  void operator()(X509* p) const { X509_free(p); }
};
using X509Ptr = std::unique_ptr<X509, X509Free>;

X509Ptr ParsePem(const std::string& pem) {
  std::unique_ptr<BIO, decltype(&BIO_free)> bio(BIO_new_mem_buf(pem.data(), int(pem.size())),
                                                &BIO_free);
  return X509Ptr(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
}

// Verifies `cert_pem` against `ca_pem` with OpenSSL's own chain
// verification, independently of CertificateAuthority::Verify. `purpose` 0
// checks the chain only. Returns the X509_V_* code.
int OpensslVerify(const std::string& ca_pem, const std::string& cert_pem, int purpose = 0,
                  absl::Time now = absl::Now()) {
  X509Ptr ca = ParsePem(ca_pem);
  X509Ptr cert = ParsePem(cert_pem);
  EXPECT_NE(ca, nullptr);
  EXPECT_NE(cert, nullptr);
  if (ca == nullptr || cert == nullptr) return -1;
  std::unique_ptr<X509_STORE, decltype(&X509_STORE_free)> store(X509_STORE_new(), &X509_STORE_free);
  std::unique_ptr<X509_STORE_CTX, decltype(&X509_STORE_CTX_free)> ctx(X509_STORE_CTX_new(),
                                                                      &X509_STORE_CTX_free);
  X509_STORE_add_cert(store.get(), ca.get());
  X509_STORE_CTX_init(ctx.get(), store.get(), cert.get(), nullptr);
  X509_STORE_CTX_set_time(ctx.get(), 0, absl::ToTimeT(now));
  if (purpose != 0) X509_STORE_CTX_set_purpose(ctx.get(), purpose);
  int ok = X509_verify_cert(ctx.get());
  int err = X509_STORE_CTX_get_error(ctx.get());
  return ok == 1 ? X509_V_OK : (err == X509_V_OK ? -1 : err);
}

std::string MakeTempDir() {
  std::string tmpl = testing::TempDir() + "/pki_test.XXXXXX";
  EXPECT_NE(mkdtemp(tmpl.data()), nullptr);
  return tmpl;
}

unsigned int ModeOf(const std::string& path) {
  struct stat st;
  EXPECT_EQ(stat(path.c_str(), &st), 0) << path;
  return st.st_mode & 07777;
}

// Option builders: GCC warns about designated initializers that leave
// members out, so the tests spell options through these.
ServingCertOptions Serving(std::vector<std::string> hosts = {},
                           KeyType key_type = KeyType::kEcP256) {
  ServingCertOptions o;
  o.hosts = std::move(hosts);
  o.key_type = key_type;
  return o;
}

ClientCertOptions Client(std::string user, std::vector<std::string> groups = {}) {
  ClientCertOptions o;
  o.user = std::move(user);
  o.groups = std::move(groups);
  return o;
}

// Key generation is the slow part; the tests share one CA of each kind.
const CertificateAuthority& EcCa() {
  static const CertificateAuthority* ca = [] {
    auto created = CertificateAuthority::Create({});
    EXPECT_TRUE(created.ok()) << created.status();
    return new CertificateAuthority(*created);
  }();
  return *ca;
}

TEST(PkiTest, CaIsSelfSignedCaForTenYears) {
  const CertificateAuthority& ca = EcCa();
  EXPECT_THAT(ca.cert_pem(), HasSubstr("-----BEGIN CERTIFICATE-----"));
  EXPECT_THAT(ca.key_pem(), HasSubstr("-----BEGIN PRIVATE KEY-----"));
  auto info = ParseCertificate(ca.cert_pem());
  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_TRUE(info->is_ca);
  EXPECT_EQ(info->common_name, "korch-ca");
  EXPECT_EQ(info->issuer_common_name, "korch-ca");
  EXPECT_GE(info->not_after - absl::Now(), absl::Hours(24 * 365 * 10) - absl::Minutes(5));
  EXPECT_LE(info->not_before, absl::Now());
  EXPECT_EQ(OpensslVerify(ca.cert_pem(), ca.cert_pem()), X509_V_OK);
}

TEST(PkiTest, ServingCertificateVerifiesAndNamesEveryHost) {
  const CertificateAuthority& ca = EcCa();
  auto serving =
      ca.IssueServingCertificate(Serving({"10.1.2.3", "[fe80::1]", "API.Example.com",
                                          "*.apps.example.com", "127.0.0.1", "localhost"}));
  ASSERT_TRUE(serving.ok()) << serving.status();
  EXPECT_EQ(OpensslVerify(ca.cert_pem(), serving->cert_pem, X509_PURPOSE_SSL_SERVER), X509_V_OK);
  EXPECT_TRUE(ca.Verify(serving->cert_pem, "serverAuth").ok());
  EXPECT_TRUE(CheckKeyMatchesCertificate(serving->cert_pem, serving->key_pem).ok());

  auto info = ParseCertificate(serving->cert_pem);
  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_FALSE(info->is_ca);
  EXPECT_TRUE(info->server_auth);
  EXPECT_FALSE(info->client_auth);
  EXPECT_EQ(info->issuer_common_name, "korch-ca");
  // Every default once, then the extra ones, duplicates dropped.
  EXPECT_THAT(
      info->dns_names,
      ElementsAre("localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc",
                  "kubernetes.default.svc.cluster.local", "api.example.com", "*.apps.example.com"));
  EXPECT_THAT(info->ip_addresses, ElementsAre("127.0.0.1", "::1", "10.1.2.3", "fe80::1"));

  for (const char* host :
       {"localhost", "kubernetes.default.svc", "api.example.com", "API.EXAMPLE.COM",
        "x.apps.example.com", "10.1.2.3", "[::1]", "::1", "fe80::1", "127.0.0.1"}) {
    EXPECT_TRUE(CertificateCoversHost(serving->cert_pem, host).ok()) << host;
  }
  for (const char* host :
       {"example.com", "a.b.apps.example.com", "10.1.2.4", "::2", "kube-apiserver"}) {
    absl::Status covered = CertificateCoversHost(serving->cert_pem, host);
    EXPECT_EQ(covered.code(), absl::StatusCode::kInvalidArgument) << host;
    EXPECT_THAT(covered.message(), HasSubstr(host));
  }
}

TEST(PkiTest, ServingCertificateIsNotAClientCertificate) {
  auto serving = EcCa().IssueServingCertificate(Serving());
  ASSERT_TRUE(serving.ok()) << serving.status();
  EXPECT_EQ(OpensslVerify(EcCa().cert_pem(), serving->cert_pem, X509_PURPOSE_SSL_CLIENT),
            X509_V_ERR_INVALID_PURPOSE);
}

TEST(PkiTest, MalformedHostsAreRefusedByName) {
  for (const char* host :
       {"bad host", "-a.example.com", "[::1", "a..b", "", "[example.com]", "a_b.example.com"}) {
    auto serving = EcCa().IssueServingCertificate(Serving({host}));
    EXPECT_EQ(serving.status().code(), absl::StatusCode::kInvalidArgument) << host;
    EXPECT_THAT(serving.status().message(), HasSubstr(absl::StrCat("\"", host, "\""))) << host;
  }
}

TEST(PkiTest, ClientCertificateMapsToUserAndGroupsThroughX509Authenticator) {
  const CertificateAuthority& ca = EcCa();
  auto client = ca.IssueClientCertificate(Client("korch-admin", {"system:masters", "ops"}));
  ASSERT_TRUE(client.ok()) << client.status();
  EXPECT_EQ(OpensslVerify(ca.cert_pem(), client->cert_pem, X509_PURPOSE_SSL_CLIENT), X509_V_OK);
  EXPECT_EQ(OpensslVerify(ca.cert_pem(), client->cert_pem, X509_PURPOSE_SSL_SERVER),
            X509_V_ERR_INVALID_PURPOSE);

  auto info = ParseCertificate(client->cert_pem);
  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_TRUE(info->client_auth);
  EXPECT_FALSE(info->server_auth);
  EXPECT_TRUE(info->dns_names.empty());

  auto der = CertificatePemToDer(client->cert_pem);
  ASSERT_TRUE(der.ok()) << der.status();
  auto x509 = X509Authenticator::Create();
  ASSERT_TRUE(x509.ok()) << x509.status();
  AuthnRequest request;
  request.client_cert_der = *der;
  AuthnResult result = (*x509)->Authenticate(request);
  ASSERT_EQ(result.decision, AuthnResult::Decision::kAuthenticated) << result.reason;
  EXPECT_EQ(result.user.name, "korch-admin");
  EXPECT_THAT(result.user.groups, ElementsAre("system:masters", "ops"));

  std::vector<std::unique_ptr<Authenticator>> authenticators;
  authenticators.push_back(*std::move(x509));
  auto chain = AuthenticatorChain::Create(std::move(authenticators));
  ASSERT_TRUE(chain.ok()) << chain.status();
  auto user = (*chain)->Authenticate(request);
  ASSERT_TRUE(user.ok()) << user.status();
  EXPECT_EQ(user->name, "korch-admin");
  EXPECT_THAT(user->groups, IsSupersetOf({"system:masters", "ops", "system:authenticated"}));
}

TEST(PkiTest, ClientCertificateNeedsAUser) {
  auto client = EcCa().IssueClientCertificate(Client("", {"system:masters"}));
  EXPECT_EQ(client.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(client.status().message(), HasSubstr("user"));
}

TEST(PkiTest, CertificateOfAnotherCaDoesNotVerify) {
  auto other = CertificateAuthority::Create([] {
    CaOptions o;
    o.common_name = "other-ca";
    return o;
  }());
  ASSERT_TRUE(other.ok()) << other.status();
  auto client = other->IssueClientCertificate(Client("mallory"));
  ASSERT_TRUE(client.ok()) << client.status();
  EXPECT_NE(OpensslVerify(EcCa().cert_pem(), client->cert_pem), X509_V_OK);
  absl::Status verified = EcCa().Verify(client->cert_pem, "clientAuth");
  EXPECT_EQ(verified.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(verified.message(), HasSubstr("issuer certificate"));
}

TEST(PkiTest, RsaKeysWork) {
  auto ca = CertificateAuthority::Create([] {
    CaOptions o;
    o.key_type = KeyType::kRsa2048;
    return o;
  }());
  ASSERT_TRUE(ca.ok()) << ca.status();
  auto serving = ca->IssueServingCertificate(Serving({}, KeyType::kRsa2048));
  ASSERT_TRUE(serving.ok()) << serving.status();
  EXPECT_EQ(OpensslVerify(ca->cert_pem(), serving->cert_pem, X509_PURPOSE_SSL_SERVER), X509_V_OK);

  std::unique_ptr<BIO, decltype(&BIO_free)> bio(
      BIO_new_mem_buf(serving->key_pem.data(), int(serving->key_pem.size())), &BIO_free);
  std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)> key(
      PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr), &EVP_PKEY_free);
  ASSERT_NE(key, nullptr);
  EXPECT_EQ(EVP_PKEY_is_a(key.get(), "RSA"), 1);
  EXPECT_EQ(EVP_PKEY_get_bits(key.get()), 2048);

  // An EC leaf under an RSA CA is fine too.
  auto client = ca->IssueClientCertificate(Client("bob"));
  ASSERT_TRUE(client.ok()) << client.status();
  EXPECT_TRUE(ca->Verify(client->cert_pem, "clientAuth").ok());
}

TEST(PkiTest, ValidityFollowsTheInjectedClock) {
  auto clock = std::make_shared<FakeClock>(absl::FromUnixSeconds(1700000000));
  CaOptions ca_options;
  ca_options.times.clock = clock;
  auto ca = CertificateAuthority::Create(ca_options);
  ASSERT_TRUE(ca.ok()) << ca.status();
  ClientCertOptions options = Client("alice");
  options.times.validity = absl::Hours(24);
  options.times.clock = clock;
  auto client = ca->IssueClientCertificate(options);
  ASSERT_TRUE(client.ok()) << client.status();
  auto info = ParseCertificate(client->cert_pem);
  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_EQ(info->not_before, absl::FromUnixSeconds(1700000000) - absl::Hours(1));
  EXPECT_EQ(info->not_after, absl::FromUnixSeconds(1700000000) + absl::Hours(24));

  const absl::Time issued = clock->Now();
  EXPECT_EQ(OpensslVerify(ca->cert_pem(), client->cert_pem, 0, issued), X509_V_OK);
  // Backdated by an hour for clients whose clock is a little behind.
  EXPECT_EQ(OpensslVerify(ca->cert_pem(), client->cert_pem, 0, issued - absl::Minutes(59)),
            X509_V_OK);
  EXPECT_EQ(OpensslVerify(ca->cert_pem(), client->cert_pem, 0, issued - absl::Hours(2)),
            X509_V_ERR_CERT_NOT_YET_VALID);
  EXPECT_EQ(OpensslVerify(ca->cert_pem(), client->cert_pem, 0, issued + absl::Hours(25)),
            X509_V_ERR_CERT_HAS_EXPIRED);
  EXPECT_TRUE(ca->Verify(client->cert_pem, "clientAuth", issued).ok());
  absl::Status expired = ca->Verify(client->cert_pem, "clientAuth", issued + absl::Hours(25));
  EXPECT_EQ(expired.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(expired.message(), HasSubstr("expired"));

  // The authenticator refuses it once the clock passes notAfter.
  auto x509 = X509Authenticator::Create({.check_validity = true, .clock = clock});
  ASSERT_TRUE(x509.ok()) << x509.status();
  AuthnRequest request;
  request.client_cert_der = *CertificatePemToDer(client->cert_pem);
  EXPECT_EQ((*x509)->Authenticate(request).decision, AuthnResult::Decision::kAuthenticated);
  clock->Advance(absl::Hours(25));
  EXPECT_EQ((*x509)->Authenticate(request).decision, AuthnResult::Decision::kRejected);
}

TEST(PkiTest, SerialNumbersAreRandom) {
  auto a = EcCa().IssueClientCertificate(Client("a"));
  auto b = EcCa().IssueClientCertificate(Client("a"));
  ASSERT_TRUE(a.ok() && b.ok());
  auto ia = ParseCertificate(a->cert_pem);
  auto ib = ParseCertificate(b->cert_pem);
  ASSERT_TRUE(ia.ok() && ib.ok());
  EXPECT_NE(ia->serial_hex, ib->serial_hex);
  EXPECT_GE(ia->serial_hex.size(), 30u);
}

TEST(PkiTest, FromPemRefusesWhatIsNotACa) {
  const CertificateAuthority& ca = EcCa();
  auto again = CertificateAuthority::FromPem(ca.cert_pem(), ca.key_pem());
  ASSERT_TRUE(again.ok()) << again.status();
  auto client = again->IssueClientCertificate(Client("carol"));
  ASSERT_TRUE(client.ok()) << client.status();
  EXPECT_TRUE(ca.Verify(client->cert_pem, "clientAuth").ok());

  auto garbage = CertificateAuthority::FromPem("hello", ca.key_pem());
  EXPECT_EQ(garbage.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(garbage.status().message(), HasSubstr("no PEM"));

  auto truncated = CertificateAuthority::FromPem(ca.cert_pem().substr(0, ca.cert_pem().size() / 2),
                                                 ca.key_pem());
  EXPECT_EQ(truncated.status().code(), absl::StatusCode::kInvalidArgument);

  auto leaf = CertificateAuthority::FromPem(client->cert_pem, client->key_pem);
  EXPECT_EQ(leaf.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(leaf.status().message(), HasSubstr("not a CA certificate"));

  auto mismatched = CertificateAuthority::FromPem(ca.cert_pem(), client->key_pem);
  EXPECT_EQ(mismatched.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(mismatched.status().message(), HasSubstr("does not match"));
}

TEST(PkiTest, FilesRoundTripWithPrivateKeys) {
  const std::string dir = MakeTempDir();
  const CertificateAuthority& ca = EcCa();
  const std::string crt = dir + "/ca.crt", key = dir + "/ca.key";
  ASSERT_TRUE(WriteCertKeyPair(ca.pem(), crt, key).ok());
  EXPECT_EQ(ModeOf(key), 0600u);
  EXPECT_EQ(ModeOf(crt), 0644u);

  auto loaded = CertificateAuthority::Load(crt, key);
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  EXPECT_EQ(loaded->cert_pem(), ca.cert_pem());
  EXPECT_EQ(loaded->key_pem(), ca.key_pem());

  // Overwriting keeps the mode and replaces the contents.
  auto client = ca.IssueClientCertificate(Client("dave"));
  ASSERT_TRUE(client.ok());
  ASSERT_TRUE(WriteCertKeyPair(*client, dir + "/c.crt", dir + "/c.key").ok());
  ASSERT_TRUE(WriteCertKeyPair(*client, dir + "/c.crt", dir + "/c.key").ok());
  auto pair = ReadCertKeyPair(dir + "/c.crt", dir + "/c.key");
  ASSERT_TRUE(pair.ok()) << pair.status();
  EXPECT_EQ(pair->cert_pem, client->cert_pem);
  EXPECT_EQ(ModeOf(dir + "/c.key"), 0600u);

  auto missing = CertificateAuthority::Load(dir + "/nope.crt", key);
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(missing.status().message(), HasSubstr("nope.crt"));

  ASSERT_TRUE(WriteFileAtomically(dir + "/bad.crt", "not a certificate", 0644).ok());
  auto bad = ReadCertKeyPair(dir + "/bad.crt", key);
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(bad.status().message(), HasSubstr("bad.crt"));

  auto wrong_key = ReadCertKeyPair(dir + "/c.crt", key);
  EXPECT_EQ(wrong_key.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(wrong_key.status().message(), HasSubstr("does not match"));

  auto text = ReadFileToString(dir + "/bad.crt");
  ASSERT_TRUE(text.ok());
  EXPECT_EQ(*text, "not a certificate");
  EXPECT_EQ(ReadFileToString(dir + "/absent").status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(WriteFileAtomically(dir + "/no/such/dir/f", "x", 0600).code(),
            absl::StatusCode::kNotFound);
}

TEST(PkiTest, RandomTokensAreLongAndDistinct) {
  auto a = RandomHexToken();
  auto b = RandomHexToken();
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(a->size(), 64u);
  EXPECT_NE(*a, *b);
  EXPECT_EQ(a->find_first_not_of("0123456789abcdef"), std::string::npos);
  EXPECT_FALSE(RandomHexToken(0).ok());
}

}  // namespace
}  // namespace korch::apiserver
