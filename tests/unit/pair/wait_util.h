// Bounded polling for the pair tests: a condition another thread makes true is awaited for
// at most `limit` (5 s by default), never assumed after a fixed sleep.
#pragma once

#include <chrono>
#include <thread>

namespace ftd::pair_test {

template <typename Pred>
bool WaitUntil(Pred pred, std::chrono::milliseconds limit = std::chrono::milliseconds(5000)) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (!pred()) {
    if (std::chrono::steady_clock::now() >= deadline) return pred();
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return true;
}

}  // namespace ftd::pair_test
