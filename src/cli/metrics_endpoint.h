// MetricsEndpoint: a task's Prometheus endpoint, http://host:port/metrics in
// the text exposition format, served by prometheus-cpp's pull exposer
// (civetweb threads of its own). Every scrape calls the sources, which read
// the task's counters at that moment (ps/shard_monitor.h,
// worker/worker_metrics.h) and turn them into metric families
// (cli/metric_families.h); nothing is kept between scrapes.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <prometheus/metric_family.h>

#include "core/status.h"

namespace prometheus {
class Exposer;
}

namespace flowps {

// Called on an exposer thread at each scrape: must be thread-safe.
using MetricsSource = std::function<std::vector<prometheus::MetricFamily>()>;

class MetricsEndpoint {
 public:
  // Listens on host:port (port 0: any free port). Unavailable, naming the
  // address, when it cannot listen.
  static StatusOr<std::unique_ptr<MetricsEndpoint>> Start(const std::string& host, int port,
                                                          std::vector<MetricsSource> sources);
  ~MetricsEndpoint();  // stops serving; no source is called after it returns
  MetricsEndpoint(const MetricsEndpoint&) = delete;
  MetricsEndpoint& operator=(const MetricsEndpoint&) = delete;

  int port() const;  // the port it listens on

 private:
  class Sources;
  MetricsEndpoint() = default;
  std::shared_ptr<Sources> sources_;
  std::unique_ptr<prometheus::Exposer> exposer_;
};

}  // namespace flowps
