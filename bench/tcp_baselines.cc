#include "bench/tcp_baselines.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include <asio/connect.hpp>
#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/read.hpp>
#include <asio/write.hpp>

namespace flowps {
namespace {

using Clock = std::chrono::steady_clock;

double Seconds(Clock::time_point since) { return std::chrono::duration<double>(Clock::now() - since).count(); }

}  // namespace

// Round trips of 8 bytes over a loopback TCP connection, one at a time.
StatusOr<double> TcpPingPongPerSecond(int64_t calls) {
  try {
    asio::io_context io;
    asio::ip::tcp::acceptor acceptor(io, asio::ip::tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
    const auto endpoint = acceptor.local_endpoint();
    std::thread echo([&acceptor]() {
      asio::error_code ec;
      asio::ip::tcp::socket peer = acceptor.accept(ec);
      if (ec) return;
      peer.set_option(asio::ip::tcp::no_delay(true));
      std::array<char, 8> buf;
      while (!ec) {
        asio::read(peer, asio::buffer(buf), ec);
        if (!ec) asio::write(peer, asio::buffer(buf), ec);
      }
    });
    asio::ip::tcp::socket socket(io);
    socket.connect(endpoint);
    socket.set_option(asio::ip::tcp::no_delay(true));
    std::array<char, 8> buf = {'p', 'i', 'n', 'g', 0, 0, 0, 0};
    for (int i = 0; i < 500; ++i) {
      asio::write(socket, asio::buffer(buf));
      asio::read(socket, asio::buffer(buf));
    }
    auto start = Clock::now();
    for (int64_t i = 0; i < calls; ++i) {
      asio::write(socket, asio::buffer(buf));
      asio::read(socket, asio::buffer(buf));
    }
    auto elapsed = Clock::now() - start;
    socket.close();
    echo.join();
    return static_cast<double>(calls) / std::chrono::duration<double>(elapsed).count();
  } catch (const std::exception& e) {
    return Unavailable(std::string("tcp ping-pong: ") + e.what());
  }
}

// Loopback TCP bandwidth for `bytes` per transfer: a thread sends, this thread
// receives into a touched buffer. Returns MB/s over `reps` transfers.
StatusOr<double> TcpLoopbackMBps(size_t bytes, int reps) {
  int listener = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  if (listener < 0 || ::bind(listener, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      ::listen(listener, 1) != 0 || ::getsockname(listener, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    if (listener >= 0) ::close(listener);
    return Internal(std::string("tcp baseline: cannot listen on loopback: ") + std::strerror(errno));
  }
  std::vector<char> out(bytes, 1), in(bytes, 0);
  std::thread sender([&] {
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0)
      for (int r = 0; r < reps + 1; ++r)
        for (size_t sent = 0; sent < bytes;) {
          ssize_t n = ::send(fd, out.data() + sent, bytes - sent, 0);
          if (n <= 0) break;
          sent += static_cast<size_t>(n);
        }
    ::close(fd);
  });
  int conn = ::accept(listener, nullptr, nullptr);
  ::close(listener);
  auto receive_one = [&]() {
    for (size_t got = 0; got < bytes;) {
      ssize_t n = ::recv(conn, in.data() + got, bytes - got, 0);
      if (n <= 0) return false;
      got += static_cast<size_t>(n);
    }
    return true;
  };
  bool ok = conn >= 0 && receive_one();  // warm-up
  const Clock::time_point start = Clock::now();
  for (int r = 0; ok && r < reps; ++r) ok = receive_one();
  const double elapsed = Seconds(start);
  if (conn >= 0) ::close(conn);
  sender.join();
  if (!ok) return Internal("tcp baseline: the loopback transfer broke");
  return static_cast<double>(bytes) * reps / elapsed / 1e6;
}

}  // namespace flowps
