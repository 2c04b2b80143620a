// Reads fuzz input as a stream of little values; past the end everything is 0.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>

namespace ftd::fuzz {

class Input {
 public:
  Input(const uint8_t* data, size_t size) : data_(data), size_(size) {}
  bool empty() const { return pos_ >= size_; }
  template <typename T>
  T Take() {
    T v{};
    size_t n = std::min(sizeof(T), size_ - std::min(pos_, size_));
    if (n) std::memcpy(&v, data_ + pos_, n);
    pos_ += sizeof(T);
    return v;
  }
  std::span<const uint8_t> TakeBytes(size_t n) {
    size_t start = std::min(pos_, size_);
    size_t len = std::min(n, size_ - start);
    pos_ += n;
    return {data_ + start, len};
  }

 private:
  const uint8_t* data_;
  size_t size_;
  size_t pos_ = 0;
};

}  // namespace ftd::fuzz
