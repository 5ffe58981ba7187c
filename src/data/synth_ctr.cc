#include "data/synth_ctr.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <random>

#include "core/split_mix.h"
#include "data/example_writer.h"

namespace flowps::data {
namespace {

// The cumulative Zipf distribution over ranks 1..n.
std::vector<double> ZipfCdf(int64_t n, double s) {
  std::vector<double> cdf(static_cast<size_t>(n));
  double sum = 0;
  for (int64_t k = 0; k < n; ++k) cdf[static_cast<size_t>(k)] = sum += std::pow(static_cast<double>(k + 1), -s);
  for (double& c : cdf) c /= sum;
  return cdf;
}

}  // namespace

double AreaUnderRoc(std::vector<std::pair<double, int>> scored) {
  std::sort(scored.begin(), scored.end());
  double rank_sum = 0, positives = 0;
  for (size_t i = 0; i < scored.size();) {
    size_t j = i;
    while (j < scored.size() && scored[j].first == scored[i].first) ++j;
    const double mid_rank = (static_cast<double>(i) + static_cast<double>(j) + 1) / 2;  // ranks from 1
    for (size_t k = i; k < j; ++k)
      if (scored[k].second != 0) {
        rank_sum += mid_rank;
        positives += 1;
      }
    i = j;
  }
  const double negatives = static_cast<double>(scored.size()) - positives;
  if (positives == 0 || negatives == 0) return 0.5;
  return (rank_sum - positives * (positives + 1) / 2) / (positives * negatives);
}

StatusOr<SynthCtrResult> WriteSynthCtr(const SynthCtrOptions& o, const std::string& dir) {
  if (o.examples < 2 || o.fields <= 0 || o.ids < o.fields || !(o.zipf > 0) || !(o.test_fraction > 0 && o.test_fraction < 1))
    return InvalidArgument("synth-ctr needs examples >= 2, fields > 0, ids >= fields, zipf > 0, 0 < test fraction < 1");
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  SynthCtrResult r;
  r.train_path = (std::filesystem::path(dir) / "train.libsvm").string();
  r.test_path = (std::filesystem::path(dir) / "test.libsvm").string();
  const Schema schema = {{"label", DType::kInt32, {}, ""},
                         {"ids", DType::kInt64, {}, "offsets"},
                         {"values", DType::kFloat32, {}, "offsets"}};
  FLOWPS_ASSIGN_OR_RETURN(std::unique_ptr<ExampleWriter> train, OpenWriter(DataFormat::kLibsvm, r.train_path, schema));
  FLOWPS_ASSIGN_OR_RETURN(std::unique_ptr<ExampleWriter> test, OpenWriter(DataFormat::kLibsvm, r.test_path, schema));

  const int64_t per_field = o.ids / o.fields;
  const std::vector<double> cdf = ZipfCdf(per_field, o.zipf);
  std::mt19937_64 rng(o.seed);
  std::uniform_real_distribution<double> uniform(0, 1);
  // The hidden weight of an id: N(0, 0.7^2) by Box-Muller from two hashes of (id, seed).
  const uint64_t key = SplitMix64(o.seed);
  auto weight = [&](uint64_t id) {
    const uint64_t a = SplitMix64(id ^ key), b = SplitMix64(a);
    const double u1 = (static_cast<double>(a >> 11) + 1) * 0x1.0p-53, u2 = static_cast<double>(b >> 11) * 0x1.0p-53;
    return 0.7 * std::sqrt(-2 * std::log(u1)) * std::cos(6.283185307179586 * u2);
  };
  const double bias = -1.3;
  const int64_t n_test = std::max<int64_t>(1, static_cast<int64_t>(std::llround(static_cast<double>(o.examples) * o.test_fraction)));
  std::vector<std::pair<double, int>> scored;
  Example e;
  e.columns.resize(3);
  std::vector<int64_t> ids(static_cast<size_t>(o.fields));
  std::vector<float> ones(static_cast<size_t>(o.fields), 1.f);
  int64_t test_positives = 0;
  for (int64_t i = 0; i < o.examples; ++i) {
    double logit = bias;
    for (int64_t f = 0; f < o.fields; ++f) {
      const int64_t rank = std::lower_bound(cdf.begin(), cdf.end(), uniform(rng)) - cdf.begin();
      // An arbitrary non-negative int64 per (field, rank).
      const int64_t id = static_cast<int64_t>(SplitMix64(static_cast<uint64_t>(f) << 40 | static_cast<uint64_t>(rank)) >> 1);
      ids[static_cast<size_t>(f)] = id;
      logit += weight(static_cast<uint64_t>(id));
    }
    const double p = 1 / (1 + std::exp(-logit));
    const int32_t label = uniform(rng) < p ? 1 : 0;
    e.Set(0, &label, 1);
    e.Set(1, ids.data(), ids.size());
    e.Set(2, ones.data(), ones.size());
    const bool is_test = i >= o.examples - n_test;
    FLOWPS_RETURN_IF_ERROR((is_test ? test : train)->Write(e));
    if (is_test) {
      scored.emplace_back(p, label);
      test_positives += label;
    }
  }
  FLOWPS_RETURN_IF_ERROR(train->Close());
  FLOWPS_RETURN_IF_ERROR(test->Close());
  r.train_examples = o.examples - n_test;
  r.test_examples = n_test;
  r.test_positive_rate = static_cast<double>(test_positives) / static_cast<double>(n_test);
  r.hidden_model_test_auc = AreaUnderRoc(std::move(scored));
  return r;
}

}  // namespace flowps::data
