#include <catch2/catch.hpp>

#include <atomic>
#include <thread>

#include "graph/rendezvous.h"

using namespace flowps;

TEST_CASE("a value sent before or after the receiver arrives is delivered once per step") {
  auto r = NewLocalRendezvous();
  REQUIRE(r->Send(1, "k", Tensor::Scalar<float>(3.f)).ok());
  float got = 0;
  r->RecvAsync(1, "k", [&](StatusOr<Tensor> t) {
    REQUIRE(t.ok());
    got = t->data<float>()[0];
  });
  CHECK(got == 3.f);

  bool called = false;
  r->RecvAsync(2, "k", [&](StatusOr<Tensor> t) {
    REQUIRE(t.ok());
    got = t->data<float>()[0];
    called = true;
  });
  CHECK_FALSE(called);  // waits without blocking
  REQUIRE(r->Send(2, "k", Tensor::Scalar<float>(5.f)).ok());
  CHECK(called);
  CHECK(got == 5.f);
}

TEST_CASE("a second send of a key in the same step is refused") {
  auto r = NewLocalRendezvous();
  REQUIRE(r->Send(7, "k", Tensor::Scalar<float>(1.f)).ok());
  Status again = r->Send(7, "k", Tensor::Scalar<float>(2.f));
  CHECK(again.code() == Code::kAlreadyExists);
  CHECK_THAT(again.message(), Catch::Contains("'k'") && Catch::Contains("step 7"));
  r->EndStep(7);
  CHECK(r->Send(7, "k", Tensor::Scalar<float>(2.f)).ok());  // a forgotten step starts afresh
}

TEST_CASE("aborting a step wakes every waiter of that step with the error, and only that step") {
  auto r = NewLocalRendezvous();
  std::atomic<int> failed{0};
  bool other_called = false;
  for (int i = 0; i < 3; ++i)
    r->RecvAsync(4, "k" + std::to_string(i), [&](StatusOr<Tensor> t) {
      if (!t.ok() && t.status().message() == "worker died") ++failed;
    });
  r->RecvAsync(5, "k0", [&](StatusOr<Tensor>) { other_called = true; });
  r->Abort(4, Aborted("worker died"));
  CHECK(failed == 3);
  CHECK_FALSE(other_called);
  CHECK(r->Send(4, "k9", Tensor::Scalar<float>(1.f)).message() == "worker died");
  Status late;
  r->RecvAsync(4, "k8", [&](StatusOr<Tensor> t) { late = t.status(); });
  CHECK(late.message() == "worker died");
}

TEST_CASE("senders and receivers on many threads meet exactly once per key") {
  auto r = NewLocalRendezvous();
  constexpr int kKeys = 200;
  std::atomic<int> received{0}, sum{0};
  std::thread sender([&] {
    for (int i = 0; i < kKeys; ++i) REQUIRE(r->Send(0, "k" + std::to_string(i), Tensor::Scalar<int32_t>(i)).ok());
  });
  std::thread receiver([&] {
    for (int i = 0; i < kKeys; ++i)
      r->RecvAsync(0, "k" + std::to_string(i), [&](StatusOr<Tensor> t) {
        if (t.ok()) {
          sum += t->data<int32_t>()[0];
          ++received;
        }
      });
  });
  sender.join();
  receiver.join();
  CHECK(received == kKeys);
  CHECK(sum == kKeys * (kKeys - 1) / 2);
}

TEST_CASE("a step's transfer sends and receives under that step only") {
  auto r = NewLocalRendezvous();
  RendezvousTransfer step1(r.get(), 1), step2(r.get(), 2);
  REQUIRE(step1.Send("k", Tensor::Scalar<float>(1.f)).ok());
  bool step2_got = false;
  step2.RecvAsync("k", [&](StatusOr<Tensor>) { step2_got = true; });
  CHECK_FALSE(step2_got);
  float got = 0;
  step1.RecvAsync("k", [&](StatusOr<Tensor> t) { got = t->data<float>()[0]; });
  CHECK(got == 1.f);
  REQUIRE(step2.Send("k", Tensor::Scalar<float>(2.f)).ok());
  CHECK(step2_got);
}
