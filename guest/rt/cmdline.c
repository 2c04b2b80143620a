/* Command-line helpers.  Words are separated by spaces/tabs; QEMU prefixes the kernel's file
 * name as the first word, which is harmless here since lookups match `key` or `key=`. */
#include "ftd.h"

static int is_space(char c) { return c == ' ' || c == '\t' || c == '\n'; }

const char* cmdline_find(const char* cmdline, const char* key, size_t* len) {
  size_t klen = strlen(key);
  const char* p = cmdline;
  while (p && *p) {
    while (is_space(*p)) p++;
    const char* w = p;
    while (*p && !is_space(*p)) p++;
    size_t wlen = (size_t)(p - w);
    if (wlen >= klen && strncmp(w, key, klen) == 0) {
      if (wlen == klen) {
        *len = 0;
        return w + wlen;
      }
      if (w[klen] == '=') {
        *len = wlen - klen - 1;
        return w + klen + 1;
      }
    }
  }
  return NULL;
}

int cmdline_str(const char* cmdline, const char* key, char* buf, size_t size) {
  size_t len;
  const char* v = cmdline_find(cmdline, key, &len);
  if (!v) return 0;
  if (size) {
    size_t n = len < size - 1 ? len : size - 1;
    memcpy(buf, v, n);
    buf[n] = 0;
  }
  return 1;
}

uint64_t cmdline_u64(const char* cmdline, const char* key, uint64_t def) {
  size_t len;
  const char* v = cmdline_find(cmdline, key, &len);
  if (!v) return def;
  char* end;
  uint64_t x = strtoul(v, &end, 0);
  if (len == 0 || end != v + len) {
    printf("cmdline: bad value for %s: '%.*s'\n", key, (int)len, v);
    exit(2);
  }
  return x;
}
