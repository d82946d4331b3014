/* Private to export/: the backends and helpers shared between them. */
#ifndef OA_EXPORT_INT_H
#define OA_EXPORT_INT_H

#include "export.h"

extern const oa_export_backend oa_export_backend_zip;
extern const oa_export_backend oa_export_backend_folder;
extern const oa_export_backend oa_export_backend_ftp;
extern const oa_export_backend oa_export_backend_ftps;
extern const oa_export_backend oa_export_backend_sftp;
extern const oa_export_backend oa_export_backend_webdav;
extern const oa_export_backend oa_export_backend_stow;

/* Default connect timeout (seconds) when a target gives none. */
#define OA_EXPORT_DEFAULT_TIMEOUT 30L

/* "a/b" + "/" + "c" into a new string (oa_free). NULL when out of memory. */
char *oa_export_join(const char *a, const char *b);

#endif
