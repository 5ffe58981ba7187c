#include <catch2/catch.hpp>

#include <spdlog/logger.h>
#include <spdlog/sinks/ostream_sink.h>

#include <sstream>

#include "device/device_discovery.h"
#include "device/gpu_config.h"

using namespace flowps;

namespace {

class FakeProbe final : public GpuProbe {
 public:
  explicit FakeProbe(StatusOr<int> count) : count_(std::move(count)) {}
  StatusOr<int> DeviceCount() override {
    ++calls;
    return count_;
  }
  int calls = 0;

 private:
  StatusOr<int> count_;
};

struct CapturedLog {
  std::ostringstream out;
  std::shared_ptr<spdlog::logger> logger =
      std::make_shared<spdlog::logger>("device", std::make_shared<spdlog::sinks::ostream_sink_st>(out));
  CapturedLog() { logger->set_pattern("%l %v"); }
  int lines() const {
    std::string s = out.str();
    return static_cast<int>(std::count(s.begin(), s.end(), '\n'));
  }
};

const std::string kTask = "/job:worker/task:0";

}  // namespace

TEST_CASE("with no usable GPU, requested GPUs become CPU devices and one clear line says why") {
  FakeProbe probe(Internal("cudaGetDeviceCount: cudaErrorInsufficientDriver (35): CUDA driver version is insufficient"));
  CapturedLog log;
  auto r = ResolveDevices(kTask, {"gpu:0", "gpu:1"}, probe, *log.logger);
  REQUIRE(r.ok());
  CHECK(r->gpu_fallback);
  CHECK(r->names == std::vector<std::string>{kTask + "/device:cpu:0", kTask + "/device:cpu:1"});
  CHECK(log.lines() == 1);
  const std::string line = log.out.str();
  CHECK(line.rfind("warning", 0) == 0);
  CHECK(line.find("no usable GPU") != std::string::npos);
  CHECK(line.find("(35)") != std::string::npos);
  CHECK(line.find("gpu:0, gpu:1") != std::string::npos);
  CHECK(line.find("cpu:0, cpu:1") != std::string::npos);
}

TEST_CASE("a runtime that reports zero GPUs falls back the same way") {
  FakeProbe probe(0);
  CapturedLog log;
  auto r = ResolveDevices(kTask, {"gpu:0"}, probe, *log.logger);
  REQUIRE(r.ok());
  CHECK(r->names == std::vector<std::string>{kTask + "/device:cpu:0"});
  CHECK(log.lines() == 1);
  CHECK(log.out.str().find("reports 0 GPUs") != std::string::npos);
}

TEST_CASE("present GPUs are used as asked, and an index beyond them is refused") {
  FakeProbe probe(2);
  CapturedLog log;
  auto r = ResolveDevices(kTask, {"gpu:1", "gpu:0"}, probe, *log.logger);
  REQUIRE(r.ok());
  CHECK_FALSE(r->gpu_fallback);
  CHECK(r->names == std::vector<std::string>{kTask + "/device:gpu:1", kTask + "/device:gpu:0"});
  auto bad = ResolveDevices(kTask, {"gpu:2"}, probe, *log.logger);
  REQUIRE_FALSE(bad.ok());
  CHECK(bad.status().ToString().find("gpu:2") != std::string::npos);
  CHECK(bad.status().ToString().find("2 GPU(s) present") != std::string::npos);
  CHECK(log.lines() == 0);
}

TEST_CASE("CPU-only requests never ask the CUDA runtime") {
  FakeProbe probe(Internal("must not be called"));
  CapturedLog log;
  auto r = ResolveDevices(kTask, {"cpu:0", "cpu:1"}, probe, *log.logger);
  REQUIRE(r.ok());
  CHECK(probe.calls == 0);
  CHECK(r->names.size() == 2);
  CHECK(log.lines() == 0);
}

TEST_CASE("malformed, duplicate and colliding device requests are refused with the device named") {
  FakeProbe probe(Internal("no driver"));
  CapturedLog log;
  auto malformed = ResolveDevices(kTask, {"tpu:0"}, probe, *log.logger);
  REQUIRE_FALSE(malformed.ok());
  CHECK(malformed.status().ToString().find("tpu") != std::string::npos);
  auto dup = ResolveDevices(kTask, {"cpu:0", "cpu:0"}, probe, *log.logger);
  REQUIRE_FALSE(dup.ok());
  CHECK(dup.status().ToString().find("twice") != std::string::npos);
  auto collide = ResolveDevices(kTask, {"cpu:0", "gpu:0"}, probe, *log.logger);
  REQUIRE_FALSE(collide.ok());
  CHECK(collide.status().ToString().find("/device:cpu:0") != std::string::npos);
  CHECK(ResolveDevices(kTask, {}, probe, *log.logger).status().code() == Code::kInvalidArgument);
}

TEST_CASE("the probe of this build answers without aborting, with or without a GPU") {
  auto probe = NewGpuProbe();
  StatusOr<int> count = probe->DeviceCount();
  if (!FLOWPS_HAVE_CUDA) {
    REQUIRE_FALSE(count.ok());
    CHECK(count.status().ToString().find("without CUDA") != std::string::npos);
  } else if (!count.ok()) {
    CHECK(count.status().ToString().find("cudaGetDeviceCount") != std::string::npos);
  } else {
    CHECK(*count >= 0);
  }
}
