#define _POSIX_C_SOURCE 200809L

#include "files.h"

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

bool read_whole(const char *path, uint8_t **out, size_t *len)
{
    FILE *fp = fopen(path, "rb");
    long n;

    *out = NULL;
    if (fp == NULL)
        return false;
    if (fseek(fp, 0, SEEK_END) != 0 || (n = ftell(fp)) < 0 ||
        fseek(fp, 0, SEEK_SET) != 0) {
        fclose(fp);
        return false;
    }
    *out = malloc((size_t)n + 1);
    if (*out == NULL || fread(*out, 1, (size_t)n, fp) != (size_t)n) {
        fclose(fp);
        free(*out);
        *out = NULL;
        return false;
    }
    fclose(fp);
    *len = (size_t)n;
    return true;
}

void find_corpus(char *corpus, size_t size, const char *source_dir)
{
    const char *env = getenv("OA_CORPUS");
    char probe[4096];

    if (env != NULL && env[0])
        snprintf(corpus, size, "%s", env);
    else
        snprintf(corpus, size, "%s/../shared/corpus", source_dir);
    snprintf(probe, sizeof(probe), "%s/INDEX.tsv", corpus);
    if (access(probe, R_OK) != 0) {
        printf("corpus not found (%s): its test is skipped\n", corpus);
        corpus[0] = '\0';
    }
}
