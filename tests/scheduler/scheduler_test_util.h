// Builders for nodes and pods in scheduler tests:
//   api::Node n = MakeNode("n1").Cpu("4").Memory("8Gi").Pods(110).Label("zone", "a");
//   api::Pod p = MakePod("ns", "p1").Req("500m", "1Gi").NodeSelector("zone", "a");
#ifndef KORCH_TESTS_SCHEDULER_SCHEDULER_TEST_UTIL_H_
#define KORCH_TESTS_SCHEDULER_SCHEDULER_TEST_UTIL_H_

#include <memory>
#include <string>
#include <vector>

#include "korch/api/core.pb.h"
#include "korch/scheduler/types.h"

namespace korch::scheduler::testing {

class MakeNode {
 public:
  explicit MakeNode(const std::string& name) {
    node_.mutable_metadata()->set_name(name);
    node_.mutable_metadata()->set_uid("node-" + name);
    (*node_.mutable_metadata()->mutable_labels())["kubernetes.io/hostname"] = name;
    Pods(110);
  }
  MakeNode& Cpu(const std::string& q) { return Alloc("cpu", q); }
  MakeNode& Memory(const std::string& q) { return Alloc("memory", q); }
  MakeNode& Pods(int n) { return Alloc("pods", std::to_string(n)); }
  MakeNode& Alloc(const std::string& resource, const std::string& q) {
    (*node_.mutable_status()->mutable_allocatable())[resource] = q;
    (*node_.mutable_status()->mutable_capacity())[resource] = q;
    return *this;
  }
  MakeNode& Label(const std::string& k, const std::string& v) {
    (*node_.mutable_metadata()->mutable_labels())[k] = v;
    return *this;
  }
  MakeNode& Taint(const std::string& k, const std::string& v, const std::string& effect) {
    api::Taint* t = node_.mutable_spec()->add_taints();
    t->set_key(k);
    t->set_value(v);
    t->set_effect(effect);
    return *this;
  }
  MakeNode& Unschedulable() {
    node_.mutable_spec()->set_unschedulable(true);
    return *this;
  }
  MakeNode& Image(const std::string& name, int64_t size_bytes) {
    api::ContainerImage* i = node_.mutable_status()->add_images();
    i->add_names(name);
    i->set_size_bytes(size_bytes);
    return *this;
  }
  const api::Node& Obj() const { return node_; }
  operator api::Node() const { return node_; }  // NOLINT(google-explicit-constructor)
  std::shared_ptr<NodeInfo> Info() const {
    return std::make_shared<NodeInfo>(std::make_shared<api::Node>(node_));
  }

 private:
  api::Node node_;
};

class MakePod {
 public:
  MakePod(const std::string& ns, const std::string& name) {
    pod_.mutable_metadata()->set_namespace_(ns);
    pod_.mutable_metadata()->set_name(name);
    pod_.mutable_metadata()->set_uid(ns + "/" + name);
    api::Container* c = pod_.mutable_spec()->add_containers();
    c->set_name("main");
    c->set_image("registry.k8s.io/pause:3.9");
  }
  // Requests of the first container ("" leaves a resource out).
  MakePod& Req(const std::string& cpu, const std::string& memory = "") {
    auto* r = pod_.mutable_spec()->mutable_containers(0)->mutable_resources()->mutable_requests();
    if (!cpu.empty()) (*r)["cpu"] = cpu;
    if (!memory.empty()) (*r)["memory"] = memory;
    return *this;
  }
  MakePod& Request(const std::string& resource, const std::string& q) {
    (*pod_.mutable_spec()
          ->mutable_containers(0)
          ->mutable_resources()
          ->mutable_requests())[resource] = q;
    return *this;
  }
  MakePod& Label(const std::string& k, const std::string& v) {
    (*pod_.mutable_metadata()->mutable_labels())[k] = v;
    return *this;
  }
  MakePod& Node(const std::string& node) {
    pod_.mutable_spec()->set_node_name(node);
    return *this;
  }
  MakePod& NodeSelector(const std::string& k, const std::string& v) {
    (*pod_.mutable_spec()->mutable_node_selector())[k] = v;
    return *this;
  }
  MakePod& Priority(int32_t p) {
    pod_.mutable_spec()->set_priority(p);
    return *this;
  }
  MakePod& SchedulerName(const std::string& s) {
    pod_.mutable_spec()->set_scheduler_name(s);
    return *this;
  }
  MakePod& Toleration(const std::string& k, const std::string& op, const std::string& v,
                      const std::string& effect) {
    api::Toleration* t = pod_.mutable_spec()->add_tolerations();
    t->set_key(k);
    t->set_operator_(op);
    t->set_value(v);
    t->set_effect(effect);
    return *this;
  }
  MakePod& HostPort(int32_t port, const std::string& protocol = "TCP", const std::string& ip = "") {
    api::ContainerPort* p = pod_.mutable_spec()->mutable_containers(0)->add_ports();
    p->set_container_port(port);
    p->set_host_port(port);
    p->set_protocol(protocol);
    if (!ip.empty()) p->set_host_ip(ip);
    return *this;
  }
  MakePod& Image(const std::string& image) {
    pod_.mutable_spec()->mutable_containers(0)->set_image(image);
    return *this;
  }
  MakePod& Gate(const std::string& name) {
    pod_.mutable_spec()->add_scheduling_gates()->set_name(name);
    return *this;
  }
  // Direct access for everything else (affinity, spread constraints, ...).
  api::Pod* operator->() { return &pod_; }
  const api::Pod& Obj() const { return pod_; }
  operator api::Pod() const { return pod_; }  // NOLINT(google-explicit-constructor)
  std::shared_ptr<const PodInfo> Info() const {
    auto info = PodInfo::Create(pod_);
    return info.ok() ? *info : nullptr;
  }

 private:
  api::Pod pod_;
};

}  // namespace korch::scheduler::testing

#endif  // KORCH_TESTS_SCHEDULER_SCHEDULER_TEST_UTIL_H_
