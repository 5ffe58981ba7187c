#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>

#include "core/thread_pool.h"
#include "graph/executor.h"
#include "graph/op_util.h"
#include "graph/ops.h"
#include "graph/variable_store.h"

using namespace flowps;

namespace {

// Two parties meet; each waits at most 10 s for the other.
class Meeting {
 public:
  bool ArriveAndWait() {
    std::unique_lock<std::mutex> lock(mu_);
    if (++arrived_ == 2) cv_.notify_all();
    return cv_.wait_for(lock, std::chrono::seconds(10), [&] { return arrived_ >= 2; });
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  int arrived_ = 0;
};

// Test ops over a float scalar input: "Meet" waits for a second Meet node to
// run at the same time; "Count" counts its runs; "Lie" claims [2] but makes [3];
// "LaterIdentity" finishes on another thread (an async kernel).
struct TestOps {
  Meeting meeting;
  std::atomic<int> counted{0};
  std::vector<std::thread> threads;
  ~TestOps() {
    for (auto& t : threads) t.join();
  }

  void Register(OpRegistry* r) {
    auto scalar_shape = [](ShapeContext& c) -> Status {
      c.add_output(DType::kFloat32, c.num_inputs() ? c.input_shape(0) : Shape{});
      return Status::OK();
    };
    OpDef meet = NewOp("Meet", 1);
    meet.shape_fn = scalar_shape;
    meet.kernels[DeviceType::kCPU] = OneOutput([this](KernelContext& c) -> StatusOr<Tensor> {
      if (!meeting.ArriveAndWait()) return DeadlineExceeded("the other Meet node never ran alongside");
      return c.input(0);
    });
    OpDef count = NewOp("Count", 0);
    count.shape_fn = scalar_shape;
    count.kernels[DeviceType::kCPU] = OneOutput([this](KernelContext&) -> StatusOr<Tensor> {
      ++counted;
      return Tensor::Scalar<float>(1.f);
    });
    OpDef lie = NewOp("Lie", 0);
    lie.shape_fn = [](ShapeContext& c) {
      c.add_output(DType::kFloat32, Shape{2});
      return Status::OK();
    };
    lie.kernels[DeviceType::kCPU] = OneOutput([](KernelContext&) -> StatusOr<Tensor> {
      return Tensor::Zeros(DType::kFloat32, Shape{3});
    });
    OpDef later = NewOp("LaterIdentity", 1);
    later.shape_fn = scalar_shape;
    later.async_kernels[DeviceType::kCPU] = [this](KernelContext& c, std::function<void(Status)> done) {
      threads.emplace_back([&c, done] {
        c.set_output(0, c.input(0));
        done(Status::OK());
      });
    };
    for (OpDef* d : {&meet, &count, &lie, &later}) REQUIRE(r->Register(std::move(*d)).ok());
  }
};

struct Fixture {
  OpRegistry registry;
  TestOps test_ops;
  std::unique_ptr<ThreadPool> pool = NewAsioThreadPool(2);
  Graph g{&registry};
  Fixture() {
    REQUIRE(RegisterStandardOps(&registry).ok());
    test_ops.Register(&registry);
  }
  Output Custom(const std::string& op, std::vector<Output> inputs = {}) {
    Node* n = g.AddNodeOrRecord(NodeSpec{op, "", std::move(inputs), {}, {}, ""});
    return n ? n->output(0) : Output{};
  }
};

Tensor F(std::vector<float> v, Shape s) { return Tensor::FromVector<float>(std::move(s), v); }

}  // namespace

TEST_CASE("independent nodes run at the same time on the pool") {
  Fixture f;
  Output x = Const(f.g, 1.f);
  Output a = f.Custom("Meet", {x}), b = f.Custom("Meet", {x * 2.f});
  REQUIRE(f.g.status().ok());
  Executor exec(f.g, f.pool.get());
  auto r = exec.Run({}, {a + b});
  INFO(r.status().ToString());
  REQUIRE(r.ok());
  CHECK((*r)[0].ToVector<float>() == std::vector<float>{3.f});
}

TEST_CASE("only the nodes the fetches need run") {
  Fixture f;
  Output needed = f.Custom("Count");
  Output unneeded = f.Custom("Count");
  Output unfed = Placeholder(f.g, DType::kFloat32, Shape{}, "never_fed");
  Output also_unneeded = unneeded + unfed;
  REQUIRE(f.g.status().ok());
  Executor exec(f.g, f.pool.get());
  auto r = exec.Run({}, {needed * 3.f});
  INFO(r.status().ToString());
  REQUIRE(r.ok());
  CHECK((*r)[0].ToVector<float>() == std::vector<float>{3.f});
  CHECK(f.test_ops.counted == 1);
  (void)also_unneeded;
}

TEST_CASE("feeds replace any output and cut the graph above it; fetches come back in order") {
  Fixture f;
  Output x = Placeholder(f.g, DType::kFloat32, Shape{-1, 2}, "x");
  Output h = x * 2.f;
  Output y = ReduceSum(h, {1});
  REQUIRE(f.g.status().ok());
  Executor exec(f.g, f.pool.get());
  auto r = exec.Run({{x, F({1, 2, 3, 4}, Shape{2, 2})}}, {y, h});
  INFO(r.status().ToString());
  REQUIRE(r.ok());
  CHECK((*r)[0].ToVector<float>() == std::vector<float>{6, 14});
  CHECK((*r)[1].shape() == Shape{2, 2});
  // Feeding h: x is not needed, though it is an unfed placeholder.
  auto r2 = exec.Run({{h, F({10, 20}, Shape{1, 2})}}, {y});
  REQUIRE(r2.ok());
  CHECK((*r2)[0].ToVector<float>() == std::vector<float>{30});
}

TEST_CASE("a feed of the wrong dtype or shape is refused, naming the tensor") {
  Fixture f;
  Output x = Placeholder(f.g, DType::kFloat32, Shape{-1, 2}, "x");
  Output y = x + 1.f;
  Executor exec(f.g, f.pool.get());
  auto wrong_dtype = exec.Run({{x, Tensor::FromVector<int32_t>(Shape{1, 2}, {1, 2})}}, {y});
  REQUIRE_FALSE(wrong_dtype.ok());
  CHECK(wrong_dtype.status().message().find("'x:0' (op Placeholder)") != std::string::npos);
  CHECK(wrong_dtype.status().message().find("int32") != std::string::npos);
  auto wrong_shape = exec.Run({{x, F({1, 2, 3}, Shape{1, 3})}}, {y});
  REQUIRE_FALSE(wrong_shape.ok());
  CHECK(wrong_shape.status().message().find("[1,3]") != std::string::npos);
}

TEST_CASE("an unfed placeholder is an error naming it") {
  Fixture f;
  Output x = Placeholder(f.g, DType::kFloat32, Shape{2}, "images");
  Executor exec(f.g, f.pool.get());
  auto r = exec.Run({}, {x * 2.f});
  INFO(r.status().ToString());
  REQUIRE_FALSE(r.ok());
  CHECK(r.status().message().find("'images'") != std::string::npos);
}

TEST_CASE("a kernel error names the node and op and leaves every variable untouched") {
  Fixture f;
  VariableStore vars;
  vars.Set("W", F({1, 2}, Shape{2}));
  Output w = Variable(f.g, "W", Shape{2});
  Output assign = Assign(w, w + 1.f);
  Output table = Const(f.g, F({5, 6, 7}, Shape{3, 1}));
  Output idx = Placeholder(f.g, DType::kInt32, Shape{1}, "idx");
  Node* bad = f.g.AddNodeOrRecord(NodeSpec{"Gather", "lookup", {table, idx}, {assign.node}, {}, ""});
  REQUIRE(f.g.status().ok());
  Executor exec(f.g, f.pool.get());
  StepOptions opts{&vars, nullptr};
  auto r = exec.Run({{idx, Tensor::FromVector<int32_t>(Shape{1}, {7})}}, {bad->output(0)}, {}, opts);
  REQUIRE_FALSE(r.ok());
  CHECK(r.status().message().find("node 'lookup' (op Gather)") != std::string::npos);
  CHECK(r.status().message().find("index 7") != std::string::npos);
  CHECK(vars.Read("W")->ToVector<float>() == std::vector<float>{1, 2});

  // The same step with a good index commits the staged write.
  auto ok = exec.Run({{idx, Tensor::FromVector<int32_t>(Shape{1}, {2})}}, {bad->output(0)}, {}, opts);
  REQUIRE(ok.ok());
  CHECK((*ok)[0].ToVector<float>() == std::vector<float>{7});
  CHECK(vars.Read("W")->ToVector<float>() == std::vector<float>{2, 3});
}

TEST_CASE("a target without outputs runs its dependencies; variables update only through Assign") {
  Fixture f;
  VariableStore vars;
  vars.Set("step/count", F({0}, Shape{}));
  Output count;
  {
    NameScope scope(f.g, "step");
    count = Variable(f.g, "count", Shape{});
  }
  Output inc = Assign(count, count + 1.f);
  Node* train = NoOp(f.g, {inc.node}, "train");
  REQUIRE(f.g.status().ok());
  Executor exec(f.g, f.pool.get());
  for (int i = 0; i < 3; ++i) REQUIRE(exec.Run({}, {}, {train}, StepOptions{&vars, nullptr}).ok());
  CHECK(vars.Read("step/count")->ToVector<float>() == std::vector<float>{3});
}

TEST_CASE("reading a variable that was never set names it") {
  Fixture f;
  VariableStore vars;
  Output w = Variable(f.g, "missing", Shape{2});
  Executor exec(f.g, f.pool.get());
  auto r = exec.Run({}, {w}, {}, StepOptions{&vars, nullptr});
  REQUIRE_FALSE(r.ok());
  CHECK(r.status().message().find("'missing'") != std::string::npos);
}

TEST_CASE("a kernel output that disagrees with the inferred shape is caught at the op boundary") {
  Fixture f;
  Output lie = f.Custom("Lie");
  Executor exec(f.g, f.pool.get());
  auto r = exec.Run({}, {lie});
  REQUIRE_FALSE(r.ok());
  CHECK(r.status().message().find("(op Lie)") != std::string::npos);
  CHECK(r.status().message().find("[3]") != std::string::npos);
}

TEST_CASE("an async kernel finishes on another thread without blocking the pool") {
  Fixture f;
  Output x = Placeholder(f.g, DType::kFloat32, Shape{}, "x");
  Output y = f.Custom("LaterIdentity", {x}) * 2.f;
  Executor exec(f.g, f.pool.get());
  auto r = exec.Run({{x, Tensor::Scalar<float>(4.f)}}, {y});
  INFO(r.status().ToString());
  REQUIRE(r.ok());
  CHECK((*r)[0].ToVector<float>() == std::vector<float>{8.f});
}

TEST_CASE("builder errors are recorded once and name the node") {
  Fixture f;
  Output a = Placeholder(f.g, DType::kFloat32, Shape{2, 3}, "a");
  Output b = Placeholder(f.g, DType::kFloat32, Shape{4, 5}, "b");
  Output y = Softmax(MatMul(a, b) + 1.f);
  CHECK_FALSE(y.valid());
  REQUIRE_FALSE(f.g.status().ok());
  CHECK(f.g.status().message().find("MatMul") != std::string::npos);
  CHECK(f.g.status().message().find("[2,3]") != std::string::npos);
}
