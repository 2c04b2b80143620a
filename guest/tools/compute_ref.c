/* Host reference for the compute guest: `compute_ref ITERS SIZE` prints the line the guest
 * prints for `iters=ITERS size=SIZE`.  Built for the host from the same compute_kernel.c. */
#include <stdio.h>
#include <stdlib.h>

#include "compute_kernel.h"

int main(int argc, char** argv) {
  unsigned long long iters = argc > 1 ? strtoull(argv[1], NULL, 0) : 200000;
  unsigned long long size = argc > 2 ? strtoull(argv[2], NULL, 0) : 4096;
  if (size < 8 || size % 8) {
    fprintf(stderr, "size must be a positive multiple of 8\n");
    return 2;
  }
  uint64_t* buf = malloc(size);
  if (!buf) return 1;
  unsigned long long r = (unsigned long long)ftd_compute(iters, buf, size / 8);
  printf("compute iters=%llu size=%llu result=0x%016llx\n", iters, size, r);
  free(buf);
  return 0;
}
