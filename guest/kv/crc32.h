#ifndef FTD_CRC32_H
#define FTD_CRC32_H
#include "ftd_port.h"
/* CRC-32/ISO-HDLC (zlib's crc32): crc32_update(0, "123456789", 9) == 0xcbf43926.
 * Chain: crc = crc32_update(crc, next, n). */
uint32_t crc32_update(uint32_t crc, const void* data, size_t len);
#endif
