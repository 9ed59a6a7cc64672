// A small public-key infrastructure for an API server that sets itself up:
// a self-signed certificate authority, a serving certificate for the API
// server and client certificates for users (subject CN = user name,
// O = groups, which is how X509Authenticator reads them).
//
//   auto ca = CertificateAuthority::Create({});
//   auto serving = ca->IssueServingCertificate({.hosts = {"10.0.0.5"}});
//   auto admin = ca->IssueClientCertificate({.user = "alice",
//                                            .groups = {"system:masters"}});
//   KORCH_RETURN_IF_ERROR(WriteCertKeyPair(*admin, "admin.crt", "admin.key"));
//
// Certificates and keys travel as PEM text; no OpenSSL type appears in this
// header. Private keys are unencrypted PKCS#8 PEM and are written to files
// readable by their owner only (mode 0600).
//
// Everything here is a value type or a free function and is thread-safe.

#ifndef KORCH_APISERVER_PKI_H_
#define KORCH_APISERVER_PKI_H_

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "korch/base/clock.h"
#include "korch/export.h"

namespace korch::apiserver {

// The algorithm of a generated key pair.
enum class KeyType {
  // ECDSA on NIST P-256, signatures with SHA-256: small and fast.
  kEcP256,
  // RSA with a 2048-bit modulus, signatures with SHA-256 (PKCS#1 v1.5), for
  // clients that cannot use EC keys.
  kRsa2048,
};

// A certificate and its private key, both PEM.
struct CertKeyPair {
  std::string cert_pem;
  std::string key_pem;
};

// What a certificate says, for callers that check a loaded certificate
// (is it still valid, does it name this host) and for tests.
struct CertificateInfo {
  // Subject common name and organizations (in order).
  std::string common_name;
  std::vector<std::string> organizations;
  // Issuer common name.
  std::string issuer_common_name;
  // The serial number, lower-case hex.
  std::string serial_hex;
  absl::Time not_before;
  absl::Time not_after;
  // basicConstraints CA:TRUE.
  bool is_ca = false;
  // Extended key usages present.
  bool server_auth = false;
  bool client_auth = false;
  // Subject alternative names: DNS names, and IP addresses in their usual
  // text form ("127.0.0.1", "::1"), in certificate order.
  std::vector<std::string> dns_names;
  std::vector<std::string> ip_addresses;
};

// Options shared by every certificate this file issues.
struct CertificateTimes {
  // How long the certificate is valid from now.
  absl::Duration validity = absl::Hours(24 * 365);
  // notBefore is set this far before now, so that a client whose clock is a
  // little behind accepts a certificate made a moment ago.
  absl::Duration backdate = absl::Hours(1);
  // The source of "now". Null: the real clock.
  std::shared_ptr<Clock> clock;
};

struct CaOptions {
  // The CA's subject common name.
  std::string common_name = "korch-ca";
  KeyType key_type = KeyType::kEcP256;
  // Ten years, like the CAs of kubeadm and k3s.
  CertificateTimes times = {absl::Hours(24 * 365 * 10), absl::Hours(1), nullptr};
};

struct ServingCertOptions {
  // The subject common name (clients check the SANs, not this).
  std::string common_name = "kube-apiserver";
  // Names and addresses the server is reached by, besides the ones every
  // serving certificate gets (DNS localhost, kubernetes, kubernetes.default,
  // kubernetes.default.svc, kubernetes.default.svc.cluster.local; IP
  // 127.0.0.1 and ::1). An entry that parses as an IPv4 or IPv6 address
  // (brackets allowed: "[fe80::1]") becomes an IP SAN, any other a DNS SAN,
  // which must be a valid DNS name, optionally with a leading "*." wildcard.
  // Duplicates are dropped.
  std::vector<std::string> hosts;
  KeyType key_type = KeyType::kEcP256;
  CertificateTimes times;
};

struct ClientCertOptions {
  // The user name (subject CN). Required.
  std::string user;
  // The groups (one subject O each, in order).
  std::vector<std::string> groups;
  KeyType key_type = KeyType::kEcP256;
  CertificateTimes times;
};

// A CA certificate with its private key: signs serving and client
// certificates. A value type (copyable; it holds PEM text only).
class KORCH_EXPORT CertificateAuthority {
 public:
  // A new key and a self-signed CA certificate (basicConstraints CA:TRUE,
  // critical; keyUsage keyCertSign, cRLSign, digitalSignature).
  static absl::StatusOr<CertificateAuthority> Create(const CaOptions& options);
  // An existing CA. kInvalidArgument when either PEM does not parse, when
  // the certificate is not a CA certificate, or when the key is not the
  // certificate's.
  static absl::StatusOr<CertificateAuthority> FromPem(absl::string_view cert_pem,
                                                      absl::string_view key_pem);
  // FromPem() on the contents of two files; kNotFound when a file does not
  // exist, errors name the file.
  static absl::StatusOr<CertificateAuthority> Load(absl::string_view cert_path,
                                                   absl::string_view key_path);

  // A certificate for a TLS server (extendedKeyUsage serverAuth) signed by
  // this CA. kInvalidArgument for a malformed host.
  absl::StatusOr<CertKeyPair> IssueServingCertificate(const ServingCertOptions& options) const;
  // A certificate for a TLS client (extendedKeyUsage clientAuth) signed by
  // this CA. kInvalidArgument when the user is empty.
  absl::StatusOr<CertKeyPair> IssueClientCertificate(const ClientCertOptions& options) const;

  // OK when `cert_pem` chains to this CA and is valid at `now` (and for
  // `purpose`, when it is "serverAuth" or "clientAuth"); kInvalidArgument
  // otherwise, with OpenSSL's reason ("certificate has expired",
  // "certificate signature failure", ...).
  absl::Status Verify(absl::string_view cert_pem, absl::string_view purpose = "",
                      absl::Time now = absl::Now()) const;

  const CertKeyPair& pem() const { return pem_; }
  const std::string& cert_pem() const { return pem_.cert_pem; }
  const std::string& key_pem() const { return pem_.key_pem; }

 private:
  explicit CertificateAuthority(CertKeyPair pem) : pem_(std::move(pem)) {}
  CertKeyPair pem_;
};

// The fields of the first certificate in `cert_pem`; kInvalidArgument when
// it does not parse.
KORCH_EXPORT absl::StatusOr<CertificateInfo> ParseCertificate(absl::string_view cert_pem);

// The DER encoding of the first certificate in `cert_pem` (what a TLS
// transport hands to X509Authenticator as AuthnRequest::client_cert_der).
KORCH_EXPORT absl::StatusOr<std::string> CertificatePemToDer(absl::string_view cert_pem);

// OK when the certificate's subject alternative names cover `host`: an IP
// address (brackets allowed) must be an IP SAN; a DNS name must match a DNS
// SAN, where "*." matches exactly one label. The subject CN is never used.
// kInvalidArgument ("certificate is not valid for <host>") otherwise.
KORCH_EXPORT absl::Status CertificateCoversHost(absl::string_view cert_pem, absl::string_view host);

// OK when `key_pem` is the private key of the certificate `cert_pem`;
// kInvalidArgument otherwise ("private key does not match certificate").
KORCH_EXPORT absl::Status CheckKeyMatchesCertificate(absl::string_view cert_pem,
                                                     absl::string_view key_pem);

// Writes the certificate (mode 0644) and the key (mode 0600). Each file is
// written to a temporary file beside it and renamed into place, so a reader
// never sees half a file. The directory must exist.
KORCH_EXPORT absl::Status WriteCertKeyPair(const CertKeyPair& pair, absl::string_view cert_path,
                                           absl::string_view key_path);

// Reads a certificate and its key: kNotFound when either file does not
// exist; kInvalidArgument, naming the file, when one does not parse or the
// key is not the certificate's.
KORCH_EXPORT absl::StatusOr<CertKeyPair> ReadCertKeyPair(absl::string_view cert_path,
                                                         absl::string_view key_path);

// Writes `contents` to `path` with `mode`, atomically as WriteCertKeyPair
// does. For secrets (keys, tokens, kubeconfigs with credentials) use 0600.
KORCH_EXPORT absl::Status WriteFileAtomically(absl::string_view path, absl::string_view contents,
                                              unsigned int mode);

// Reads a whole file: kNotFound when it does not exist, kPermissionDenied or
// kInternal (with errno's text) when it cannot be read.
KORCH_EXPORT absl::StatusOr<std::string> ReadFileToString(absl::string_view path);

// `bytes` bytes from OpenSSL's CSPRNG as lower-case hex: for bearer tokens.
// kInternal when the generator fails.
KORCH_EXPORT absl::StatusOr<std::string> RandomHexToken(int bytes = 32);

}  // namespace korch::apiserver

#endif  // KORCH_APISERVER_PKI_H_
