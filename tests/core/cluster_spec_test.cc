#include <catch2/catch.hpp>

#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>

#include "core/cluster_spec.h"
#include "core/yaml_reader.h"

using namespace flowps;

namespace {

// A folder with a token file, removed at the end of the test.
struct SpecDir {
  SpecDir() {
    char tmpl[] = "/tmp/flowps_spec_XXXXXX";
    dir = mkdtemp(tmpl);
    std::ofstream(dir + "/cluster.token") << "  tok3n\n";
  }
  ~SpecDir() { std::filesystem::remove_all(dir); }
  StatusOr<ClusterSpec> Parse(const std::string& text) { return ParseClusterSpec(text, dir + "/c.yaml"); }
  std::string dir;
};

const char* kGood = R"(token_file: cluster.token
jobs:
  ps:
    tasks:
      - address: 127.0.0.1:7000
      - address: 127.0.0.1:7001
  worker:
    chief: 1
    tasks:
      - address: 127.0.0.1:7100
        devices: [cpu:0, cpu:1]
      - address: localhost:7101
        devices: [gpu:0]
)";

}  // namespace

TEST_CASE("the good spec gives every task its address, devices and name, the chief and the token") {
  SpecDir d;
  auto spec = d.Parse(kGood);
  REQUIRE(spec.ok());
  REQUIRE(spec->ps.size() == 2);
  REQUIRE(spec->workers.size() == 2);
  CHECK(spec->ps[1].address() == "127.0.0.1:7001");
  CHECK(spec->ps[1].name() == "/job:ps/task:1");
  CHECK(spec->ps[0].devices == std::vector<std::string>{"cpu:0"});
  CHECK(spec->workers[0].DeviceNames() ==
        std::vector<std::string>{"/job:worker/task:0/device:cpu:0", "/job:worker/task:0/device:cpu:1"});
  CHECK(spec->workers[1].DeviceName(0) == "/job:worker/task:1/device:gpu:0");
  CHECK(spec->chief == 1);
  CHECK(spec->chief_task().address() == "localhost:7101");
  CHECK(spec->token == "tok3n");
  CHECK(spec->token_file == d.dir + "/cluster.token");
  CHECK(spec->AllTasks().size() == 4);
  CHECK(spec->Task("worker", 2).status().message() == d.dir + "/c.yaml: job 'worker' has tasks 0..1, not 2");
}

TEST_CASE("a task's metrics port and the chief's dashboard port are read; both are off by default") {
  SpecDir d;
  std::string text = kGood;
  text.replace(text.find("      - address: 127.0.0.1:7001"), 0, "        metrics_port: 9400\n");
  text += "        metrics_port: 9501\n        dashboard_port: 8080\n";
  auto spec = d.Parse(text);
  REQUIRE(spec.ok());
  CHECK(spec->ps[0].metrics_port == 9400);
  CHECK(spec->ps[1].metrics_port == 0);
  CHECK(spec->workers[0].dashboard_port == 0);
  CHECK(spec->workers[1].metrics_port == 9501);
  CHECK(spec->workers[1].dashboard_port == 8080);
}

TEST_CASE("the example spec configs/local.yaml is valid") {
  auto spec = LoadClusterSpec(std::string(FLOWPS_SOURCE_DIR) + "/configs/local.yaml");
  REQUIRE(spec.ok());
  CHECK(spec->ps.size() == 1);
  CHECK(spec->workers.size() == 2);
  for (const TaskSpec& t : spec->AllTasks()) CHECK(IsLocalHost(t.host));
}

TEST_CASE("each class of bad spec is refused naming file, line and key") {
  SpecDir d;
  const std::string f = d.dir + "/c.yaml";
  auto refused = [&](const std::string& text) {
    auto spec = d.Parse(text);
    REQUIRE_FALSE(spec.ok());
    CHECK(spec.status().code() == Code::kInvalidArgument);
    return spec.status().message();
  };
  const std::string worker = "  worker:\n    tasks:\n      - address: 127.0.0.1:7100\n";

  SECTION("an unknown key") {
    CHECK(refused("token_file: cluster.token\njobs:\n  ps:\n    tasks:\n      - address: 127.0.0.1:7000\n"
                  "        device: [cpu:0]\n" + worker) ==
          f + ":6: unknown key 'jobs.ps.tasks[0].device'");
    CHECK(refused("token_file: cluster.token\ntoken: x\njobs:\n  ps:\n    tasks:\n      - address: 1.2.3.4:1\n" +
                  worker) == f + ":2: unknown key 'token'");
  }
  SECTION("a duplicate address") {
    CHECK(refused("token_file: cluster.token\njobs:\n  ps:\n    tasks:\n      - address: 127.0.0.1:7100\n" + worker) ==
          f + ":8: key 'jobs.worker.tasks[0].address' duplicates the address 127.0.0.1:7100 of jobs.ps.tasks[0]");
  }
  SECTION("a metrics or dashboard port that is taken, out of range, or a dashboard off the chief") {
    const std::string ps = "token_file: cluster.token\njobs:\n  ps:\n    tasks:\n      - address: 127.0.0.1:7000\n";
    CHECK(refused(ps + "        metrics_port: 7100\n" + worker) ==
          f + ":9: key 'jobs.worker.tasks[0].address' duplicates the address 127.0.0.1:7100 of "
              "jobs.ps.tasks[0].metrics_port");
    CHECK(refused(ps + "        metrics_port: 70000\n" + worker) ==
          f + ":6: key 'jobs.ps.tasks[0].metrics_port' is 70000 but must be 1..65535 (leave it out for none)");
    CHECK(refused(ps + "        dashboard_port: 8080\n" + worker) == f + ":6: unknown key 'jobs.ps.tasks[0].dashboard_port'");
    CHECK(refused(ps + worker + "      - address: 127.0.0.1:7101\n        dashboard_port: 8080\n") ==
          f + ":10: key 'jobs.worker.tasks[1].dashboard_port' is set on a worker that is not the chief (worker 0): "
              "only the chief serves the dashboard");
  }
  SECTION("a missing job") {
    CHECK(refused("token_file: cluster.token\njobs:\n" + worker) ==
          f + ":3: key 'jobs' has no 'ps' job: a cluster needs jobs ps and worker");
    CHECK(refused("token_file: cluster.token\njobs:\n  ps:\n    tasks: []\n" + worker) ==
          f + ":4: key 'jobs.ps.tasks' must list at least one task");
  }
  SECTION("a bad port") {
    CHECK(refused("token_file: cluster.token\njobs:\n  ps:\n    tasks:\n      - address: 127.0.0.1:70000\n" + worker) ==
          f + ":5: key 'jobs.ps.tasks[0].address' address '127.0.0.1:70000' has a bad port 70000 (must be 1..65535)");
    CHECK(refused("token_file: cluster.token\njobs:\n  ps:\n    tasks:\n      - address: 127.0.0.1:http\n" + worker) ==
          f + ":5: key 'jobs.ps.tasks[0].address' address '127.0.0.1:http' has a bad port (not a number)");
  }
  SECTION("a missing or unreadable token") {
    CHECK(refused("token_file: nowhere.token\njobs:\n  ps:\n    tasks:\n      - address: 127.0.0.1:7000\n" + worker) ==
          f + ":1: key 'token_file' names '" + d.dir + "/nowhere.token', which cannot be read");
    std::ofstream(d.dir + "/empty.token") << "\n";
    CHECK(refused("token_file: empty.token\njobs:\n  ps:\n    tasks:\n      - address: 127.0.0.1:7000\n" + worker) ==
          f + ":1: key 'token_file' names '" + d.dir + "/empty.token', which is empty");
    CHECK(refused("jobs:\n  ps:\n    tasks:\n      - address: 127.0.0.1:7000\n" + worker) ==
          f + ":1: key 'token_file' is required");
  }
  SECTION("a bad device or chief") {
    CHECK(refused("token_file: cluster.token\njobs:\n  ps:\n    tasks:\n      - address: 127.0.0.1:7000\n"
                  "        devices: [tpu:0]\n" + worker) ==
          f + ":6: key 'jobs.ps.tasks[0].devices' device 'tpu:0' must be cpu:N or gpu:N");
    CHECK(refused("token_file: cluster.token\njobs:\n  ps:\n    tasks:\n      - address: 127.0.0.1:7000\n"
                  "  worker:\n    chief: 3\n    tasks:\n      - address: 127.0.0.1:7100\n") ==
          f + ":7: key 'jobs.worker.chief' is 3 but the worker job has tasks 0..0");
  }
}

TEST_CASE("a spec file that does not exist is named") {
  auto spec = LoadClusterSpec("/nonexistent/cluster.yaml");
  REQUIRE_FALSE(spec.ok());
  CHECK(spec.status().message() == "/nonexistent/cluster.yaml: cannot open the cluster spec");
}

TEST_CASE("a key given twice in a cluster spec is refused at its second line") {
  SpecDir d;
  auto spec = d.Parse("token_file: cluster.token\ntoken_file: other.token\njobs:\n  ps:\n    tasks:\n"
                      "      - address: 127.0.0.1:7000\n  worker:\n    tasks:\n      - address: 127.0.0.1:7100\n");
  REQUIRE(!spec.ok());
  CHECK(spec.status().message() == d.dir + "/c.yaml:2: key 'token_file' is given twice (first at line 1)");
  auto task = d.Parse("token_file: cluster.token\njobs:\n  ps:\n    tasks:\n"
                      "      - address: 127.0.0.1:7000\n        address: 127.0.0.1:7001\n"
                      "  worker:\n    tasks:\n      - address: 127.0.0.1:7100\n");
  REQUIRE(!task.ok());
  CHECK(task.status().message() ==
        d.dir + "/c.yaml:6: key 'jobs.ps.tasks[0].address' is given twice (first at line 5)");
}

TEST_CASE("a token file that is a device, a FIFO or too large is refused without reading it all") {
  SpecDir d;
  const std::string rest = "\njobs:\n  ps:\n    tasks:\n      - address: 127.0.0.1:7000\n"
                           "  worker:\n    tasks:\n      - address: 127.0.0.1:7100\n";
  auto zero = d.Parse("token_file: /dev/zero" + rest);
  REQUIRE(!zero.ok());
  CHECK_THAT(zero.status().message(), Catch::Contains("names '/dev/zero', which is not a regular file"));
  REQUIRE(mkfifo((d.dir + "/fifo").c_str(), 0600) == 0);
  auto fifo = d.Parse("token_file: fifo" + rest);  // opening a FIFO would block forever
  REQUIRE(!fifo.ok());
  CHECK_THAT(fifo.status().message(), Catch::Contains("which is not a regular file"));
  std::ofstream(d.dir + "/big.token") << std::string(4097, 'a');
  auto big = d.Parse("token_file: big.token" + rest);
  REQUIRE(!big.ok());
  CHECK_THAT(big.status().message(), Catch::Contains("which has more than 4096 bytes"));
}

TEST_CASE("a cluster spec above 1 MiB is refused before it is parsed") {
  SpecDir d;
  const std::string path = d.dir + "/huge.yaml";
  {
    std::ofstream out(path);
    out << "token_file: cluster.token\n";
    for (int i = 0; i < 2'000'000; ++i) out << "# padding padding padding\n";  // about 50 MB
  }
  auto start = std::chrono::steady_clock::now();
  auto spec = LoadClusterSpec(path);
  REQUIRE(!spec.ok());
  CHECK_THAT(spec.status().message(), Catch::Contains("has more than 1048576 bytes"));
  CHECK(std::chrono::steady_clock::now() - start < std::chrono::seconds(1));
  auto text = ParseClusterSpec(std::string(kMaxSpecBytes + 1, '#'), "text.yaml");
  REQUIRE(!text.ok());
  CHECK_THAT(text.status().message(), Catch::Contains("a spec may have at most 1048576 bytes"));
}

TEST_CASE("a cluster spec whose document is a scalar is refused, not thrown (found by fuzz_cluster_spec)") {
  SpecDir d;
  auto spec = d.Parse("just some words\n");
  REQUIRE(!spec.ok());
  CHECK(spec.status().message() == d.dir + "/c.yaml:1: the document must be a mapping");
  auto jobs = d.Parse("token_file: cluster.token\njobs: 5\n");
  REQUIRE(!jobs.ok());
  CHECK_THAT(jobs.status().message(), Catch::Contains("key 'jobs' must be a mapping"));
}
