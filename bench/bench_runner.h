// The `flowps bench` harness: finds a benchmark by name, checks its options,
// runs it and prints each Measurement (a line of text, or with --json one
// JSON object per line: name, value, unit, and baseline_name/baseline_value
// when a baseline was measured in the same run).
#pragma once

#include <map>
#include <ostream>
#include <string>
#include <vector>

#include "bench/benchmark.h"
#include "core/status.h"

namespace flowps {

// "name  description" lines, one per benchmark.
std::string ListBenchmarks(const std::vector<Benchmark>& benchmarks);

// Parses "key=value" options; InvalidArgument naming the bad one.
StatusOr<std::map<std::string, std::string>> ParseBenchOptions(const std::vector<std::string>& opts);

// Runs the benchmark `name` with `options`, printing to `out` (progress goes to stderr).
Status RunBenchmark(const std::vector<Benchmark>& benchmarks, const std::string& name,
                    std::map<std::string, std::string> options, bool json, ThreadPool* pool, std::ostream& out);

// The text line of one measurement (without --json).
std::string FormatMeasurement(const Measurement& m);
// The JSON line of one measurement.
std::string MeasurementJson(const Measurement& m);

// Reads option `key` as a positive integer (default if absent) and removes it
// from `options`; InvalidArgument naming it when it is not one.
StatusOr<int64_t> TakeIntOption(std::map<std::string, std::string>& options, const std::string& key,
                                int64_t default_value);
// InvalidArgument naming any option left in `options` (an unknown key).
Status RefuseUnknownOptions(const std::map<std::string, std::string>& options, const std::string& benchmark);

}  // namespace flowps
