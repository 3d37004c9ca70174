/*
 * Compression workload (zlib): generates `kib` KiB of text-like data, compresses it with
 * deflate at the default level, inflates it back and checks it is unchanged. Returns the
 * compressed size, its CRC-32 and the data's Adler-32 folded together; 0 if a step failed.
 */
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "zlib.h"

static const char *const WORDS[] = {
    "the ", "contract ", "transfers ", "tokens ", "from ", "account ", "to ", "balance ",
    "of ", "owner ", "and ", "emits ", "an ", "event ", "when ", "allowance ", "is ", "spent ",
    "{\"amount\":", "}, ", "0x", "\n",
};

RW_EXPORT(deflate) uint64_t rw_deflate(uint32_t kib) {
    size_t len = (size_t)kib * 1024;
    uint64_t rng = 0x13198a2e03707344ull;
    unsigned char *src = malloc(len);
    unsigned char *back = malloc(len);
    uLong bound = compressBound((uLong)len);
    unsigned char *packed = malloc(bound);
    uint64_t h = 0;
    if (src == NULL || back == NULL || packed == NULL) {
        goto out;
    }
    for (size_t i = 0; i < len;) {
        uint64_t r = rw_next(&rng);
        if (r % 5 == 0) {
            /* A number: digits are less compressible than words. */
            for (int d = 0; d < 6 && i < len; d++) {
                src[i++] = (unsigned char)('0' + (r >> (8 + 4 * d)) % 10);
            }
        } else {
            const char *w = WORDS[(r >> 8) % (sizeof WORDS / sizeof WORDS[0])];
            for (; *w && i < len; w++) {
                src[i++] = (unsigned char)*w;
            }
        }
    }

    z_stream z;
    memset(&z, 0, sizeof z);
    if (deflateInit(&z, Z_DEFAULT_COMPRESSION) != Z_OK) {
        goto out;
    }
    z.next_in = src;
    z.avail_in = (uInt)len;
    z.next_out = packed;
    z.avail_out = (uInt)bound;
    int rc = deflate(&z, Z_FINISH);
    size_t packed_len = (size_t)z.total_out;
    deflateEnd(&z);
    if (rc != Z_STREAM_END) {
        goto out;
    }

    memset(&z, 0, sizeof z);
    if (inflateInit(&z) != Z_OK) {
        goto out;
    }
    z.next_in = packed;
    z.avail_in = (uInt)packed_len;
    z.next_out = back;
    z.avail_out = (uInt)len;
    rc = inflate(&z, Z_FINISH);
    size_t back_len = (size_t)z.total_out;
    inflateEnd(&z);
    if (rc != Z_STREAM_END || back_len != len || memcmp(src, back, len) != 0) {
        goto out;
    }

    h = rw_mix(h, (uint64_t)packed_len);
    h = rw_mix(h, (uint64_t)crc32(0, packed, (uInt)packed_len));
    h = rw_mix(h, (uint64_t)adler32(1, src, (uInt)len));
out:
    free(src);
    free(back);
    free(packed);
    return h;
}
