// `flowps top --cluster <spec> [--interval-s 1] [--once]`: a live view of a
// cluster and its job in the terminal, refreshed every interval (the screen
// is cli/top_view.h's); `q` quits. With --once (or when stdout is not a
// terminal) it prints one screen, taken over one interval, and exits.
// Exit code 0, or 2 for a bad spec.
#pragma once

namespace CLI {
class App;
}  // namespace CLI

namespace flowps {

void AddTopCommand(CLI::App& app, int* exit_code);

}  // namespace flowps
