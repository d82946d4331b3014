/*
 * The web page's files, embedded into the library at build time
 * (Resources/CMake/EmbedResources.cmake, from WebApp/), so that the .so is
 * the whole deployment.  Sorted by path.
 */
#ifndef OA_REST_RESOURCES_H
#define OA_REST_RESOURCES_H

#include <stddef.h>

typedef struct oa_resource {
    const char *path;            /* "index.html", "js/app.js" */
    const char *mime;
    const unsigned char *data;   /* NUL-terminated copy of the file */
    size_t size;
} oa_resource;

extern const oa_resource oa_resources[];
extern const size_t oa_resource_count;

/* The file at `path`, or NULL. */
const oa_resource *oa_resource_find(const char *path);

#endif
