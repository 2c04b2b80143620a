/* hello: the smallest guest.  Prints exactly "hello from ftd guest\n" and exits 0. */
#include "ftd.h"

int main(const char* cmdline) {
  (void)cmdline;
  fputs_console("hello from ftd guest\n");
  return 0;
}
