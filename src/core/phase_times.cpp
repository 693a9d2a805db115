#include "core/phase_times.h"

#include <ATen/ATen.h>
#include <ATen/record_function.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <map>
#include <mutex>

namespace styleseg {
namespace {

// Operations dispatched since the program started counting (all threads: autograd runs the
// backward pass of GPU tensors on its own device thread), top-level only: those that
// styleseg's code or the autograd engine called, not the ones a backend calls inside them
// (oneDNN's CPU convolution calls about ten: copies, reorders, views), which would make
// the CPU's count say little about the GPU's.
std::atomic<int64_t> g_operations{0};
// The same, by operation name (copied: an autograd node's name may not outlive its call).
std::mutex g_by_name_mutex;
std::map<std::string, int64_t> g_by_name;
thread_local int t_depth = 0;  // operations open on this thread

std::unique_ptr<at::ObserverContext> enter_operation(const at::RecordFunction& fn) {
  if (t_depth++ > 0) return nullptr;
  g_operations.fetch_add(1, std::memory_order_relaxed);
  const std::lock_guard<std::mutex> lock(g_by_name_mutex);
  ++g_by_name[fn.name()];
  return nullptr;
}

void leave_operation(const at::RecordFunction&, at::ObserverContext*) { --t_depth; }

}  // namespace

PhaseTimes::PhaseTimes(bool enabled, c10::Device device) : enabled_(enabled), device_(device) {
  if (!enabled_) return;
  {
    const std::lock_guard<std::mutex> lock(g_by_name_mutex);
    g_by_name.clear();  // top_operations() covers this object's lifetime
  }
  callback_ = at::addGlobalCallback(
        at::RecordFunctionCallback(enter_operation, leave_operation).scopes({at::RecordScope::FUNCTION, at::RecordScope::BACKWARD_FUNCTION}));
}

PhaseTimes::~PhaseTimes() {
  if (enabled_) at::removeCallback(callback_);
}

void PhaseTimes::wait_for_device() const {
  // A copy to the host waits for the work queued before it on the device's stream.
  if (device_.is_cuda()) (void)at::empty({1}, at::TensorOptions().device(device_)).cpu();
}

void PhaseTimes::start_step() {
  if (!enabled_) return;
  wait_for_device();
  last_ = std::chrono::steady_clock::now();
  last_ops_ = g_operations.load();
  ++steps_;
}

void PhaseTimes::mark(const std::string& phase) {
  if (!enabled_) return;
  const int64_t ops = g_operations.load();  // before the copy that waits: it is not the phase's
  wait_for_device();
  const auto now = std::chrono::steady_clock::now();
  auto it = std::find_if(phases_.begin(), phases_.end(), [&](const Phase& p) { return p.name == phase; });
  if (it == phases_.end()) it = phases_.insert(phases_.end(), Phase{phase});
  it->seconds += std::chrono::duration<double>(now - last_).count();
  it->ops += ops - last_ops_;
  // Neither the copy that waited nor the time spent here goes to the next phase.
  last_ops_ = g_operations.load();
  last_ = std::chrono::steady_clock::now();
}

const PhaseTimes::Phase* PhaseTimes::find(const std::string& name) const {
  for (const Phase& p : phases_)
    if (p.name == name) return &p;
  return nullptr;
}

double PhaseTimes::ms_per_step(const std::string& phase) const {
  const Phase* p = find(phase);
  return p && steps_ > 0 ? p->seconds * 1e3 / static_cast<double>(steps_) : 0.0;
}

double PhaseTimes::ops_per_step(const std::string& phase) const {
  const Phase* p = find(phase);
  return p && steps_ > 0 ? static_cast<double>(p->ops) / static_cast<double>(steps_) : 0.0;
}

std::string PhaseTimes::top_operations(size_t count) const {
  if (!enabled_ || steps_ == 0) return "";
  std::vector<std::pair<std::string, int64_t>> sorted;
  {
    const std::lock_guard<std::mutex> lock(g_by_name_mutex);
    sorted.assign(g_by_name.begin(), g_by_name.end());
  }
  std::sort(sorted.begin(), sorted.end(), [](const auto& a, const auto& b) { return a.second > b.second; });
  std::string text;
  char figure[32];
  for (size_t i = 0; i < std::min(count, sorted.size()); ++i) {
    std::snprintf(figure, sizeof figure, " %.0f", static_cast<double>(sorted[i].second) / static_cast<double>(steps_));
    text += (text.empty() ? "" : ", ") + sorted[i].first + figure;
  }
  return text;
}

std::string PhaseTimes::summary() const {
  if (!enabled_ || steps_ == 0) return "";
  std::string text = "per step over " + std::to_string(steps_) + " steps:";
  double ms_sum = 0, ops_sum = 0;
  char figure[96];
  for (const Phase& p : phases_) {
    const double ms = ms_per_step(p.name), ops = ops_per_step(p.name);
    ms_sum += ms;
    ops_sum += ops;
    std::snprintf(figure, sizeof figure, " %.1f ms (%.0f ops)", ms, ops);
    text += (text.back() == ':' ? " " : ", ") + p.name + figure;
  }
  std::snprintf(figure, sizeof figure, "; sum %.1f ms (%.0f ops)", ms_sum, ops_sum);
  return text + figure;
}

}  // namespace styleseg
