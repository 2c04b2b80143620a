/*
 * The compute workload's kernel: plain portable C (uint64 arithmetic, no libc), compiled both
 * into the guest (programs/compute.c) and into host tests/benchmarks, which compare results.
 */
#ifndef FTD_COMPUTE_KERNEL_H
#define FTD_COMPUTE_KERNEL_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Fill buf[0..nwords) from a seed, then run `iters` steps of a data-dependent hash chain over
 * it (each step reads and rewrites one word chosen by the running hash); returns the final
 * hash.  nwords must be >= 1.  Deterministic for given (iters, nwords). */
uint64_t ftd_compute(uint64_t iters, uint64_t* buf, uint64_t nwords);

#ifdef __cplusplus
}
#endif

#endif
