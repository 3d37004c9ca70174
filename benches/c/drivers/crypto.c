/*
 * Cryptography workload (BearSSL): `n` rounds over a 4 KiB message of MD5, SHA-1, SHA-256,
 * SHA-512 and HMAC-SHA-256, AES-128-CTR and ChaCha20-Poly1305 encryption (decrypted back and
 * compared), an X25519 key agreement and an ECDSA P-256 signature (RFC 6979 nonces), verified,
 * and refused once tampered. Constant-time code throughout. Returns a checksum of every
 * digest, ciphertext, tag, shared secret and signature; 0 if a check failed.
 */
#include <string.h>

#include "common.h"
#include "inner.h"

#define MSG 4096

static void fill(uint64_t *rng, unsigned char *buf, size_t len) {
    for (size_t i = 0; i < len; i++) {
        buf[i] = (unsigned char)(rw_next(rng) >> 24);
    }
}

RW_EXPORT(crypto) uint64_t rw_crypto(uint32_t n) {
    uint64_t rng = 0xbe5466cf34e90c6cull;
    uint64_t h = 0;
    unsigned char msg[MSG], buf[MSG], out[64], key[32], iv[12], tag[16];
    for (uint32_t round = 0; round < n; round++) {
        fill(&rng, msg, MSG);
        fill(&rng, key, sizeof key);
        fill(&rng, iv, sizeof iv);

        br_md5_context md5;
        br_md5_init(&md5);
        br_md5_update(&md5, msg, MSG);
        br_md5_out(&md5, out);
        h = rw_fnv(h, out, br_md5_SIZE);
        br_sha1_context sha1;
        br_sha1_init(&sha1);
        br_sha1_update(&sha1, msg, MSG);
        br_sha1_out(&sha1, out);
        h = rw_fnv(h, out, br_sha1_SIZE);
        br_sha512_context sha512;
        br_sha512_init(&sha512);
        br_sha512_update(&sha512, msg, MSG);
        br_sha512_out(&sha512, out);
        h = rw_fnv(h, out, br_sha512_SIZE);
        unsigned char digest[32];
        br_sha256_context sha256;
        br_sha256_init(&sha256);
        br_sha256_update(&sha256, msg, MSG);
        br_sha256_out(&sha256, digest);
        h = rw_fnv(h, digest, sizeof digest);

        br_hmac_key_context hk;
        br_hmac_context hmac;
        br_hmac_key_init(&hk, &br_sha256_vtable, key, sizeof key);
        br_hmac_init(&hmac, &hk, 0);
        br_hmac_update(&hmac, msg, MSG);
        h = rw_fnv(h, out, br_hmac_out(&hmac, out));

        br_aes_ct_ctr_keys aes;
        memcpy(buf, msg, MSG);
        br_aes_ct_ctr_init(&aes, key, 16);
        br_aes_ct_ctr_run(&aes, iv, 1, buf, MSG);
        h = rw_fnv(h, buf, MSG);
        br_aes_ct_ctr_run(&aes, iv, 1, buf, MSG);
        if (memcmp(buf, msg, MSG) != 0) {
            return 0;
        }

        unsigned char tag2[16];
        br_poly1305_ctmul_run(key, iv, buf, MSG, digest, sizeof digest, tag, br_chacha20_ct_run, 1);
        h = rw_fnv(h, buf, MSG);
        h = rw_fnv(h, tag, sizeof tag);
        br_poly1305_ctmul_run(key, iv, buf, MSG, digest, sizeof digest, tag2, br_chacha20_ct_run, 0);
        if (memcmp(buf, msg, MSG) != 0 || memcmp(tag, tag2, sizeof tag) != 0) {
            return 0;
        }

        /* X25519: both sides of a key agreement must get the same secret. */
        const br_ec_impl *x25519 = &br_ec_c25519_m31;
        unsigned char a[32], b[32], pa[32], pb[32];
        fill(&rng, a, sizeof a);
        fill(&rng, b, sizeof b);
        x25519->mulgen(pa, a, sizeof a, BR_EC_curve25519);
        x25519->mulgen(pb, b, sizeof b, BR_EC_curve25519);
        if (!x25519->mul(pa, sizeof pa, b, sizeof b, BR_EC_curve25519)
            || !x25519->mul(pb, sizeof pb, a, sizeof a, BR_EC_curve25519) || memcmp(pa, pb, sizeof pa) != 0) {
            return 0;
        }
        h = rw_fnv(h, pa, sizeof pa);

        /* ECDSA P-256 over the SHA-256 digest; the private key is below the group order. */
        const br_ec_impl *p256 = &br_ec_p256_m31;
        unsigned char d[32], q[65], sig[64];
        fill(&rng, d, sizeof d);
        d[0] &= 0x7f;
        d[31] |= 1;
        size_t qlen = p256->mulgen(q, d, sizeof d, BR_EC_secp256r1);
        br_ec_private_key sk = {BR_EC_secp256r1, d, sizeof d};
        br_ec_public_key pk = {BR_EC_secp256r1, q, qlen};
        size_t siglen = br_ecdsa_i31_sign_raw(p256, &br_sha256_vtable, digest, &sk, sig);
        if (qlen != sizeof q || siglen != sizeof sig
            || !br_ecdsa_i31_vrfy_raw(p256, digest, sizeof digest, &pk, sig, siglen)) {
            return 0;
        }
        h = rw_fnv(h, sig, siglen);
        digest[round % sizeof digest] ^= 1;
        if (br_ecdsa_i31_vrfy_raw(p256, digest, sizeof digest, &pk, sig, siglen)) {
            return 0;
        }
    }
    return h;
}
