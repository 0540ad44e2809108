// Host file StoragePort (POSIX): the storage area is a file of `size` bytes (created filled
// with 0xFF). Each erase/program is written and flushed to the disk (fsync) before returning,
// so the slot order of the format (payload first, header last) also holds on the disk.
#ifndef TINYODLC_EXAMPLES_FILE_PORT_H
#define TINYODLC_EXAMPLES_FILE_PORT_H

#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "tinyodlc/runtime/storage.h"

namespace tinyodlc_examples {

struct FileArea {
  FILE* f = nullptr;
  uint32_t size = 0;
};

inline int file_write(FileArea& a, uint32_t off, const uint8_t* data, uint32_t len) {
  if (!a.f || off > a.size || len > a.size - off) return -1;
  if (fseek(a.f, static_cast<long>(off), SEEK_SET) != 0) return -2;
  if (fwrite(data, 1, len, a.f) != len) return -3;
  if (fflush(a.f) != 0 || fsync(fileno(a.f)) != 0) return -4;
  return 0;
}

inline int file_erase(void* ctx, uint32_t off, uint32_t len) {
  FileArea& a = *static_cast<FileArea*>(ctx);
  uint8_t ff[256];
  memset(ff, 0xFF, sizeof(ff));
  for (uint32_t done = 0; done < len;) {
    const uint32_t n = len - done < sizeof(ff) ? len - done : static_cast<uint32_t>(sizeof(ff));
    if (const int rc = file_write(a, off + done, ff, n)) return rc;
    done += n;
  }
  return 0;
}
inline int file_program(void* ctx, uint32_t off, const void* data, uint32_t len) {
  return file_write(*static_cast<FileArea*>(ctx), off, static_cast<const uint8_t*>(data), len);
}
inline int file_read(void* ctx, uint32_t off, void* data, uint32_t len) {
  FileArea& a = *static_cast<FileArea*>(ctx);
  if (!a.f || off > a.size || len > a.size - off) return -1;
  if (fseek(a.f, static_cast<long>(off), SEEK_SET) != 0) return -2;
  return fread(data, 1, len, a.f) == len ? 0 : -3;
}

// Opens (or creates, filled with 0xFF) the file. Returns 0, or -1 if it cannot.
inline int file_open(FileArea& a, const char* path, uint32_t size) {
  a.size = size;
  a.f = fopen(path, "r+b");
  if (!a.f) {
    a.f = fopen(path, "w+b");
    if (!a.f) return -1;
  }
  if (fseek(a.f, 0, SEEK_END) != 0) return -1;
  const long have = ftell(a.f);
  if (have < 0) return -1;
  if (static_cast<uint32_t>(have) < size) {  // extend with erased bytes
    uint8_t ff[256];
    memset(ff, 0xFF, sizeof(ff));
    for (uint32_t o = static_cast<uint32_t>(have); o < size;) {
      const uint32_t n = size - o < sizeof(ff) ? size - o : static_cast<uint32_t>(sizeof(ff));
      if (fwrite(ff, 1, n, a.f) != n) return -1;
      o += n;
    }
    if (fflush(a.f) != 0) return -1;
  }
  return 0;
}
inline void file_close(FileArea& a) {
  if (a.f) fclose(a.f);
  a.f = nullptr;
}

// Any power-of-two units work for a file; 4096/16 keeps the writes page-sized.
inline tinyodlc::StoragePort file_port(FileArea& a, uint32_t erase_size = 4096, uint32_t program_size = 16) {
  return tinyodlc::StoragePort{&a, a.size, erase_size, program_size, file_erase, file_program, file_read};
}

}  // namespace tinyodlc_examples

#endif
