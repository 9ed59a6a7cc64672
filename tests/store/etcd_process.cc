#include "tests/store/etcd_process.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"

namespace korch::testutil {
namespace {

// Reserves `n` distinct free loopback ports: all sockets stay bound until
// every port is chosen, then they are closed so that etcd can bind them.
absl::Status FreePorts(int n, std::vector<int>* ports) {
  std::vector<int> fds;
  absl::Status status;
  for (int i = 0; i < n; ++i) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
      status = absl::InternalError(absl::StrCat("socket: ", strerror(errno)));
      break;
    }
    fds.push_back(fd);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = 0;
    socklen_t len = sizeof(addr);
    if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
        getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
      status = absl::InternalError(absl::StrCat("bind 127.0.0.1:0: ", strerror(errno)));
      break;
    }
    ports->push_back(ntohs(addr.sin_port));
  }
  for (int fd : fds) close(fd);
  return status;
}

// Sends `request` to 127.0.0.1:`port` and returns the whole response
// ("" on failure). One-second timeouts.
std::string Http(int port, const std::string& request) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return "";
  timeval tv{1, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<uint16_t>(port));
  std::string response;
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0 &&
      write(fd, request.data(), request.size()) == static_cast<ssize_t>(request.size())) {
    char buf[1024];
    ssize_t n;
    while ((n = read(fd, buf, sizeof(buf))) > 0) response.append(buf, static_cast<size_t>(n));
  }
  close(fd);
  return response;
}

// GET /health on an etcd client port; true if the member reports a leader
// and serves reads ({"health":"true"}).
bool Healthy(int port) {
  return Http(port, "GET /health HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
             .find("\"health\":\"true\"") != std::string::npos;
}

// The string value of the first `"field":"..."` in `json` ("" if absent).
std::string JsonField(const std::string& json, const std::string& field) {
  std::string pattern = "\"" + field + "\":\"";
  size_t at = json.find(pattern);
  if (at == std::string::npos) return "";
  at += pattern.size();
  size_t end = json.find('"', at);
  return end == std::string::npos ? "" : json.substr(at, end - at);
}

std::atomic<int> g_cluster_counter{0};

}  // namespace

EtcdProcess::~EtcdProcess() { Stop(); }

std::string EtcdProcess::Binary() {
  const char* env = getenv("KORCH_ETCD");
  return env != nullptr && *env != '\0' ? env : "/usr/bin/etcd";
}

bool EtcdProcess::Available() { return access(Binary().c_str(), X_OK) == 0; }

absl::Status EtcdProcess::Start(int members, absl::Duration timeout) {
  if (!members_.empty()) return absl::FailedPreconditionError("etcd cluster already started");
  if (members < 1) return absl::InvalidArgumentError("members must be at least 1");
  if (!Available()) {
    return absl::FailedPreconditionError(
        absl::StrCat("no etcd binary at ", Binary(), " (install etcd-server or set KORCH_ETCD)"));
  }
  // A port picked as free can be taken by someone else before etcd binds
  // it; try again with new ports a few times.
  absl::Status status;
  for (int attempt = 0; attempt < 3; ++attempt) {
    status = StartOnce(members, timeout);
    if (status.ok()) return status;
    Stop(absl::Seconds(5));
  }
  return status;
}

absl::Status EtcdProcess::StartOnce(int members, absl::Duration timeout) {
  const char* tmp = getenv("TMPDIR");
  std::string templ =
      absl::StrCat(tmp != nullptr && *tmp != '\0' ? tmp : "/tmp", "/korch-etcd-XXXXXX");
  if (mkdtemp(templ.data()) == nullptr) {
    return absl::InternalError(absl::StrCat("mkdtemp ", templ, ": ", strerror(errno)));
  }
  dir_ = templ;
  std::vector<int> ports;
  if (absl::Status s = FreePorts(2 * members, &ports); !s.ok()) return s;
  std::vector<std::string> peers;
  for (int i = 0; i < members; ++i) {
    Member m;
    m.name = absl::StrCat("m", i);
    m.client_port = ports[2 * i];
    m.peer_port = ports[2 * i + 1];
    peers.push_back(absl::StrCat(m.name, "=http://127.0.0.1:", m.peer_port));
    members_.push_back(m);
  }
  initial_cluster_ = absl::StrJoin(peers, ",");
  cluster_token_ = absl::StrCat("korch-test-", getpid(), "-", g_cluster_counter++);
  for (int i = 0; i < members; ++i) {
    if (absl::Status s = Launch(i); !s.ok()) return s;
  }
  absl::Time deadline = absl::Now() + timeout;
  for (int i = 0; i < members; ++i) {
    if (absl::Status s = WaitHealthy(i, deadline); !s.ok()) return s;
  }
  return absl::OkStatus();
}

absl::Status EtcdProcess::Launch(int i) {
  Member& m = members_[i];
  std::string client_url = absl::StrCat("http://127.0.0.1:", m.client_port);
  std::string peer_url = absl::StrCat("http://127.0.0.1:", m.peer_port);
  std::vector<std::string> args = {
      Binary(),
      "--name=" + m.name,
      absl::StrCat("--data-dir=", dir_, "/", m.name, ".etcd"),
      "--listen-client-urls=" + client_url,
      "--advertise-client-urls=" + client_url,
      "--listen-peer-urls=" + peer_url,
      "--initial-advertise-peer-urls=" + peer_url,
      "--initial-cluster=" + initial_cluster_,
      "--initial-cluster-state=new",
      "--initial-cluster-token=" + cluster_token_,
      "--logger=zap",
      "--log-outputs=stderr",
      "--log-level=warn",
  };
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  std::string log_path = absl::StrCat(dir_, "/member-", i, ".log");
  int log_fd = open(log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (log_fd < 0)
    return absl::InternalError(absl::StrCat("open ", log_path, ": ", strerror(errno)));
  pid_t parent = getpid();
  pid_t pid = fork();
  if (pid < 0) {
    close(log_fd);
    return absl::InternalError(absl::StrCat("fork: ", strerror(errno)));
  }
  if (pid == 0) {
    // Only async-signal-safe calls between fork and exec.
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent) _exit(127);
    int devnull = open("/dev/null", O_RDONLY);
    if (devnull >= 0) dup2(devnull, 0);
    dup2(log_fd, 1);
    dup2(log_fd, 2);
    execv(argv[0], argv.data());
    _exit(127);
  }
  close(log_fd);
  m.pid = pid;
  return absl::OkStatus();
}

absl::Status EtcdProcess::WaitHealthy(int i, absl::Time deadline) {
  Member& m = members_[i];
  while (true) {
    int wstatus = 0;
    if (m.pid > 0 && waitpid(m.pid, &wstatus, WNOHANG) == m.pid) {
      m.pid = -1;
      return absl::InternalError(
          absl::StrCat("etcd member ", i, " exited during startup:\n", LogTail(i)));
    }
    if (Healthy(m.client_port)) return absl::OkStatus();
    if (absl::Now() >= deadline) {
      return absl::DeadlineExceededError(absl::StrCat("etcd member ", i,
                                                      " (127.0.0.1:", m.client_port,
                                                      ") not healthy in time:\n", LogTail(i)));
    }
    absl::SleepFor(absl::Milliseconds(50));
  }
}

std::string EtcdProcess::LogTail(int i) const {
  std::ifstream in(absl::StrCat(dir_, "/member-", i, ".log"));
  std::stringstream ss;
  ss << in.rdbuf();
  std::string text = ss.str();
  constexpr size_t kTail = 2000;
  return text.size() > kTail ? text.substr(text.size() - kTail) : text;
}

void EtcdProcess::Signal(int i, int sig) {
  if (members_[i].pid > 0) kill(members_[i].pid, sig);
}

void EtcdProcess::Stop(absl::Duration grace) {
  // One member at a time, the leader first: a stopping leader hands its
  // leadership to a follower and waits up to ~7 s for that to happen, which
  // is quick only while the followers are still running.
  std::vector<int> order;
  absl::StatusOr<int> leader = size() > 1 ? Leader() : absl::StatusOr<int>(0);
  if (leader.ok() && *leader < size()) order.push_back(*leader);
  for (int i = 0; i < size(); ++i) {
    if (!leader.ok() || i != *leader) order.push_back(i);
  }
  for (int i : order) {
    Member& m = members_[i];
    Signal(i, SIGTERM);
    absl::Time deadline = absl::Now() + grace;
    while (m.pid > 0) {
      int wstatus = 0;
      pid_t r = waitpid(m.pid, &wstatus, WNOHANG);
      if (r == m.pid || (r < 0 && errno == ECHILD)) {
        m.pid = -1;
        break;
      }
      if (absl::Now() >= deadline) {
        kill(m.pid, SIGKILL);
        waitpid(m.pid, &wstatus, 0);
        m.pid = -1;
        break;
      }
      absl::SleepFor(absl::Milliseconds(10));
    }
  }
  members_.clear();
  if (!dir_.empty()) {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
    dir_.clear();
  }
}

std::vector<std::string> EtcdProcess::ClientEndpoints() const {
  std::vector<std::string> out;
  for (int i = 0; i < size(); ++i) out.push_back(ClientEndpoint(i));
  return out;
}

std::string EtcdProcess::ClientEndpoint(int i) const {
  return absl::StrCat("127.0.0.1:", members_[i].client_port);
}

bool EtcdProcess::Running(int i) const { return i >= 0 && i < size() && members_[i].pid > 0; }

absl::Status EtcdProcess::Kill(int i) {
  if (i < 0 || i >= size()) return absl::InvalidArgumentError(absl::StrCat("no member ", i));
  Member& m = members_[i];
  if (m.pid <= 0)
    return absl::FailedPreconditionError(absl::StrCat("member ", i, " is not running"));
  kill(m.pid, SIGKILL);
  int wstatus = 0;
  waitpid(m.pid, &wstatus, 0);
  m.pid = -1;
  return absl::OkStatus();
}

absl::StatusOr<int> EtcdProcess::Leader() const {
  // etcd's JSON gateway: POST /v3/maintenance/status.
  const std::string body = "{}";
  const std::string request = absl::StrCat(
      "POST /v3/maintenance/status HTTP/1.0\r\nHost: 127.0.0.1\r\nContent-Type: "
      "application/json\r\nContent-Length: ",
      body.size(), "\r\n\r\n", body);
  for (int i = 0; i < size(); ++i) {
    if (!Running(i)) continue;
    std::string response = Http(members_[i].client_port, request);
    std::string me = JsonField(response, "member_id");
    std::string leader = JsonField(response, "leader");
    if (!me.empty() && me == leader) return i;
  }
  return absl::UnavailableError("no running member reports itself as the leader");
}

absl::Status EtcdProcess::Restart(int i, absl::Duration timeout) {
  if (i < 0 || i >= size()) return absl::InvalidArgumentError(absl::StrCat("no member ", i));
  if (members_[i].pid > 0) {
    return absl::FailedPreconditionError(absl::StrCat("member ", i, " is still running"));
  }
  if (absl::Status s = Launch(i); !s.ok()) return s;
  return WaitHealthy(i, absl::Now() + timeout);
}

}  // namespace korch::testutil
