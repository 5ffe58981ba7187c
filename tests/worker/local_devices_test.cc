// A worker's devices from its task in the cluster spec, and the towers a
// model builds on them.
#include <catch2/catch.hpp>

#include <spdlog/logger.h>
#include <spdlog/sinks/ostream_sink.h>

#include <sstream>

#include "core/thread_pool.h"
#include "device/device_discovery.h"
#include "worker/local_devices.h"

using namespace flowps;

namespace {

class NoDriverProbe final : public GpuProbe {
 public:
  StatusOr<int> DeviceCount() override {
    return Internal("cudaGetDeviceCount: cudaErrorInsufficientDriver (35): CUDA driver version is insufficient");
  }
};

TaskSpec Worker(int index, std::vector<std::string> devices) {
  TaskSpec t;
  t.job = "worker";
  t.index = index;
  t.host = "127.0.0.1";
  t.port = 7000 + index;
  t.devices = std::move(devices);
  return t;
}

// Opens devices as a worker would on a machine without a GPU driver, keeping the log.
struct NoGpuMachine {
  std::ostringstream out;
  spdlog::logger log{"worker", std::make_shared<spdlog::sinks::ostream_sink_st>(out)};
  NoDriverProbe probe;
  StatusOr<LocalDevices> Open(const TaskSpec& task) { return OpenLocalDevices(task, probe, log); }
  std::string Logged() {
    log.flush();
    return out.str();
  }
};

std::vector<std::string> Names(const LocalDevices& d) {
  std::vector<std::string> names;
  for (const Device* device : d.towers.devices) names.push_back(device->name());
  return names;
}

}  // namespace

TEST_CASE("a worker with devices [gpu:0, gpu:1] and no GPU trains two towers on CPU devices, saying so once") {
  NoGpuMachine machine;
  auto devices = machine.Open(Worker(1, {"gpu:0", "gpu:1"}));
  REQUIRE(devices.ok());
  CHECK(Names(*devices) == std::vector<std::string>{"/job:worker/task:1/device:cpu:0", "/job:worker/task:1/device:cpu:1"});
  for (const Device* d : devices->towers.devices) CHECK(d->type() == DeviceType::kCPU);
  CHECK_FALSE(devices->towers.register_kernels);
  CHECK_THAT(machine.Logged(), Catch::Contains("no usable GPU"));

  auto pool = NewAsioThreadPool(2);
  ModelSpec spec;
  spec.kind = ModelKind::kSoftmax;
  auto model = LocalModel::Create(spec, OptimizerConfig{}, pool.get(), devices->towers);
  REQUIRE(model.ok());
  CHECK((*model)->num_towers() == 2);
  CHECK((*model)->tower_partitions().size() == 2);
}

TEST_CASE("a worker's devices [cpu:0, cpu:1] are CPU devices under its task's name; a bad device is refused") {
  NoGpuMachine machine;
  auto devices = machine.Open(Worker(0, {"cpu:0", "cpu:1"}));
  REQUIRE(devices.ok());
  CHECK(Names(*devices) == std::vector<std::string>{"/job:worker/task:0/device:cpu:0", "/job:worker/task:0/device:cpu:1"});
  CHECK(machine.Logged().empty());

  auto twice = machine.Open(Worker(0, {"cpu:0", "cpu:0"}));
  CHECK(twice.status().code() == Code::kInvalidArgument);
  CHECK_THAT(twice.status().message(), Catch::Contains("cpu:0"));
}
