#include "net/trace_service.h"

#include <memory>

#include <kj/vector.h>

#include "core/cluster_spec.h"
#include "net/rpc_client.h"
#include "net/trace.capnp.h"

namespace flowps {
namespace {

class TraceServiceImpl final : public wire::TraceService::Server {
 public:
  explicit TraceServiceImpl(TraceRecorder* recorder) : recorder_(recorder) {}

  kj::Promise<void> collect(CollectContext context) override {
    auto out = context.getResults();
    if (context.getParams().getTake()) {
      TaskTrace taken = recorder_->Take();
      auto tracks = out.initTracks(static_cast<unsigned>(taken.tracks.size()));
      for (size_t i = 0; i < taken.tracks.size(); ++i) tracks.set(static_cast<unsigned>(i), taken.tracks[i]);
      auto spans = out.initSpans(static_cast<unsigned>(taken.spans.size()));
      for (size_t i = 0; i < taken.spans.size(); ++i) {
        const TraceSpan& s = taken.spans[i];
        auto w = spans[static_cast<unsigned>(i)];
        w.setName(s.name);
        w.setCategory(s.category);
        w.setDetail(s.detail);
        w.setTrack(s.track);
        w.setStartNs(s.start_ns);
        w.setEndNs(s.end_ns);
        w.setId(s.id);
        w.setParent(s.parent);
        w.setStep(s.step);
      }
      out.setDropped(taken.dropped);
      out.setInFlight(taken.in_flight);
    }
    out.setClockNs(TraceRecorder::NowNs());
    return kj::READY_NOW;
  }

 private:
  TraceRecorder* recorder_;
};

TaskTrace ReadTaskTrace(wire::TraceService::CollectResults::Reader in) {
  TaskTrace t;
  for (auto name : in.getTracks()) t.tracks.emplace_back(name.cStr());
  for (auto w : in.getSpans()) {
    TraceSpan s;
    s.name = w.getName().cStr();
    s.category = w.getCategory().cStr();
    s.detail = w.getDetail().cStr();
    // A track the task did not name would index past the list: keep it on track 0.
    s.track = w.getTrack() >= 0 && static_cast<size_t>(w.getTrack()) < t.tracks.size() ? w.getTrack() : 0;
    s.start_ns = w.getStartNs();
    s.end_ns = w.getEndNs();
    s.id = w.getId();
    s.parent = w.getParent();
    s.step = w.getStep();
    t.spans.push_back(std::move(s));
  }
  if (t.tracks.empty() && !t.spans.empty()) t.tracks.push_back("spans");
  t.dropped = in.getDropped();
  t.in_flight = in.getInFlight();
  return t;
}

kj::Promise<CollectedTrace> PingThenTake(RpcClient& client, wire::TraceService::Client service, int pings_left,
                                         std::shared_ptr<std::vector<ClockSample>> samples) {
  auto request = service.collectRequest();
  request.setTake(pings_left == 0);
  const int64_t sent = TraceRecorder::NowNs();
  return client.Call(request.send(), "trace collect")
      .then([&client, service, pings_left, samples, sent](capnp::Response<wire::TraceService::CollectResults>&& r) mutable
            -> kj::Promise<CollectedTrace> {
        samples->push_back({sent, r.getClockNs(), TraceRecorder::NowNs()});
        if (pings_left > 0) return PingThenTake(client, kj::mv(service), pings_left - 1, samples);
        return CollectedTrace{EstimateClockOffset(*samples), ReadTaskTrace(r)};
      });
}

}  // namespace

int TraceSlot(const ClusterSpec& spec, const TaskSpec& task) {
  return task.job == "ps" ? task.index : static_cast<int>(spec.ps.size()) + task.index;
}

capnp::Capability::Client NewTraceService(TraceRecorder* recorder) { return kj::heap<TraceServiceImpl>(recorder); }

kj::Promise<CollectedTrace> CollectTaskTrace(RpcClient& client, int pings) {
  return client.GetService("trace").then([&client, pings](capnp::Capability::Client cap) {
    return PingThenTake(client, cap.castAs<wire::TraceService>(), pings - 1, std::make_shared<std::vector<ClockSample>>());
  });
}

}  // namespace flowps
