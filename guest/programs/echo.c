/*
 * echo: cmdline `lines=N` (default 1).  Reads N lines from the serial port (COM1, with its
 * receive interrupt on IRQ 4) and prints each back as "echo: LINE" upper-cased; exit 0.
 * The test of the serial input path: host stdin -> ftd -> 16550 RX FIFO -> IRQ 4 -> ring 3.
 * Lines longer than 255 bytes are cut (the rest of the line is read and dropped).
 */
#include "ftd.h"

#define UART_RBR (FTD_PORT_COM1 + 0)
#define UART_IER (FTD_PORT_COM1 + 1)
#define UART_LSR (FTD_PORT_COM1 + 5)
#define LSR_DATA_READY 0x01
#define IER_RX_AVAILABLE 0x01

int main(const char* cmdline) {
  uint64_t want = cmdline_u64(cmdline, "lines", 1);
  char line[256];
  size_t len = 0;
  uint64_t done = 0;
  outb(UART_IER, IER_RX_AVAILABLE);
  while (done < want) {
    /* Read the interrupt total before looking for data: sys_wait_irq then returns at once if
     * an interrupt came in between, so no wake-up is lost. */
    uint64_t seen = ftd_irq_total;
    while (done < want && (inb(UART_LSR) & LSR_DATA_READY)) {
      char c = (char)inb(UART_RBR);
      if (c == '\n') {
        line[len] = 0;
        printf("echo: %s\n", line);
        len = 0;
        done++;
      } else if (len < sizeof line - 1) {
        line[len++] = (c >= 'a' && c <= 'z') ? (char)(c - 'a' + 'A') : c;
      }
    }
    if (done < want) sys_wait_irq(seen);
  }
  outb(UART_IER, 0);
  return 0;
}
