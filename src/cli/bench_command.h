// `flowps bench <name> [--json] [--opt key=value]... [--list]`: runs one
// benchmark (see bench/). Exit code 0, 1 when the benchmark failed, 2 for an
// unknown name or option.
#pragma once

#include <vector>

#include "bench/benchmark.h"

namespace CLI {
class App;
}  // namespace CLI

namespace flowps {

class ThreadPool;

// `benchmarks` and `pool` (the process's compute pool) must outlive `app`.
void AddBenchCommand(CLI::App& app, const std::vector<Benchmark>* benchmarks, ThreadPool* pool, int* exit_code);

}  // namespace flowps
