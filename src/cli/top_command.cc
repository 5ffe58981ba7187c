#include "cli/top_command.h"

#include <poll.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <unistd.h>

#include <CLI/CLI.hpp>

#include <chrono>
#include <iostream>
#include <memory>

#include "cli/top_view.h"

namespace flowps {
namespace {

struct TopOptions {
  std::string cluster;
  double interval_s = 1;
  int timeout_ms = 1000;
  bool once = false;
};

// The terminal in non-canonical mode without echo while it lives (keys
// arrive one at a time), the cursor hidden; restored on destruction.
class RawTerminal {
 public:
  RawTerminal() {
    if (tcgetattr(STDIN_FILENO, &saved_) != 0) return;
    termios raw = saved_;
    raw.c_lflag &= static_cast<tcflag_t>(~(ICANON | ECHO));
    raw.c_cc[VMIN] = 0;
    raw.c_cc[VTIME] = 0;
    active_ = tcsetattr(STDIN_FILENO, TCSANOW, &raw) == 0;
    std::cout << "\x1b[?25l" << std::flush;
  }
  ~RawTerminal() {
    if (active_) tcsetattr(STDIN_FILENO, TCSANOW, &saved_);
    std::cout << "\x1b[?25h" << std::flush;
  }
  RawTerminal(const RawTerminal&) = delete;
  RawTerminal& operator=(const RawTerminal&) = delete;

 private:
  termios saved_{};
  bool active_ = false;
};

int TerminalWidth() {
  winsize w{};
  return ioctl(STDOUT_FILENO, TIOCGWINSZ, &w) == 0 && w.ws_col > 0 ? w.ws_col : 160;
}

// Waits up to `seconds` for a key; true when it was q (or stdin closed).
bool QuitPressed(double seconds) {
  pollfd fd{STDIN_FILENO, POLLIN, 0};
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
  while (true) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return false;
    if (poll(&fd, 1, static_cast<int>(left.count())) <= 0) return false;
    char c = 0;
    const ssize_t n = read(STDIN_FILENO, &c, 1);
    if (n == 0) return true;
    if (n == 1 && (c == 'q' || c == 'Q')) return true;
  }
}

int RunTop(const TopOptions& o) {
  auto spec = LoadClusterSpec(o.cluster);
  if (!spec.ok()) {
    std::cerr << "flowps top: " << spec.status().message() << "\n";
    return 2;
  }
  auto io = kj::setupAsyncIo();
  const std::chrono::milliseconds timeout(o.timeout_ms);
  TopSample previous = TakeTopSample(io, *spec, timeout);
  if (o.once || !isatty(STDOUT_FILENO)) {
    usleep(static_cast<useconds_t>(o.interval_s * 1e6));
    TopSample now = TakeTopSample(io, *spec, timeout);
    std::cout << RenderTopFrame(*spec, ComputeTopFrame(*spec, &previous, now), 0);
    return 0;
  }
  RawTerminal terminal;
  std::cout << "\x1b[2J\x1b[H" << RenderTopFrame(*spec, ComputeTopFrame(*spec, nullptr, previous), TerminalWidth())
            << std::flush;
  while (!QuitPressed(o.interval_s)) {
    TopSample now = TakeTopSample(io, *spec, timeout);
    // Home, the frame, then clear whatever an earlier, longer frame left below.
    std::cout << "\x1b[H" << RenderTopFrame(*spec, ComputeTopFrame(*spec, &previous, now), TerminalWidth())
              << "\x1b[J" << std::flush;
    previous = std::move(now);
  }
  std::cout << "\n";
  return 0;
}

}  // namespace

void AddTopCommand(CLI::App& app, int* exit_code) {
  auto o = std::make_shared<TopOptions>();
  CLI::App* cmd = app.add_subcommand("top", "a live view of the cluster and its job (q quits)");
  cmd->add_option("--cluster", o->cluster, "cluster spec (YAML)")->required();
  cmd->add_option("--interval-s", o->interval_s, "seconds between refreshes")->check(CLI::Range(0.1, 60.0));
  cmd->add_option("--timeout-ms", o->timeout_ms, "deadline for each task's answer")->check(CLI::PositiveNumber);
  cmd->add_flag("--once", o->once, "print one screen (over one interval) and exit");
  cmd->callback([o, exit_code]() { *exit_code = RunTop(*o); });
}

}  // namespace flowps
