/*
 * Shared by the workload drivers: a deterministic input generator and a checksum, and the
 * macro that exports a driver under its workload name from the wasm module.
 *
 * Every driver is compiled twice: to wasm32 (clang, wasi-libc) for the runtimes, and natively
 * (the host C compiler, through benches/build.rs) as the reference the runtimes' results are
 * checked against. So nothing here may depend on the width of `long`, `size_t` or a pointer.
 */
#ifndef RW_COMMON_H
#define RW_COMMON_H

#include <stddef.h>
#include <stdint.h>

#ifdef __wasm__
#define RW_EXPORT(name) __attribute__((export_name(#name)))
#else
#define RW_EXPORT(name)
#endif

/* xorshift64: the input data of every workload. */
static inline uint64_t rw_next(uint64_t *state) {
    uint64_t x = *state;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    *state = x;
    return x;
}

/* FNV-1a over bytes, folded into a running 64-bit checksum. */
static inline uint64_t rw_fnv(uint64_t h, const void *data, size_t len) {
    const unsigned char *p = (const unsigned char *)data;
    if (h == 0) {
        h = 0xcbf29ce484222325ull;
    }
    for (size_t i = 0; i < len; i++) {
        h ^= p[i];
        h *= 0x100000001b3ull;
    }
    return h;
}

/* Folds one 64-bit value into a checksum, order-sensitively. */
static inline uint64_t rw_mix(uint64_t h, uint64_t v) {
    h ^= v + 0x9e3779b97f4a7c15ull + (h << 6) + (h >> 2);
    return h;
}

uint64_t rw_json(uint32_t n);
uint64_t rw_deflate(uint32_t kib);
uint64_t rw_ed25519(uint32_t n);
uint64_t rw_bigint(uint32_t n);
uint64_t rw_collections(uint32_t n);
uint64_t rw_crypto(uint32_t n);
uint64_t rw_all(uint32_t scale);

#endif
