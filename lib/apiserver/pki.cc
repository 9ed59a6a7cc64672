// The certificate authority, serving and client certificates, PEM and file
// helpers of pki.h, on OpenSSL 3.
#include "korch/apiserver/pki.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <openssl/asn1.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <ctime>
#include <utility>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "korch/base/status.h"

namespace korch::apiserver {
namespace {

struct X509Free {
  void operator()(X509* p) const { X509_free(p); }
};
struct PkeyFree {
  void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); }
};
struct BioFree {
  void operator()(BIO* p) const { BIO_free(p); }
};
struct BnFree {
  void operator()(BIGNUM* p) const { BN_free(p); }
};
struct StoreFree {
  void operator()(X509_STORE* p) const { X509_STORE_free(p); }
};
struct StoreCtxFree {
  void operator()(X509_STORE_CTX* p) const { X509_STORE_CTX_free(p); }
};
struct GeneralNamesFree {
  void operator()(GENERAL_NAMES* p) const { GENERAL_NAMES_free(p); }
};
struct OpensslFree {
  void operator()(void* p) const { OPENSSL_free(p); }
};
using X509Ptr = std::unique_ptr<X509, X509Free>;
using PkeyPtr = std::unique_ptr<EVP_PKEY, PkeyFree>;
using BioPtr = std::unique_ptr<BIO, BioFree>;
using BnPtr = std::unique_ptr<BIGNUM, BnFree>;
using GeneralNamesPtr = std::unique_ptr<GENERAL_NAMES, GeneralNamesFree>;

// OpenSSL's error queue is per thread; every entry point clears it first so
// a message never carries an earlier failure's reason.
class ErrorQueueGuard {
 public:
  ErrorQueueGuard() { ERR_clear_error(); }
  ~ErrorQueueGuard() { ERR_clear_error(); }
  ErrorQueueGuard(const ErrorQueueGuard&) = delete;
  ErrorQueueGuard& operator=(const ErrorQueueGuard&) = delete;
};

// "what: reason1; reason2" from the error queue (which it empties).
std::string OpensslError(absl::string_view what) {
  std::vector<std::string> reasons;
  for (unsigned long e = ERR_get_error(); e != 0; e = ERR_get_error()) {
    const char* reason = ERR_reason_error_string(e);
    reasons.push_back(reason != nullptr ? reason : absl::StrCat("error ", e));
  }
  if (reasons.empty()) return std::string(what);
  return absl::StrCat(what, ": ", absl::StrJoin(reasons, "; "));
}

absl::Status Internal(absl::string_view what) { return absl::InternalError(OpensslError(what)); }

BioPtr MemBio(absl::string_view data) {
  return BioPtr(BIO_new_mem_buf(data.data(), static_cast<int>(data.size())));
}

std::string BioContents(BIO* bio) {
  char* data = nullptr;
  long n = BIO_get_mem_data(bio, &data);
  return std::string(data, n > 0 ? static_cast<size_t>(n) : 0);
}

absl::StatusOr<X509Ptr> ParseCertPem(absl::string_view pem) {
  if (!absl::StrContains(pem, "-----BEGIN CERTIFICATE-----")) {
    return absl::InvalidArgumentError("no PEM \"CERTIFICATE\" block found");
  }
  BioPtr bio = MemBio(pem);
  X509Ptr cert(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
  if (cert == nullptr) {
    return absl::InvalidArgumentError(OpensslError("malformed PEM certificate"));
  }
  return cert;
}

absl::StatusOr<PkeyPtr> ParseKeyPem(absl::string_view pem) {
  if (!absl::StrContains(pem, "PRIVATE KEY-----")) {
    return absl::InvalidArgumentError("no PEM \"PRIVATE KEY\" block found");
  }
  BioPtr bio = MemBio(pem);
  // An empty passphrase callback result: an encrypted key fails instead of
  // prompting on the terminal.
  PkeyPtr key(PEM_read_bio_PrivateKey(
      bio.get(), nullptr, [](char*, int, int, void*) { return 0; }, nullptr));
  if (key == nullptr) {
    return absl::InvalidArgumentError(OpensslError("malformed or encrypted PEM private key"));
  }
  return key;
}

absl::StatusOr<std::string> CertToPem(X509* cert) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (bio == nullptr || PEM_write_bio_X509(bio.get(), cert) != 1) {
    return Internal("encoding certificate as PEM");
  }
  return BioContents(bio.get());
}

absl::StatusOr<std::string> KeyToPem(EVP_PKEY* key) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  // PKCS#8, unencrypted ("BEGIN PRIVATE KEY"), which every TLS stack reads.
  if (bio == nullptr ||
      PEM_write_bio_PrivateKey(bio.get(), key, nullptr, nullptr, 0, nullptr, nullptr) != 1) {
    return Internal("encoding private key as PEM");
  }
  return BioContents(bio.get());
}

absl::StatusOr<PkeyPtr> GenerateKey(KeyType type) {
  PkeyPtr key;
  switch (type) {
    case KeyType::kEcP256:
      key.reset(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256"));
      break;
    case KeyType::kRsa2048:
      key.reset(EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", size_t{2048}));
      break;
  }
  if (key == nullptr) return Internal("generating key pair");
  return key;
}

absl::Time NowOf(const CertificateTimes& times) {
  return times.clock != nullptr ? times.clock->Now() : absl::Now();
}

absl::Status SetTime(ASN1_TIME* field, absl::Time t) {
  if (ASN1_TIME_set(field, absl::ToTimeT(t)) == nullptr) return Internal("setting validity");
  return absl::OkStatus();
}

absl::Status AddNameEntry(X509_NAME* name, const char* field, absl::string_view value) {
  if (X509_NAME_add_entry_by_txt(name, field, MBSTRING_UTF8,
                                 reinterpret_cast<const unsigned char*>(value.data()),
                                 static_cast<int>(value.size()), -1, 0) != 1) {
    return absl::InvalidArgumentError(
        OpensslError(absl::StrCat("subject ", field, " \"", value, "\"")));
  }
  return absl::OkStatus();
}

// An extension from OpenSSL's configuration syntax; `value` is always a
// constant of this file, never user input.
absl::Status AddExtension(X509* cert, X509V3_CTX* ctx, int nid, const char* value) {
  X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, ctx, nid, value);
  if (ext == nullptr) return Internal(absl::StrCat("building extension ", OBJ_nid2sn(nid)));
  int ok = X509_add_ext(cert, ext, -1);
  X509_EXTENSION_free(ext);
  if (ok != 1) return Internal(absl::StrCat("adding extension ", OBJ_nid2sn(nid)));
  return absl::OkStatus();
}

// A subject alternative name, classified and normalized.
struct San {
  bool is_ip = false;
  std::string value;  // lower-case DNS name, or 4 or 16 address bytes
};

bool ValidDnsName(absl::string_view name) {
  if (name.empty() || name.size() > 253) return false;
  std::vector<absl::string_view> labels = absl::StrSplit(name, '.');
  for (size_t i = 0; i < labels.size(); ++i) {
    absl::string_view label = labels[i];
    if (i == 0 && label == "*" && labels.size() > 1) continue;
    if (label.empty() || label.size() > 63) return false;
    if (label.front() == '-' || label.back() == '-') return false;
    for (char c : label) {
      if (!absl::ascii_isalnum(c) && c != '-') return false;
    }
  }
  return true;
}

absl::StatusOr<San> ParseHost(absl::string_view host) {
  absl::string_view bare = host;
  if (absl::ConsumePrefix(&bare, "[") && !absl::ConsumeSuffix(&bare, "]")) {
    return absl::InvalidArgumentError(absl::StrCat("invalid host \"", host, "\": unclosed '['"));
  }
  std::string text(bare);
  unsigned char buf[16];
  if (inet_pton(AF_INET, text.c_str(), buf) == 1) {
    return San{true, std::string(reinterpret_cast<char*>(buf), 4)};
  }
  if (inet_pton(AF_INET6, text.c_str(), buf) == 1) {
    return San{true, std::string(reinterpret_cast<char*>(buf), 16)};
  }
  if (bare.size() != host.size() || !ValidDnsName(text)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "invalid host \"", host,
        "\": must be an IP address or a DNS name (RFC 1123 labels of letters, digits and '-', "
        "optionally starting with \"*.\")"));
  }
  return San{false, absl::AsciiStrToLower(text)};
}

absl::StatusOr<GeneralNamesPtr> BuildSans(const std::vector<San>& sans) {
  GeneralNamesPtr names(sk_GENERAL_NAME_new_null());
  if (names == nullptr) return Internal("allocating subjectAltName");
  for (const San& san : sans) {
    GENERAL_NAME* gen = GENERAL_NAME_new();
    ASN1_STRING* str = san.is_ip ? ASN1_OCTET_STRING_new() : ASN1_IA5STRING_new();
    if (gen == nullptr || str == nullptr ||
        ASN1_STRING_set(str, san.value.data(), static_cast<int>(san.value.size())) != 1) {
      GENERAL_NAME_free(gen);
      ASN1_STRING_free(str);
      return Internal("building subjectAltName");
    }
    GENERAL_NAME_set0_value(gen, san.is_ip ? GEN_IPADD : GEN_DNS, str);
    if (sk_GENERAL_NAME_push(names.get(), gen) == 0) {
      GENERAL_NAME_free(gen);
      return Internal("building subjectAltName");
    }
  }
  return names;
}

// What differs between the certificates this file makes.
struct CertSpec {
  std::string common_name;
  std::vector<std::string> organizations;
  bool is_ca = false;
  // "serverAuth", "clientAuth" or "" (the CA).
  const char* ext_key_usage = "";
  std::vector<San> sans;
  const CertificateTimes* times = nullptr;
};

absl::StatusOr<std::string> RandomBytes(int n) {
  std::string out(static_cast<size_t>(n), '\0');
  if (RAND_bytes(reinterpret_cast<unsigned char*>(out.data()), n) != 1) {
    return Internal("reading random bytes");
  }
  return out;
}

// Builds and signs a certificate for `key`. `issuer` and `issuer_key` are
// null for a self-signed one.
absl::StatusOr<X509Ptr> BuildCertificate(const CertSpec& spec, EVP_PKEY* key, X509* issuer,
                                         EVP_PKEY* issuer_key) {
  X509Ptr cert(X509_new());
  if (cert == nullptr || X509_set_version(cert.get(), X509_VERSION_3) != 1) {
    return Internal("allocating certificate");
  }
  // A random positive serial of 127 bits (RFC 5280: at most 20 octets;
  // CA/Browser Forum: at least 64 random bits).
  BnPtr serial(BN_new());
  if (serial == nullptr || BN_rand(serial.get(), 127, BN_RAND_TOP_ONE, BN_RAND_BOTTOM_ANY) != 1 ||
      BN_to_ASN1_INTEGER(serial.get(), X509_get_serialNumber(cert.get())) == nullptr) {
    return Internal("choosing serial number");
  }
  if (spec.times->validity <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError("certificate validity must be positive");
  }
  absl::Time now = NowOf(*spec.times);
  KORCH_RETURN_IF_ERROR(SetTime(X509_getm_notBefore(cert.get()), now - spec.times->backdate));
  KORCH_RETURN_IF_ERROR(SetTime(X509_getm_notAfter(cert.get()), now + spec.times->validity));

  X509_NAME* subject = X509_get_subject_name(cert.get());
  for (const std::string& org : spec.organizations) {
    KORCH_RETURN_IF_ERROR(AddNameEntry(subject, "O", org));
  }
  KORCH_RETURN_IF_ERROR(AddNameEntry(subject, "CN", spec.common_name));
  if (X509_set_issuer_name(cert.get(),
                           issuer != nullptr ? X509_get_subject_name(issuer) : subject) != 1 ||
      X509_set_pubkey(cert.get(), key) != 1) {
    return Internal("setting issuer and public key");
  }

  X509V3_CTX ctx;
  X509V3_set_ctx(&ctx, issuer != nullptr ? issuer : cert.get(), cert.get(), nullptr, nullptr, 0);
  bool rsa = EVP_PKEY_is_a(key, "RSA") == 1;
  if (spec.is_ca) {
    KORCH_RETURN_IF_ERROR(
        AddExtension(cert.get(), &ctx, NID_basic_constraints, "critical,CA:TRUE"));
    KORCH_RETURN_IF_ERROR(AddExtension(cert.get(), &ctx, NID_key_usage,
                                       "critical,digitalSignature,keyCertSign,cRLSign"));
  } else {
    KORCH_RETURN_IF_ERROR(
        AddExtension(cert.get(), &ctx, NID_basic_constraints, "critical,CA:FALSE"));
    // RSA key exchange (TLS 1.2 without ECDHE) encrypts to the key.
    KORCH_RETURN_IF_ERROR(AddExtension(
        cert.get(), &ctx, NID_key_usage,
        rsa ? "critical,digitalSignature,keyEncipherment" : "critical,digitalSignature"));
    KORCH_RETURN_IF_ERROR(AddExtension(cert.get(), &ctx, NID_ext_key_usage, spec.ext_key_usage));
  }
  KORCH_RETURN_IF_ERROR(AddExtension(cert.get(), &ctx, NID_subject_key_identifier, "hash"));
  if (issuer != nullptr) {
    KORCH_RETURN_IF_ERROR(
        AddExtension(cert.get(), &ctx, NID_authority_key_identifier, "keyid:always"));
  }
  if (!spec.sans.empty()) {
    KORCH_ASSIGN_OR_RETURN(GeneralNamesPtr names, BuildSans(spec.sans));
    if (X509_add1_ext_i2d(cert.get(), NID_subject_alt_name, names.get(), 0, X509V3_ADD_DEFAULT) !=
        1) {
      return Internal("adding subjectAltName");
    }
  }
  if (X509_sign(cert.get(), issuer_key != nullptr ? issuer_key : key, EVP_sha256()) <= 0) {
    return Internal("signing certificate");
  }
  return cert;
}

absl::StatusOr<CertKeyPair> Issue(const CertSpec& spec, KeyType key_type, X509* issuer,
                                  EVP_PKEY* issuer_key) {
  KORCH_ASSIGN_OR_RETURN(PkeyPtr key, GenerateKey(key_type));
  KORCH_ASSIGN_OR_RETURN(X509Ptr cert, BuildCertificate(spec, key.get(), issuer, issuer_key));
  CertKeyPair pair;
  KORCH_ASSIGN_OR_RETURN(pair.cert_pem, CertToPem(cert.get()));
  KORCH_ASSIGN_OR_RETURN(pair.key_pem, KeyToPem(key.get()));
  return pair;
}

std::vector<std::string> NameEntries(const X509_NAME* name, int nid) {
  std::vector<std::string> out;
  int idx = -1;
  while ((idx = X509_NAME_get_index_by_NID(name, nid, idx)) >= 0) {
    const ASN1_STRING* data = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, idx));
    unsigned char* utf8 = nullptr;
    int n = ASN1_STRING_to_UTF8(&utf8, data);
    if (n >= 0) out.emplace_back(reinterpret_cast<char*>(utf8), static_cast<size_t>(n));
    OPENSSL_free(utf8);
  }
  return out;
}

absl::StatusOr<absl::Time> TimeOf(const ASN1_TIME* t) {
  struct tm tm;
  std::memset(&tm, 0, sizeof(tm));
  if (ASN1_TIME_to_tm(t, &tm) != 1) return absl::InvalidArgumentError("malformed validity time");
  return absl::FromTimeT(timegm(&tm));
}

std::string ErrnoText(int err) { return std::strerror(err); }

absl::Status ErrnoStatus(int err, absl::string_view what) {
  std::string message = absl::StrCat(what, ": ", ErrnoText(err));
  switch (err) {
    case ENOENT:
      return absl::NotFoundError(message);
    case EACCES:
    case EPERM:
      return absl::PermissionDeniedError(message);
    default:
      return absl::InternalError(message);
  }
}

}  // namespace

// ---------------------------------------------------------------------------
// CertificateAuthority

absl::StatusOr<CertificateAuthority> CertificateAuthority::Create(const CaOptions& options) {
  ErrorQueueGuard guard;
  if (options.common_name.empty()) {
    return absl::InvalidArgumentError("CA common name must not be empty");
  }
  CertSpec spec;
  spec.common_name = options.common_name;
  spec.is_ca = true;
  spec.times = &options.times;
  KORCH_ASSIGN_OR_RETURN(CertKeyPair pair, Issue(spec, options.key_type, nullptr, nullptr));
  return CertificateAuthority(std::move(pair));
}

absl::StatusOr<CertificateAuthority> CertificateAuthority::FromPem(absl::string_view cert_pem,
                                                                   absl::string_view key_pem) {
  ErrorQueueGuard guard;
  auto cert = ParseCertPem(cert_pem);
  if (!cert.ok()) return Annotate(cert.status(), "CA certificate");
  if ((X509_get_extension_flags(cert->get()) & EXFLAG_CA) == 0) {
    return absl::InvalidArgumentError(
        "CA certificate: not a CA certificate (basicConstraints CA:TRUE is missing)");
  }
  KORCH_RETURN_IF_ERROR(
      Annotate(CheckKeyMatchesCertificate(cert_pem, key_pem), "CA certificate and key"));
  return CertificateAuthority(CertKeyPair{std::string(cert_pem), std::string(key_pem)});
}

absl::StatusOr<CertificateAuthority> CertificateAuthority::Load(absl::string_view cert_path,
                                                                absl::string_view key_path) {
  KORCH_ASSIGN_OR_RETURN(CertKeyPair pair, ReadCertKeyPair(cert_path, key_path));
  auto ca = FromPem(pair.cert_pem, pair.key_pem);
  if (!ca.ok()) return Annotate(ca.status(), cert_path);
  return ca;
}

absl::StatusOr<CertKeyPair> CertificateAuthority::IssueServingCertificate(
    const ServingCertOptions& options) const {
  ErrorQueueGuard guard;
  if (options.common_name.empty()) {
    return absl::InvalidArgumentError("serving certificate common name must not be empty");
  }
  CertSpec spec;
  spec.common_name = options.common_name;
  spec.ext_key_usage = "serverAuth";
  spec.times = &options.times;
  std::vector<std::string> hosts = {"localhost",
                                    "kubernetes",
                                    "kubernetes.default",
                                    "kubernetes.default.svc",
                                    "kubernetes.default.svc.cluster.local",
                                    "127.0.0.1",
                                    "::1"};
  hosts.insert(hosts.end(), options.hosts.begin(), options.hosts.end());
  absl::flat_hash_set<std::pair<bool, std::string>> seen;
  for (const std::string& host : hosts) {
    KORCH_ASSIGN_OR_RETURN(San san, ParseHost(host));
    if (seen.insert({san.is_ip, san.value}).second) spec.sans.push_back(std::move(san));
  }
  KORCH_ASSIGN_OR_RETURN(X509Ptr ca, ParseCertPem(pem_.cert_pem));
  KORCH_ASSIGN_OR_RETURN(PkeyPtr ca_key, ParseKeyPem(pem_.key_pem));
  return Issue(spec, options.key_type, ca.get(), ca_key.get());
}

absl::StatusOr<CertKeyPair> CertificateAuthority::IssueClientCertificate(
    const ClientCertOptions& options) const {
  ErrorQueueGuard guard;
  if (options.user.empty()) {
    return absl::InvalidArgumentError("client certificate: user (subject CN) must not be empty");
  }
  for (const std::string& group : options.groups) {
    if (group.empty()) {
      return absl::InvalidArgumentError("client certificate: a group (subject O) is empty");
    }
  }
  CertSpec spec;
  spec.common_name = options.user;
  spec.organizations = options.groups;
  spec.ext_key_usage = "clientAuth";
  spec.times = &options.times;
  KORCH_ASSIGN_OR_RETURN(X509Ptr ca, ParseCertPem(pem_.cert_pem));
  KORCH_ASSIGN_OR_RETURN(PkeyPtr ca_key, ParseKeyPem(pem_.key_pem));
  return Issue(spec, options.key_type, ca.get(), ca_key.get());
}

absl::Status CertificateAuthority::Verify(absl::string_view cert_pem, absl::string_view purpose,
                                          absl::Time now) const {
  ErrorQueueGuard guard;
  int purpose_id = 0;
  if (purpose == "serverAuth") {
    purpose_id = X509_PURPOSE_SSL_SERVER;
  } else if (purpose == "clientAuth") {
    purpose_id = X509_PURPOSE_SSL_CLIENT;
  } else if (!purpose.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("unknown purpose \"", purpose, "\": want serverAuth or clientAuth"));
  }
  KORCH_ASSIGN_OR_RETURN(X509Ptr ca, ParseCertPem(pem_.cert_pem));
  auto cert = ParseCertPem(cert_pem);
  if (!cert.ok()) return cert.status();
  std::unique_ptr<X509_STORE, StoreFree> store(X509_STORE_new());
  std::unique_ptr<X509_STORE_CTX, StoreCtxFree> ctx(X509_STORE_CTX_new());
  if (store == nullptr || ctx == nullptr || X509_STORE_add_cert(store.get(), ca.get()) != 1 ||
      X509_STORE_CTX_init(ctx.get(), store.get(), cert->get(), nullptr) != 1) {
    return Internal("setting up certificate verification");
  }
  X509_STORE_CTX_set_time(ctx.get(), 0, absl::ToTimeT(now));
  if (purpose_id != 0 && X509_STORE_CTX_set_purpose(ctx.get(), purpose_id) != 1) {
    return Internal("setting verification purpose");
  }
  if (X509_verify_cert(ctx.get()) != 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("certificate does not verify against the CA: ",
                     X509_verify_cert_error_string(X509_STORE_CTX_get_error(ctx.get()))));
  }
  return absl::OkStatus();
}

// ---------------------------------------------------------------------------
// Free functions

absl::StatusOr<CertificateInfo> ParseCertificate(absl::string_view cert_pem) {
  ErrorQueueGuard guard;
  KORCH_ASSIGN_OR_RETURN(X509Ptr cert, ParseCertPem(cert_pem));
  CertificateInfo info;
  const X509_NAME* subject = X509_get_subject_name(cert.get());
  std::vector<std::string> cns = NameEntries(subject, NID_commonName);
  if (!cns.empty()) info.common_name = cns.back();
  info.organizations = NameEntries(subject, NID_organizationName);
  std::vector<std::string> issuer_cns =
      NameEntries(X509_get_issuer_name(cert.get()), NID_commonName);
  if (!issuer_cns.empty()) info.issuer_common_name = issuer_cns.back();

  BnPtr serial(ASN1_INTEGER_to_BN(X509_get0_serialNumber(cert.get()), nullptr));
  if (serial != nullptr) {
    std::unique_ptr<char, OpensslFree> hex(BN_bn2hex(serial.get()));
    if (hex != nullptr) info.serial_hex = absl::AsciiStrToLower(hex.get());
  }
  KORCH_ASSIGN_OR_RETURN(info.not_before, TimeOf(X509_get0_notBefore(cert.get())));
  KORCH_ASSIGN_OR_RETURN(info.not_after, TimeOf(X509_get0_notAfter(cert.get())));

  // X509_get_extension_flags() also caches the parsed extensions that the
  // key usage getters below read.
  uint32_t flags = X509_get_extension_flags(cert.get());
  info.is_ca = (flags & EXFLAG_CA) != 0;
  if ((flags & EXFLAG_XKUSAGE) != 0) {
    uint32_t xku = X509_get_extended_key_usage(cert.get());
    info.server_auth = (xku & XKU_SSL_SERVER) != 0;
    info.client_auth = (xku & XKU_SSL_CLIENT) != 0;
  }

  GeneralNamesPtr names(static_cast<GENERAL_NAMES*>(
      X509_get_ext_d2i(cert.get(), NID_subject_alt_name, nullptr, nullptr)));
  if (names != nullptr) {
    for (int i = 0; i < sk_GENERAL_NAME_num(names.get()); ++i) {
      const GENERAL_NAME* gen = sk_GENERAL_NAME_value(names.get(), i);
      int type = 0;
      const ASN1_STRING* value =
          static_cast<const ASN1_STRING*>(GENERAL_NAME_get0_value(gen, &type));
      const char* data = reinterpret_cast<const char*>(ASN1_STRING_get0_data(value));
      int len = ASN1_STRING_length(value);
      if (type == GEN_DNS) {
        info.dns_names.emplace_back(data, static_cast<size_t>(len));
      } else if (type == GEN_IPADD && (len == 4 || len == 16)) {
        char text[INET6_ADDRSTRLEN];
        if (inet_ntop(len == 4 ? AF_INET : AF_INET6, data, text, sizeof(text)) != nullptr) {
          info.ip_addresses.emplace_back(text);
        }
      }
    }
  }
  return info;
}

absl::StatusOr<std::string> CertificatePemToDer(absl::string_view cert_pem) {
  ErrorQueueGuard guard;
  KORCH_ASSIGN_OR_RETURN(X509Ptr cert, ParseCertPem(cert_pem));
  unsigned char* der = nullptr;
  int n = i2d_X509(cert.get(), &der);
  if (n <= 0) return Internal("encoding certificate as DER");
  std::string out(reinterpret_cast<char*>(der), static_cast<size_t>(n));
  OPENSSL_free(der);
  return out;
}

absl::Status CertificateCoversHost(absl::string_view cert_pem, absl::string_view host) {
  ErrorQueueGuard guard;
  KORCH_ASSIGN_OR_RETURN(X509Ptr cert, ParseCertPem(cert_pem));
  absl::string_view bare = host;
  if (absl::ConsumePrefix(&bare, "[")) absl::ConsumeSuffix(&bare, "]");
  std::string name(bare);
  unsigned char buf[16];
  bool ip =
      inet_pton(AF_INET, name.c_str(), buf) == 1 || inet_pton(AF_INET6, name.c_str(), buf) == 1;
  int match =
      ip ? X509_check_ip_asc(cert.get(), name.c_str(), 0)
         : X509_check_host(
               cert.get(), name.data(), name.size(),
               X509_CHECK_FLAG_NEVER_CHECK_SUBJECT | X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS, nullptr);
  if (match != 1) {
    return absl::InvalidArgumentError(absl::StrCat("certificate is not valid for ", host));
  }
  return absl::OkStatus();
}

absl::Status CheckKeyMatchesCertificate(absl::string_view cert_pem, absl::string_view key_pem) {
  ErrorQueueGuard guard;
  auto cert = ParseCertPem(cert_pem);
  if (!cert.ok()) return Annotate(cert.status(), "certificate");
  auto key = ParseKeyPem(key_pem);
  if (!key.ok()) return Annotate(key.status(), "private key");
  if (EVP_PKEY_eq(X509_get0_pubkey(cert->get()), key->get()) != 1) {
    return absl::InvalidArgumentError("private key does not match certificate");
  }
  return absl::OkStatus();
}

absl::Status WriteFileAtomically(absl::string_view path, absl::string_view contents,
                                 unsigned int mode) {
  std::string target(path);
  std::string tmp = absl::StrCat(target, ".tmp.XXXXXX");
  int fd = mkostemp(tmp.data(), O_CLOEXEC);
  if (fd < 0) return ErrnoStatus(errno, absl::StrCat("creating a temporary file for ", path));
  auto fail = [&](absl::string_view what) {
    int err = errno;
    close(fd);
    unlink(tmp.c_str());
    return ErrnoStatus(err, absl::StrCat(what, " ", path));
  };
  // mkostemp creates the file 0600; fchmod sets the wanted mode regardless of
  // the umask.
  if (fchmod(fd, static_cast<mode_t>(mode)) != 0) return fail("setting the mode of");
  size_t done = 0;
  while (done < contents.size()) {
    ssize_t n = write(fd, contents.data() + done, contents.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return fail("writing");
    done += static_cast<size_t>(n);
  }
  if (fsync(fd) != 0) return fail("syncing");
  if (close(fd) != 0) {
    int err = errno;
    unlink(tmp.c_str());
    return ErrnoStatus(err, absl::StrCat("closing ", path));
  }
  if (rename(tmp.c_str(), target.c_str()) != 0) {
    int err = errno;
    unlink(tmp.c_str());
    return ErrnoStatus(err, absl::StrCat("renaming a temporary file to ", path));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> ReadFileToString(absl::string_view path) {
  std::string name(path);
  int fd = open(name.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return ErrnoStatus(errno, absl::StrCat("reading ", path));
  std::string out;
  char buf[8192];
  for (;;) {
    ssize_t n = read(fd, buf, sizeof(buf));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      int err = errno;
      close(fd);
      return ErrnoStatus(err, absl::StrCat("reading ", path));
    }
    if (n == 0) break;
    out.append(buf, static_cast<size_t>(n));
  }
  close(fd);
  return out;
}

absl::Status WriteCertKeyPair(const CertKeyPair& pair, absl::string_view cert_path,
                              absl::string_view key_path) {
  // The key first: a certificate on disk without its key would look like a
  // complete pair that fails to load.
  KORCH_RETURN_IF_ERROR(WriteFileAtomically(key_path, pair.key_pem, 0600));
  return WriteFileAtomically(cert_path, pair.cert_pem, 0644);
}

absl::StatusOr<CertKeyPair> ReadCertKeyPair(absl::string_view cert_path,
                                            absl::string_view key_path) {
  CertKeyPair pair;
  KORCH_ASSIGN_OR_RETURN(pair.cert_pem, ReadFileToString(cert_path));
  KORCH_ASSIGN_OR_RETURN(pair.key_pem, ReadFileToString(key_path));
  {
    ErrorQueueGuard guard;
    auto cert = ParseCertPem(pair.cert_pem);
    if (!cert.ok()) return Annotate(cert.status(), cert_path);
    auto key = ParseKeyPem(pair.key_pem);
    if (!key.ok()) return Annotate(key.status(), key_path);
  }
  KORCH_RETURN_IF_ERROR(Annotate(CheckKeyMatchesCertificate(pair.cert_pem, pair.key_pem),
                                 absl::StrCat(key_path, " and ", cert_path)));
  return pair;
}

absl::StatusOr<std::string> RandomHexToken(int bytes) {
  if (bytes <= 0) return absl::InvalidArgumentError("token length must be positive");
  ErrorQueueGuard guard;
  KORCH_ASSIGN_OR_RETURN(std::string raw, RandomBytes(bytes));
  return absl::BytesToHexString(raw);
}

}  // namespace korch::apiserver
