// PhaseTimes: each phase is charged the time since the previous mark, averaged over the steps,
// and nothing is measured when it is off.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <chrono>
#include <thread>

#include "core/phase_times.h"

namespace styleseg {
namespace {

void sleep_ms(int ms) { std::this_thread::sleep_for(std::chrono::milliseconds(ms)); }

TEST(PhaseTimes, EachPhaseGetsTheTimeSinceThePreviousMarkPerStep) {
  PhaseTimes phases(true, c10::Device(c10::kCPU));
  for (int step = 0; step < 2; ++step) {
    phases.start_step();
    sleep_ms(30);
    phases.mark("data");
    sleep_ms(10);
    at::Tensor x = at::ones({4});
    for (int i = 0; i < 5; ++i) x = x + 1;  // five additions (the calls inside at::ones do not count)
    phases.mark("model");
  }
  // sleep_for waits at least as long as asked: lower bounds only, and the order of the two.
  EXPECT_GE(phases.ms_per_step("data"), 30.0);
  EXPECT_GE(phases.ms_per_step("model"), 10.0);
  EXPECT_GT(phases.ms_per_step("data"), phases.ms_per_step("model"));
  EXPECT_EQ(phases.ms_per_step("never marked"), 0.0);
  EXPECT_EQ(phases.ops_per_step("model"), 6.0);  // ones and five additions
  EXPECT_EQ(phases.top_operations(2), "aten::add 5, aten::ones 1");
  EXPECT_EQ(phases.ops_per_step("data"), 0.0);
  const std::string text = phases.summary();
  EXPECT_EQ(text.rfind("per step over 2 steps: data ", 0), 0u) << text;
  EXPECT_NE(text.find(" ms (0 ops), model "), std::string::npos) << text;
  EXPECT_NE(text.find(", model "), std::string::npos) << text;
  EXPECT_NE(text.find("; sum "), std::string::npos) << text;
}

TEST(PhaseTimes, OffMeasuresNothing) {
  PhaseTimes phases(false, c10::Device(c10::kCPU));
  phases.start_step();
  sleep_ms(5);
  phases.mark("data");
  EXPECT_EQ(phases.ms_per_step("data"), 0.0);
  EXPECT_EQ(phases.summary(), "");
  EXPECT_EQ(phases.top_operations(5), "");
}

}  // namespace
}  // namespace styleseg
