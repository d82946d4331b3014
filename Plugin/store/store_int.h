/* Private to store/: helpers shared by the implementations. */
#ifndef OA_STORE_INT_H
#define OA_STORE_INT_H

#include "store.h"

/* Sort an array of keys (strcmp order). */
void oa_store_sort_keys(char **keys, size_t count);

#endif
