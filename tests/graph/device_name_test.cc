#include <catch2/catch.hpp>

#include "graph/device_name.h"

using namespace flowps;

TEST_CASE("task and device names parse and format back to the same string") {
  for (std::string s : {"/job:ps/task:0", "/job:worker/task:1/device:cpu:0", "/job:worker/task:12/device:gpu:3"}) {
    auto d = ParseDeviceName(s);
    REQUIRE(d.ok());
    CHECK(d->ToString() == s);
  }
  auto d = ParseDeviceName("/job:worker/task:1/device:gpu:1");
  REQUIRE(d.ok());
  CHECK(d->job == "worker");
  CHECK(d->task == 1);
  CHECK(d->has_device);
  CHECK(d->device_type == "gpu");
  CHECK(d->device_index == 1);
  CHECK(d->TaskName() == "/job:worker/task:1");
}

TEST_CASE("a malformed device name is refused with the name and the bad part") {
  struct Case { std::string name, part; };
  for (const Case& c : std::vector<Case>{
           {"", "must start with '/'"},
           {"job:ps/task:0", "must start with '/'"},
           {"/job:ps", "2 or 3 parts"},
           {"/job:PS/task:0", "job name 'PS'"},
           {"/job:ps/task:x", "task index 'x'"},
           {"/job:ps/task:-1", "task index '-1'"},
           {"/job:ps/task:01", "task index '01'"},
           {"/job:ps/tusk:0", "task:K"},
           {"/job:worker/task:0/device:tpu:0", "device type 'tpu'"},
           {"/job:worker/task:0/device:cpu", "lacks ':INDEX'"},
           {"/job:worker/task:0/device:cpu:", "device index ''"},
           {"/job:worker/task:0/device:cpu:0/extra", "2 or 3 parts"}}) {
    auto d = ParseDeviceName(c.name);
    INFO(c.name);
    REQUIRE_FALSE(d.ok());
    CHECK(d.status().code() == Code::kInvalidArgument);
    CHECK_THAT(d.status().message(), Catch::Contains("'" + c.name + "'") && Catch::Contains(c.part));
  }
}

TEST_CASE("a device request without job or task is completed from the default device") {
  auto base = ParseDeviceName("/job:worker/task:2/device:cpu:0");
  REQUIRE(base.ok());
  struct Case {
    std::string request, full;
  };
  for (const Case& c : std::vector<Case>{
           {"/device:cpu:1", "/job:worker/task:2/device:cpu:1"},
           {"/job:worker/device:gpu:0", "/job:worker/task:2/device:gpu:0"},
           {"/job:ps/device:cpu:0", "/job:ps/task:0/device:cpu:0"},
           {"/job:ps", "/job:ps/task:0"},
           {"/task:1/device:cpu:0", "/job:worker/task:1/device:cpu:0"},
           {"/job:ps/task:1", "/job:ps/task:1"},
           {"/gpu:1", "/job:worker/task:2/device:gpu:1"},  // TensorFlow's short form
           {"/job:worker/cpu:3", "/job:worker/task:2/device:cpu:3"}}) {
    INFO(c.request);
    auto d = ParseDeviceRequest(c.request, *base);
    REQUIRE(d.ok());
    CHECK(d->ToString() == c.full);
  }
  for (const std::string bad : {"", "device:cpu:1", "/device:tpu:0", "/device:cpu:1/job:ps", "/job:ps/x:1", "/gpu:x", "/cpu:0/gpu:1"}) {
    INFO(bad);
    auto d = ParseDeviceRequest(bad, *base);
    REQUIRE_FALSE(d.ok());
    CHECK_THAT(d.status().message(), Catch::Contains("'" + bad + "'"));
  }
}
