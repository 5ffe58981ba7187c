// `flowps train <job.yaml> [--max-steps N] [--log-level L]`: runs a job in one
// process (see worker/local_trainer.h), logging progress to stderr.
// Exit code 0, 1 when training failed, 2 for a bad job file (the message
// names the file, line and key).
#pragma once

namespace CLI {
class App;
}  // namespace CLI

namespace flowps {

void AddTrainCommand(CLI::App& app, int* exit_code);

}  // namespace flowps
