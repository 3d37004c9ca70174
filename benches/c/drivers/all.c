/*
 * Every workload once, small: what the compile workloads call to check the module they
 * compiled works.
 */
#include "common.h"

RW_EXPORT(all) uint64_t rw_all(uint32_t scale) {
    uint64_t h = 0;
    h = rw_mix(h, rw_json(20 * scale));
    h = rw_mix(h, rw_deflate(4 * scale));
    h = rw_mix(h, rw_ed25519(scale));
    h = rw_mix(h, rw_bigint(scale));
    h = rw_mix(h, rw_collections(200 * scale));
    h = rw_mix(h, rw_crypto(scale));
    return h;
}
