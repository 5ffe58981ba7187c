#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>

#include <unistd.h>

#include "worker/training_progress.h"

using namespace flowps;

TEST_CASE("a progress report averages the loss and measures the rate over its window, with an ETA") {
  TrainingProgress p(/*total_steps=*/100, /*steps_per_epoch=*/40, /*start_sec=*/10.0);
  for (int i = 0; i < 20; ++i) p.RecordStep(64, i < 10 ? 1.0 : 0.5);
  ProgressReport r = p.Report(12.0);  // 20 steps in 2 s
  CHECK(r.step == 20);
  CHECK(r.loss == Approx(0.75));
  CHECK(r.examples_per_sec == Approx(640.0));
  CHECK(r.epoch == Approx(0.5));
  CHECK(r.eta_sec == Approx(8.0));  // 80 steps left at 10 steps/s
  CHECK(r.elapsed_sec == Approx(2.0));

  for (int i = 0; i < 5; ++i) p.RecordStep(64, 0.2);
  ProgressReport next = p.Report(17.0);  // a new window: 5 steps in 5 s
  CHECK(next.loss == Approx(0.2));
  CHECK(next.examples_per_sec == Approx(64.0));
  CHECK(next.eta_sec == Approx(75.0));
  CHECK(p.total_examples() == 25 * 64);

  p.StartWindow(27.0);  // 10 s spent evaluating are not training time
  for (int i = 0; i < 10; ++i) p.RecordStep(64, 0.1);
  ProgressReport after_eval = p.Report(28.0);
  CHECK(after_eval.examples_per_sec == Approx(640.0));
  CHECK(after_eval.elapsed_sec == Approx(18.0));
}

TEST_CASE("a job's window follows a global step that other workers move too, and an empty window repeats the last") {
  // A resumed job at step 100 of 1000, 128 examples per global step.
  TrainingProgress job(/*total_steps=*/1000, /*steps_per_epoch=*/400, /*start_sec=*/0.0, /*first_step=*/100);
  job.AdvanceTo(103, 128, 0.5);  // this worker's step landed at 103: two others' came first
  job.AdvanceTo(110, 128, 0.3);
  ProgressReport r = job.Report(2.0);
  CHECK(r.step == 110);
  CHECK(r.loss == Approx(0.4));
  CHECK(r.examples_per_sec == Approx(10 * 128 / 2.0));
  CHECK(r.eta_sec == Approx(890 / 5.0));
  ProgressReport again = job.Report(3.0);  // e.g. an evaluation right after: no step since
  CHECK(again.step == 110);
  CHECK(again.loss == Approx(0.4));
  CHECK(again.examples_per_sec == Approx(r.examples_per_sec));
  CHECK(again.elapsed_sec == Approx(3.0));
}

TEST_CASE("the progress line shows step, loss, rate, elapsed time, ETA and accuracy") {
  ProgressReport r;
  r.step = 1200;
  r.total_steps = 4800;
  r.epoch = 1.28;
  r.loss = 0.43125;
  r.examples_per_sec = 18420.4;
  r.elapsed_sec = 72;
  r.eta_sec = 3725;
  CHECK(FormatProgress(r) ==
        "step 1200/4800 (25.0%) epoch 1.28  loss 0.4313  18420 ex/s  elapsed 1:12  ETA 1:02:05");
  r.test_accuracy = 0.85312;
  CHECK_THAT(FormatProgress(r), Catch::EndsWith("  test accuracy 85.31%"));
  CHECK(ProgressJson(r) ==
        "{\"step\":1200,\"epoch\":1.2800,\"loss\":0.43125,\"examples_per_sec\":18420.4,\"elapsed_sec\":72.000,"
        "\"test_accuracy\":0.853120}");
}

TEST_CASE("metrics are appended as JSON lines under the run directory") {
  auto dir = std::filesystem::temp_directory_path() / ("flowps_metrics_" + std::to_string(::getpid())) / "run";
  {
    auto f = MetricsFile::Open(dir.string());
    REQUIRE(f.ok());
    ProgressReport r;
    r.step = 1;
    REQUIRE((*f)->Append(r).ok());
    r.step = 2;
    REQUIRE((*f)->Append(r).ok());
    CHECK((*f)->path() == (dir / "metrics.jsonl").string());
  }
  std::ifstream in(dir / "metrics.jsonl");
  std::string line1, line2;
  std::getline(in, line1);
  std::getline(in, line2);
  std::filesystem::remove_all(dir.parent_path());
  CHECK_THAT(line1, Catch::StartsWith("{\"step\":1,"));
  CHECK_THAT(line2, Catch::StartsWith("{\"step\":2,"));

  auto bad = MetricsFile::Open("/proc/flowps_cannot_create");
  REQUIRE_FALSE(bad.ok());
  CHECK_THAT(bad.status().message(), Catch::Contains("/proc/flowps_cannot_create"));
}
