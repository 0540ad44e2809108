// tinyodlc runtime: power-loss-safe persistence of the learned state (docs/persistence.md).
//
// Header-only C++17, shipped with the generated code: no heap, no exceptions, no RTTI, no
// floating point. The generated code of a model with learned state (training, enrolment,
// active learning) registers its state blocks in one table (a LearnedStateLayout) and calls
// storage::save() / storage::load() from its save_state() / load_state().
//
// Format of the area given by a StoragePort: two slots of equal size (the area split in two at
// an erase-unit boundary). Each slot:
//
//   [0, header_span)            SlotHeader (24 bytes), padded with 0xFF to whole program units
//   [header_span, +length)      payload: the state blocks' bytes, in registry order, padded
//                               with 0xFF to whole program units
//
// SlotHeader = {magic, format version, layout hash, sequence number, payload length, CRC-32},
// little-endian 32-bit words; the CRC-32 (IEEE 802.3, as zlib.crc32) covers the first five
// header words and then the payload. A save erases the slot that does not hold the newest
// valid state, programs the payload, then programs the header last: a power cut before the
// header is complete leaves a slot whose CRC does not check out, the other slot untouched.
#ifndef TINYODLC_RUNTIME_STORAGE_H
#define TINYODLC_RUNTIME_STORAGE_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

namespace tinyodlc {

// A storage area for the learned state, provided by the firmware (flash driver, file, RAM).
struct StoragePort {
  void* ctx;
  uint32_t size;          // bytes of the storage area given to the learned state
  uint32_t erase_size;    // erase unit; erase() takes whole, aligned units and sets them to 0xFF
  uint32_t program_size;  // program unit; program() takes whole, aligned units and can only clear bits (NOR flash)
  int (*erase)(void* ctx, uint32_t offset, uint32_t length);                     // 0 on success
  int (*program)(void* ctx, uint32_t offset, const void* data, uint32_t length); // 0 on success
  int (*read)(void* ctx, uint32_t offset, void* data, uint32_t length);          // 0 on success
};

// One block of learned state in RAM (trainable parameters, optimizer moments, step count,
// learning rate, prototypes, ...). Its layout descriptor is part of the layout hash, which
// the compiler computes; the runtime only sees the hash.
struct LearnedStateBlock {
  const char* name;
  void* data;
  uint32_t bytes;  // a multiple of 4
};

// The registry of one model's learned state: every feature adds its blocks to it.
struct LearnedStateLayout {
  const LearnedStateBlock* blocks;
  uint32_t count;
  uint32_t layout_hash;  // hash of the compile's state layout (names, shapes, dtypes, optimizer)
  uint32_t bytes;        // sum of the blocks' bytes (the payload length)
};

namespace storage {

constexpr uint32_t kMagic = 0x4C444F54u;  // "TODL" in little-endian memory order
constexpr uint32_t kFormatVersion = 1;
constexpr uint32_t kHeaderBytes = 24;
// Bytes of the stack buffer a save uses to gather the payload into program units. A port's
// program unit must not exceed it (STM32H7: 32, PSoC 6: 512).
#ifndef TINYODLC_STORAGE_BUFFER_BYTES
#define TINYODLC_STORAGE_BUFFER_BYTES 512
#endif
constexpr uint32_t kBufferBytes = TINYODLC_STORAGE_BUFFER_BYTES;

// Return codes (besides 0 = success, and 1 = no valid state from load()).
constexpr int kNoState = 1;
constexpr int kErrPort = -1;      // the port's erase/program/read returned an error
constexpr int kErrGeometry = -2;  // area too small for two slots, or units not powers of two / too large
constexpr int kErrVerify = -3;    // the slot read back after a save does not check out
constexpr int kErrTorn = -4;      // load: the slot changed between verification and copy (state reset)

// ---- CRC-32 (reflected polynomial 0xEDB88320, init and final xor 0xFFFFFFFF) -------------
// Nibble-table implementation: 64 bytes of table, two lookups per byte.
inline uint32_t crc32_update(uint32_t crc, const void* data, uint32_t n) {
  static const uint32_t kTable[16] = {
      0x00000000u, 0x1DB71064u, 0x3B6E20C8u, 0x26D930ACu, 0x76DC4190u, 0x6B6B51F4u,
      0x4DB26158u, 0x5005713Cu, 0xEDB88320u, 0xF00F9344u, 0xD6D6A3E8u, 0xCB61B38Cu,
      0x9B64C2B0u, 0x86D3D2D4u, 0xA00AE278u, 0xBDBDF21Cu};
  const uint8_t* p = static_cast<const uint8_t*>(data);
  for (uint32_t i = 0; i < n; ++i) {
    crc ^= p[i];
    crc = (crc >> 4) ^ kTable[crc & 0xFu];
    crc = (crc >> 4) ^ kTable[crc & 0xFu];
  }
  return crc;
}
constexpr uint32_t kCrcInit = 0xFFFFFFFFu;
inline uint32_t crc32_final(uint32_t crc) { return crc ^ 0xFFFFFFFFu; }
inline uint32_t crc32(const void* data, uint32_t n) { return crc32_final(crc32_update(kCrcInit, data, n)); }

// ---- geometry ---------------------------------------------------------------------------
constexpr uint32_t round_up(uint32_t v, uint32_t unit) { return (v + unit - 1) / unit * unit; }
// Bytes of one slot for a payload (header + payload, in whole erase units).
constexpr uint32_t slot_bytes(uint32_t payload, uint32_t erase_size, uint32_t program_size) {
  return round_up(round_up(kHeaderBytes, program_size) + round_up(payload, program_size), erase_size);
}
// Smallest storage area (two slots) for a payload on a flash with these units.
constexpr uint32_t area_bytes(uint32_t payload, uint32_t erase_size, uint32_t program_size) {
  return 2 * slot_bytes(payload, erase_size, program_size);
}

namespace detail {

inline bool pow2(uint32_t v) { return v != 0 && (v & (v - 1)) == 0; }

struct Geometry {
  uint32_t slot;        // bytes per slot (whole erase units)
  uint32_t header_span; // header padded to program units
  uint32_t payload_span;
};

inline int geometry(const StoragePort& port, uint32_t payload, Geometry* g) {
  if (!pow2(port.erase_size) || !pow2(port.program_size) || port.program_size > port.erase_size ||
      port.program_size > kBufferBytes)
    return kErrGeometry;
  g->slot = port.size / 2 / port.erase_size * port.erase_size;
  g->header_span = round_up(kHeaderBytes, port.program_size);
  g->payload_span = round_up(payload, port.program_size);
  if (payload > 0x7FFFFFFFu || g->slot < g->header_span || g->slot - g->header_span < g->payload_span)
    return kErrGeometry;
  return 0;
}

inline uint32_t get_u32(const uint8_t* p) {
  return static_cast<uint32_t>(p[0]) | static_cast<uint32_t>(p[1]) << 8 | static_cast<uint32_t>(p[2]) << 16 |
         static_cast<uint32_t>(p[3]) << 24;
}
inline void put_u32(uint8_t* p, uint32_t v) {
  p[0] = static_cast<uint8_t>(v);
  p[1] = static_cast<uint8_t>(v >> 8);
  p[2] = static_cast<uint8_t>(v >> 16);
  p[3] = static_cast<uint8_t>(v >> 24);
}

struct SlotInfo {
  bool valid;
  uint32_t sequence;
};

// Reads and checks one slot: magic, version, this layout's hash, length, CRC over header and
// payload (streamed through a small stack buffer). Returns 0 (info filled) or a port error.
inline int inspect(const StoragePort& port, const LearnedStateLayout& layout, const Geometry& g, uint32_t base,
                   SlotInfo* info) {
  info->valid = false;
  info->sequence = 0;
  uint8_t h[kHeaderBytes];
  if (port.read(port.ctx, base, h, kHeaderBytes) != 0) return kErrPort;
  if (get_u32(h) != kMagic || get_u32(h + 4) != kFormatVersion || get_u32(h + 8) != layout.layout_hash ||
      get_u32(h + 16) != layout.bytes)
    return 0;
  uint32_t crc = crc32_update(kCrcInit, h, 20);
  uint8_t buf[64];
  for (uint32_t done = 0; done < layout.bytes;) {
    const uint32_t n = layout.bytes - done < sizeof(buf) ? layout.bytes - done : static_cast<uint32_t>(sizeof(buf));
    if (port.read(port.ctx, base + g.header_span + done, buf, n) != 0) return kErrPort;
    crc = crc32_update(crc, buf, n);
    done += n;
  }
  if (crc32_final(crc) != get_u32(h + 20)) return 0;
  info->valid = true;
  info->sequence = get_u32(h + 12);
  return 0;
}

// True when sequence a is newer than b (serial-number arithmetic: survives the 2^32 wrap).
inline bool newer(uint32_t a, uint32_t b) { return static_cast<int32_t>(a - b) > 0; }

// Index (0/1) of the newest valid slot, or -1. A slot that cannot be read counts as invalid
// (a power cut can leave a flash word whose ECC fails on every read: the other slot must stay
// loadable and the unreadable one rewritable); *rc gets the last port error (0 if none).
inline int newest(const StoragePort& port, const LearnedStateLayout& layout, const Geometry& g, SlotInfo s[2],
                  int* rc) {
  *rc = 0;
  for (int i = 0; i < 2; ++i) {
    const int r = inspect(port, layout, g, static_cast<uint32_t>(i) * g.slot, &s[i]);
    if (r != 0) {
      s[i].valid = false;
      *rc = r;
    }
  }
  if (s[0].valid && s[1].valid) return newer(s[1].sequence, s[0].sequence) ? 1 : 0;
  if (s[0].valid) return 0;
  if (s[1].valid) return 1;
  return -1;
}

// Serializes payload bytes [off, off + n) of the registry into out.
inline void gather(const LearnedStateLayout& layout, uint32_t off, uint8_t* out, uint32_t n) {
  uint32_t start = 0;
  for (uint32_t b = 0; b < layout.count && n > 0; ++b) {
    const LearnedStateBlock& blk = layout.blocks[b];
    const uint32_t end = start + blk.bytes;
    if (off < end) {
      const uint32_t k = end - off < n ? end - off : n;
      memcpy(out, static_cast<const uint8_t*>(blk.data) + (off - start), k);
      out += k;
      off += k;
      n -= k;
    }
    start = end;
  }
}

// Copies payload bytes [off, off + n) into the registry's blocks.
inline void scatter(const LearnedStateLayout& layout, uint32_t off, const uint8_t* in, uint32_t n) {
  uint32_t start = 0;
  for (uint32_t b = 0; b < layout.count && n > 0; ++b) {
    const LearnedStateBlock& blk = layout.blocks[b];
    const uint32_t end = start + blk.bytes;
    if (off < end) {
      const uint32_t k = end - off < n ? end - off : n;
      memcpy(static_cast<uint8_t*>(blk.data) + (off - start), in, k);
      in += k;
      off += k;
      n -= k;
    }
    start = end;
  }
}

}  // namespace detail

// Writes the learned state into the slot that does not hold the newest valid state (the
// newest valid slot is never erased or programmed). Returns 0, or kErrPort / kErrGeometry /
// kErrVerify. Erase calls: one per erase unit of the slot; program calls: payload in chunks of
// whole program units (up to kBufferBytes each), then the header in one call.
inline int save(const StoragePort& port, const LearnedStateLayout& layout) {
  detail::Geometry g;
  int rc = detail::geometry(port, layout.bytes, &g);
  if (rc != 0) return rc;
  detail::SlotInfo s[2];
  const int cur = detail::newest(port, layout, g, s, &rc);  // an unreadable slot is not the newest valid one
  const uint32_t target = cur == 0 ? 1u : 0u;
  const uint32_t sequence = cur < 0 ? 1u : s[cur].sequence + 1u;
  const uint32_t base = target * g.slot;
  // Erase only the units the slot's content occupies.
  const uint32_t used = round_up(g.header_span + g.payload_span, port.erase_size);
  for (uint32_t o = 0; o < used; o += port.erase_size)
    if (port.erase(port.ctx, base + o, port.erase_size) != 0) return kErrPort;
  // Payload first, CRC over header words + payload.
  uint8_t h[kHeaderBytes];
  detail::put_u32(h, kMagic);
  detail::put_u32(h + 4, kFormatVersion);
  detail::put_u32(h + 8, layout.layout_hash);
  detail::put_u32(h + 12, sequence);
  detail::put_u32(h + 16, layout.bytes);
  uint32_t crc = crc32_update(kCrcInit, h, 20);
  alignas(8) uint8_t buf[kBufferBytes];  // aligned: ports may program from it with word writes
  const uint32_t chunk = kBufferBytes / port.program_size * port.program_size;
  for (uint32_t done = 0; done < g.payload_span;) {
    const uint32_t n = g.payload_span - done < chunk ? g.payload_span - done : chunk;
    const uint32_t real = done >= layout.bytes ? 0 : (layout.bytes - done < n ? layout.bytes - done : n);
    detail::gather(layout, done, buf, real);
    memset(buf + real, 0xFF, n - real);
    crc = crc32_update(crc, buf, real);
    if (port.program(port.ctx, base + g.header_span + done, buf, n) != 0) return kErrPort;
    done += n;
  }
  detail::put_u32(h + 20, crc32_final(crc));
  // Header last: the slot becomes valid with its final program call.
  memset(buf, 0xFF, g.header_span);
  memcpy(buf, h, kHeaderBytes);
  if (port.program(port.ctx, base, buf, g.header_span) != 0) return kErrPort;
  // Read back: the new slot must check out (the state in RAM did not change meanwhile).
  detail::SlotInfo check;
  rc = detail::inspect(port, layout, g, base, &check);
  if (rc != 0) return rc;
  if (!check.valid || check.sequence != sequence) return kErrVerify;
  return 0;
}

// Restores the learned state from the newest slot whose header, layout hash and CRC check
// out (a slot that cannot be read counts as invalid). Returns 0 (restored), kNoState (nothing
// valid: the blocks are untouched), kErrPort (no slot valid and a read failed) / kErrGeometry
// (blocks untouched), or kErrTorn (the slot read differently during the copy
// than during the check: the blocks hold a mix and the caller must reset them).
inline int load(const StoragePort& port, const LearnedStateLayout& layout) {
  detail::Geometry g;
  int rc = detail::geometry(port, layout.bytes, &g);
  if (rc != 0) return rc;
  detail::SlotInfo s[2];
  const int cur = detail::newest(port, layout, g, s, &rc);
  if (cur < 0) return rc != 0 ? rc : kNoState;
  const uint32_t base = static_cast<uint32_t>(cur) * g.slot;
  uint8_t h[kHeaderBytes];
  if (port.read(port.ctx, base, h, kHeaderBytes) != 0) return kErrTorn;
  uint32_t crc = crc32_update(kCrcInit, h, 20);
  uint8_t buf[64];
  for (uint32_t done = 0; done < layout.bytes;) {
    const uint32_t n = layout.bytes - done < sizeof(buf) ? layout.bytes - done : static_cast<uint32_t>(sizeof(buf));
    if (port.read(port.ctx, base + g.header_span + done, buf, n) != 0) return kErrTorn;
    crc = crc32_update(crc, buf, n);
    detail::scatter(layout, done, buf, n);
    done += n;
  }
  if (crc32_final(crc) != detail::get_u32(h + 20) || detail::get_u32(h + 12) != s[cur].sequence) return kErrTorn;
  return 0;
}

// Sequence number of the newest valid slot for this layout (0 if none); for diagnostics.
inline uint32_t newest_sequence(const StoragePort& port, const LearnedStateLayout& layout) {
  detail::Geometry g;
  int rc = detail::geometry(port, layout.bytes, &g);
  if (rc != 0) return 0;
  detail::SlotInfo s[2];
  const int cur = detail::newest(port, layout, g, s, &rc);
  return cur < 0 ? 0 : s[cur].sequence;
}

}  // namespace storage
}  // namespace tinyodlc

#endif  // TINYODLC_RUNTIME_STORAGE_H
