/*
 * Signature workload (Ed25519, the SUPERCOP reference code): `n` times, derives a key pair
 * from a seed, signs a 100-byte message and verifies the signature; every fourth round also
 * checks that a tampered signature is refused. Returns a checksum of the signatures; 0 if a
 * verification gave the wrong answer.
 */
#include "common.h"
#include "crypto_sign.h"

#define MSG 100

RW_EXPORT(ed25519) uint64_t rw_ed25519(uint32_t n) {
    uint64_t rng = 0xa4093822299f31d0ull;
    uint64_t h = 0;
    unsigned char seed[32], pk[32], sk[64], msg[MSG], sm[MSG + 64], m[MSG + 64];
    for (uint32_t i = 0; i < n; i++) {
        for (int b = 0; b < 32; b += 8) {
            uint64_t r = rw_next(&rng);
            for (int k = 0; k < 8; k++) {
                seed[b + k] = (unsigned char)(r >> (8 * k));
            }
        }
        for (int b = 0; b < MSG; b++) {
            msg[b] = (unsigned char)rw_next(&rng);
        }
        unsigned long long smlen = 0, mlen = 0;
        crypto_sign_publickey(pk, sk, seed);
        crypto_sign(sm, &smlen, msg, MSG, sk);
        if (crypto_sign_open(m, &mlen, sm, smlen, pk) != 0 || mlen != MSG) {
            return 0;
        }
        h = rw_fnv(h, sm, 64);
        if (i % 4 == 3) {
            sm[i % 64] ^= 1;
            if (crypto_sign_open(m, &mlen, sm, smlen, pk) == 0) {
                return 0;
            }
        }
    }
    return h;
}
