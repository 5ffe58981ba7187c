// Histogram: how many observations fell in each of a fixed set of buckets,
// and their sum, for latencies and other distributions that a metrics scrape
// or a status call reads while the observing thread goes on.
//
// Observe() costs a few relaxed atomic adds: no lock, no allocation, so it may
// sit on a training step's or a push's path. Read() may run on any thread at
// any time; a read racing with observations sees each counter at some recent
// value (the bucket counts and the sum may disagree by the observations in
// flight), which is what a scrape needs.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <vector>

namespace flowps {

struct HistogramSnapshot {
  std::vector<double> upper_bounds;         // ascending; the +Inf bucket is implied
  std::vector<uint64_t> cumulative_counts;  // observations <= upper_bounds[i]; one more entry: all
  double sum = 0;
  uint64_t count() const { return cumulative_counts.empty() ? 0 : cumulative_counts.back(); }
};

class Histogram {
 public:
  // REQUIRES: upper_bounds ascending.
  explicit Histogram(std::vector<double> upper_bounds);
  Histogram(const Histogram&) = delete;
  Histogram& operator=(const Histogram&) = delete;

  void Observe(double value);
  HistogramSnapshot Read() const;

  // Bucket bounds in seconds for latencies from 100 us to 30 s (1-2.5-5 steps).
  static std::vector<double> SecondsBounds();
  // Bucket bounds 0, 1, 2, 4, ... 1024 for counts such as a push's staleness in steps.
  static std::vector<double> StepsBounds();

 private:
  const std::vector<double> upper_bounds_;
  std::unique_ptr<std::atomic<uint64_t>[]> counts_;  // upper_bounds_.size() + 1, not cumulative
  std::atomic<double> sum_{0};
};

// This process's resident set size in bytes (/proc/self/statm); 0 where it cannot be read.
int64_t ResidentBytes();

}  // namespace flowps
