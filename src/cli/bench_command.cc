#include "cli/bench_command.h"

#include <CLI/CLI.hpp>

#include <iostream>
#include <memory>

#include "bench/bench_runner.h"

namespace flowps {
namespace {

struct BenchOptions {
  std::string name;
  bool json = false;
  bool list = false;
  std::vector<std::string> opts;
};

int RunBench(const BenchOptions& o, const std::vector<Benchmark>& benchmarks, ThreadPool* pool) {
  if (o.list || o.name.empty()) {
    std::cout << ListBenchmarks(benchmarks);
    return o.list ? 0 : 2;
  }
  auto options = ParseBenchOptions(o.opts);
  if (!options.ok()) {
    std::cerr << "flowps bench: " << options.status().message() << "\n";
    return 2;
  }
  Status s = RunBenchmark(benchmarks, o.name, *options, o.json, pool, std::cout);
  if (!s.ok()) {
    std::cerr << "flowps bench: " << s.ToString() << "\n";
    return s.code() == Code::kInvalidArgument || s.code() == Code::kNotFound ? 2 : 1;
  }
  return 0;
}

}  // namespace

void AddBenchCommand(CLI::App& app, const std::vector<Benchmark>* benchmarks, ThreadPool* pool, int* exit_code) {
  auto o = std::make_shared<BenchOptions>();
  CLI::App* cmd = app.add_subcommand("bench", "run a benchmark (--list names them)");
  cmd->add_option("name", o->name, "the benchmark");
  cmd->add_flag("--json", o->json, "one JSON object per measurement and line");
  cmd->add_flag("--list", o->list, "list the benchmarks");
  cmd->add_option("--opt", o->opts, "key=value option of the benchmark (repeatable)");
  cmd->callback([o, benchmarks, pool, exit_code]() { *exit_code = RunBench(*o, *benchmarks, pool); });
}

}  // namespace flowps
