/*
 * Private to rest/: the handlers the route table in rest.c points to,
 * one file per family of routes (route_*.c), and helpers they share.  Each handler
 * follows the handler contract of rest.h.
 */
#ifndef OA_REST_INT_H
#define OA_REST_INT_H

#include "rest.h"

#include <stdbool.h>

struct oa_service;

/* The process's service, or NULL with OA_EIO in `err` (still starting). */
struct oa_service *oa_rest_service(oa_error *err);

/*
 * The body as a JSON object.  An empty body gives *out = NULL when
 * `allow_empty`, else OA_EINVAL; invalid JSON OA_EPARSE; another JSON
 * type OA_EINVAL.  Caller frees *out.
 */
oa_status oa_rest_body_json(const oa_rest_request *req, bool allow_empty,
                            cJSON **out, oa_error *err);

/* Answer the JSON that `list` builds for the process's service (profile
 * names, destination names, the jobs list). */
oa_status oa_rest_answer_list(oa_host_output *out, const oa_rest_request *req,
                              oa_status (*list)(struct oa_service *,
                                                cJSON **, oa_error *),
                              oa_error *err);

/* Answer a submitted job: {"ID", "Path"} when `asynchronous`, else wait
 * for it and answer its content; a job that failed answers `failed_as`
 * (OA_EIO: 500, OA_ENET: 502 when the remote side failed) with the job's
 * error in Details. */
oa_status oa_rest_answer_job(oa_host_output *out, const char *job,
                             bool asynchronous, oa_status failed_as,
                             oa_error *err);

/* route_info.c: GET /anonymizer/info */
oa_status oa_rest_get_info(oa_host_output *out, const oa_rest_request *req,
                           oa_error *err);

/* route_profiles.c */
oa_status oa_rest_get_profiles(oa_host_output *out,
                               const oa_rest_request *req, oa_error *err);
oa_status oa_rest_profile(oa_host_output *out, const oa_rest_request *req,
                          oa_error *err);
oa_status oa_rest_profile_rules(oa_host_output *out,
                                const oa_rest_request *req, oa_error *err);

/* route_anonymize.c */
oa_status oa_rest_anonymize(oa_host_output *out, const oa_rest_request *req,
                            oa_error *err);
oa_status oa_rest_anonymize_resource(oa_host_output *out,
                                     const oa_rest_request *req,
                                     oa_error *err);
/* POST /anonymizer/copies */
oa_status oa_rest_copies(oa_host_output *out, const oa_rest_request *req,
                         oa_error *err);

/* route_reports.c */
oa_status oa_rest_get_reports(oa_host_output *out,
                              const oa_rest_request *req, oa_error *err);
oa_status oa_rest_get_report(oa_host_output *out, const oa_rest_request *req,
                             oa_error *err);
oa_status oa_rest_get_report_csv(oa_host_output *out,
                                 const oa_rest_request *req, oa_error *err);
/* GET /anonymizer/reports/{id}/uids.csv and patients.csv */
oa_status oa_rest_get_report_mapping(oa_host_output *out,
                                     const oa_rest_request *req,
                                     oa_error *err);
/* GET /anonymizer/jobs: the anonymizations and exports of every server */
oa_status oa_rest_get_jobs(oa_host_output *out, const oa_rest_request *req,
                           oa_error *err);

/* route_export.c */
oa_status oa_rest_export(oa_host_output *out, const oa_rest_request *req,
                         oa_error *err);
oa_status oa_rest_export_archive(oa_host_output *out,
                                 const oa_rest_request *req, oa_error *err);
oa_status oa_rest_get_destinations(oa_host_output *out,
                                   const oa_rest_request *req, oa_error *err);
oa_status oa_rest_destination(oa_host_output *out, const oa_rest_request *req,
                              oa_error *err);
oa_status oa_rest_destination_test(oa_host_output *out,
                                   const oa_rest_request *req, oa_error *err);

/* route_app.c: the web page */
/* The audit trail (route_audit.c). */
oa_status oa_rest_get_audit(oa_host_output *out, const oa_rest_request *req,
                            oa_error *err);
struct oa_audit_actor;
/* Who asked, from the request's headers. */
void oa_rest_actor(const oa_rest_request *req, struct oa_audit_actor *actor);
/* Append an entry of `kind` for this request (details taken); a failure
 * is logged. */
void oa_rest_audit(const oa_rest_request *req, const char *kind,
                   cJSON *details);

oa_status oa_rest_app(oa_host_output *out, const oa_rest_request *req,
                      oa_error *err);
oa_status oa_rest_app_redirect(oa_host_output *out,
                               const oa_rest_request *req, oa_error *err);

#endif /* OA_REST_INT_H */
