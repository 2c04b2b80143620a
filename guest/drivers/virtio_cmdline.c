#include "virtio_cmdline.h"

/* Unsigned number with base prefix (0x, 0) and overflow check; returns chars used, 0 on error. */
static size_t parse_num(const char* s, size_t len, uint64_t* out) {
  size_t i = 0;
  unsigned base = 10;
  if (len >= 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
    base = 16;
    i = 2;
  } else if (len >= 1 && s[0] == '0') {
    base = 8;
  }
  size_t start = i;
  uint64_t v = 0;
  for (; i < len; i++) {
    unsigned d;
    char c = s[i];
    if (c >= '0' && c <= '9')
      d = (unsigned)(c - '0');
    else if (c >= 'a' && c <= 'f')
      d = (unsigned)(c - 'a' + 10);
    else if (c >= 'A' && c <= 'F')
      d = (unsigned)(c - 'A' + 10);
    else
      break;
    if (d >= base) break;
    if (v > (UINT64_MAX - d) / base) return 0;
    v = v * base + d;
  }
  if (i == start) return 0;
  *out = v;
  return i;
}

int virtio_mmio_parse_one(const char* s, size_t len, struct virtio_mmio_desc* out) {
  uint64_t size, base, irq;
  size_t n = parse_num(s, len, &size);
  if (!n) return -1;
  s += n;
  len -= n;
  if (len && (*s == 'k' || *s == 'K' || *s == 'm' || *s == 'M' || *s == 'g' || *s == 'G')) {
    unsigned shift = (*s == 'k' || *s == 'K') ? 10 : (*s == 'm' || *s == 'M') ? 20 : 30;
    if (size > (UINT64_MAX >> shift)) return -1;
    size <<= shift;
    s++;
    len--;
  }
  if (!len || *s != '@') return -1;
  s++;
  len--;
  n = parse_num(s, len, &base);
  if (!n) return -1;
  s += n;
  len -= n;
  if (!len || *s != ':') return -1;
  s++;
  len--;
  n = parse_num(s, len, &irq);
  if (!n) return -1;
  s += n;
  len -= n;
  if (len) { /* optional :<platform device id> */
    uint64_t id;
    if (*s != ':') return -1;
    s++;
    len--;
    n = parse_num(s, len, &id);
    if (!n || n != len) return -1;
  }
  if (size == 0 || irq > 15 || base + size < base) return -1;
  out->base = base;
  out->size = size;
  out->irq = (uint32_t)irq;
  return 0;
}

int virtio_mmio_parse_cmdline(const char* cmdline, struct virtio_mmio_desc* out, int max,
                              int* bad) {
  static const char key[] = "virtio_mmio.device=";
  const size_t klen = sizeof key - 1;
  int found = 0, nbad = 0;
  const char* p = cmdline;
  while (p && *p) {
    while (*p == ' ' || *p == '\t' || *p == '\n') p++;
    const char* w = p;
    while (*p && *p != ' ' && *p != '\t' && *p != '\n') p++;
    size_t wlen = (size_t)(p - w);
    if (wlen >= klen && memcmp(w, key, klen) == 0) {
      struct virtio_mmio_desc d;
      if (virtio_mmio_parse_one(w + klen, wlen - klen, &d) == 0) {
        if (found < max) out[found++] = d;
      } else {
        nbad++;
      }
    }
  }
  if (bad) *bad = nbad;
  return found;
}
