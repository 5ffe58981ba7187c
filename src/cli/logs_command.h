// `flowps logs --cluster <spec> [-f]`: the merged log stream of every task.
// Prints each task's recent lines merged in time order; with -f it keeps
// printing new lines until Ctrl-C, trying again every second to reach a task
// that is down or restarted (its lines resume without repeats). Each line
// shows time, task, level and component. Lines a task dropped because this reader was slow are counted on
// stderr. Exit code 0, 1 when no task could be reached, 2 for a bad spec.
#pragma once

namespace CLI {
class App;
}  // namespace CLI

namespace flowps {

void AddLogsCommand(CLI::App& app, int* exit_code);

}  // namespace flowps
