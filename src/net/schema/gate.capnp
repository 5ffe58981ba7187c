@0xa71ebaf6d98a38f5;
# The only capability a task hands out before login is its Gate. Everything
# else (health, log stream, the ps and worker services) is reached through the
# Session that a correct cluster token buys.

using Cxx = import "/capnp/c++.capnp";
$Cxx.namespace("flowps::wire");

interface Gate {
  # Fails with "login refused: ..." for a wrong or missing token, and gives
  # nothing else.
  login @0 (token :Text) -> (session :Session);
}

interface Session {
  health @0 () -> (health :Health);

  # A service registered by name in the task's main(), e.g. "ps" or "worker";
  # the caller casts it to its interface. Fails naming the services there are.
  service @1 (name :Text) -> (cap :Capability);

  # The task's recent lines (oldest first) and, when a receiver is given, every
  # later line pushed to it until the subscription is dropped. Lines the
  # receiver is too slow for are dropped by the task and counted.
  subscribeLogs @2 (receiver :LogReceiver, capacity :UInt32)
      -> (backlog :List(LogLine), subscription :LogSubscription);
}

struct Health {
  task @0 :Text;              # "/job:ps/task:0"
  pid @1 :UInt32;
  uptimeSeconds @2 :Float64;
  services @3 :List(Text);    # the names Session.service accepts
  devices @4 :List(Text);     # "/job:worker/task:0/device:cpu:0"
}

struct LogLine {
  timeNs @0 :Int64;           # wall clock, ns since the Unix epoch
  task @1 :Text;
  level @2 :Text;
  logger @3 :Text;            # the component: "net", "ps", ...
  message @4 :Text;
}

interface LogReceiver {
  # One call at a time per subscription: the task sends the next batch when
  # this one returns. `dropped` counts lines lost since the previous batch.
  lines @0 (lines :List(LogLine), dropped :UInt64) -> ();
}

# Holding it keeps the stream going; dropping it ends the stream.
interface LogSubscription {}
