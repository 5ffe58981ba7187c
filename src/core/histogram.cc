#include "core/histogram.h"

#include <unistd.h>

#include <algorithm>
#include <cstdio>

namespace flowps {

Histogram::Histogram(std::vector<double> upper_bounds)
    : upper_bounds_(std::move(upper_bounds)),
      counts_(std::make_unique<std::atomic<uint64_t>[]>(upper_bounds_.size() + 1)) {}

void Histogram::Observe(double value) {
  const size_t bucket = static_cast<size_t>(
      std::lower_bound(upper_bounds_.begin(), upper_bounds_.end(), value) - upper_bounds_.begin());
  counts_[bucket].fetch_add(1, std::memory_order_relaxed);
  sum_.fetch_add(value, std::memory_order_relaxed);
}

HistogramSnapshot Histogram::Read() const {
  HistogramSnapshot s;
  s.upper_bounds = upper_bounds_;
  uint64_t total = 0;
  for (size_t i = 0; i <= upper_bounds_.size(); ++i) {
    total += counts_[i].load(std::memory_order_relaxed);
    s.cumulative_counts.push_back(total);
  }
  s.sum = sum_.load(std::memory_order_relaxed);
  return s;
}

std::vector<double> Histogram::SecondsBounds() {
  std::vector<double> bounds;
  for (double decade = 1e-4; decade < 30; decade *= 10)
    for (double m : {1.0, 2.5, 5.0}) bounds.push_back(decade * m);
  bounds.push_back(30);
  return bounds;
}

std::vector<double> Histogram::StepsBounds() {
  std::vector<double> bounds = {0};
  for (double b = 1; b <= 1024; b *= 2) bounds.push_back(b);
  return bounds;
}

int64_t ResidentBytes() {
  FILE* f = std::fopen("/proc/self/statm", "r");
  if (f == nullptr) return 0;
  long long size = 0, resident = 0;
  const int read = std::fscanf(f, "%lld %lld", &size, &resident);
  std::fclose(f);
  return read == 2 ? resident * static_cast<int64_t>(sysconf(_SC_PAGESIZE)) : 0;
}

}  // namespace flowps
