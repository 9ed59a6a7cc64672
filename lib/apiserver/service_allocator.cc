#include "service_allocator.h"

#include <arpa/inet.h>

#include <algorithm>
#include <bit>
#include <cstdint>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "korch/api/core.pb.h"
#include "korch/api/scheme.h"
#include "korch/base/logging.h"
#include "korch/base/status.h"
#include "storage_layout.h"

namespace korch::apiserver::internal {
namespace {

constexpr char kIpKey[] = "/registry/ranges/serviceips";
constexpr char kPortKey[] = "/registry/ranges/servicenodeports";
// Guarded writes lost to other API servers before giving up: a conflict
// means someone else made progress, so a long losing streak means heavy
// contention that the caller should back off from.
constexpr int kMaxAttempts = 20;
// The first token of a stored range; a different token is not ours.
constexpr absl::string_view kMagic = "korch-range/v1";
constexpr absl::string_view kEncoding = "zrle";
// Kubernetes caps the service range at 2^20 addresses.
constexpr int kMinPrefix = 12;
// A /30 has two usable addresses: the reserved first one and one more.
constexpr int kMaxPrefix = 30;
constexpr int64_t kRepairPageSize = 500;

const Logger& Log() {
  static const Logger* const log = new Logger("apiserver.allocator");
  return *log;
}

// The numbers a bitmap's bits stand for: bit i is base + i, for i < size.
struct Span {
  uint64_t base = 0;
  uint64_t size = 0;
  // Canonical text: "10.96.0.0/12" or "30000-32767".
  std::string text;
};

std::optional<uint32_t> ParseIPv4(absl::string_view text) {
  // inet_pton wants a NUL-terminated string and takes only the strict
  // dotted-quad form (no leading zeros, no shorthand like "10.1").
  std::string copy(text);
  in_addr addr;
  if (inet_pton(AF_INET, copy.c_str(), &addr) != 1) return std::nullopt;
  return ntohl(addr.s_addr);
}

bool IsIPv6(absl::string_view text) {
  std::string copy(text);
  in6_addr addr;
  return inet_pton(AF_INET6, copy.c_str(), &addr) == 1;
}

std::string FormatIPv4(uint64_t ip) {
  return absl::StrCat((ip >> 24) & 0xff, ".", (ip >> 16) & 0xff, ".", (ip >> 8) & 0xff, ".",
                      ip & 0xff);
}

absl::StatusOr<Span> ParseCidr(absl::string_view cidr) {
  const auto invalid = [&](absl::string_view why) {
    return absl::InvalidArgumentError(absl::StrCat("invalid CIDR address: \"", cidr, "\": ", why));
  };
  const size_t slash = cidr.find('/');
  if (slash == absl::string_view::npos) {
    return invalid("want an IPv4 network and prefix length, like 10.96.0.0/12");
  }
  const absl::string_view address = cidr.substr(0, slash);
  const absl::string_view length = cidr.substr(slash + 1);
  const std::optional<uint32_t> ip = ParseIPv4(address);
  if (!ip) {
    if (IsIPv6(address)) return invalid("only IPv4 service ranges are supported");
    return invalid(absl::StrCat("\"", address, "\" is not a valid IPv4 address"));
  }
  int prefix = -1;
  if (length.empty() || length.size() > 2 ||
      !std::all_of(length.begin(), length.end(), absl::ascii_isdigit) ||
      !absl::SimpleAtoi(length, &prefix) || prefix > 32) {
    return invalid("the prefix length must be a number from 0 to 32");
  }
  if (prefix < kMinPrefix) {
    return absl::InvalidArgumentError(
        absl::StrCat("specified --service-cluster-ip-range is too large; for 32-bit addresses, "
                     "the mask must be >= ",
                     kMinPrefix));
  }
  if (prefix > kMaxPrefix) {
    return absl::InvalidArgumentError(
        absl::StrCat("specified --service-cluster-ip-range is too small; for 32-bit addresses, "
                     "the mask must be <= ",
                     kMaxPrefix,
                     " so that the range has an address besides the network, "
                     "broadcast and kubernetes service addresses"));
  }
  Span span;
  span.size = uint64_t{1} << (32 - prefix);
  // Like Kubernetes, "10.96.0.1/12" means the network that contains it.
  span.base = *ip & ~(span.size - 1);
  span.text = absl::StrCat(FormatIPv4(span.base), "/", prefix);
  return span;
}

absl::StatusOr<Span> PortSpan(int64_t min, int64_t max) {
  if (min < 1 || max > 65535 || min > max) {
    return absl::InvalidArgumentError(
        absl::StrCat("invalid service node port range ", min, "-", max,
                     ": want first-last with 1 <= first <= last <= 65535, like 30000-32767"));
  }
  Span span;
  span.base = static_cast<uint64_t>(min);
  span.size = static_cast<uint64_t>(max - min + 1);
  span.text = absl::StrCat(min, "-", max);
  return span;
}

absl::StatusOr<Span> ParsePortRange(absl::string_view text) {
  std::vector<absl::string_view> parts = absl::StrSplit(text, '-');
  int64_t min = 0;
  int64_t max = 0;
  if (parts.size() != 2 || !absl::SimpleAtoi(parts[0], &min) || !absl::SimpleAtoi(parts[1], &max)) {
    return absl::InvalidArgumentError(
        absl::StrCat("invalid service node port range \"", text, "\""));
  }
  return PortSpan(min, max);
}

void PutVarint(std::string* out, uint64_t v) {
  while (v >= 0x80) {
    out->push_back(static_cast<char>((v & 0x7f) | 0x80));
    v >>= 7;
  }
  out->push_back(static_cast<char>(v));
}

bool GetVarint(absl::string_view* in, uint64_t* v) {
  *v = 0;
  for (int shift = 0; shift < 64 && !in->empty(); shift += 7) {
    const auto byte = static_cast<unsigned char>(in->front());
    in->remove_prefix(1);
    *v |= static_cast<uint64_t>(byte & 0x7f) << shift;
    if ((byte & 0x80) == 0) return true;
  }
  return false;
}

// A bitmap is mostly zero bytes (a /12 is 128 KiB for perhaps a few hundred
// Services), and every allocation rewrites it and puts a copy in the store's
// watch history. So it is stored as pairs (zero-run length, literal length,
// literal bytes), which keeps a sparse map to a few bytes per allocation and
// a dense one within 1.5x of its raw size.
std::string EncodeRuns(const std::string& bits) {
  std::string out;
  const size_t n = bits.size();
  size_t i = 0;
  while (i < n) {
    size_t zeros_end = i;
    while (zeros_end < n && bits[zeros_end] == 0) ++zeros_end;
    size_t literal_end = zeros_end;
    // A literal ends where three zero bytes start: shorter zero runs cost
    // less inside the literal than as a new pair.
    while (literal_end < n && !(literal_end + 2 < n && bits[literal_end] == 0 &&
                                bits[literal_end + 1] == 0 && bits[literal_end + 2] == 0)) {
      ++literal_end;
    }
    PutVarint(&out, zeros_end - i);
    PutVarint(&out, literal_end - zeros_end);
    out.append(bits, zeros_end, literal_end - zeros_end);
    i = literal_end;
  }
  return out;
}

absl::StatusOr<std::string> DecodeRuns(absl::string_view in, size_t bytes) {
  std::string out;
  out.reserve(bytes);
  while (!in.empty()) {
    uint64_t zeros = 0;
    uint64_t literal = 0;
    if (!GetVarint(&in, &zeros) || !GetVarint(&in, &literal) || literal > in.size() ||
        zeros > bytes - out.size() || literal > bytes - out.size() - zeros) {
      return absl::DataLossError("truncated or overlong bitmap");
    }
    out.append(zeros, '\0');
    out.append(in.data(), literal);
    in.remove_prefix(literal);
  }
  out.resize(bytes, '\0');
  return out;
}

bool TestBit(const std::string& bits, uint64_t i) {
  return (static_cast<unsigned char>(bits[i / 8]) >> (i % 8)) & 1;
}
void SetBit(std::string& bits, uint64_t i) {
  bits[i / 8] = static_cast<char>(static_cast<unsigned char>(bits[i / 8]) | (1u << (i % 8)));
}
void ClearBit(std::string& bits, uint64_t i) {
  bits[i / 8] = static_cast<char>(static_cast<unsigned char>(bits[i / 8]) & ~(1u << (i % 8)));
}

bool IsConflict(const absl::Status& status) {
  // kNotFound: the key was deleted since we read it; kAlreadyExists: it was
  // created since we saw it absent. Both mean "re-read and decide again".
  return absl::IsAborted(status) || absl::IsNotFound(status) || absl::IsAlreadyExists(status);
}

// One allocation bitmap in the store (bit i = number base + i; bit i of
// byte i / 8 is (1 << i % 8)) with an in-memory copy and the copy's mod
// revision. Only offsets in [lo, hi] are ever set. Not thread-safe: the
// allocator serializes calls.
class BitmapRange {
 public:
  struct Shape {
    std::string key;
    Span span;
    // What the errors call an entry: "IP" or "port".
    std::string noun;
    // Offsets that can be allocated on request, and the lowest one handed
    // out when any will do.
    uint64_t lo = 0;
    uint64_t hi = 0;
    uint64_t any_lo = 0;
    // Parses the range text of a stored bitmap.
    absl::StatusOr<Span> (*parse)(absl::string_view) = nullptr;
  };

  BitmapRange(store::Storage* storage, Shape shape, uint64_t start)
      : storage_(storage), shape_(std::move(shape)), next_(start % shape_.span.size) {}

  const Shape& shape() const { return shape_; }
  bool Allocatable(uint64_t offset) const { return offset >= shape_.lo && offset <= shape_.hi; }
  std::string Empty() const { return std::string((shape_.span.size + 7) / 8, '\0'); }

  // Allocates `offset` (Allocatable() must hold), or any free offset.
  absl::StatusOr<uint64_t> Allocate(std::optional<uint64_t> offset) {
    uint64_t result = 0;
    KORCH_RETURN_IF_ERROR(Mutate([&](std::string& bits) -> absl::StatusOr<bool> {
      if (offset) {
        if (TestBit(bits, *offset)) {
          return absl::AlreadyExistsError(
              absl::StrCat("provided ", shape_.noun, " is already allocated"));
        }
        result = *offset;
      } else {
        std::optional<uint64_t> found = FindFree(bits);
        if (!found) return absl::ResourceExhaustedError("range is full");
        result = *found;
      }
      SetBit(bits, result);
      return true;
    }));
    if (!offset) next_ = (result + 1) % shape_.span.size;
    return result;
  }

  absl::Status Release(uint64_t offset) {
    return Mutate([&](std::string& bits) -> absl::StatusOr<bool> {
      if (!TestBit(bits, offset)) return false;
      ClearBit(bits, offset);
      return true;
    });
  }

  absl::StatusOr<int64_t> Free() {
    // Other API servers change the map too: count what the store has.
    KORCH_RETURN_IF_ERROR(Load());
    int64_t used = 0;
    for (char c : bits_) used += std::popcount(static_cast<unsigned char>(c));
    return static_cast<int64_t>(shape_.hi - shape_.lo + 1) - used;
  }

  // The stored value for `bits`.
  std::string Encode(const std::string& bits) const {
    return absl::StrCat(kMagic, " ", shape_.span.text, " ", kEncoding, "\n", EncodeRuns(bits));
  }

  // After a write of Encode(bits) at `revision` by someone holding the lock.
  void Install(std::string bits, int64_t revision) {
    bits_ = std::move(bits);
    mod_revision_ = revision;
    loaded_ = true;
  }
  void Invalidate() { loaded_ = false; }

 private:
  // Applies `change` to the bitmap with a guarded write. `change` returns
  // whether it changed anything, or an error for the caller. An error or a
  // no-op decided on the cached copy is decided again on a fresh read, since
  // another API server may have changed the map since.
  absl::Status Mutate(absl::FunctionRef<absl::StatusOr<bool>(std::string&)> change) {
    for (int attempt = 0; attempt < kMaxAttempts; ++attempt) {
      const bool fresh = !loaded_;
      if (fresh) KORCH_RETURN_IF_ERROR(Load());
      std::string bits = bits_;
      absl::StatusOr<bool> changed = change(bits);
      if (!changed.ok() || !*changed) {
        if (fresh) return changed.status();
        loaded_ = false;
        continue;
      }
      const std::string value = Encode(bits);
      absl::StatusOr<int64_t> revision = mod_revision_ == 0
                                             ? storage_->Create(shape_.key, value)
                                             : storage_->Update(shape_.key, value, mod_revision_);
      if (revision.ok()) {
        Install(std::move(bits), *revision);
        return absl::OkStatus();
      }
      if (!IsConflict(revision.status())) return revision.status();
      loaded_ = false;
    }
    return absl::UnavailableError(absl::StrCat("too many conflicting updates of ", shape_.key,
                                               " from other API servers; try again"));
  }

  absl::Status Load() {
    absl::StatusOr<store::KeyValue> kv = storage_->Get(shape_.key);
    if (absl::IsNotFound(kv.status())) {
      Install(Empty(), 0);
      return absl::OkStatus();
    }
    if (!kv.ok()) return kv.status();
    absl::StatusOr<std::string> bits = Decode(kv->value);
    if (!bits.ok()) {
      return absl::DataLossError(absl::StrCat("stored allocation map ", shape_.key, " is corrupt (",
                                              bits.status().message(),
                                              "); Repair() rebuilds it from the Services"));
    }
    Install(*std::move(bits), kv->mod_revision);
    return absl::OkStatus();
  }

  // The bitmap of a stored value, moved into the configured range when the
  // stored one differs (the operator changed the range): entries that still
  // fit are kept, the others dropped.
  absl::StatusOr<std::string> Decode(absl::string_view value) const {
    const size_t newline = value.find('\n');
    if (newline == absl::string_view::npos) return absl::DataLossError("no header line");
    std::vector<absl::string_view> header = absl::StrSplit(value.substr(0, newline), ' ');
    if (header.size() != 3 || header[0] != kMagic || header[2] != kEncoding) {
      return absl::DataLossError("unknown header");
    }
    absl::StatusOr<Span> stored = shape_.parse(header[1]);
    if (!stored.ok()) return absl::DataLossError(stored.status().message());
    KORCH_ASSIGN_OR_RETURN(std::string raw,
                           DecodeRuns(value.substr(newline + 1), (stored->size + 7) / 8));
    std::string bits = Empty();
    int64_t dropped = 0;
    for (uint64_t byte = 0; byte < raw.size(); ++byte) {
      const auto c = static_cast<unsigned char>(raw[byte]);
      if (c == 0) continue;
      for (uint64_t bit = 0; bit < 8; ++bit) {
        if (((c >> bit) & 1) == 0) continue;
        const uint64_t number = stored->base + byte * 8 + bit;
        const uint64_t offset = number - shape_.span.base;  // wraps when below: then too big
        if (byte * 8 + bit < stored->size && number >= shape_.span.base && Allocatable(offset)) {
          SetBit(bits, offset);
        } else {
          ++dropped;
        }
      }
    }
    if (dropped > 0 && !warned_) {
      warned_ = true;
      KORCH_LOG(Log(), kWarning) << dropped << " allocations in " << shape_.key << " (stored for "
                                 << header[1] << ") do not fit the configured range "
                                 << shape_.span.text << " and are ignored";
    }
    return bits;
  }

  // A free offset in [any_lo, hi], scanning byte by byte from next_ so that
  // full stretches cost one comparison per eight entries.
  std::optional<uint64_t> FindFree(const std::string& bits) const {
    const uint64_t bytes = bits.size();
    const uint64_t start = next_ / 8;
    for (uint64_t n = 0; n < bytes; ++n) {
      const uint64_t byte = (start + n) % bytes;
      const auto c = static_cast<unsigned char>(bits[byte]);
      if (c == 0xff) continue;
      for (uint64_t bit = 0; bit < 8; ++bit) {
        const uint64_t offset = byte * 8 + bit;
        if (((c >> bit) & 1) == 0 && offset >= shape_.any_lo && offset <= shape_.hi) {
          return offset;
        }
      }
    }
    return std::nullopt;
  }

  store::Storage* const storage_;
  const Shape shape_;
  // Where the next "any" scan starts.
  uint64_t next_ = 0;
  bool loaded_ = false;
  std::string bits_;
  // 0: the key did not exist when read.
  int64_t mod_revision_ = 0;
  mutable bool warned_ = false;
};

class ServiceAllocatorImpl final : public ServiceAllocator {
 public:
  ServiceAllocatorImpl(store::Storage* storage, BitmapRange::Shape ips, BitmapRange::Shape ports,
                       uint64_t seed)
      : storage_(storage),
        ips_(storage, std::move(ips), seed),
        ports_(storage, std::move(ports), seed >> 20) {}

  absl::StatusOr<std::string> AllocateIP(absl::string_view ip) override {
    absl::MutexLock lock(&mu_);
    std::optional<uint64_t> offset;
    if (!ip.empty()) {
      KORCH_ASSIGN_OR_RETURN(offset, IpOffset(ip));
      if (!offset) {
        return absl::InvalidArgumentError(absl::StrCat(
            "provided IP (", ip, ") is not in the valid range. The range of valid IPs is ",
            ips_.shape().span.text));
      }
    }
    KORCH_ASSIGN_OR_RETURN(uint64_t got, ips_.Allocate(offset));
    return FormatIPv4(ips_.shape().span.base + got);
  }

  absl::Status ReleaseIP(absl::string_view ip) override {
    absl::MutexLock lock(&mu_);
    // Whatever cannot be ours ("None", "", IPv6, another range) has nothing
    // to free: the registry releases a Service's clusterIP without checking.
    absl::StatusOr<std::optional<uint64_t>> offset = IpOffset(ip);
    if (!offset.ok() || !*offset) return absl::OkStatus();
    return ips_.Release(**offset);
  }

  absl::StatusOr<int> AllocatePort(int port) override {
    absl::MutexLock lock(&mu_);
    std::optional<uint64_t> offset;
    if (port != 0) {
      offset = PortOffset(port);
      if (!offset) {
        return absl::InvalidArgumentError(
            absl::StrCat("provided port is not in the valid range. The range of valid ports is ",
                         ports_.shape().span.text));
      }
    }
    KORCH_ASSIGN_OR_RETURN(uint64_t got, ports_.Allocate(offset));
    return static_cast<int>(ports_.shape().span.base + got);
  }

  absl::Status ReleasePort(int port) override {
    absl::MutexLock lock(&mu_);
    std::optional<uint64_t> offset = PortOffset(port);
    if (!offset) return absl::OkStatus();
    return ports_.Release(*offset);
  }

  absl::Status Repair() override;

  absl::StatusOr<int64_t> FreeIPs() override {
    absl::MutexLock lock(&mu_);
    return ips_.Free();
  }
  absl::StatusOr<int64_t> FreePorts() override {
    absl::MutexLock lock(&mu_);
    return ports_.Free();
  }

 private:
  // The offset of `ip` in the range, nullopt when it is a valid address that
  // cannot be allocated here, InvalidArgument when it is no address.
  absl::StatusOr<std::optional<uint64_t>> IpOffset(absl::string_view ip) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    const std::optional<uint32_t> parsed = ParseIPv4(ip);
    if (!parsed) {
      if (IsIPv6(ip)) return std::optional<uint64_t>();
      return absl::InvalidArgumentError(
          absl::StrCat("provided IP (", ip, ") is not a valid IP address"));
    }
    const uint64_t offset = uint64_t{*parsed} - ips_.shape().span.base;
    if (*parsed < ips_.shape().span.base || !ips_.Allocatable(offset)) {
      return std::optional<uint64_t>();
    }
    return std::optional<uint64_t>(offset);
  }

  std::optional<uint64_t> PortOffset(int port) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (port < 0) return std::nullopt;
    const uint64_t offset = static_cast<uint64_t>(port) - ports_.shape().span.base;
    if (static_cast<uint64_t>(port) < ports_.shape().span.base || !ports_.Allocatable(offset)) {
      return std::nullopt;
    }
    return offset;
  }

  store::Storage* const storage_;
  // One lock for both maps: every change is a store round trip anyway, and
  // Repair() replaces both at once.
  absl::Mutex mu_;
  BitmapRange ips_ ABSL_GUARDED_BY(mu_);
  BitmapRange ports_ ABSL_GUARDED_BY(mu_);
};

absl::Status ServiceAllocatorImpl::Repair() {
  const api::KindInfo* kind = api::Scheme::Builtin().Find(api::Service::descriptor());
  if (kind == nullptr) return absl::InternalError("the scheme has no Service kind");
  const std::string prefix = ResourcePrefix(*kind);
  const std::string end = store::PrefixEnd(prefix);

  absl::MutexLock lock(&mu_);
  for (int attempt = 0; attempt < kMaxAttempts; ++attempt) {
    // The maps' revisions are read before the Services, and the write is
    // guarded by them: an allocation that lands in between makes the write
    // fail and the repair start over. An allocation made before this read
    // whose Service is written after the Range below is dropped; Repair()
    // is meant for start-up, before this server allocates.
    int64_t revisions[2] = {0, 0};
    const std::string* keys[2] = {&ips_.shape().key, &ports_.shape().key};
    for (int i = 0; i < 2; ++i) {
      absl::StatusOr<store::KeyValue> kv = storage_->Get(*keys[i]);
      if (kv.ok()) {
        revisions[i] = kv->mod_revision;
      } else if (!absl::IsNotFound(kv.status())) {
        return kv.status();
      }
    }

    std::string ip_bits = ips_.Empty();
    std::string port_bits = ports_.Empty();
    store::RangeOptions options;
    options.limit = kRepairPageSize;
    std::string start = prefix;
    for (;;) {
      KORCH_ASSIGN_OR_RETURN(store::RangeResult page, storage_->Range(start, end, options));
      for (const store::KeyValue& kv : page.kvs) {
        absl::StatusOr<std::unique_ptr<google::protobuf::Message>> decoded =
            DecodeStored(*kind, kv.key, kv.value, kv.mod_revision);
        if (!decoded.ok()) {
          KORCH_LOG(Log(), kWarning) << "repair skips " << kv.key << ": " << decoded.status();
          continue;
        }
        const auto& service = static_cast<const api::Service&>(**decoded);
        const api::ServiceSpec& spec = service.spec();
        // clusterIP repeats clusterIPs[0] (when both are set).
        std::set<std::string> ips(spec.cluster_ips().begin(), spec.cluster_ips().end());
        ips.insert(spec.cluster_ip());
        for (const std::string& ip : ips) {
          if (ip.empty() || ip == "None") continue;
          absl::StatusOr<std::optional<uint64_t>> offset = IpOffset(ip);
          if (offset.ok() && *offset) {
            SetBit(ip_bits, **offset);
          } else if (!IsIPv6(ip)) {
            KORCH_LOG(Log(), kWarning) << kv.key << " has cluster IP " << ip
                                       << " outside the service range " << ips_.shape().span.text;
          }
        }
        std::vector<int> ports;
        for (const api::ServicePort& port : spec.ports()) ports.push_back(port.node_port());
        ports.push_back(spec.health_check_node_port());
        for (int port : ports) {
          if (port == 0) continue;
          if (std::optional<uint64_t> offset = PortOffset(port)) {
            SetBit(port_bits, *offset);
          } else {
            KORCH_LOG(Log(), kWarning)
                << kv.key << " has node port " << port << " outside the node port range "
                << ports_.shape().span.text;
          }
        }
      }
      if (!page.more) break;
      start = page.continue_key;
      options.revision = page.revision;
    }

    std::string ip_value = ips_.Encode(ip_bits);
    std::string port_value = ports_.Encode(port_bits);
    absl::StatusOr<store::TxnResult> txn =
        storage_->Txn({{*keys[0], revisions[0]}, {*keys[1], revisions[1]}},
                      {store::Op::Put(*keys[0], std::move(ip_value)),
                       store::Op::Put(*keys[1], std::move(port_value))});
    if (txn.ok()) {
      ips_.Install(std::move(ip_bits), txn->revision);
      ports_.Install(std::move(port_bits), txn->revision);
      return absl::OkStatus();
    }
    if (!absl::IsAborted(txn.status())) return txn.status();
    ips_.Invalidate();
    ports_.Invalidate();
  }
  return absl::UnavailableError(
      "too many conflicting updates of the service allocation maps from other API servers "
      "during repair; try again");
}

}  // namespace

absl::StatusOr<std::unique_ptr<ServiceAllocator>> ServiceAllocator::Create(store::Storage* storage,
                                                                           absl::string_view cidr,
                                                                           int port_min,
                                                                           int port_max) {
  if (storage == nullptr) return absl::InvalidArgumentError("ServiceAllocator needs a storage");
  KORCH_ASSIGN_OR_RETURN(Span ip_span, ParseCidr(cidr));
  KORCH_ASSIGN_OR_RETURN(Span port_span, PortSpan(port_min, port_max));

  BitmapRange::Shape ips;
  ips.key = kIpKey;
  ips.noun = "IP";
  // Offset 0 is the network address, size - 1 the broadcast address; offset
  // 1 belongs to the "kubernetes" Service and is handed out only on request.
  ips.lo = 1;
  ips.hi = ip_span.size - 2;
  ips.any_lo = 2;
  ips.span = std::move(ip_span);
  ips.parse = &ParseCidr;

  BitmapRange::Shape ports;
  ports.key = kPortKey;
  ports.noun = "port";
  ports.lo = 0;
  ports.hi = port_span.size - 1;
  ports.any_lo = 0;
  ports.span = std::move(port_span);
  ports.parse = &ParsePortRange;

  // Different API servers start their "any" scans at different places, so
  // that they rarely race for the same entry.
  std::random_device random;
  const uint64_t seed = (uint64_t{random()} << 32) | random();
  return std::make_unique<ServiceAllocatorImpl>(storage, std::move(ips), std::move(ports), seed);
}

}  // namespace korch::apiserver::internal
