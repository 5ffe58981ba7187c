#include <catch2/catch.hpp>

#include <sstream>

#include "bench/bench_runner.h"
#include "bench/rpc_latency_bench.h"
#include "core/thread_pool.h"

using namespace flowps;

TEST_CASE("a measurement prints as one JSON object with its baseline when there is one") {
  CHECK(MeasurementJson(Measurement{"rpc_health_calls_per_s", 5000, "calls/s", "tcp_pingpong_calls_per_s", 40000}) ==
        "{\"name\":\"rpc_health_calls_per_s\",\"value\":5000,\"unit\":\"calls/s\","
        "\"baseline_name\":\"tcp_pingpong_calls_per_s\",\"baseline_value\":40000}");
  CHECK(MeasurementJson(Measurement{"matmul_gflops", 7.5, "GFLOP/s", std::nullopt, std::nullopt}) ==
        "{\"name\":\"matmul_gflops\",\"value\":7.5,\"unit\":\"GFLOP/s\"}");
  CHECK(FormatMeasurement(Measurement{"x", 5000, "calls/s", "tcp", 40000}) ==
        "x: 5000 calls/s  (baseline tcp: 40000 calls/s, ratio 0.125)");
}

TEST_CASE("bench options must be key=value, and unknown names and options are refused") {
  CHECK(ParseBenchOptions({"calls=10", "window=2"})->at("calls") == "10");
  CHECK(ParseBenchOptions({"calls"}).status().message() == "--opt 'calls' must be key=value");
  std::vector<Benchmark> benchmarks = {MakeRpcLatencyBenchmark()};
  std::ostringstream out;
  Status s = RunBenchmark(benchmarks, "rpc-latncy", {}, true, nullptr, out);
  CHECK(s.code() == Code::kNotFound);
  CHECK(s.message() == "no benchmark named 'rpc-latncy' (there are: rpc-latency)");
  s = RunBenchmark(benchmarks, "rpc-latency", {{"size", "3"}}, true, nullptr, out);
  CHECK(s.message() == "benchmark rpc-latency has no option 'size'");
  s = RunBenchmark(benchmarks, "rpc-latency", {{"calls", "-3"}}, true, nullptr, out);
  CHECK(s.message() == "option calls=-3 must be a positive integer");
  CHECK(out.str().empty());
}

TEST_CASE("rpc-latency measures our calls and the raw TCP baseline in the same run") {
  auto pool = NewAsioThreadPool(1);
  std::ostringstream out;
  Status s = RunBenchmark({MakeRpcLatencyBenchmark()}, "rpc-latency", {{"calls", "300"}, {"window", "4"}}, true,
                          pool.get(), out);
  REQUIRE(s.ok());
  std::istringstream lines(out.str());
  std::string line;
  std::vector<std::string> got;
  while (std::getline(lines, line)) got.push_back(line);
  REQUIRE(got.size() == 8);
  CHECK_THAT(got[0], Catch::StartsWith("{\"name\":\"rpc_health_calls_per_s\",\"value\":"));
  CHECK_THAT(got[0], Catch::Contains("\"unit\":\"calls/s\",\"baseline_name\":\"tcp_pingpong_calls_per_s\",\"baseline_value\":"));
  CHECK_THAT(got[1], Catch::StartsWith("{\"name\":\"rpc_pipelined_calls_per_s\",\"value\":"));
  CHECK_THAT(got[0], !Catch::Contains("\"value\":0,"));
  // What each kind of call costs, in counts that do not move with the load.
  const std::vector<std::string> costs = {"cpu_us_per_call", "switches_per_call", "io_calls_per_call"};
  for (size_t i = 0; i < 6; ++i) {
    const std::string name = std::string(i < 3 ? "rpc_health_" : "rpc_pipelined_") + costs[i % 3];
    CHECK_THAT(got[2 + i], Catch::StartsWith("{\"name\":\"" + name + "\",\"value\":"));
  }
  CHECK_THAT(got[3], Catch::Contains("\"baseline_name\":\"tcp_pingpong_switches_per_call\""));
  CHECK_THAT(got[4], !Catch::Contains("\"value\":0,"));  // a call reads and writes
}
