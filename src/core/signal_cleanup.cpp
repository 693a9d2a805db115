#include "core/signal_cleanup.h"

#include <unistd.h>

#include <atomic>
#include <csignal>
#include <cstring>

namespace styleseg {
namespace {

// A fixed table, so that the handler touches no allocator and no lock: a slot is claimed
// (kFree -> kClaimed) by compare-exchange, its path written, then published as kRemove or
// kKeep; the handler reads only published slots.
constexpr int kSlots = 64;
constexpr size_t kPathBytes = 4096;
enum SlotState : int { kFree = 0, kClaimed = 1, kRemove = 2, kKeep = 3 };

struct Slot {
  std::atomic<int> state{kFree};
  char path[kPathBytes];
};
Slot slots[kSlots];
static_assert(std::atomic<int>::is_always_lock_free, "the signal handler reads the slots' state");

void write_stderr(const char* text) {
  const ssize_t ignored = ::write(STDERR_FILENO, text, std::strlen(text));
  (void)ignored;
}

// Removes the files to remove and names the kept ones: only async-signal-safe calls.
void clean_up() {
  for (Slot& slot : slots) {
    const int state = slot.state.load(std::memory_order_acquire);
    if (state == kRemove) {
      ::unlink(slot.path);
    } else if (state == kKeep) {
      write_stderr("styleseg: kept ");
      write_stderr(slot.path);
      write_stderr(" for --resume\n");
    }
  }
}

extern "C" void on_termination_signal(int signal_number) {
  clean_up();
  // End the process as the signal would have: the parent sees "killed by SIGTERM".
  std::signal(signal_number, SIG_DFL);
  std::raise(signal_number);
}

int state_for(TemporaryFileGuard::OnSignal on_signal) {
  return on_signal == TemporaryFileGuard::OnSignal::Keep ? kKeep : kRemove;
}

}  // namespace

void install_termination_cleanup() {
  struct sigaction action {};
  action.sa_handler = on_termination_signal;
  sigemptyset(&action.sa_mask);
  for (const int signal_number : {SIGTERM, SIGINT, SIGHUP}) sigaction(signal_number, &action, nullptr);
}

TemporaryFileGuard::TemporaryFileGuard(const std::string& path, OnSignal on_signal) {
  if (path.size() >= kPathBytes) return;  // not cleaned on a signal; --force removes it later
  for (int i = 0; i < kSlots; ++i) {
    int expected = kFree;
    if (!slots[i].state.compare_exchange_strong(expected, kClaimed, std::memory_order_acq_rel)) continue;
    std::memcpy(slots[i].path, path.c_str(), path.size() + 1);
    slots[i].state.store(state_for(on_signal), std::memory_order_release);
    slot_ = i;
    return;
  }
}

TemporaryFileGuard::TemporaryFileGuard(TemporaryFileGuard&& other) noexcept : slot_(other.slot_) { other.slot_ = -1; }

TemporaryFileGuard& TemporaryFileGuard::operator=(TemporaryFileGuard&& other) noexcept {
  if (this != &other) {
    release();
    slot_ = other.slot_;
    other.slot_ = -1;
  }
  return *this;
}

TemporaryFileGuard::~TemporaryFileGuard() { release(); }

void TemporaryFileGuard::set_on_signal(OnSignal on_signal) {
  if (slot_ >= 0) slots[slot_].state.store(state_for(on_signal), std::memory_order_release);
}

void TemporaryFileGuard::release() {
  if (slot_ >= 0) slots[slot_].state.store(kFree, std::memory_order_release);
  slot_ = -1;
}

}  // namespace styleseg
