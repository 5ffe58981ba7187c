#include <catch2/catch.hpp>

#include <CLI/CLI.hpp>
#include <iostream>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <unistd.h>

#include "cli/train_command.h"

using namespace flowps;

namespace {

// Parses `args` with a `train` subcommand; returns the exit code and stderr.
std::pair<int, std::string> RunCli(std::vector<std::string> args) {
  CLI::App app("flowps");
  int exit_code = 0;
  AddTrainCommand(app, &exit_code);
  std::vector<const char*> argv = {"flowps"};
  for (const auto& a : args) argv.push_back(a.c_str());
  std::ostringstream err;
  std::streambuf* old = std::cerr.rdbuf(err.rdbuf());
  try {
    app.parse(static_cast<int>(argv.size()), argv.data());
  } catch (const CLI::ParseError& e) {
    exit_code = -e.get_exit_code();
  }
  std::cerr.rdbuf(old);
  return {exit_code, err.str()};
}

}  // namespace

TEST_CASE("flowps train refuses a missing or bad job file with the file's name and exit status 2") {
  auto [code, err] = RunCli({"train", "/no/such/job.yaml"});
  CHECK(code == 2);
  CHECK_THAT(err, Catch::Contains("/no/such/job.yaml: cannot open"));

  auto [code2, err2] = RunCli({"train", std::string(FLOWPS_SOURCE_DIR) + "/meson.build"});
  CHECK(code2 == 2);
  CHECK_THAT(err2, Catch::Contains("meson.build"));
}

TEST_CASE("flowps train runs a job to the end and exits 0, or 1 when training fails") {
  auto job = std::filesystem::temp_directory_path() / ("flowps_train_cli_" + std::to_string(::getpid()) + ".yaml");
  std::ofstream(job) << "name: t\nmodel:\n  type: softmax\noptimizer:\n  type: sgd\n  learning_rate: 0.1\n"
                        "mode:\n  type: async\ntrain:\n  steps: 1000\n";
  auto [code, err] = RunCli({"train", job.string(), "--max-steps", "20", "--log-level", "warn"});
  std::filesystem::remove(job);
  if (std::ifstream(std::string("/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz")).good())
    CHECK(code == 0);
  else
    CHECK(code == 1);
}

TEST_CASE("flowps train needs a job file and a known log level") {
  CHECK(RunCli({"train"}).first < 0);
  CHECK(RunCli({"train", "x.yaml", "--log-level", "loud"}).first < 0);
}
