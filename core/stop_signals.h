// Graceful stops for preemptible jobs. SIGTERM and SIGUSR1 (Slurm's warning signal before the
// time limit) and SIGINT set a flag; the trainer polls it at each step boundary, the ranks
// agree on it (any rank's flag stops all), checkpoint, and exit with a code that says why:
//   kExitRequeue (75, EX_TEMPFAIL) after SIGTERM/SIGUSR1: the Slurm script requeues the job;
//   130 after SIGINT, as shells report Ctrl-C.
#pragma once

namespace trafficfm::core {

constexpr int kExitRequeue = 75;
constexpr int kExitInterrupted = 130;

// Installs the handlers (idempotent). They only set an atomic flag: async-signal-safe.
void install_stop_handlers();
// The signal that asked to stop, or 0.
int stop_signal();
bool stop_requested();
// The exit code for a stop caused by `signal` (kExitRequeue or kExitInterrupted).
int exit_code_for_signal(int signal);
// For tests and for a run that handled a stop and goes on (e.g. after an eval).
void clear_stop_request();

}  // namespace trafficfm::core
