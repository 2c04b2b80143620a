/* See compute_kernel.h.  Keep this file free of any dependency: the host builds it too. */
#include "compute_kernel.h"

static uint64_t mix64(uint64_t x) /* splitmix64 finaliser */
{
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9ull;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebull;
  x ^= x >> 31;
  return x;
}

uint64_t ftd_compute(uint64_t iters, uint64_t* buf, uint64_t nwords) {
  uint64_t seed = 0x9e3779b97f4a7c15ull ^ nwords;
  for (uint64_t i = 0; i < nwords; i++) {
    seed += 0x9e3779b97f4a7c15ull;
    buf[i] = mix64(seed);
  }
  uint64_t h = 0xcbf29ce484222325ull ^ iters;
  for (uint64_t i = 0; i < iters; i++) {
    uint64_t j = h % nwords;
    uint64_t v = buf[j];
    h = mix64(h ^ v ^ i);
    buf[j] = v + (h << 1 | h >> 63);
  }
  for (uint64_t i = 0; i < nwords; i++) /* fold the whole buffer into the result */
    h = (h ^ buf[i]) * 0x100000001b3ull;
  return mix64(h);
}
