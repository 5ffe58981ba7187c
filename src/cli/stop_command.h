// `flowps stop --cluster <spec> [--timeout-ms N]`: stops the cluster's running
// job cleanly (worker/job_client.h StopJob): the chief stops the workers it
// started, writes a final checkpoint when the job has a checkpoint dir, and
// its status becomes `stopped`. Exit code 0 when the job stopped (or none
// ran), 1 when the chief could not be reached or the final checkpoint
// failed, 2 for a bad spec.
#pragma once

namespace CLI {
class App;
}  // namespace CLI

namespace flowps {

// Adds the subcommand to `app`; when it runs, its exit code goes to *exit_code.
void AddStopCommand(CLI::App& app, int* exit_code);

}  // namespace flowps
