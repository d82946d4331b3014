/*
 * Private to rest/: the handlers the route table in rest.c points to.
 * One file per family of routes (info.c, later profiles.c, anonymize.c,
 * export.c, ...).  Each follows the handler contract of rest.h.
 */
#ifndef OA_REST_INT_H
#define OA_REST_INT_H

#include "rest.h"

/* GET /anonymizer/info (info.c) */
oa_status oa_rest_get_info(oa_host_output *out, const oa_rest_request *req,
                           oa_error *err);

#endif /* OA_REST_INT_H */
