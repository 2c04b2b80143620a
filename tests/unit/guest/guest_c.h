// The guest kit's portable C headers, for C++ tests.
#pragma once
#include <cstdio>
#include <cstring>
extern "C" {
#include "crc32.h"
#include "kv.h"
#include "kvlog.h"
#include "net.h"
#include "virtio_cmdline.h"
}
