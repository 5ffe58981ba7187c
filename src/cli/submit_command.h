// `flowps submit <job.yaml> --cluster <spec> [--wait]`: hands a job to the
// cluster's chief worker. The spec is checked here first (file, line, key);
// the chief checks it again and refuses it while another job runs. With
// --wait it follows the job (step, loss, test accuracy, examples/s, ETA) and
// ends with a summary line: final test accuracy, time, examples/s, and the
// paths of the metrics file and the plot.
// Exit codes: 0 accepted (with --wait: finished), 1 refused or failed, 2 bad flags or spec.
#pragma once

namespace CLI {
class App;
}  // namespace CLI

namespace flowps {

void AddSubmitCommand(CLI::App& app, int* exit_code);

}  // namespace flowps
