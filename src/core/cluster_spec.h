// ClusterSpec: which tasks make up a cluster, where they listen, which worker
// is chief, the shared token, and each task's devices. Read from YAML:
//
//   token_file: local.token        # relative to the spec's folder
//   setup_timeout_s: 120           # optional: how long a job's setup retries the ps shards
//   jobs:
//     ps:
//       tasks:
//         - address: 127.0.0.1:7400
//     worker:
//       chief: 0                   # index of the chief worker (default 0)
//       tasks:
//         - address: 127.0.0.1:7500
//           devices: [cpu:0, cpu:1]   # optional, default [cpu:0]
//           metrics_port: 9500        # optional: Prometheus /metrics on the task's host
//           dashboard_port: 8080      # optional, chief only: the job's live dashboard
//   tls:                           # optional: every connection on mutual TLS (core/tls_settings.h)
//     cert: node.pem               # relative to the spec's folder, like token_file
//     key: node.key
//     ca: ca.pem
//     server_name: flowps          # optional; required when tasks are addressed by IP
//
// A bad spec is refused with file, line and key (unknown key, missing job,
// bad or duplicate address, bad device, missing or unreadable token, a TLS
// file that is missing or does not hold a valid certificate or key).
// ClusterSpec is a plain value; it is safe to read from many threads.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "core/status.h"
#include "core/tls_settings.h"

namespace flowps {

struct TaskSpec {
  std::string job;  // "ps" or "worker"
  int index = 0;    // position in its job's task list
  std::string host;
  int port = 0;     // 1..65535
  std::vector<std::string> devices;  // local device names, "cpu:0", "gpu:1"
  int metrics_port = 0;    // /metrics on host:metrics_port; 0: none
  int dashboard_port = 0;  // chief worker only: the dashboard on host:dashboard_port; 0: none

  std::string address() const { return host + ":" + std::to_string(port); }
  // "/job:ps/task:0"
  std::string name() const;
  // "/job:worker/task:1/device:cpu:0". REQUIRES: i < devices.size().
  std::string DeviceName(size_t i) const;
  std::vector<std::string> DeviceNames() const;
};

struct ClusterSpec {
  std::string path;        // the spec file as given
  std::vector<TaskSpec> ps;
  std::vector<TaskSpec> workers;
  int chief = 0;           // index into workers
  std::string token_file;  // resolved path
  std::string token;       // the file's content without surrounding whitespace
  // How long the chief's job setup keeps trying to reach and configure every
  // ps shard (a ps that starts late, a loaded machine) before the job fails.
  double setup_timeout_s = 120;
  // Set when the spec has a `tls:` map: every daemon serves and every client
  // dials over mutual TLS with it.
  std::optional<TlsSettings> tls;

  // The tasks of "ps" or "worker"; nullptr for any other job name.
  const std::vector<TaskSpec>* Job(const std::string& job) const;
  // NotFound naming the spec, job and valid range when there is no such task.
  StatusOr<TaskSpec> Task(const std::string& job, int index) const;
  // Every task, ps tasks first, each job in index order.
  std::vector<TaskSpec> AllTasks() const;
  const TaskSpec& chief_task() const { return workers[static_cast<size_t>(chief)]; }
};

// Reads and checks a cluster spec file.
StatusOr<ClusterSpec> LoadClusterSpec(const std::string& path);
// Checks spec text; `path` names the file in messages and anchors token_file.
StatusOr<ClusterSpec> ParseClusterSpec(const std::string& text, const std::string& path);

// Reads a token file as a cluster spec does: its content without surrounding
// whitespace. NotFound when it cannot be read, InvalidArgument when it holds
// nothing else; the message names the file.
StatusOr<std::string> ReadTokenFile(const std::string& path);

// Splits "host:port"; InvalidArgument unless the port is an integer in 1..65535
// (or 0 when allow_port_zero, meaning "pick a free port").
Status SplitAddress(const std::string& address, std::string* host, int* port, bool allow_port_zero = false);

// True when `host` names this machine (loopback, "localhost", this host's name
// or one of its interface addresses): `flowps launch` starts only such tasks.
bool IsLocalHost(const std::string& host);

}  // namespace flowps
