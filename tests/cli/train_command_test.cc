#include <catch2/catch.hpp>

#include <CLI/CLI.hpp>
#include <iostream>
#include <sstream>

#include "cli/train_command.h"
#include "core/thread_pool.h"

using namespace flowps;

namespace {

// Parses `args` with a `train` subcommand; returns the exit code and stderr.
std::pair<int, std::string> RunCli(std::vector<std::string> args) {
  auto pool = NewAsioThreadPool(1);
  CLI::App app("flowps");
  AddTrainCommand(app, TrainCommandContext{pool.get(), {}});
  std::vector<const char*> argv = {"flowps"};
  for (const auto& a : args) argv.push_back(a.c_str());
  std::ostringstream err;
  std::streambuf* old = std::cerr.rdbuf(err.rdbuf());
  int code = 0;
  try {
    app.parse(static_cast<int>(argv.size()), argv.data());
  } catch (const CLI::ParseError& e) {
    code = e.get_exit_code();
  }
  std::cerr.rdbuf(old);
  return {code, err.str()};
}

}  // namespace

TEST_CASE("flowps train refuses a missing or bad job file with the file's name and exit status 1") {
  auto [code, err] = RunCli({"train", "/no/such/job.yaml"});
  CHECK(code == 1);
  CHECK_THAT(err, Catch::Contains("/no/such/job.yaml: cannot open"));

  auto [code2, err2] = RunCli({"train", std::string(FLOWPS_SOURCE_DIR) + "/meson.build"});
  CHECK(code2 == 1);
  CHECK_THAT(err2, Catch::Contains("meson.build"));
}

TEST_CASE("flowps train needs a job file") {
  auto [code, err] = RunCli({"train"});
  CHECK(code != 0);
}
