// A ring of T feature maps for streaming models (docs/streaming.md), shipped with the generated
// code. Header-only C++17: no heap, no exceptions, no RTTI.
//
// Layout: 2T slots of kSlotBytes. Frame n (counting from 0 since the last reset) is written to
// slot n % T and mirrored to slot n % T + T, so the last T frames, oldest first, are always the
// contiguous slots [n+1 % T, n+1 % T + T): the head reads them in place, with no copy of the
// window (one extra slot copy per frame instead of T slot copies per inference; measured in
// docs/streaming.md).
#pragma once

#include <stddef.h>
#include <stdint.h>
#include <string.h>

namespace tinyodlc {
namespace runtime {

template <int kFrames, size_t kSlotBytes>
class FeatureRing {
 public:
  static_assert(kFrames >= 1, "a ring needs at least one frame");
  static constexpr size_t kBytes = 2 * static_cast<size_t>(kFrames) * kSlotBytes;

  // Where the next frame's features go (the producer writes them there, then calls commit()).
  uint8_t* next_slot(uint8_t* storage) const { return storage + static_cast<size_t>(count_ % kFrames) * kSlotBytes; }
  // The newest slot is complete: mirror it; returns the number of frames held (<= T).
  int commit(uint8_t* storage) {
    uint8_t* slot = next_slot(storage);
    memcpy(slot + static_cast<size_t>(kFrames) * kSlotBytes, slot, kSlotBytes);
    if (count_ < kWrap) ++count_;
    else count_ = kFrames + (count_ + 1 - kFrames) % kFrames;  // keep n % T, never overflow
    return held();
  }
  int held() const { return count_ < kFrames ? static_cast<int>(count_) : kFrames; }
  bool ready() const { return count_ >= kFrames; }
  // The last T frames' features, oldest first (valid when ready()).
  const uint8_t* window(const uint8_t* storage) const {
    return storage + static_cast<size_t>(count_ % kFrames) * kSlotBytes;
  }
  void reset() { count_ = 0; }

 private:
  static constexpr uint32_t kWrap = 0x7fff0000u;
  uint32_t count_ = 0;
};

}  // namespace runtime
}  // namespace tinyodlc
