/*
 * Test support: a whole file into memory; where the test corpus is.
 */
#ifndef OA_TEST_FILES_H
#define OA_TEST_FILES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The bytes of `path` into *out (malloc'd, one byte more than *len, the
 * caller frees) and *len; false (and *out NULL) when it cannot be read. */
bool read_whole(const char *path, uint8_t **out, size_t *len);

/* The test corpus into corpus[0..size): $OA_CORPUS, else
 * <source_dir>/../shared/corpus; "" (and a line saying its tests are
 * skipped) when it has no INDEX.tsv. */
void find_corpus(char *corpus, size_t size, const char *source_dir);

#endif
