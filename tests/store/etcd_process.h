// EtcdProcess: a real etcd cluster for tests.
//
// Starts N members of Debian's etcd-server (/usr/bin/etcd, or the binary
// named by $KORCH_ETCD) as child processes on free loopback ports, each with
// its own data directory under one temporary directory, and stops them when
// destroyed.
//
//   korch::testutil::EtcdProcess etcd;
//   ASSERT_TRUE(etcd.Start(3).ok());   // a 3-member cluster with a leader
//   korch::store::EtcdStorageOptions options;
//   options.endpoints = etcd.ClientEndpoints();
//   ...
//   etcd.Kill(*etcd.Leader());         // SIGKILL the leader
//   etcd.Restart(1);                   // start it again on its data dir
//
// Member output goes to <dir>/member-<i>.log; errors from Start/Restart
// include its last lines. Members die with the test process (they get
// SIGKILL when the thread that started them exits), so a crashed test leaves
// no etcd behind; call Start/Restart from a thread that outlives the test
// (the test's own thread). Not thread-safe: drive it from one thread.
#ifndef KORCH_TESTS_STORE_ETCD_PROCESS_H_
#define KORCH_TESTS_STORE_ETCD_PROCESS_H_

#include <sys/types.h>

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace korch::testutil {

class EtcdProcess {
 public:
  EtcdProcess() = default;
  // Stops every member and removes the temporary directory.
  ~EtcdProcess();
  EtcdProcess(const EtcdProcess&) = delete;
  EtcdProcess& operator=(const EtcdProcess&) = delete;

  // The etcd binary: $KORCH_ETCD if set, else /usr/bin/etcd.
  static std::string Binary();
  // True if Binary() exists and is executable (tests skip otherwise).
  static bool Available();

  // Starts a new cluster of `members` members and waits (up to `timeout`)
  // until every member reports itself healthy, i.e. the cluster has a
  // leader and serves linearizable reads. Fails if already started.
  absl::Status Start(int members = 1, absl::Duration timeout = absl::Seconds(30));

  // Stops the members one after the other, the leader first: SIGTERM, then
  // SIGKILL if it is still running after `grace`. Then removes the data.
  // Start() may be called again afterwards.
  void Stop(absl::Duration grace = absl::Seconds(10));

  int size() const { return static_cast<int>(members_.size()); }

  // "127.0.0.1:<port>" of every member (running or not), in member order:
  // the form EtcdStorageOptions::endpoints takes.
  std::vector<std::string> ClientEndpoints() const;
  std::string ClientEndpoint(int i) const;

  // True if member `i` is running.
  bool Running(int i) const;

  // The index of the member that is the Raft leader now (asked of every
  // running member; the leader says so itself).
  absl::StatusOr<int> Leader() const;

  // Kills member `i` with SIGKILL (a crash: no clean shutdown) and reaps it.
  absl::Status Kill(int i);

  // Starts member `i` again on its existing data directory and waits (up to
  // `timeout`) until it serves its client port and reports itself healthy.
  absl::Status Restart(int i, absl::Duration timeout = absl::Seconds(30));

  // The temporary directory holding the members' data and logs.
  const std::string& dir() const { return dir_; }

 private:
  struct Member {
    std::string name;
    int client_port = 0;
    int peer_port = 0;
    pid_t pid = -1;
  };

  absl::Status StartOnce(int members, absl::Duration timeout);
  absl::Status Launch(int i);
  absl::Status WaitHealthy(int i, absl::Time deadline);
  std::string LogTail(int i) const;
  void Signal(int i, int sig);

  std::string dir_;
  std::string initial_cluster_;
  std::string cluster_token_;
  std::vector<Member> members_;
};

}  // namespace korch::testutil

#endif  // KORCH_TESTS_STORE_ETCD_PROCESS_H_
