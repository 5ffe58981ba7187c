// Suite `k8s`: the kustomize base in deploy/k8s checked offline against what
// flowps needs: the headless Service selects both StatefulSets and exposes
// their ports, the cluster spec in the ConfigMap parses with flowps's own
// parser and names every pod by its stable DNS name, the token Secret and the
// spec are mounted where the spec and the probes look, the probes ask the
// task's own health call, the token is private, and workers request a GPU
// per GPU device.
// Each check is also shown to refuse a base that breaks it.
#include <catch2/catch.hpp>

#include <unistd.h>
#include <yaml-cpp/yaml.h>

#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "core/cluster_spec.h"

using namespace flowps;
namespace fs = std::filesystem;

namespace {

const std::string kBaseDir = std::string(FLOWPS_SOURCE_DIR) + "/deploy/k8s";
const std::string kSpecMount = "/etc/flowps/cluster";

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// The base as kustomize would build it (resources plus the generated ConfigMap).
struct Base {
  YAML::Node service;
  std::map<std::string, YAML::Node> statefulsets;  // by job: "ps", "worker"
  std::string config_map_name;
  std::string spec_text;  // cluster.yaml, the ConfigMap's only file
};

Base LoadBase() {
  Base base;
  YAML::Node k = YAML::LoadFile(kBaseDir + "/kustomization.yaml");
  for (const auto& file : k["resources"]) {
    YAML::Node doc = YAML::LoadFile(kBaseDir + "/" + file.as<std::string>());
    const std::string kind = doc["kind"].as<std::string>();
    if (kind == "Service") base.service = doc;
    if (kind == "StatefulSet")
      base.statefulsets[doc["spec"]["template"]["metadata"]["labels"]["app.kubernetes.io/component"]
                            .as<std::string>()] = doc;
  }
  const YAML::Node gen = k["configMapGenerator"][0];
  base.config_map_name = gen["name"].as<std::string>();
  base.spec_text = ReadFile(kBaseDir + "/" + gen["files"][0].as<std::string>());
  return base;
}

// A deep copy, so a test can break one part without touching the others.
Base Copy(const Base& b) {
  Base c = b;
  c.service = YAML::Clone(b.service);
  for (auto& [job, s] : c.statefulsets) s = YAML::Clone(b.statefulsets.at(job));
  return c;
}

YAML::Node Container(const YAML::Node& sts) { return sts["spec"]["template"]["spec"]["containers"][0]; }
int ContainerPort(const YAML::Node& sts) { return Container(sts)["ports"][0]["containerPort"].as<int>(); }

// The spec as a pod sees it: cluster.yaml under kSpecMount and a token where
// its token_file points, recreated in a temporary folder that stands for "/".
struct MountedSpec {
  explicit MountedSpec(const std::string& spec_text) {
    char tmpl[] = "/tmp/flowps_k8s_XXXXXX";
    root = mkdtemp(tmpl);
    fs::create_directories(root + kSpecMount);
    std::ofstream(root + kSpecMount + "/cluster.yaml") << spec_text;
    const YAML::Node token_file = YAML::Load(spec_text)["token_file"];
    if (token_file) {
      const fs::path token = (fs::path(root + kSpecMount) / token_file.as<std::string>()).lexically_normal();
      if (token.string().rfind(root + "/", 0) == 0) {
        fs::create_directories(token.parent_path());
        std::ofstream(token) << "secret-token\n";
      }
    }
  }
  ~MountedSpec() { fs::remove_all(root); }
  StatusOr<ClusterSpec> Parse() const { return LoadClusterSpec(root + kSpecMount + "/cluster.yaml"); }
  std::string root;
};

// Every way the base fails flowps's needs, one line each; empty when it is fine.
std::vector<std::string> CheckBase(const Base& b) {
  std::vector<std::string> problems;
  auto problem = [&](const std::string& p) { problems.push_back(p); };

  const YAML::Node svc = b.service["spec"];
  if (!svc["clusterIP"] || svc["clusterIP"].as<std::string>() != "None") problem("the Service is not headless");
  if (!svc["publishNotReadyAddresses"] || !svc["publishNotReadyAddresses"].as<bool>())
    problem("the Service does not publish not-ready pods (a task binds its DNS name before it is ready)");
  std::set<int> service_ports;
  for (const auto& p : svc["ports"]) service_ports.insert(p["port"].as<int>());

  MountedSpec mounted(b.spec_text);
  auto spec = mounted.Parse();
  if (!spec.ok()) {
    problem("the cluster spec does not parse: " + spec.status().message());
    return problems;
  }
  const std::string token_path = spec->token_file.substr(mounted.root.size());  // as the pod sees it

  for (const std::string job : {"ps", "worker"}) {
    if (!b.statefulsets.count(job)) {
      problem("no StatefulSet for " + job);
      continue;
    }
    const YAML::Node sts = b.statefulsets.at(job);
    const std::string name = sts["metadata"]["name"].as<std::string>();
    const YAML::Node labels = sts["spec"]["template"]["metadata"]["labels"];
    for (const auto& kv : sts["spec"]["selector"]["matchLabels"])
      if (!labels[kv.first.as<std::string>()] ||
          labels[kv.first.as<std::string>()].as<std::string>() != kv.second.as<std::string>())
        problem(name + ": selector label " + kv.first.as<std::string>() + " is not on its pods");
    for (const auto& kv : svc["selector"])
      if (!labels[kv.first.as<std::string>()] ||
          labels[kv.first.as<std::string>()].as<std::string>() != kv.second.as<std::string>())
        problem("the Service selector " + kv.first.as<std::string>() + " does not select " + name);
    if (sts["spec"]["serviceName"].as<std::string>() != b.service["metadata"]["name"].as<std::string>())
      problem(name + ": serviceName is not the headless Service");

    const int port = ContainerPort(sts);
    if (!service_ports.count(port)) problem(name + ": port " + std::to_string(port) + " is not on the Service");
    const auto& tasks = *spec->Job(job);
    const int replicas = sts["spec"]["replicas"].as<int>();
    if (static_cast<int>(tasks.size()) != replicas)
      problem(name + ": " + std::to_string(replicas) + " replicas but the spec has " +
              std::to_string(tasks.size()) + " " + job + " tasks");
    const std::string dns_suffix = "." + b.service["metadata"]["name"].as<std::string>();
    for (const TaskSpec& t : tasks) {
      const std::string want = name + "-" + std::to_string(t.index) + dns_suffix;
      if (t.host != want) problem(t.name() + " is at " + t.host + ", not its pod's DNS name " + want);
      if (t.port != port) problem(t.name() + " listens on " + std::to_string(t.port) + ", the pod exposes " +
                                  std::to_string(port));
    }

    // Mounts: the spec from the generated ConfigMap, the token from the Secret.
    const YAML::Node c = Container(sts);
    std::map<std::string, std::string> mount_of;  // volume -> mountPath
    for (const auto& m : c["volumeMounts"]) mount_of[m["name"].as<std::string>()] = m["mountPath"].as<std::string>();
    bool spec_mounted = false, token_mounted = false;
    for (const auto& v : sts["spec"]["template"]["spec"]["volumes"]) {
      const std::string path = mount_of[v["name"].as<std::string>()];
      if (v["configMap"] && v["configMap"]["name"].as<std::string>() == b.config_map_name && path == kSpecMount)
        spec_mounted = true;
      if (v["secret"] && path + "/token" == token_path) {
        token_mounted = true;
        if (!v["secret"]["defaultMode"] || (v["secret"]["defaultMode"].as<int>() & 077) != 0)
          problem(name + ": the token Secret is readable by others than its owner (defaultMode)");
      }
    }
    if (!spec_mounted) problem(name + ": the ConfigMap " + b.config_map_name + " is not mounted at " + kSpecMount);
    if (!token_mounted) problem(name + ": no Secret mounted where the spec's token_file points (" + token_path + ")");
    std::string args;
    for (const auto& a : c["args"]) args += a.as<std::string>() + " ";
    if (args.find("--cluster " + kSpecMount + "/cluster.yaml --task $(TASK_INDEX)") == std::string::npos)
      problem(name + ": args do not run the pod's task of the mounted spec");

    // Probes: the task's own health call, with the mounted token.
    const std::string probe_want = "flowps health --address $HOSTNAME" + dns_suffix + ":" + std::to_string(port) +
                                   " --token-file " + token_path;
    for (const std::string probe : {"readinessProbe", "livenessProbe"}) {
      std::string cmd;
      if (c[probe] && c[probe]["exec"])
        for (const auto& a : c[probe]["exec"]["command"]) cmd += a.as<std::string>() + " ";
      if (cmd.find(probe_want) == std::string::npos) problem(name + ": " + probe + " is not `" + probe_want + "`");
    }

    // Resources: cpu and memory requested; a GPU per GPU device of the task.
    const YAML::Node res = c["resources"];
    if (!res["requests"]["cpu"] || !res["requests"]["memory"]) problem(name + ": no cpu/memory requests");
    size_t gpus = 0;
    for (const auto& d : tasks.front().devices) gpus += d.rfind("gpu:", 0) == 0;
    const int limit = res["limits"]["nvidia.com/gpu"] ? res["limits"]["nvidia.com/gpu"].as<int>() : 0;
    if (static_cast<size_t>(limit) != gpus)
      problem(name + ": limits nvidia.com/gpu " + std::to_string(limit) + " but its tasks have " +
              std::to_string(gpus) + " GPU devices");
  }
  return problems;
}

std::string Joined(const std::vector<std::string>& v) {
  std::string s;
  for (const auto& p : v) s += p + "\n";
  return s;
}

bool Mentions(const std::vector<std::string>& problems, const std::string& text) {
  for (const auto& p : problems)
    if (p.find(text) != std::string::npos) return true;
  return false;
}

}  // namespace

TEST_CASE("the kustomize base meets every need of a flowps cluster") {
  const auto problems = CheckBase(LoadBase());
  INFO(Joined(problems));
  CHECK(problems.empty());
}

TEST_CASE("the spec in the ConfigMap parses and names each pod by its stable DNS name") {
  MountedSpec mounted(LoadBase().spec_text);
  auto spec = mounted.Parse();
  REQUIRE(spec.ok());
  REQUIRE(spec->ps.size() == 1);
  REQUIRE(spec->workers.size() == 2);
  CHECK(spec->ps[0].address() == "flowps-ps-0.flowps:7400");
  CHECK(spec->workers[1].address() == "flowps-worker-1.flowps:7500");
  CHECK(spec->workers[1].DeviceNames() == std::vector<std::string>{"/job:worker/task:1/device:gpu:0"});
  CHECK(spec->token == "secret-token");
}

TEST_CASE("a base whose replicas and task list disagree is refused") {
  Base b = Copy(LoadBase());
  b.statefulsets["worker"]["spec"]["replicas"] = 3;
  CHECK(Mentions(CheckBase(b), "flowps-worker: 3 replicas but the spec has 2 worker tasks"));
}

TEST_CASE("a base whose Service does not select the workers is refused") {
  Base b = Copy(LoadBase());
  b.statefulsets["worker"]["spec"]["template"]["metadata"]["labels"]["app.kubernetes.io/name"] = "other";
  const auto problems = CheckBase(b);
  CHECK(Mentions(problems, "the Service selector app.kubernetes.io/name does not select flowps-worker"));
  CHECK(Mentions(problems, "flowps-worker: selector label app.kubernetes.io/name is not on its pods"));
}

TEST_CASE("a base whose ports disagree between pod, Service and spec is refused") {
  Base b = Copy(LoadBase());
  Container(b.statefulsets["ps"])["ports"][0]["containerPort"] = 7401;
  const auto problems = CheckBase(b);
  CHECK(Mentions(problems, "flowps-ps: port 7401 is not on the Service"));
  CHECK(Mentions(problems, "/job:ps/task:0 listens on 7400, the pod exposes 7401"));
}

TEST_CASE("a base whose probes do not ask the task's own health is refused") {
  Base b = Copy(LoadBase());
  Container(b.statefulsets["ps"])["livenessProbe"]["exec"]["command"][2] = "true";
  CHECK(Mentions(CheckBase(b), "flowps-ps: livenessProbe is not `flowps health --address $HOSTNAME.flowps:7400"));
}

TEST_CASE("a base whose workers request fewer GPUs than their devices is refused") {
  Base b = Copy(LoadBase());
  Container(b.statefulsets["worker"])["resources"]["limits"].remove("nvidia.com/gpu");
  CHECK(Mentions(CheckBase(b), "flowps-worker: limits nvidia.com/gpu 0 but its tasks have 1 GPU devices"));
}

TEST_CASE("a base whose spec names a host that is not a pod is refused") {
  Base b = Copy(LoadBase());
  b.spec_text.replace(b.spec_text.find("flowps-worker-1.flowps"), 22, "flowps-worker-7.flowps");
  CHECK(Mentions(CheckBase(b), "/job:worker/task:1 is at flowps-worker-7.flowps, not its pod's DNS name "
                               "flowps-worker-1.flowps"));
}

TEST_CASE("a base without the token Secret where the spec looks is refused") {
  Base b = Copy(LoadBase());
  b.spec_text.replace(b.spec_text.find("../token/token"), 14, "../secret/tok");
  CHECK(Mentions(CheckBase(b), "no Secret mounted where the spec's token_file points (/etc/flowps/secret/tok)"));
}

TEST_CASE("a base that lets others read the token is refused") {
  Base b = Copy(LoadBase());
  b.statefulsets["ps"]["spec"]["template"]["spec"]["volumes"][1]["secret"]["defaultMode"] = 0644;
  CHECK(Mentions(CheckBase(b), "flowps-ps: the token Secret is readable by others than its owner (defaultMode)"));
}
