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

/* ------------------------------------------------------------------ */
/* The ZIP writer's "fast" raw DEFLATE (deflate.c)                      */

typedef struct oa_deflater oa_deflater;

/* A compressor's tables (about 200 KB); NULL when out of memory.  One per
 * thread. */
oa_deflater *oa_deflater_new(void);
void oa_deflater_free(oa_deflater *d);
/* The most oa_deflate_fast can write for len bytes. */
size_t oa_deflate_fast_bound(size_t len);
/* in[0..len) as a raw DEFLATE stream (RFC 1951) into out[0..cap): its
 * length, or 0 when cap is too small (cap >= oa_deflate_fast_bound(len)
 * always is enough). */
size_t oa_deflate_fast(oa_deflater *d, const uint8_t *in, size_t len,
                       uint8_t *out, size_t cap);

/* ------------------------------------------------------------------ */
/* C-STORE SCU (dimse.c): one association per oa_scu                    */

#define OA_SCU_CONTEXTS_MAX 128          /* presentation contexts (odd ids) */
#define OA_SCU_MIN_PDU (16u * 1024u)     /* our maximum PDU: clamped to */
#define OA_SCU_MAX_PDU (1024u * 1024u)   /* 16 KB .. 1 MB */
#define OA_SCU_DEFAULT_PDU (256u * 1024u)
#define OA_SCU_DEFAULT_TIMEOUT 10u       /* Orthanc's DicomScuTimeout */
#define OA_SCU_COMMAND_MAX 256           /* a C-STORE-RQ command set */
#define OA_SCU_OFFENDING_MAX 8

typedef struct oa_scu_params {
    char name[128];          /* the Orthanc modality, for messages */
    char host[256];
    int port;
    char called_aet[17];     /* the modality's AET */
    char calling_aet[17];    /* its LocalAet, else Orthanc's DicomAet */
    unsigned timeout;        /* seconds for connect, each read, write;
                                0 = OA_SCU_DEFAULT_TIMEOUT */
    uint32_t max_pdu;        /* ours; 0 = OA_SCU_DEFAULT_PDU */
} oa_scu_params;

/* One presentation context: a (SOP class, transfer syntax) pair. */
typedef struct oa_scu_context {
    char sop_class[65];
    char transfer_syntax[65];
    uint8_t id;              /* 1, 3, 5 ... 255 */
    uint8_t result;          /* of the last A-ASSOCIATE-AC (0 accepted) */
    bool accepted;           /* with our transfer syntax */
} oa_scu_context;

/* What a Part 10 file's meta information group says. */
typedef struct oa_scu_file {
    char sop_class[65];
    char sop_instance[65];
    char transfer_syntax[65];
    size_t dataset_offset;   /* after the preamble and group 0002 */
} oa_scu_file;

typedef struct oa_scu_response {
    uint16_t command_field;
    uint16_t message_id;     /* (0000,0120): the request answered */
    uint16_t status;
    size_t offending_count;
    uint32_t offending[OA_SCU_OFFENDING_MAX];
} oa_scu_response;

typedef struct oa_scu oa_scu;

/* A new SCU, not associated yet (the first store associates). */
oa_status oa_scu_new(oa_scu **out, const oa_scu_params *p, oa_error *err);
/*
 * C-STORE the Part 10 file `data` (the data set after group 0002, in the
 * file's own transfer syntax), the `position`-th file of the export (for
 * messages).  Associates (again, with a context added) when needed, and
 * again when the SCP ended the association since the last store.
 * OA_OK also for the warning statuses B000, B006, B007 (logged).
 * OA_EUNSUPPORTED: the file cannot go this way as it is (no accepted
 * context, a meta group we do not follow): send it some other way.
 * OA_ENET: unreachable, rejected (transient), aborted, timed out, a
 * protocol error (the association is aborted; the next store opens a new
 * one) or status A7xx; OA_EAUTH: rejected (permanent); OA_EINVAL: another
 * failure status.
 */
oa_status oa_scu_store(oa_scu *s, const uint8_t *data, size_t len,
                       uint64_t position, oa_error *err);
/* A-RELEASE (nothing if not associated). */
oa_status oa_scu_release(oa_scu *s, oa_error *err);
/* A-ABORT, without waiting. */
void oa_scu_abort(oa_scu *s);
void oa_scu_free(oa_scu *s);
bool oa_scu_associated(const oa_scu *s);
uint64_t oa_scu_associations(const oa_scu *s);   /* opened so far */
uint32_t oa_scu_their_max(const oa_scu *s);      /* SCP's max PDU, 0 none */

/* The pieces, public for the unit tests and the fuzz target. */
/* The meta group of a Part 10 file; OA_EUNSUPPORTED when it is missing,
 * inconsistent, lacks a UID, or no data set of even length follows. */
oa_status oa_scu_meta(const uint8_t *data, size_t len, oa_scu_file *f,
                      oa_error *err);
size_t oa_scu_store_command(uint8_t out[OA_SCU_COMMAND_MAX],
                            const char *sop_class, const char *sop_instance,
                            uint16_t message_id);
oa_status oa_scu_parse_response(const uint8_t *cmd, size_t len,
                                oa_scu_response *r, oa_error *err);
/* The A-ASSOCIATE-RQ PDU into `out`; its length, 0 if `size` is short. */
size_t oa_scu_associate_rq(uint8_t *out, size_t size, const char *called,
                           const char *calling, uint32_t max_pdu,
                           const oa_scu_context *ctx, size_t nctx);
/* An A-ASSOCIATE-AC's body (after the 6-byte header): which of `ctx` are
 * accepted, and the SCP's maximum PDU (0: none given). */
oa_status oa_scu_parse_ac(const uint8_t *body, size_t len,
                          oa_scu_context *ctx, size_t nctx,
                          uint32_t *their_max, oa_error *err);

#endif
