/*
 * Mapping files: the key between the original identifiers and the new
 * ones (uids.csv, patients.csv) that research archives ask for.  Pure
 * (cJSON and core).
 *
 * A job collects the pairs of its instances (the engine's uid_pairs, the
 * Patient IDs) per study into an oa_mapping: each distinct pair of a
 * study once, O(1) per add (an arena of strings and an open-addressing
 * table), at most OA_MAPPING_MAX_ROWS rows per kind (past it the mapping
 * is marked incomplete).  The report's mapping is stored apart from the
 * report (namespace OA_STORE_MAPPINGS, key = report ID), as
 *   {"Complete": true, "Studies": [{"Study": "<anonymized Orthanc ID>",
 *     "Uids": [["old", "new"], ...], "Patients": [["old", "new"], ...]}]}
 * so that listing reports stays light.  The CSVs are written from it.
 */
#include "services.h"

#include <stdio.h>
#include <string.h>

typedef struct entry {
    uint32_t scope;
    uint32_t old_off, new_off;
    uint8_t kind;
} entry;

struct oa_mapping {
    entry *entries;
    size_t n, cap;
    size_t count[2];
    char *arena;
    size_t used, arena_cap;
    uint32_t *slots;     /* index + 1; 0 = free */
    size_t nslots;
    bool incomplete;
};

/* Longest value kept (a UID is at most 64, a Patient ID 64 characters;
 * a longer one is cut by the engine to OA_ANON_VALUE_MAX - 1). */
#define VALUE_MAX (OA_ANON_VALUE_MAX - 1)
/* Arena ceiling: OA_MAPPING_MAX_ROWS rows of both kinds, 2 values each. */
#define ARENA_MAX ((size_t)OA_MAPPING_MAX_ROWS * 2 * 2 * (VALUE_MAX + 1))

oa_mapping *oa_mapping_new(void)
{
    return oa_calloc(1, sizeof(oa_mapping));
}

void oa_mapping_free(oa_mapping *m)
{
    if (m == NULL)
        return;
    oa_free(m->entries);
    oa_free(m->arena);
    oa_free(m->slots);
    oa_free(m);
}

void oa_mapping_set_incomplete(oa_mapping *m)
{
    if (m != NULL)
        m->incomplete = true;
}

bool oa_mapping_complete(const oa_mapping *m)
{
    return m != NULL && !m->incomplete;
}

size_t oa_mapping_count(const oa_mapping *m, oa_mapping_kind kind)
{
    return m != NULL && (unsigned)kind < 2 ? m->count[kind] : 0;
}

static uint32_t hash_pair(unsigned kind, uint32_t scope, const char *o,
                          const char *n)
{
    uint32_t h = 2166136261u;
    const char *p;

    h = (h ^ kind) * 16777619u;
    h = (h ^ (scope & 0xFFu)) * 16777619u;
    h = (h ^ (scope >> 8)) * 16777619u;
    for (p = o; *p; p++)
        h = (h ^ (uint8_t)*p) * 16777619u;
    h = (h ^ 0xFFu) * 16777619u;
    for (p = n; *p; p++)
        h = (h ^ (uint8_t)*p) * 16777619u;
    return h;
}

static bool same(const oa_mapping *m, const entry *e, unsigned kind,
                 uint32_t scope, const char *o, const char *n)
{
    return e->kind == kind && e->scope == scope &&
           strcmp(m->arena + e->old_off, o) == 0 &&
           strcmp(m->arena + e->new_off, n) == 0;
}

static bool rehash(oa_mapping *m)
{
    size_t n = m->nslots ? m->nslots * 2 : 1024, i;
    uint32_t *slots = oa_calloc(n, sizeof(*slots));

    if (slots == NULL)
        return false;
    for (i = 0; i < m->n; i++) {
        const entry *e = &m->entries[i];
        size_t k = hash_pair(e->kind, e->scope, m->arena + e->old_off,
                             m->arena + e->new_off) & (n - 1);

        while (slots[k] != 0)
            k = (k + 1) & (n - 1);
        slots[k] = (uint32_t)(i + 1);
    }
    oa_free(m->slots);
    m->slots = slots;
    m->nslots = n;
    return true;
}

static bool arena_put(oa_mapping *m, const char *s, size_t len, uint32_t *off)
{
    if (m->used + len + 1 > m->arena_cap) {
        size_t cap = m->arena_cap ? m->arena_cap * 2 : 16384;
        char *a;

        while (cap < m->used + len + 1)
            cap *= 2;
        if (cap > ARENA_MAX)
            cap = ARENA_MAX;
        if (m->used + len + 1 > cap)
            return false;
        a = oa_realloc(m->arena, cap);
        if (a == NULL)
            return false;
        m->arena = a;
        m->arena_cap = cap;
    }
    memcpy(m->arena + m->used, s, len);
    m->arena[m->used + len] = '\0';
    *off = (uint32_t)m->used;
    m->used += len + 1;
    return true;
}

void oa_mapping_add(oa_mapping *m, oa_mapping_kind kind, uint32_t scope,
                    const char *old_id, const char *new_id)
{
    size_t k, lo, ln;
    entry *e;

    if (m == NULL || (unsigned)kind > 1 || old_id == NULL || new_id == NULL)
        return;
    lo = strlen(old_id);
    ln = strlen(new_id);
    if (lo > VALUE_MAX || ln > VALUE_MAX) {
        m->incomplete = true;
        return;
    }
    if (m->nslots != 0) {
        for (k = hash_pair(kind, scope, old_id, new_id) & (m->nslots - 1);
             m->slots[k] != 0; k = (k + 1) & (m->nslots - 1))
            if (same(m, &m->entries[m->slots[k] - 1], kind, scope, old_id,
                     new_id))
                return;
    }
    if (m->count[kind] >= OA_MAPPING_MAX_ROWS) {
        m->incomplete = true;
        return;
    }
    if (m->n == m->cap) {
        size_t cap = m->cap ? m->cap * 2 : 256;
        entry *grown = oa_realloc(m->entries, cap * sizeof(*grown));

        if (grown == NULL) {
            m->incomplete = true;
            return;
        }
        m->entries = grown;
        m->cap = cap;
    }
    if ((m->n + 1) * 2 > m->nslots && !rehash(m)) {
        m->incomplete = true;
        return;
    }
    e = &m->entries[m->n];
    if (!arena_put(m, old_id, lo, &e->old_off) ||
        !arena_put(m, new_id, ln, &e->new_off)) {
        m->incomplete = true;
        return;
    }
    e->kind = (uint8_t)kind;
    e->scope = scope;
    for (k = hash_pair(kind, scope, old_id, new_id) & (m->nslots - 1);
         m->slots[k] != 0; k = (k + 1) & (m->nslots - 1))
        ;
    m->slots[k] = (uint32_t)(++m->n);
    m->count[kind]++;
}

static const char *const kind_key[2] = {"Uids", "Patients"};

cJSON *oa_mapping_to_json(const oa_mapping *m, const char *const *scopes,
                          size_t nscopes)
{
    cJSON *root = cJSON_CreateObject(), *list, **rows = NULL;
    size_t i;

    if (root == NULL || m == NULL)
        goto nomem;
    if (cJSON_AddBoolToObject(root, "Complete", !m->incomplete) == NULL ||
        (list = cJSON_AddArrayToObject(root, "Studies")) == NULL)
        goto nomem;
    rows = oa_calloc(nscopes ? nscopes : 1, sizeof(*rows));
    if (rows == NULL)
        goto nomem;
    for (i = 0; i < m->n; i++) {
        const entry *e = &m->entries[i];
        cJSON *study, *arr, *pair;

        if (e->scope >= nscopes)
            continue;
        study = rows[e->scope];
        if (study == NULL) {
            study = rows[e->scope] = cJSON_CreateObject();
            if (study == NULL || !cJSON_AddItemToArray(list, study) ||
                cJSON_AddStringToObject(study, "Study",
                                        scopes[e->scope] ? scopes[e->scope]
                                                         : "") == NULL ||
                cJSON_AddArrayToObject(study, "Uids") == NULL ||
                cJSON_AddArrayToObject(study, "Patients") == NULL)
                goto nomem;
        }
        arr = cJSON_GetObjectItemCaseSensitive(study, kind_key[e->kind]);
        pair = cJSON_CreateArray();
        if (pair == NULL || !cJSON_AddItemToArray(arr, pair) ||
            !cJSON_AddItemToArray(pair,
                                  cJSON_CreateString(m->arena + e->old_off)) ||
            !cJSON_AddItemToArray(pair,
                                  cJSON_CreateString(m->arena + e->new_off)))
            goto nomem;
    }
    oa_free(rows);
    return root;
nomem:
    oa_free(rows);
    cJSON_Delete(root);
    return NULL;
}

oa_status oa_mapping_merge_json(oa_mapping *m, const cJSON *stored,
                                const char *study, bool *found,
                                oa_error *err)
{
    const cJSON *st, *v;
    unsigned kind;

    if (found != NULL)
        *found = false;
    if (!cJSON_IsObject(stored))
        return oa_error_set(err, OA_EPARSE, "the mapping is damaged");
    v = cJSON_GetObjectItemCaseSensitive(stored, "Complete");
    if (!cJSON_IsTrue(v))
        m->incomplete = true;
    cJSON_ArrayForEach(st, cJSON_GetObjectItemCaseSensitive(stored,
                                                            "Studies")) {
        const cJSON *id = cJSON_GetObjectItemCaseSensitive(st, "Study");

        if (study != NULL &&
            (!cJSON_IsString(id) || strcmp(id->valuestring, study) != 0))
            continue;
        if (found != NULL)
            *found = true;
        for (kind = 0; kind < 2; kind++) {
            const cJSON *pair;

            cJSON_ArrayForEach(pair, cJSON_GetObjectItemCaseSensitive(
                                         st, kind_key[kind])) {
                const cJSON *o = cJSON_GetArrayItem(pair, 0);
                const cJSON *n = cJSON_GetArrayItem(pair, 1);

                if (!cJSON_IsString(o) || !cJSON_IsString(n))
                    return oa_error_set(err, OA_EPARSE,
                                        "the mapping is damaged");
                oa_mapping_add(m, (oa_mapping_kind)kind, 0, o->valuestring,
                               n->valuestring);
            }
        }
    }
    return OA_OK;
}

oa_status oa_mapping_csv(const oa_mapping *m, oa_mapping_kind kind,
                         oa_buf *out, oa_error *err)
{
    oa_status rc;
    size_t i;

    oa_buf_init(out, ARENA_MAX + (size_t)OA_MAPPING_MAX_ROWS * 16 + 64);
    rc = oa_buf_append(out, "id_old,id_new\r\n", 15);
    for (i = 0; m != NULL && i < m->n && rc == OA_OK; i++) {
        const entry *e = &m->entries[i];

        if (e->kind != (uint8_t)kind)
            continue;
        rc = oa_csv_cell(out, m->arena + e->old_off);
        if (rc == OA_OK)
            rc = oa_buf_append_byte(out, ',');
        if (rc == OA_OK)
            rc = oa_csv_cell(out, m->arena + e->new_off);
        if (rc == OA_OK)
            rc = oa_buf_append(out, "\r\n", 2);
    }
    if (rc != OA_OK) {
        oa_buf_dispose(out);
        return oa_error_set(err, rc, "cannot write the CSV: %s",
                            oa_status_str(rc));
    }
    return OA_OK;
}
