#include "cli/metrics_endpoint.h"

#include <prometheus/collectable.h>
#include <prometheus/exposer.h>

#include <exception>

namespace flowps {

class MetricsEndpoint::Sources final : public prometheus::Collectable {
 public:
  explicit Sources(std::vector<MetricsSource> sources) : sources_(std::move(sources)) {}
  std::vector<prometheus::MetricFamily> Collect() const override {
    std::vector<prometheus::MetricFamily> all;
    for (const MetricsSource& source : sources_)
      for (prometheus::MetricFamily& family : source()) all.push_back(std::move(family));
    return all;
  }

 private:
  const std::vector<MetricsSource> sources_;
};

StatusOr<std::unique_ptr<MetricsEndpoint>> MetricsEndpoint::Start(const std::string& host, int port,
                                                                  std::vector<MetricsSource> sources) {
  const std::string address = host + ":" + std::to_string(port);
  std::unique_ptr<MetricsEndpoint> endpoint(new MetricsEndpoint());
  endpoint->sources_ = std::make_shared<Sources>(std::move(sources));
  try {
    endpoint->exposer_ = std::make_unique<prometheus::Exposer>(address, /*num_threads=*/1);
  } catch (const std::exception& e) {
    return Unavailable("cannot serve /metrics on " + address + ": " + e.what());
  }
  endpoint->exposer_->RegisterCollectable(endpoint->sources_);
  return endpoint;
}

MetricsEndpoint::~MetricsEndpoint() { exposer_.reset(); }

int MetricsEndpoint::port() const {
  const std::vector<int> ports = exposer_->GetListeningPorts();
  return ports.empty() ? 0 : ports.front();
}

}  // namespace flowps
