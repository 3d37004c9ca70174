/*
 * JSON workload (cJSON): builds a document of `n` records, serialises it compactly, parses it
 * back, compares the two trees, walks the parsed one and serialises it again, pretty-printed.
 * Returns a checksum of both texts and of what the walk read; 0 if a step failed.
 */
#include <stdlib.h>
#include <string.h>

#include "cJSON.h"
#include "common.h"

static const char *const WORDS[] = {
    "alpha", "beta", "gamma", "delta", "quote\"d", "back\\slash", "tab\tbed", "new\nline",
    "caf\xc3\xa9", "\xe2\x82\xac" "uro", "zeta", "theta", "iota", "kappa", "lambda", "mu",
};

static cJSON *record(uint64_t *rng, uint32_t i) {
    cJSON *rec = cJSON_CreateObject();
    uint64_t r = rw_next(rng);
    char label[64];
    size_t len = 0;
    for (int w = 0; w < 1 + (int)(r % 4); w++) {
        const char *word = WORDS[(r >> (8 + 4 * w)) % (sizeof WORDS / sizeof WORDS[0])];
        size_t wl = strlen(word);
        if (len + wl + 2 > sizeof label) {
            break;
        }
        if (len > 0) {
            label[len++] = ' ';
        }
        memcpy(label + len, word, wl);
        len += wl;
    }
    label[len] = 0;
    cJSON_AddNumberToObject(rec, "id", (double)i);
    cJSON_AddStringToObject(rec, "label", label);
    cJSON_AddNumberToObject(rec, "price", (double)(r % 10000000) / 100.0);
    cJSON_AddNumberToObject(rec, "ratio", (double)(int64_t)(r >> 11) / 9007199254740992.0);
    cJSON_AddBoolToObject(rec, "active", (r >> 60) & 1);
    int tags[5];
    for (int t = 0; t < 5; t++) {
        tags[t] = (int)((r >> (t * 9)) & 0x3ff) - 300;
    }
    cJSON_AddItemToObject(rec, "tags", cJSON_CreateIntArray(tags, 1 + (int)(r % 5)));
    cJSON *dims = cJSON_AddObjectToObject(rec, "dims");
    cJSON_AddNumberToObject(dims, "w", (double)((r >> 20) % 4096));
    cJSON_AddNumberToObject(dims, "h", (double)((r >> 32) % 4096));
    if (r % 7 == 0) {
        cJSON_AddNullToObject(rec, "note");
    }
    return rec;
}

RW_EXPORT(json) uint64_t rw_json(uint32_t n) {
    uint64_t rng = 0x243f6a8885a308d3ull;
    cJSON *root = cJSON_CreateObject();
    cJSON_AddStringToObject(root, "kind", "inventory");
    cJSON_AddNumberToObject(root, "version", 3);
    cJSON *items = cJSON_AddArrayToObject(root, "items");
    for (uint32_t i = 0; i < n; i++) {
        cJSON_AddItemToArray(items, record(&rng, i));
    }

    char *compact = cJSON_PrintUnformatted(root);
    if (compact == NULL) {
        cJSON_Delete(root);
        return 0;
    }
    uint64_t h = rw_fnv(0, compact, strlen(compact));
    cJSON *parsed = cJSON_Parse(compact);
    free(compact);
    if (parsed == NULL || !cJSON_Compare(root, parsed, 1)) {
        cJSON_Delete(parsed);
        cJSON_Delete(root);
        return 0;
    }
    cJSON_Delete(root);

    const cJSON *rec;
    cJSON_ArrayForEach(rec, cJSON_GetObjectItemCaseSensitive(parsed, "items")) {
        const cJSON *label = cJSON_GetObjectItemCaseSensitive(rec, "label");
        const cJSON *price = cJSON_GetObjectItemCaseSensitive(rec, "price");
        const cJSON *tags = cJSON_GetObjectItemCaseSensitive(rec, "tags");
        if (!cJSON_IsString(label) || !cJSON_IsNumber(price) || !cJSON_IsArray(tags)) {
            cJSON_Delete(parsed);
            return 0;
        }
        h = rw_mix(h, strlen(label->valuestring));
        h = rw_mix(h, (uint64_t)(int64_t)(price->valuedouble * 100.0 + 0.5));
        h = rw_mix(h, (uint64_t)cJSON_GetArraySize(tags));
    }

    char *pretty = cJSON_Print(parsed);
    cJSON_Delete(parsed);
    if (pretty == NULL) {
        return 0;
    }
    h = rw_fnv(h, pretty, strlen(pretty));
    free(pretty);
    return h;
}
