// A free TCP port on 127.0.0.1, for tests and benchmarks that start servers
// of their own. The port is free when this returns; another process may still
// take it before the caller binds it.
#pragma once

namespace flowps {

// The port the kernel picked for a socket bound to 127.0.0.1:0, or 0 if no
// socket could be bound.
int FreeLoopbackPort();

}  // namespace flowps
