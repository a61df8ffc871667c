// Preemption and time limits: SIGTERM / SIGUSR1 (Slurm's `--signal=USR1@120`, a preempting
// scheduler, `scancel`) ask the job to stop at the next step boundary instead of dying mid-step.
//
// The handler only sets an atomic flag (async-signal-safe); the run loop polls it between
// denoising steps and between prompts, agrees with the other ranks of its replica, abandons the
// prompt in flight and writes what is finished. See docs/reliability.md.
#pragma once

namespace pardit::runtime {

// Installs handlers for SIGTERM and SIGUSR1 that only record the request (the first signal wins).
// SIGINT and SIGKILL keep their default action. Call once per process, before the expensive work.
void install_stop_signal_handlers();

// True once SIGTERM or SIGUSR1 arrived at this process (or request_stop was called).
bool stop_requested();
// The signal number that asked to stop, 0 if none (for the log line).
int stop_signal();
// Sets the flag as the handlers do (tests, and a rank that learns of the stop from a peer).
void request_stop(int signal_number);

}  // namespace pardit::runtime
