/*
 * Portable base for guest library code that is also compiled into host unit tests
 * (tests/unit/guest): the guest build gets the kit's runtime (ftd.h), a host build
 * (-DFTD_HOST_TEST) gets the C library.  Files that include only this header must not use
 * port I/O, system calls or inline assembly.
 */
#ifndef FTD_PORT_H
#define FTD_PORT_H

#include <stddef.h>
#include <stdint.h>

#ifdef FTD_HOST_TEST
#include <stdio.h>
#include <string.h>
#else
#include "ftd.h"
#endif

/* Compiler-only barrier (no instruction). */
#define FTD_COMPILER_BARRIER() __atomic_signal_fence(__ATOMIC_SEQ_CST)
/* Full memory barrier (MFENCE on x86; fine in ring 3). */
#define FTD_MB() __atomic_thread_fence(__ATOMIC_SEQ_CST)

static inline uint16_t ftd_rd16be(const uint8_t* p) { return (uint16_t)((p[0] << 8) | p[1]); }
static inline uint32_t ftd_rd32be(const uint8_t* p) {
  return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}
static inline void ftd_wr16be(uint8_t* p, uint16_t v) {
  p[0] = (uint8_t)(v >> 8);
  p[1] = (uint8_t)v;
}
static inline void ftd_wr32be(uint8_t* p, uint32_t v) {
  p[0] = (uint8_t)(v >> 24);
  p[1] = (uint8_t)(v >> 16);
  p[2] = (uint8_t)(v >> 8);
  p[3] = (uint8_t)v;
}
static inline uint16_t ftd_rd16le(const uint8_t* p) { return (uint16_t)(p[0] | (p[1] << 8)); }
static inline uint32_t ftd_rd32le(const uint8_t* p) {
  return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}
static inline uint64_t ftd_rd64le(const uint8_t* p) {
  return (uint64_t)ftd_rd32le(p) | ((uint64_t)ftd_rd32le(p + 4) << 32);
}
static inline void ftd_wr16le(uint8_t* p, uint16_t v) {
  p[0] = (uint8_t)v;
  p[1] = (uint8_t)(v >> 8);
}
static inline void ftd_wr32le(uint8_t* p, uint32_t v) {
  for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i));
}
static inline void ftd_wr64le(uint8_t* p, uint64_t v) {
  for (int i = 0; i < 8; i++) p[i] = (uint8_t)(v >> (8 * i));
}

#endif
