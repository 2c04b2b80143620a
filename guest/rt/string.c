/* Minimal libc string/memory functions.  Also the targets of the memset/memcpy calls that gcc
 * emits on its own (struct copies, zeroing); the build uses -fno-tree-loop-distribute-patterns
 * so these loops are not turned back into calls to themselves. */
#include "ftd.h"

void* memset(void* d, int c, size_t n) {
  unsigned char* p = d;
  while (n--) *p++ = (unsigned char)c;
  return d;
}

void* memcpy(void* __restrict d, const void* __restrict s, size_t n) {
  unsigned char* dp = d;
  const unsigned char* sp = s;
  while (n--) *dp++ = *sp++;
  return d;
}

void* memmove(void* d, const void* s, size_t n) {
  unsigned char* dp = d;
  const unsigned char* sp = s;
  if (dp < sp) {
    while (n--) *dp++ = *sp++;
  } else {
    while (n--) dp[n] = sp[n];
  }
  return d;
}

int memcmp(const void* a, const void* b, size_t n) {
  const unsigned char *x = a, *y = b;
  for (; n; n--, x++, y++)
    if (*x != *y) return *x - *y;
  return 0;
}

size_t strlen(const char* s) {
  size_t n = 0;
  while (s[n]) n++;
  return n;
}

int strcmp(const char* a, const char* b) {
  for (; *a && *a == *b; a++, b++)
    ;
  return (unsigned char)*a - (unsigned char)*b;
}

int strncmp(const char* a, const char* b, size_t n) {
  for (; n && *a && *a == *b; n--, a++, b++)
    ;
  return n ? (unsigned char)*a - (unsigned char)*b : 0;
}

/* base 0: "0x" hex, leading 0 octal, else decimal.  No sign, no overflow detection. */
unsigned long strtoul(const char* s, char** end, int base) {
  while (*s == ' ' || *s == '\t') s++;
  if ((base == 0 || base == 16) && s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
    s += 2;
    base = 16;
  } else if (base == 0) {
    base = s[0] == '0' ? 8 : 10;
  }
  unsigned long v = 0;
  for (;; s++) {
    int d;
    if (*s >= '0' && *s <= '9')
      d = *s - '0';
    else if (*s >= 'a' && *s <= 'z')
      d = *s - 'a' + 10;
    else if (*s >= 'A' && *s <= 'Z')
      d = *s - 'A' + 10;
    else
      break;
    if (d >= base) break;
    v = v * (unsigned long)base + (unsigned long)d;
  }
  if (end) *end = (char*)s;
  return v;
}
