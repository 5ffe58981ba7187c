// `flowps status --cluster <spec> [--json] [--timeout-ms N]`: the health of
// every task of the cluster, now, and its job as the workers see it (global
// step, loss, test accuracy, examples/s per worker; worker/job_client.h). Exit code 0 when every task is healthy, 1
// when one is not, 2 for a bad spec.
#pragma once

namespace CLI {
class App;
}  // namespace CLI

namespace flowps {

// Adds the subcommand to `app`; when it runs, its exit code goes to *exit_code.
void AddStatusCommand(CLI::App& app, int* exit_code);

}  // namespace flowps
