/* Console output on COM1 and a small printf.  One OUT per byte (no REP OUTSB): the VMM sees
 * only single-byte port writes to 0x3f8, and never needs to poll LSR. */
#include "ftd.h"

int putchar(int c) {
  outb(FTD_PORT_COM1, (uint8_t)c);
  return (unsigned char)c;
}

int fputs_console(const char* s) {
  int n = 0;
  for (; *s; s++, n++) outb(FTD_PORT_COM1, (uint8_t)*s);
  return n;
}

int puts(const char* s) {
  int n = fputs_console(s);
  putchar('\n');
  return n + 1;
}

/* Output sink: the console (buf == NULL) or a bounded buffer. */
struct sink {
  char* buf;
  size_t size;
  size_t len; /* bytes produced (may exceed size, like snprintf's return value) */
};

static void emit(struct sink* o, char c) {
  if (!o->buf)
    outb(FTD_PORT_COM1, (uint8_t)c);
  else if (o->len + 1 < o->size)
    o->buf[o->len] = c;
  o->len++;
}

static void emit_pad(struct sink* o, char c, int n) {
  while (n-- > 0) emit(o, c);
}

/* Format one integer; digits are produced in reverse into tmp. */
static void emit_num(struct sink* o, unsigned long long v, int neg, unsigned base, int upper,
                     int width, int zero, int left, const char* prefix) {
  char tmp[24];
  int n = 0;
  const char* digits = upper ? "0123456789ABCDEF" : "0123456789abcdef";
  do {
    tmp[n++] = digits[v % base];
    v /= base;
  } while (v);
  int plen = (int)strlen(prefix) + (neg ? 1 : 0);
  int pad = width - n - plen;
  if (!left && !zero) emit_pad(o, ' ', pad);
  if (neg) emit(o, '-');
  for (; *prefix; prefix++) emit(o, *prefix);
  if (!left && zero) emit_pad(o, '0', pad);
  while (n) emit(o, tmp[--n]);
  if (left) emit_pad(o, ' ', pad);
}

/* Supports %d %i %u %x %X %p %s %c %%, flags '-' '0', a width (number or *), a precision for
 * %s (number or *), and the length modifiers hh h l ll z t j. */
static void format(struct sink* o, const char* fmt, va_list ap) {
  for (; *fmt; fmt++) {
    if (*fmt != '%') {
      emit(o, *fmt);
      continue;
    }
    fmt++;
    int left = 0, zero = 0, width = 0, prec = -1, lng = 0;
    for (;; fmt++) {
      if (*fmt == '-')
        left = 1;
      else if (*fmt == '0')
        zero = 1;
      else
        break;
    }
    if (*fmt == '*') {
      width = va_arg(ap, int);
      if (width < 0) {
        left = 1;
        width = -width;
      }
      fmt++;
    } else {
      while (*fmt >= '0' && *fmt <= '9') width = width * 10 + (*fmt++ - '0');
    }
    if (*fmt == '.') {
      fmt++;
      prec = 0;
      if (*fmt == '*') {
        prec = va_arg(ap, int);
        fmt++;
      }
      while (*fmt >= '0' && *fmt <= '9') prec = prec * 10 + (*fmt++ - '0');
    }
    for (;; fmt++) {
      if (*fmt == 'l')
        lng++;
      else if (*fmt == 'z' || *fmt == 't' || *fmt == 'j')
        lng = 2;
      else if (*fmt != 'h')
        break;
    }
    switch (*fmt) {
      case 'd':
      case 'i': {
        long long v = lng >= 2 ? va_arg(ap, long long) : lng ? va_arg(ap, long) : va_arg(ap, int);
        unsigned long long u = v < 0 ? 0ull - (unsigned long long)v : (unsigned long long)v;
        emit_num(o, u, v < 0, 10, 0, width, zero, left, "");
        break;
      }
      case 'u':
      case 'x':
      case 'X': {
        unsigned long long v = lng >= 2 ? va_arg(ap, unsigned long long)
                               : lng    ? va_arg(ap, unsigned long)
                                        : va_arg(ap, unsigned int);
        emit_num(o, v, 0, *fmt == 'u' ? 10 : 16, *fmt == 'X', width, zero, left, "");
        break;
      }
      case 'p':
        emit_num(o, (uintptr_t)va_arg(ap, void*), 0, 16, 0, width, zero, left, "0x");
        break;
      case 'c': {
        emit_pad(o, ' ', left ? 0 : width - 1);
        emit(o, (char)va_arg(ap, int));
        emit_pad(o, ' ', left ? width - 1 : 0);
        break;
      }
      case 's': {
        const char* s = va_arg(ap, const char*);
        if (!s) s = "(null)";
        int n = 0;
        while (s[n] && (prec < 0 || n < prec)) n++;
        emit_pad(o, ' ', left ? 0 : width - n);
        for (int i = 0; i < n; i++) emit(o, s[i]);
        emit_pad(o, ' ', left ? width - n : 0);
        break;
      }
      case '%':
        emit(o, '%');
        break;
      case 0:
        return;
      default: /* unknown: print it verbatim */
        emit(o, '%');
        emit(o, *fmt);
        break;
    }
  }
}

int vprintf(const char* fmt, va_list ap) {
  struct sink o = {0, 0, 0};
  format(&o, fmt, ap);
  return (int)o.len;
}

int printf(const char* fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int n = vprintf(fmt, ap);
  va_end(ap);
  return n;
}

int vsnprintf(char* buf, size_t size, const char* fmt, va_list ap) {
  char dummy;
  struct sink o = {size ? buf : &dummy, size, 0};
  format(&o, fmt, ap);
  if (size) buf[o.len < size ? o.len : size - 1] = 0;
  return (int)o.len;
}

int snprintf(char* buf, size_t size, const char* fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(buf, size, fmt, ap);
  va_end(ap);
  return n;
}
