#include "bench/bench_runner.h"

#include <charconv>
#include <cstdio>
#include <iostream>
#include <memory>

#include "core/json_line.h"
#include "core/thread_pool.h"

namespace flowps {

std::string ListBenchmarks(const std::vector<Benchmark>& benchmarks) {
  std::string out;
  for (const auto& b : benchmarks) {
    char line[512];
    std::snprintf(line, sizeof line, "%-16s %s\n", b.name.c_str(), b.description.c_str());
    out += line;
  }
  return out;
}

StatusOr<std::map<std::string, std::string>> ParseBenchOptions(const std::vector<std::string>& opts) {
  std::map<std::string, std::string> options;
  for (const auto& o : opts) {
    auto eq = o.find('=');
    if (eq == std::string::npos || eq == 0) return InvalidArgument("--opt '" + o + "' must be key=value");
    options[o.substr(0, eq)] = o.substr(eq + 1);
  }
  return options;
}

std::string FormatMeasurement(const Measurement& m) {
  char line[512];
  std::snprintf(line, sizeof line, "%s: %.6g %s", m.name.c_str(), m.value, m.unit.c_str());
  std::string out = line;
  if (m.baseline_name && m.baseline_value) {
    std::snprintf(line, sizeof line, "  (baseline %s: %.6g %s, ratio %.3f)", m.baseline_name->c_str(),
                  *m.baseline_value, m.unit.c_str(), *m.baseline_value != 0 ? m.value / *m.baseline_value : 0.0);
    out += line;
  }
  return out;
}

std::string MeasurementJson(const Measurement& m) {
  JsonLine j;
  j.Add("name", m.name).Add("value", m.value).Add("unit", m.unit);
  if (m.baseline_name) j.Add("baseline_name", *m.baseline_name);
  if (m.baseline_value) j.Add("baseline_value", *m.baseline_value);
  return j.str();
}

Status RunBenchmark(const std::vector<Benchmark>& benchmarks, const std::string& name,
                    std::map<std::string, std::string> options, bool json, ThreadPool* pool, std::ostream& out) {
  for (const auto& b : benchmarks) {
    if (b.name != name) continue;
    std::unique_ptr<ThreadPool> own_pool;
    if (pool == nullptr) {
      own_pool = NewAsioThreadPool();
      pool = own_pool.get();
    }
    BenchContext context;
    context.options = std::move(options);
    context.pool = pool;
    context.emit = [&](const Measurement& m) { out << (json ? MeasurementJson(m) : FormatMeasurement(m)) << std::endl; };
    context.progress = [&](const std::string& p) { std::cerr << name << ": " << p << std::endl; };
    return b.run(context);
  }
  std::string known;
  for (const auto& b : benchmarks) known += (known.empty() ? "" : ", ") + b.name;
  return NotFound("no benchmark named '" + name + "' (there are: " + known + ")");
}

StatusOr<int64_t> TakeIntOption(std::map<std::string, std::string>& options, const std::string& key,
                                int64_t default_value) {
  auto it = options.find(key);
  if (it == options.end()) return default_value;
  int64_t v = 0;
  const std::string s = it->second;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  options.erase(it);
  if (ec != std::errc() || p != s.data() + s.size() || v <= 0)
    return InvalidArgument("option " + key + "=" + s + " must be a positive integer");
  return v;
}

Status RefuseUnknownOptions(const std::map<std::string, std::string>& options, const std::string& benchmark) {
  if (options.empty()) return Status::OK();
  return InvalidArgument("benchmark " + benchmark + " has no option '" + options.begin()->first + "'");
}

}  // namespace flowps
