#include "core/stop_signals.h"

#include <atomic>
#include <csignal>
#include <initializer_list>

namespace trafficfm::core {
namespace {

std::atomic<int> requested{0};
static_assert(std::atomic<int>::is_always_lock_free, "the signal handler needs a lock-free flag");

extern "C" void on_stop_signal(int signal) {
  int expected = 0;
  requested.compare_exchange_strong(expected, signal);  // the first signal wins
}

}  // namespace

void install_stop_handlers() {
  struct sigaction action {};
  action.sa_handler = on_stop_signal;
  sigemptyset(&action.sa_mask);
  action.sa_flags = SA_RESTART;  // a signal must not make a write or a collective fail
  for (int signal : {SIGTERM, SIGUSR1, SIGINT}) sigaction(signal, &action, nullptr);
}

int stop_signal() { return requested.load(); }
bool stop_requested() { return requested.load() != 0; }
int exit_code_for_signal(int signal) { return signal == SIGINT ? kExitInterrupted : kExitRequeue; }
void clear_stop_request() { requested.store(0); }

}  // namespace trafficfm::core
