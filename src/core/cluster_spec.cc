#include "core/cluster_spec.h"

#include <arpa/inet.h>
#include <ifaddrs.h>
#include <netinet/in.h>
#include <unistd.h>

#include <charconv>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include "core/yaml_reader.h"

namespace flowps {
namespace {

// The largest token file read (a token is one line).
constexpr size_t kMaxTokenFileBytes = 4096;

Status CheckDevice(const std::string& device) {
  auto colon = device.find(':');
  std::string kind = device.substr(0, colon);
  if (colon == std::string::npos || (kind != "cpu" && kind != "gpu"))
    return InvalidArgument("device '" + device + "' must be cpu:N or gpu:N");
  int n = -1;
  const char* begin = device.data() + colon + 1;
  const char* end = device.data() + device.size();
  auto [p, ec] = std::from_chars(begin, end, n);
  if (ec != std::errc() || p != end || begin == end || n < 0)
    return InvalidArgument("device '" + device + "' must be cpu:N or gpu:N with N >= 0");
  return Status::OK();
}

// An optional port key of a task: 1..65535 when given, else 0 (off).
void ReadPort(YamlMap& t, const std::string& key, int* port) {
  t.Optional(key, port);
  if (t.status().ok() && t.has(key) && (*port < 1 || *port > 65535))
    t.Fail(key, "is " + std::to_string(*port) + " but must be 1..65535 (leave it out for none)");
}

// Reads jobs.<job>.tasks into `out`; `chief` is read for the worker job only.
Status ReadJob(YamlMap& jobs, const std::string& job, std::vector<TaskSpec>* out, int* chief) {
  if (!jobs.has(job)) return jobs.Error("", "has no '" + job + "' job: a cluster needs jobs ps and worker");
  YamlMap m = jobs.Child(job, /*required=*/true);
  if (chief != nullptr) m.Optional("chief", chief);
  FLOWPS_RETURN_IF_ERROR(m.status());
  YAML::Node tasks = m.Raw("tasks");
  if (!tasks.IsDefined() || !tasks.IsSequence() || tasks.size() == 0)
    return m.Error("tasks", "must list at least one task");
  for (size_t i = 0; i < tasks.size(); ++i) {
    YamlMap t(m.file(), tasks[i], m.FullKey("tasks") + "[" + std::to_string(i) + "]");
    TaskSpec spec;
    spec.job = job;
    spec.index = static_cast<int>(i);
    std::string address;
    t.Required("address", &address);
    if (t.status().ok()) {
      Status s = SplitAddress(address, &spec.host, &spec.port);
      if (!s.ok()) t.Fail("address", s.message());
    }
    spec.devices = {"cpu:0"};
    t.Optional("devices", &spec.devices);
    if (t.status().ok() && spec.devices.empty()) t.Fail("devices", "must name at least one device");
    for (const std::string& d : spec.devices) {
      if (!t.status().ok()) break;
      Status s = CheckDevice(d);
      if (!s.ok()) t.Fail("devices", s.message());
    }
    ReadPort(t, "metrics_port", &spec.metrics_port);
    if (chief != nullptr) ReadPort(t, "dashboard_port", &spec.dashboard_port);
    FLOWPS_RETURN_IF_ERROR(t.Finish());
    out->push_back(std::move(spec));
  }
  return m.Finish();
}

// The spec's folder joined to `file` unless it is absolute.
std::string RelativeToSpec(const std::string& spec_path, const std::string& file) {
  std::filesystem::path p(file);
  if (p.is_relative()) p = std::filesystem::path(spec_path).parent_path() / p;
  return p.lexically_normal().string();
}

// The optional `tls:` map: its files read and checked. Tasks addressed by IP
// need server_name, since certificate names are checked as DNS names.
Status ReadTls(YamlMap& root, ClusterSpec* spec) {
  if (!root.has("tls")) return Status::OK();
  if (root.Get("tls").IsNull()) return root.Error("tls", "is empty: give cert, key and ca, or leave tls out");
  YamlMap m = root.Child("tls", /*required=*/true);
  TlsFiles files;
  m.Required("cert", &files.cert).Required("key", &files.key).Required("ca", &files.ca);
  m.Optional("server_name", &files.server_name);
  FLOWPS_RETURN_IF_ERROR(m.Finish());
  for (std::string* file : {&files.cert, &files.key, &files.ca}) *file = RelativeToSpec(spec->path, *file);
  std::string bad_key;
  auto tls = LoadTlsSettings(files, &bad_key);
  if (!tls.ok()) return m.Error(bad_key, tls.status().message());
  if (files.server_name.empty()) {
    for (const TaskSpec& t : spec->AllTasks()) {
      if (!IsIpLiteral(t.host)) continue;
      return m.Error("", "needs server_name: task jobs." + t.job + ".tasks[" + std::to_string(t.index) +
                             "] is addressed by the IP address " + t.host +
                             ", and certificates are checked against DNS names only (kj-tls); set "
                             "server_name to a DNS name that every task's certificate lists");
    }
  }
  spec->tls = *std::move(tls);
  return Status::OK();
}

}  // namespace

std::string TaskSpec::name() const { return "/job:" + job + "/task:" + std::to_string(index); }

std::string TaskSpec::DeviceName(size_t i) const { return name() + "/device:" + devices.at(i); }

std::vector<std::string> TaskSpec::DeviceNames() const {
  std::vector<std::string> names;
  for (size_t i = 0; i < devices.size(); ++i) names.push_back(DeviceName(i));
  return names;
}

const std::vector<TaskSpec>* ClusterSpec::Job(const std::string& job) const {
  if (job == "ps") return &ps;
  if (job == "worker") return &workers;
  return nullptr;
}

StatusOr<TaskSpec> ClusterSpec::Task(const std::string& job, int index) const {
  const std::vector<TaskSpec>* tasks = Job(job);
  if (tasks == nullptr) return NotFound(path + ": no job '" + job + "' (jobs are ps and worker)");
  if (index < 0 || static_cast<size_t>(index) >= tasks->size())
    return NotFound(path + ": job '" + job + "' has tasks 0.." + std::to_string(tasks->size() - 1) +
                    ", not " + std::to_string(index));
  return (*tasks)[static_cast<size_t>(index)];
}

std::vector<TaskSpec> ClusterSpec::AllTasks() const {
  std::vector<TaskSpec> all = ps;
  all.insert(all.end(), workers.begin(), workers.end());
  return all;
}

Status SplitAddress(const std::string& address, std::string* host, int* port, bool allow_port_zero) {
  auto colon = address.rfind(':');
  if (colon == std::string::npos || colon == 0)
    return InvalidArgument("address '" + address + "' must be host:port");
  *host = address.substr(0, colon);
  const char* begin = address.data() + colon + 1;
  const char* end = address.data() + address.size();
  long value = -1;
  auto [p, ec] = std::from_chars(begin, end, value);
  if (ec != std::errc() || p != end || begin == end)
    return InvalidArgument("address '" + address + "' has a bad port (not a number)");
  if (value > 65535 || value < 0 || (value == 0 && !allow_port_zero))
    return InvalidArgument("address '" + address + "' has a bad port " + std::to_string(value) +
                           " (must be 1..65535)");
  *port = static_cast<int>(value);
  return Status::OK();
}

StatusOr<ClusterSpec> ParseClusterSpec(const std::string& text, const std::string& path) {
  FLOWPS_ASSIGN_OR_RETURN(YAML::Node doc, ParseYaml(text, path));
  YamlMap root(path, doc, "");
  ClusterSpec spec;
  spec.path = path;
  std::string token_file;
  root.Required("token_file", &token_file);
  root.Optional("setup_timeout_s", &spec.setup_timeout_s);
  YamlMap jobs = root.Child("jobs", /*required=*/true);
  root.Raw("tls");  // read by ReadTls once the tasks are known
  FLOWPS_RETURN_IF_ERROR(root.status());
  FLOWPS_RETURN_IF_ERROR(jobs.status());
  FLOWPS_RETURN_IF_ERROR(ReadJob(jobs, "ps", &spec.ps, nullptr));
  FLOWPS_RETURN_IF_ERROR(ReadJob(jobs, "worker", &spec.workers, &spec.chief));
  FLOWPS_RETURN_IF_ERROR(jobs.Finish());
  FLOWPS_RETURN_IF_ERROR(root.Finish());

  if (!(spec.setup_timeout_s > 0 && spec.setup_timeout_s <= 86400))
    return root.Error("setup_timeout_s", "must be a number of seconds in (0, 86400]");
  if (spec.chief < 0 || static_cast<size_t>(spec.chief) >= spec.workers.size()) {
    YamlMap worker(path, jobs.Get("worker"), "jobs.worker");
    return worker.Error("chief", "is " + std::to_string(spec.chief) + " but the worker job has tasks 0.." +
                                     std::to_string(spec.workers.size() - 1));
  }

  // Duplicate addresses (a task's, its metrics' and dashboard's), named at the second occurrence.
  std::map<std::string, std::string> seen;
  for (const TaskSpec& t : spec.AllTasks()) {
    std::string key = "jobs." + t.job + ".tasks[" + std::to_string(t.index) + "]";
    const std::pair<const char*, int> ports[] = {{"address", t.port}, {"metrics_port", t.metrics_port},
                                                 {"dashboard_port", t.dashboard_port}};
    for (const auto& [field, port] : ports) {
      if (port == 0) continue;
      const std::string address = t.host + ":" + std::to_string(port);
      auto [it, inserted] = seen.emplace(address, std::string(field) == "address" ? key : key + "." + field);
      if (inserted) continue;
      const YAML::Node job_node = jobs.Get(t.job);
      const YAML::Node task_list = job_node["tasks"];
      YamlMap entry(path, task_list[static_cast<size_t>(t.index)], key);
      return entry.Error(field, "duplicates the address " + address + " of " + it->second);
    }
    if (t.dashboard_port != 0 && t.index != spec.chief) {
      YamlMap entry(path, jobs.Get(t.job)["tasks"][static_cast<size_t>(t.index)], key);
      return entry.Error("dashboard_port", "is set on a worker that is not the chief (worker " +
                                               std::to_string(spec.chief) + "): only the chief serves the dashboard");
    }
  }

  // The token: relative to the spec's folder, must be readable and non-empty.
  spec.token_file = RelativeToSpec(path, token_file);
  auto token = ReadTokenFile(spec.token_file);
  if (!token.ok()) {
    // "token file '<path>' <why>"
    const std::string& m = token.status().message();
    const std::string why = m.substr(m.find("' ", 12) + 2);
    return root.Error("token_file", "names '" + spec.token_file + "', which " + why);
  }
  spec.token = *std::move(token);
  FLOWPS_RETURN_IF_ERROR(ReadTls(root, &spec));
  return spec;
}

StatusOr<std::string> ReadTokenFile(const std::string& path) {
  auto read = ReadSmallFile(path, kMaxTokenFileBytes, "the token file");
  if (!read.ok()) {
    if (read.status().code() == Code::kNotFound) return NotFound("token file '" + path + "' cannot be read");
    const std::string& m = read.status().message();
    return InvalidArgument("token file '" + path + "' " + m.substr(m.find("the token file ") + 15));
  }
  const std::string& text = *read;
  const auto first = text.find_first_not_of(" \t\r\n");
  if (first == std::string::npos) return InvalidArgument("token file '" + path + "' is empty");
  const auto last = text.find_last_not_of(" \t\r\n");
  return text.substr(first, last - first + 1);
}

StatusOr<ClusterSpec> LoadClusterSpec(const std::string& path) {
  FLOWPS_ASSIGN_OR_RETURN(std::string text, ReadSmallFile(path, kMaxSpecBytes, "the cluster spec"));
  return ParseClusterSpec(text, path);
}

bool IsLocalHost(const std::string& host) {
  if (host == "localhost" || host == "::1" || host.rfind("127.", 0) == 0) return true;
  char name[256] = {};
  if (gethostname(name, sizeof name - 1) == 0 && host == name) return true;
  struct ifaddrs* addrs = nullptr;
  if (getifaddrs(&addrs) != 0) return false;
  bool local = false;
  for (struct ifaddrs* a = addrs; a != nullptr && !local; a = a->ifa_next) {
    if (a->ifa_addr == nullptr) continue;
    char buf[INET6_ADDRSTRLEN] = {};
    if (a->ifa_addr->sa_family == AF_INET)
      inet_ntop(AF_INET, &reinterpret_cast<sockaddr_in*>(a->ifa_addr)->sin_addr, buf, sizeof buf);
    else if (a->ifa_addr->sa_family == AF_INET6)
      inet_ntop(AF_INET6, &reinterpret_cast<sockaddr_in6*>(a->ifa_addr)->sin6_addr, buf, sizeof buf);
    local = host == buf;
  }
  freeifaddrs(addrs);
  return local;
}

}  // namespace flowps
