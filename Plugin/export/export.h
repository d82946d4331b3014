/*
 * export: one interface for every place an export can go, one file per
 * backend (as curl's vtls/ and vssh/ are laid out).
 *
 * An export writes a tree of files
 *
 *     <name>/<Patient>/<Study>/<Series>/<SOPInstanceUID>.dcm
 *
 * and must arrive whole or not at all: a backend first writes under a
 * temporary name (<name>.partial, or <name>.zip.partial) and renames it
 * to <name> in finish(); abort() removes what was written.  The Orthanc
 * backends (DICOM C-STORE, Orthanc peer) send Orthanc instances instead of
 * bytes (put_orthanc), through Orthanc itself.
 *
 * Life of an exporter: open -> put... -> finish (or abort) -> free.  An
 * exporter is used by one thread.  Errors: OA_EAUTH when the server
 * refused the credentials or the host key (retrying cannot help), OA_ENET
 * when it could not be reached or failed in transit (worth a retry),
 * OA_EIO for the local file system, OA_EINVAL for a bad target (an
 * unknown host name included: no retry).  Messages
 * name hosts and paths of the destination, never a password or a DICOM
 * value.
 */
#ifndef OA_EXPORT_H
#define OA_EXPORT_H

#include "../core/core.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Where to export: a resolved destination.  Strings may be NULL. */
typedef struct oa_export_target {
    const char *type;          /* backend name: "zip", "ftp", ... */
    const char *url;           /* ftp(s)://, sftp://, http(s):// URL; for
                                  "folder" and "zip" an absolute folder */
    const char *username;
    const char *password;
    const char *private_key;   /* sftp: OpenSSH private key text */
    const char *known_hosts;   /* sftp: a known_hosts line */
    const char *host_key_sha256; /* sftp: base64 SHA-256 of the host key */
    const char *ca_file;       /* ftps, https: CA bundle to trust */
    const char *modality;      /* dicom: Orthanc modality name */
    const char *peer;          /* peer: Orthanc peer name */
    long timeout;              /* seconds for connecting; 0 = 30 */
    uint64_t max_archive;      /* zip: split above this size; 0 = 1 GiB */
    const char *compression;   /* zip: "store", "fast" (NULL), "best" */
    bool own_scu;              /* dicom: files (put) go through the
                                  plugin's C-STORE SCU, one association
                                  per export, not store-straight */
    const char *calling_aet;   /* dicom: Orthanc's DicomAet (NULL: ORTHANC) */
    unsigned scu_timeout;      /* dicom: Orthanc's DicomScuTimeout; 0: 10 */
} oa_export_target;

/* True for a zip target's "Compression": NULL, "store", "fast", "best". */
bool oa_export_compression_valid(const char *compression);

/* put() hints. */
#define OA_EXPORT_PUT_COMPRESSED 1u /* data is already compressed: store */

/* What an export produced (finish). */
typedef struct oa_export_result {
    char location[1024];        /* final folder, URL or archive path */
    size_t archive_count;       /* zip: the archives, in order */
    char **archive_paths;       /* absolute paths */
    uint64_t *archive_sizes;
} oa_export_result;

void oa_export_result_init(oa_export_result *r);
void oa_export_result_dispose(oa_export_result *r);

typedef struct oa_exporter oa_exporter;
typedef struct oa_export_backend oa_export_backend;

/* Every backend's exporter struct begins with this. */
struct oa_exporter {
    const oa_export_backend *backend;
};

typedef struct oa_export_ops {
    /* Connect, authenticate and check the destination folder without
     * writing anything. */
    oa_status (*test)(const oa_export_target *t, oa_error *err);
    /* Start the export `name` (a file name: no '/'): create <name>.partial. */
    oa_status (*open)(oa_exporter **out, const oa_export_target *t,
                      const char *name, oa_error *err);
    /* Write one file at `relpath` ('/'-separated, under <name>). */
    oa_status (*put)(oa_exporter *e, const char *relpath,
                     const uint8_t *data, size_t len, unsigned flags,
                     oa_error *err);
    /* Orthanc backends: send these Orthanc instances (NULL elsewhere). */
    oa_status (*put_orthanc)(oa_exporter *e, const char *const *ids,
                             size_t count, oa_error *err);
    /* Commit: rename <name>.partial to <name>; fill `res`. */
    oa_status (*finish)(oa_exporter *e, oa_export_result *res,
                        oa_error *err);
    /* Remove what was written (failure, cancel).  Best effort. */
    void (*abort)(oa_exporter *e);
    void (*free)(oa_exporter *e);
} oa_export_ops;

struct oa_export_backend {
    const char *name;           /* "zip", "folder", "ftp", ... */
    bool remote;                /* network: transient errors are retried */
    const oa_export_ops *ops;
};

/* The backends built in, NULL-terminated. */
extern const oa_export_backend *const oa_export_backends[];

/* A backend by name, or NULL. */
const oa_export_backend *oa_export_backend_find(const char *name);

/* Names of the backends ("zip", "folder", ...), for GET /anonymizer/info. */
size_t oa_export_backend_names(const char **names, size_t max);

/* ------------------------------------------------------------------ */
/* The Orthanc backends (orthanc.c)                                     */

/*
 * DICOM C-STORE to a modality and transfer to an Orthanc peer go through
 * Orthanc's own REST API.  The plugin gives the functions for it at
 * start-up (orthanc/host.c's); unit tests give their own.  Until then
 * these backends fail with OA_EINVAL ("only inside Orthanc").
 */
struct cJSON;

typedef struct oa_export_orthanc_host {
    /*
     * GET (post = false) or POST `body` to Orthanc's REST API `uri`: as
     * oa_host_rest() (OA_OK whenever Orthanc answered, the HTTP status in
     * *http_status, the body appended to `answer` when not NULL).
     */
    oa_status (*call)(bool post, const char *uri, const void *body,
                      size_t body_size, oa_buf *answer,
                      uint16_t *http_status, oa_error *err);
    /* GET `uri` as JSON: as oa_host_rest_get_json() (OA_ENOTFOUND on
     * 404).  Caller frees *out with cJSON_Delete(). */
    oa_status (*get_json)(const char *uri, struct cJSON **out,
                          oa_error *err);
    /* GET `uri` on the Orthanc peer `name`: as oa_host_peer_get(). */
    oa_status (*peer_get)(const char *name, const char *uri,
                          unsigned timeout, uint16_t *http_status,
                          oa_error *err);
    /* The DICOM file `data` transcoded by Orthanc into `transfer_syntax`,
     * appended to `out`: as oa_host_transcode() (OA_EUNSUPPORTED when
     * Orthanc cannot).  May be NULL. */
    oa_status (*transcode)(const uint8_t *data, size_t len,
                           const char *transfer_syntax, oa_buf *out,
                           oa_error *err);
} oa_export_orthanc_host;

/* Set (copied) or clear (NULL) the host functions.  Once, at start-up,
 * before any export. */
void oa_export_orthanc_set_host(const oa_export_orthanc_host *host);

/* Not in oa_export_backends[]: they exist only inside Orthanc. */
extern const oa_export_backend oa_export_backend_dicom;
extern const oa_export_backend oa_export_backend_peer;

/* OA_EINVAL unless Orthanc knows the modality (peer = false) or the peer
 * `name`. */
oa_status oa_export_orthanc_check(bool peer, const char *name, oa_error *err);

/* ------------------------------------------------------------------ */
/* Helpers shared by backends and jobs                                  */

/*
 * A DICOM value made into one path component: only A-Z a-z 0-9 . _ -,
 * others become '_', no leading '.', at most `max` - 1 bytes, never
 * empty ("unknown").  `in` need not be NUL-terminated.
 */
void oa_export_sanitize(char *out, size_t max, const char *in, size_t len);

/*
 * True for a relative path that stays below its root: '/'-separated
 * components, none empty, ".", ".." or starting with '.', and nothing
 * but A-Z a-z 0-9 . _ - and spaces in them.
 */
bool oa_export_relpath_is_safe(const char *path);

/* A destination's URL split up (RFC 3986 authority; no copy of any
 * user name or password it may carry). */
typedef struct oa_export_url {
    char scheme[16];            /* lower case: "ftp", "sftp", "https" */
    char host[256];             /* lower case; an IPv6 address in [] */
    int port;                   /* as written, else the scheme's default
                                   (0 if the scheme has none) */
    bool has_userinfo;          /* "user[:password]@" before the host */
    size_t path_off;            /* offset of the path ('/', '?', '#' or
                                   the end) in the URL */
} oa_export_url;

/*
 * Parse `url` "scheme://[userinfo@]host[:port][/path]".  The authority
 * ends at the first '/', '?' or '#' after "://"; the user info ends at
 * the LAST '@' of the authority (a password may hold '@').  The host is
 * letters, digits, '-', '.', '_' or a bracketed IPv6 address; the port
 * 1 to 65535.  OA_EINVAL says what is wrong, never quoting the URL.
 */
oa_status oa_export_url_parse(const char *url, oa_export_url *u,
                              oa_error *err);

/*
 * `url` without its user info, for logs and messages: "scheme://host
 * [:port]" plus the path (without query or fragment) if `keep_path`.
 * Something that is not a URL becomes "(a URL)" if it holds an '@'.
 * Always NUL-terminates `out` (size >= 1).
 */
void oa_export_url_redact(const char *url, bool keep_path, char *out,
                          size_t size);

/* mkdir -p of `path` (absolute) with mode 0755.  OA_EIO names it. */
oa_status oa_export_mkdirs(const char *path, oa_error *err);

/*
 * The archive folder of ZIP exports (issue 12, defect 4): created 0700
 * if missing (with its missing parents), then refused unless it is a
 * real folder (not a symbolic link) owned by this process's user and not
 * writable by every user, in a parent that no other user may rename it
 * out of (not world-writable without the sticky bit).  Checked at
 * start-up, before each ZIP export and each download.  OA_EIO says what
 * is wrong and what to do.
 */
oa_status oa_export_archive_folder_check(const char *path, oa_error *err);

/* rm -r of `path`; best effort, never follows symbolic links. */
void oa_export_remove_tree(const char *path);

/* True if `data` is a DICOM file whose pixel data is compressed
 * (encapsulated transfer syntax): deflating it again wins nothing. */
bool oa_export_is_compressed_dicom(const uint8_t *data, size_t len);

/*
 * The answer of a STOW-RS server (DICOM JSON, PS3.18 10.5.3) to `sent`
 * instances: OA_OK unless its Failed SOP Sequence (0008,1198) lists some;
 * then OA_EIO naming how many, the first three SOP Instance UIDs (new
 * UIDs) and their Failure Reason.  An empty or non-JSON body is OA_OK
 * (the HTTP status decides).  stow.c; public for its unit test.
 */
oa_status oa_export_stow_answer(const char *body, size_t len, size_t sent,
                                oa_error *err);

/* ------------------------------------------------------------------ */
/* DICOMDIR (dicomdir.c)                                                */

/*
 * The directory of a File-set on General Purpose media (PS3.10, PS3.3
 * Annex F): PATIENT, STUDY, SERIES records and one leaf per file, whose
 * record type follows its SOP class (IMAGE, SR DOCUMENT, RT DOSE, ...).
 * Add every file with the File ID it has in the File-set, then write.
 * The keys of each record are copied from the files; the DICOMDIR is an
 * explicit VR little endian Part 10 file, to be stored as "DICOMDIR" at
 * the File-set's root.  Bounded: 2,000,000 records, 1 MiB of keys per
 * record, a directory below 4 GiB (its offsets are 32 bits).
 */
typedef struct oa_dicomdir oa_dicomdir;

#define OA_DICOMDIR_FILE_ID_MAX 48

oa_status oa_dicomdir_new(oa_dicomdir **out);
void oa_dicomdir_free(oa_dicomdir *d);
/* Records so far (patients, studies, series and files). */
size_t oa_dicomdir_count(const oa_dicomdir *d);

/* "DICOM/P0000001/S0000002/S0000003/I0000004": the File ID of the
 * `instance`-th file of the `series`-th series of ... (numbers from 1). */
void oa_dicomdir_file_id(char out[OA_DICOMDIR_FILE_ID_MAX], unsigned patient,
                         unsigned study, unsigned series, unsigned instance);

/* True for a File ID of PS3.10 8.2 / PS3.12 (General Purpose media): 1 to
 * 8 '/'-separated components of 1 to 8 characters A-Z, 0-9, _. */
bool oa_dicomdir_file_id_ok(const char *file_id);

/* The record type of an instance of `sop_class_uid` below a series
 * ("IMAGE" for any class the table does not list), or NULL for a class
 * whose record is top-level (hanging protocols, palettes, implants). */
const char *oa_dicomdir_record_type(const char *sop_class_uid);

/*
 * Add the Part 10 file `data` (`len` bytes) stored at `file_id`, or, when
 * `file_id` is NULL, at the File ID this gives it (oa_dicomdir_file_id()
 * of its patient's, study's, series' and its own rank, in the order of
 * arrival), copied to `assigned` (may be NULL).  Its keys are read up to
 * (300A,0007) (the pixel data is not read).
 * OA_EINVAL for a bad File ID or a file without SOP Class/Instance UID,
 * OA_EUNSUPPORTED for a top-level SOP class, OA_ELIMIT past the ceilings,
 * OA_EPARSE for a file the reader refuses; `err` names the file ID and
 * tags, never a value.
 */
oa_status oa_dicomdir_add(oa_dicomdir *d, const char *file_id,
                          const uint8_t *data, size_t len,
                          char assigned[OA_DICOMDIR_FILE_ID_MAX],
                          oa_error *err);

/* Append the DICOMDIR to `out`.  `fileset_id` (may be NULL): the File-set
 * ID, upper-cased, other characters than A-Z 0-9 space made '_', cut at
 * 16.  The File-set's UID is derived from its SOP Instance UIDs. */
oa_status oa_dicomdir_write(oa_dicomdir *d, const char *fileset_id,
                            oa_buf *out, oa_error *err);

#ifdef __cplusplus
}
#endif
#endif /* OA_EXPORT_H */
