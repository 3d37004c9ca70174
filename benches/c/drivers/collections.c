/*
 * Sorting and hash-map workload: sorts `n` records with the C library's qsort (musl's
 * smoothsort in wasi-libc; the host libc's in the native reference: the comparison is a total
 * order, so the result is the same), then builds a uthash table from them, looks up hits and
 * misses, deletes a third and sums what is left. Returns a checksum of it all.
 */
#include <stdlib.h>

#include "common.h"
#include "uthash.h"

struct rec {
    uint64_t key;
    uint32_t a, b;
};

static int by_key(const void *l, const void *r) {
    const struct rec *x = l, *y = r;
    if (x->key != y->key) {
        return x->key < y->key ? -1 : 1;
    }
    if (x->a != y->a) {
        return x->a < y->a ? -1 : 1;
    }
    return x->b < y->b ? -1 : x->b > y->b;
}

struct entry {
    uint64_t key;
    uint64_t value;
    UT_hash_handle hh;
};

RW_EXPORT(collections) uint64_t rw_collections(uint32_t n) {
    uint64_t rng = 0x452821e638d01377ull;
    struct rec *recs = malloc((size_t)n * sizeof *recs);
    if (recs == NULL) {
        return 0;
    }
    for (uint32_t i = 0; i < n; i++) {
        uint64_t r = rw_next(&rng);
        /* Keys drawn from a range of about n/2 so that some repeat. */
        recs[i].key = r % (n / 2 + 1) * 0x9e3779b97f4a7c15ull;
        recs[i].a = (uint32_t)(r >> 40);
        recs[i].b = i;
    }
    qsort(recs, n, sizeof *recs, by_key);
    uint64_t h = 0;
    for (uint32_t i = 0; i < n; i++) {
        h = rw_mix(h, recs[i].key ^ recs[i].b);
    }

    struct entry *table = NULL, *e, *tmp;
    for (uint32_t i = 0; i < n; i++) {
        HASH_FIND(hh, table, &recs[i].key, sizeof(uint64_t), e);
        if (e == NULL) {
            e = malloc(sizeof *e);
            if (e == NULL) {
                break;
            }
            e->key = recs[i].key;
            e->value = 0;
            HASH_ADD(hh, table, key, sizeof(uint64_t), e);
        }
        e->value += recs[i].a;
    }
    free(recs);
    uint64_t hits = 0, found = 0;
    for (uint32_t i = 0; i < n; i++) {
        uint64_t key = rw_next(&rng) % (n + 1) * 0x9e3779b97f4a7c15ull;
        HASH_FIND(hh, table, &key, sizeof key, e);
        if (e != NULL) {
            hits++;
            found += e->value;
        }
    }
    h = rw_mix(h, hits);
    h = rw_mix(h, found);
    uint32_t i = 0;
    HASH_ITER(hh, table, e, tmp) {
        if (i++ % 3 == 0) {
            HASH_DEL(table, e);
            free(e);
        }
    }
    uint64_t sum = 0, count = HASH_COUNT(table);
    HASH_ITER(hh, table, e, tmp) {
        sum += e->key ^ e->value;
        HASH_DEL(table, e);
        free(e);
    }
    h = rw_mix(h, count);
    return rw_mix(h, sum);
}
