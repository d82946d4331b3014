/* Private to store/: helpers shared by the implementations. */
#ifndef OA_STORE_INT_H
#define OA_STORE_INT_H

#include "store.h"

/* Sort an array of keys (strcmp order). */
void oa_store_sort_keys(char **keys, size_t count);
/* The same, `times` (may be NULL) moved with their keys. */
void oa_store_sort_keyed(char **keys, int64_t *times, size_t count);

/* One (namespace, key) of an in-memory index (store_index.c). */
typedef struct oa_store_entry {
    char *ns, *key;
    char *value;         /* the memory store's value; NULL for props */
    int32_t number;      /* the property store's property number */
    int64_t written;     /* when the key was first written (us) */
    struct oa_store_entry *next;
} oa_store_entry;

/* A hash table of entries: O(1) find, add and remove. */
typedef struct oa_store_index {
    oa_store_entry **buckets;
    size_t nbuckets;     /* a power of two, or 0 */
    size_t count;
} oa_store_index;

void oa_store_index_init(oa_store_index *x);
void oa_store_index_dispose(oa_store_index *x);
/* NULL if absent. */
oa_store_entry *oa_store_index_find(const oa_store_index *x, const char *ns,
                                    const char *key);
/* A new entry (absent before; caller checked), or NULL: out of memory. */
oa_store_entry *oa_store_index_add(oa_store_index *x, const char *ns,
                                   const char *key);
bool oa_store_index_remove(oa_store_index *x, const char *ns,
                           const char *key);
/* The keys of `ns` sorted, with their times if `times`. */
oa_status oa_store_index_list(const oa_store_index *x, const char *ns,
                              char ***keys, int64_t **times, size_t *count,
                              oa_error *err);

#endif
