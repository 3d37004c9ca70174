/*
 * Big-integer workload (BearSSL's i31 arithmetic): `n` modular exponentiations with a 2048-bit
 * odd modulus and 2048-bit exponent, Montgomery multiplication with a sliding window, the
 * core of an RSA private-key operation. Returns a checksum of the results; 0 on failure.
 */
#include "common.h"
#include "inner.h"

#define BYTES 256
#define WORDS (2 + (BYTES * 8 + 30) / 31)

RW_EXPORT(bigint) uint64_t rw_bigint(uint32_t n) {
    uint64_t rng = 0x082efa98ec4e6c89ull;
    unsigned char mod[BYTES], exp[BYTES], base[BYTES], out[BYTES];
    uint32_t m[WORDS], x[WORDS], tmp[18 * WORDS];
    for (int i = 0; i < BYTES; i++) {
        mod[i] = (unsigned char)rw_next(&rng);
        exp[i] = (unsigned char)rw_next(&rng);
    }
    mod[0] |= 0x80;
    mod[BYTES - 1] |= 1;
    br_i31_decode(m, mod, BYTES);
    uint32_t m0i = br_i31_ninv31(m[1]);
    uint64_t h = 0;
    for (uint32_t i = 0; i < n; i++) {
        for (int b = 0; b < BYTES; b++) {
            base[b] = (unsigned char)rw_next(&rng);
        }
        br_i31_decode_reduce(x, base, BYTES, m);
        if (!br_i31_modpow_opt(x, exp, BYTES, m, m0i, tmp, sizeof tmp / sizeof tmp[0])) {
            return 0;
        }
        br_i31_encode(out, BYTES, x);
        h = rw_fnv(h, out, BYTES);
    }
    return h;
}
