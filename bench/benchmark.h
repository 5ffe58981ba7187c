// Benchmark: one named measurement of `flowps bench <name>`.
//
// A benchmark emits Measurements; the harness prints each as one line (one
// JSON object per line with --json: name, value, unit, and baseline_name /
// baseline_value when a baseline was measured in the same run).
#pragma once

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "core/status.h"

namespace flowps {

class ThreadPool;

struct Measurement {
  std::string name;   // e.g. "matmul_1024_gflops"
  double value = 0;
  std::string unit;   // e.g. "GFLOP/s", "calls/s", "us"
  std::optional<std::string> baseline_name;
  std::optional<double> baseline_value;
};

struct BenchContext {
  // Extra options given as `--opt key=value` (e.g. sizes, device); each
  // benchmark documents the keys it reads and refuses unknown ones.
  std::map<std::string, std::string> options;
  // The process's compute pool (owned by main). Never null while a benchmark
  // runs: RunBenchmark makes one when its caller passes none.
  ThreadPool* pool = nullptr;
  std::function<void(const Measurement&)> emit;
  // Progress for long runs; printed to stderr, never mixed into --json output.
  std::function<void(const std::string&)> progress;
};

struct Benchmark {
  std::string name;         // the CLI name, e.g. "rpc-latency"
  std::string description;  // one line for `flowps bench --list`
  std::function<Status(BenchContext&)> run;
};

}  // namespace flowps
