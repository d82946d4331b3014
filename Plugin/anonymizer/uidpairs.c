/*
 * The UIDs the engine mapped in one instance, each original once: what
 * the mapping files of a report (uids.csv) are made of.  map_uids()
 * (rewrite.c) and the meta's SOP Instance UID (engine.c) note each pair;
 * a small open-addressing table keeps a noted original from being listed
 * twice (O(1) per note).  Bounded by OA_ANON_MAX_UID_PAIRS: past it, or
 * for an original longer than a pair holds, the list is marked truncated
 * (the output is unaffected).
 */
#include "engine_int.h"

#include <string.h>

static uint32_t hash_uid(const char *s, size_t n)
{
    uint32_t h = 2166136261u;
    size_t i;

    for (i = 0; i < n; i++) {
        h ^= (uint8_t)s[i];
        h *= 16777619u;
    }
    return h;
}

void oa_anon__pairs_reset(oa_anonymizer *a)
{
    a->n_pairs = 0;
    a->pairs_truncated = false;
    if (a->pair_slots != NULL)
        memset(a->pair_slots, 0, a->n_slots * sizeof(*a->pair_slots));
}

void oa_anon__pairs_result(oa_anonymizer *a)
{
    a->res->uid_pairs = a->n_pairs ? a->pairs : NULL;
    a->res->n_uid_pairs = a->n_pairs;
    a->res->uid_pairs_truncated = a->pairs_truncated;
}

void oa_anon__pairs_free(oa_anonymizer *a)
{
    oa_free(a->pairs);
    oa_free(a->pair_slots);
    a->pairs = NULL;
    a->pair_slots = NULL;
    a->n_pairs = a->cap_pairs = a->n_slots = 0;
}

/* Room for one more pair, the table at most half full. */
static bool grow(oa_anonymizer *a)
{
    size_t i;

    if (a->n_pairs == a->cap_pairs) {
        size_t cap = a->cap_pairs ? a->cap_pairs * 2 : 64;
        oa_anon_uid_pair *p;

        if (cap > OA_ANON_MAX_UID_PAIRS)
            cap = OA_ANON_MAX_UID_PAIRS;
        p = oa_realloc(a->pairs, cap * sizeof(*p));
        if (p == NULL)
            return false;
        a->pairs = p;
        a->cap_pairs = cap;
    }
    if ((a->n_pairs + 1) * 2 > a->n_slots) {
        size_t n = a->n_slots ? a->n_slots * 2 : 256;
        uint32_t *slots = oa_calloc(n, sizeof(*slots));

        if (slots == NULL)
            return false;
        for (i = 0; i < a->n_pairs; i++) {
            const char *u = a->pairs[i].old_uid;
            size_t k = hash_uid(u, strlen(u)) & (n - 1);

            while (slots[k] != 0)
                k = (k + 1) & (n - 1);
            slots[k] = (uint32_t)(i + 1);
        }
        oa_free(a->pair_slots);
        a->pair_slots = slots;
        a->n_slots = n;
    }
    return true;
}

void oa_anon__note_uid(oa_anonymizer *a, const char *old, size_t len,
                       const char *mapped)
{
    size_t k, mlen = strlen(mapped);
    oa_anon_uid_pair *p;

    len = oa_value_trim((const uint8_t *)old, len);
    if (len == 0 || (len == mlen && memcmp(old, mapped, len) == 0))
        return; /* empty or well-known: not mapped */
    if (len >= OA_ANON_VALUE_MAX || mlen >= OA_ANON_VALUE_MAX) {
        a->pairs_truncated = true;
        return;
    }
    if (a->n_slots != 0) {
        for (k = hash_uid(old, len) & (a->n_slots - 1); a->pair_slots[k];
             k = (k + 1) & (a->n_slots - 1)) {
            const char *u = a->pairs[a->pair_slots[k] - 1].old_uid;

            if (strlen(u) == len && memcmp(u, old, len) == 0)
                return; /* noted already */
        }
    }
    if (a->n_pairs >= OA_ANON_MAX_UID_PAIRS || !grow(a)) {
        a->pairs_truncated = true;
        return;
    }
    p = &a->pairs[a->n_pairs];
    memcpy(p->old_uid, old, len);
    p->old_uid[len] = '\0';
    memcpy(p->new_uid, mapped, mlen + 1);
    for (k = hash_uid(old, len) & (a->n_slots - 1); a->pair_slots[k];
         k = (k + 1) & (a->n_slots - 1))
        ;
    a->pair_slots[k] = (uint32_t)(++a->n_pairs);
}
