// `flowps health --address host:port --token-file F [--timeout-ms N]`: asks one
// task for its health over RPC (login with the token, then the health call), as
// a readiness or liveness probe does. Prints one line: the task's name, pid and
// uptime, or why it did not answer.
// Exit code 0 when the task answered, 1 when it did not within the deadline or
// refused the token, 2 for a bad address or an unreadable or empty token file.
#pragma once

namespace CLI {
class App;
}  // namespace CLI

namespace flowps {

void AddHealthCommand(CLI::App& app, int* exit_code);

}  // namespace flowps
