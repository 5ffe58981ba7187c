#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <sstream>

#include <unistd.h>

#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>

#include "worker/job_report.h"

using namespace flowps;

namespace {

// A chief's report of a 100-step job into a fresh run folder, its log kept.
struct ChiefReport {
  ChiefReport() : dir(std::filesystem::temp_directory_path() / ("flowps-job-report-" + std::to_string(::getpid()))) {
    std::filesystem::remove_all(dir);
    std::filesystem::create_directories(dir);
    log = std::make_shared<spdlog::logger>("job", std::make_shared<spdlog::sinks::ostream_sink_st>(lines));
    JobReportOptions o;
    o.job = "report-test";
    o.chief = true;
    o.total_steps = 100;
    o.examples_per_step = 64;
    o.log_every_steps = 10;
    o.run_dir = dir.string();
    report = JobReport::Create(o, log.get(), [this](const std::function<void(WorkerJobStatus&)>& f) { f(status); },
                               [this] { return now; })
                 .value();
  }
  ~ChiefReport() { std::filesystem::remove_all(dir); }
  std::string Metrics() const {
    std::ifstream in(dir / "metrics.jsonl");
    return std::string(std::istreambuf_iterator<char>(in), {});
  }

  std::filesystem::path dir;
  std::ostringstream lines;
  std::shared_ptr<spdlog::logger> log;
  WorkerJobStatus status;
  double now = 0;
  std::unique_ptr<JobReport> report;
};

}  // namespace

TEST_CASE("an evaluation's test accuracy is reported on the progress line, in metrics.jsonl and the status") {
  ChiefReport c;
  c.report->AtGlobalStep(0);
  c.now = 2;
  REQUIRE(c.report->RecordEvaluation(10, 0.8125).ok());
  CHECK(c.status.test_accuracy == 0.8125);
  CHECK(c.lines.str().find("test accuracy 81.25%") != std::string::npos);
  CHECK(c.Metrics().find("\"test_accuracy\":0.812500") != std::string::npos);
}

TEST_CASE("a model without an accuracy metric reports no accuracy, not -100%") {
  ChiefReport c;
  c.report->AtGlobalStep(0);
  c.now = 2;
  REQUIRE(c.report->RecordEvaluation(10, std::nullopt).ok());
  CHECK(c.status.test_accuracy == -1);  // the status field's "none"
  CHECK(c.lines.str().find("accuracy") == std::string::npos);
  CHECK(c.lines.str().find("step 10") != std::string::npos);
  CHECK(!c.Metrics().empty());
  CHECK(c.Metrics().find("accuracy") == std::string::npos);
}
