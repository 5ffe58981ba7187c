@0xead398a4b96a34ef;
# The "trace" service of every task (flowps-ps and flowps-worker): the spans
# its TraceRecorder (core/trace.h) holds, for the chief's job trace
# (`flowps submit --trace N`), and the task's clock to align them.

using Cxx = import "/capnp/c++.capnp";
$Cxx.namespace("flowps::wire");

struct TraceSpan {
  name @0 :Text;
  category @1 :Text;
  detail @2 :Text;
  track @3 :Int32;     # index into the tracks of the answer
  startNs @4 :Int64;   # the task's steady clock
  endNs @5 :Int64;
  id @6 :UInt64;
  parent @7 :UInt64;   # 0: a root span
  step @8 :Int64;      # -1: none
}

interface TraceService {
  # clockNs: the task's steady clock while it answers (a ping for the clock
  # offset). take: also every span recorded since the last take (they are
  # removed from the task), the names of every track, and the spans dropped
  # over the recorder's bound. inFlight (with take): spans begun and not yet
  # recorded, and holds of work that will record more (TraceRecorder).
  collect @0 (take :Bool) -> (clockNs :Int64, tracks :List(Text), spans :List(TraceSpan), dropped :UInt64,
                              inFlight :Int64);
}
