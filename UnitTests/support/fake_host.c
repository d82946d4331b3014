/*
 * The fake Orthanc (fake_host.h): every function of Plugin/orthanc/host.h
 * over in-memory state, with the behaviour of Orthanc 1.10.1 as the
 * plugin sees it through host.c.
 *
 * One mutex guards the state.  It is never held while the plugin runs:
 * the dispatcher and the job callbacks are called with it released (they
 * call back into the fake).  A job's callbacks are serialized by its own
 * `run` mutex, as Orthanc runs one job on one thread.
 */
#define _POSIX_C_SOURCE 200809L

#include "fake_host.h"

#include "dicom/dicom.h"

#include <openssl/sha.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define MAX_FAULTS 16
#define MAX_REMOTES 16
#define MAX_JOBS 256
#define VALUE_MAX 80

/* ------------------------------------------------------------------ */
/* State                                                                */

/* The main DICOM tags Orthanc indexes, by level. */
enum {
    T_PATIENT_ID, T_PATIENT_NAME, T_PATIENT_BIRTH, T_PATIENT_SEX,
    T_STUDY_UID, T_STUDY_DATE, T_STUDY_TIME, T_STUDY_DESC, T_ACCESSION,
    T_STUDY_ID, T_SERIES_UID, T_MODALITY, T_SERIES_NUMBER, T_SERIES_DESC,
    T_SOP_UID, T_INSTANCE_NUMBER, T_COUNT
};

static const struct {
    uint32_t tag;
    const char *name;
} main_tags[T_COUNT] = {
    {0x00100020, "PatientID"},         {0x00100010, "PatientName"},
    {0x00100030, "PatientBirthDate"},  {0x00100040, "PatientSex"},
    {0x0020000D, "StudyInstanceUID"},  {0x00080020, "StudyDate"},
    {0x00080030, "StudyTime"},         {0x00081030, "StudyDescription"},
    {0x00080050, "AccessionNumber"},   {0x00200010, "StudyID"},
    {0x0020000E, "SeriesInstanceUID"}, {0x00080060, "Modality"},
    {0x00200011, "SeriesNumber"},      {0x0008103E, "SeriesDescription"},
    {0x00080018, "SOPInstanceUID"},    {0x00200013, "InstanceNumber"},
};

typedef struct instance {
    char id[FAKE_ID_SIZE], series[FAKE_ID_SIZE], study[FAKE_ID_SIZE],
        patient[FAKE_ID_SIZE];
    char tags[T_COUNT][VALUE_MAX];
    uint8_t *data;
    size_t len;
    unsigned seq;          /* arrival order */
    struct instance *next;
} instance;

typedef struct keyval {   /* a property, metadata or attachment */
    char *key;
    char *value;
    struct keyval *next;
} keyval;

typedef struct remote {
    char name[64];
    bool peer;
    uint16_t status;       /* peers: 0 unreachable; modalities: 200/0 */
    size_t received;
} remote;

typedef struct fault {
    unsigned op;
    char prefix[160];
    uint16_t status;
    unsigned skip, count;  /* count 0: forever */
} fault;

typedef struct fake_job {
    char id[64];
    const oa_host_job_ops *ops;
    void *job;
    int priority;
    fake_job_state state;
    bool started;          /* stepped since the last (re)start */
    bool finalized;
    char error[128];
    int error_code;
    pthread_mutex_t run;   /* one callback at a time */
} fake_job;

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;

static struct {
    instance *instances;
    unsigned seq;
    keyval *properties;
    keyval *attachments;   /* "/studies/{id}/metadata/1025" -> value */
    remote remotes[MAX_REMOTES];
    size_t nremotes;
    fault faults[MAX_FAULTS];
    size_t nfaults;
    unsigned fired;
    char *configuration;
    fake_job *jobs[MAX_JOBS];
    size_t njobs;
    bool auto_run;
    unsigned uuid_counter;
    unsigned dicom_delay_ms;
    oa_buf logs;
    bool logs_ready;

    /* what the plugin installed */
    oa_host_rest_fn rest_fn;
    void *rest_user;
    char *route;
    oa_host_job_unserializer unserializer;
    oa_host_change_fn change_fn;
    bool initialized;

    /* OrthancStopped signalled: the calls into the fake since then */
    bool stopped;
    unsigned calls_since_stopped;
} fake = {.auto_run = true};

/* Under the lock: a call into Orthanc (counted once it is stopping). */
static void note_call_locked(void)
{
    if (fake.stopped)
        fake.calls_since_stopped++;
}

/* ------------------------------------------------------------------ */
/* Small helpers                                                        */

static char *xstrdup(const char *s)
{
    size_t n = strlen(s) + 1;
    char *p = malloc(n);

    if (p == NULL) {
        fprintf(stderr, "fake_host: out of memory\n");
        abort();
    }
    memcpy(p, s, n);
    return p;
}

static void kv_set(keyval **list, const char *key, const char *value)
{
    keyval *kv;

    for (kv = *list; kv != NULL; kv = kv->next)
        if (strcmp(kv->key, key) == 0) {
            free(kv->value);
            kv->value = xstrdup(value);
            return;
        }
    kv = calloc(1, sizeof(*kv));
    if (kv == NULL)
        abort();
    kv->key = xstrdup(key);
    kv->value = xstrdup(value);
    kv->next = *list;
    *list = kv;
}

static const char *kv_get(keyval *list, const char *key)
{
    for (; list != NULL; list = list->next)
        if (strcmp(list->key, key) == 0)
            return list->value;
    return NULL;
}

/* Remove `key`, or every key starting with `key` when `prefix`. */
static bool kv_remove(keyval **list, const char *key, bool prefix)
{
    bool removed = false;

    while (*list != NULL) {
        keyval *kv = *list;

        if (prefix ? strncmp(kv->key, key, strlen(key)) == 0
                   : strcmp(kv->key, key) == 0) {
            *list = kv->next;
            free(kv->key);
            free(kv->value);
            free(kv);
            removed = true;
        } else {
            list = &kv->next;
        }
    }
    return removed;
}

static void kv_free(keyval **list)
{
    kv_remove(list, "", true);
}

/* Under the lock. */
static void log_line(char level, const char *msg)
{
    if (!fake.logs_ready) {
        oa_buf_init(&fake.logs, (size_t)64 << 20);
        fake.logs_ready = true;
    }
    (void)oa_buf_printf(&fake.logs, "%c: %s\n", level, msg);
    if (getenv("FAKE_HOST_VERBOSE") != NULL)
        fprintf(stderr, "[plugin] %c: %s\n", level, msg);
}

/* The fault for (op, uri), counted, or NULL.  Under the lock. */
static const fault *fault_for(unsigned op, const char *uri)
{
    size_t i;

    for (i = 0; i < fake.nfaults; i++) {
        fault *f = &fake.faults[i];

        if ((f->op & op) == 0 ||
            strncmp(uri, f->prefix, strlen(f->prefix)) != 0)
            continue;
        if (f->skip > 0) {
            f->skip--;
            continue;
        }
        if (f->count == (unsigned)-1)
            continue;   /* used up */
        if (f->count > 0 && --f->count == 0)
            f->count = (unsigned)-1;
        fake.fired++;
        return f;
    }
    return NULL;
}

/* ------------------------------------------------------------------ */
/* IDs and DICOM                                                        */

void fake_host_orthanc_id(char out[FAKE_ID_SIZE], const char *const *uids,
                          size_t n)
{
    unsigned char md[SHA_DIGEST_LENGTH];
    oa_buf b;
    size_t i, k = 0;

    oa_buf_init(&b, 4096);
    for (i = 0; i < n; i++)
        (void)oa_buf_printf(&b, "%s%s", i ? "|" : "", uids[i]);
    SHA1(oa_buf_data(&b), b.len, md);
    oa_buf_dispose(&b);
    for (i = 0; i < SHA_DIGEST_LENGTH; i++) {
        if (i > 0 && i % 4 == 0)
            out[k++] = '-';
        snprintf(out + k, 3, "%02x", md[i]);
        k += 2;
    }
    out[k] = '\0';
}

typedef struct tag_reader {
    char (*tags)[VALUE_MAX];
    uint32_t want;           /* one more tag to read, for /content */
    char *wanted;
    size_t wanted_size;
    bool found;
} tag_reader;

static oa_status read_element(void *user, const oa_element *el,
                              oa_error *err)
{
    tag_reader *r = user;
    size_t i, n;

    (void)err;
    if (el->depth != 0 || el->value == NULL)
        return OA_OK;
    n = oa_value_trim(el->value, el->length);
    if (r->want != 0 && el->tag == r->want) {
        size_t m = n < r->wanted_size - 1 ? n : r->wanted_size - 1;

        memcpy(r->wanted, el->value, m);
        r->wanted[m] = '\0';
        r->found = true;
    }
    if (r->tags == NULL)
        return OA_OK;
    for (i = 0; i < T_COUNT; i++) {
        if (main_tags[i].tag == el->tag) {
            size_t m = n < VALUE_MAX - 1 ? n : VALUE_MAX - 1;

            memcpy(r->tags[i], el->value, m);
            r->tags[i][m] = '\0';
        }
    }
    return OA_OK;
}

static oa_status parse_tags(const uint8_t *data, size_t len, tag_reader *r,
                            oa_error *err)
{
    oa_dicom_handler h;

    memset(&h, 0, sizeof(h));
    h.element = read_element;
    h.user = r;
    return oa_dicom_parse(data, len, NULL, &h, NULL, err);
}

static instance *find_instance(const char *id)
{
    instance *in;

    for (in = fake.instances; in != NULL; in = in->next)
        if (strcmp(in->id, id) == 0)
            return in;
    return NULL;
}

/* Under the lock.  *status 200 or 400; the answer JSON in `answer`. */
static uint16_t store_locked(const uint8_t *data, size_t len,
                             char id[FAKE_ID_SIZE], oa_buf *answer)
{
    char tags[T_COUNT][VALUE_MAX];
    const char *uids[4];
    tag_reader r;
    instance *in;
    oa_error err;
    bool already;

    memset(tags, 0, sizeof(tags));
    memset(&r, 0, sizeof(r));
    r.tags = tags;
    oa_error_clear(&err);
    if (data == NULL || len == 0 || parse_tags(data, len, &r, &err) != OA_OK ||
        tags[T_STUDY_UID][0] == '\0' || tags[T_SERIES_UID][0] == '\0' ||
        tags[T_SOP_UID][0] == '\0') {
        if (answer != NULL)
            (void)oa_buf_printf(answer,
                                "{\"HttpStatus\": 400, \"Message\": \"Bad "
                                "file format\", \"OrthancStatus\": 15}");
        return 400;
    }
    in = calloc(1, sizeof(*in));
    if (in == NULL)
        abort();
    memcpy(in->tags, tags, sizeof(tags));
    uids[0] = tags[T_PATIENT_ID];
    uids[1] = tags[T_STUDY_UID];
    uids[2] = tags[T_SERIES_UID];
    uids[3] = tags[T_SOP_UID];
    fake_host_orthanc_id(in->patient, uids, 1);
    fake_host_orthanc_id(in->study, uids, 2);
    fake_host_orthanc_id(in->series, uids, 3);
    fake_host_orthanc_id(in->id, uids, 4);
    already = find_instance(in->id) != NULL;
    if (already) {
        free(in);   /* Orthanc keeps the first copy */
    } else {
        in->data = malloc(len);
        if (in->data == NULL)
            abort();
        memcpy(in->data, data, len);
        in->len = len;
        in->seq = fake.seq++;
        in->next = fake.instances;
        fake.instances = in;
    }
    {
        char iid[FAKE_ID_SIZE], pid[FAKE_ID_SIZE], stid[FAKE_ID_SIZE],
            seid[FAKE_ID_SIZE];

        fake_host_orthanc_id(iid, uids, 4);
        fake_host_orthanc_id(pid, uids, 1);
        fake_host_orthanc_id(stid, uids, 2);
        fake_host_orthanc_id(seid, uids, 3);
        if (id != NULL)
            snprintf(id, FAKE_ID_SIZE, "%s", iid);
        if (answer != NULL)
            (void)oa_buf_printf(
                answer,
                "{\"ID\": \"%s\", \"ParentPatient\": \"%s\", "
                "\"ParentSeries\": \"%s\", \"ParentStudy\": \"%s\", "
                "\"Path\": \"/instances/%s\", \"Status\": \"%s\"}",
                iid, pid, seid, stid, iid,
                already ? "AlreadyStored" : "Success");
    }
    return 200;
}

uint16_t fake_host_store(const uint8_t *dicom, size_t len,
                         char id[FAKE_ID_SIZE])
{
    uint16_t status;

    pthread_mutex_lock(&lock);
    status = store_locked(dicom, len, id, NULL);
    pthread_mutex_unlock(&lock);
    return status;
}

size_t fake_host_instance_count(void)
{
    instance *in;
    size_t n = 0;

    pthread_mutex_lock(&lock);
    for (in = fake.instances; in != NULL; in = in->next)
        n++;
    pthread_mutex_unlock(&lock);
    return n;
}

bool fake_host_instance_data(const char *id, uint8_t **data, size_t *len)
{
    instance *in;
    bool ok = false;

    *data = NULL;
    *len = 0;
    pthread_mutex_lock(&lock);
    in = find_instance(id);
    if (in != NULL) {
        *data = malloc(in->len);
        if (*data == NULL)
            abort();
        memcpy(*data, in->data, in->len);
        *len = in->len;
        ok = true;
    }
    pthread_mutex_unlock(&lock);
    return ok;
}

/* ------------------------------------------------------------------ */
/* Resources as Orthanc answers them                                    */

enum level { L_PATIENT, L_STUDY, L_SERIES, L_INSTANCE };

static const char *level_id(const instance *in, enum level l)
{
    switch (l) {
    case L_PATIENT: return in->patient;
    case L_STUDY: return in->study;
    case L_SERIES: return in->series;
    case L_INSTANCE:
    default: return in->id;
    }
}

/* The first instance of the resource (id, level), or NULL. */
static const instance *any_instance(const char *id, enum level l)
{
    const instance *in;

    for (in = fake.instances; in != NULL; in = in->next)
        if (strcmp(level_id(in, l), id) == 0)
            return in;
    return NULL;
}

static void add_tags(cJSON *obj, const char *name, const instance *in,
                     int first, int last)
{
    cJSON *t = cJSON_AddObjectToObject(obj, name);
    int i;

    for (i = first; i <= last; i++)
        if (in->tags[i][0] != '\0' || i == T_PATIENT_ID)
            cJSON_AddStringToObject(t, main_tags[i].name, in->tags[i]);
}

/* IDs of the children (level l + 1) of (id, l), in arrival order. */
static cJSON *children(const char *id, enum level l)
{
    cJSON *list = cJSON_CreateArray();
    const instance *in;
    unsigned best;

    /* walk in arrival order: repeatedly take the oldest not listed yet */
    for (;;) {
        const instance *pick = NULL;

        best = (unsigned)-1;
        for (in = fake.instances; in != NULL; in = in->next) {
            const cJSON *have;
            bool listed = false;

            if (strcmp(level_id(in, l), id) != 0 || in->seq >= best)
                continue;
            cJSON_ArrayForEach(have, list)
                listed |= strcmp(have->valuestring,
                                 level_id(in, (enum level)(l + 1))) == 0;
            if (!listed) {
                pick = in;
                best = in->seq;
            }
        }
        if (pick == NULL)
            break;
        cJSON_AddItemToArray(
            list, cJSON_CreateString(level_id(pick, (enum level)(l + 1))));
    }
    return list;
}

static cJSON *resource_json(const char *id, enum level l)
{
    const instance *in = any_instance(id, l);
    cJSON *o;

    if (in == NULL)
        return NULL;
    o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "ID", id);
    cJSON_AddBoolToObject(o, "IsStable", 1);
    cJSON_AddStringToObject(o, "LastUpdate", "20261126T101500");
    switch (l) {
    case L_PATIENT:
        cJSON_AddStringToObject(o, "Type", "Patient");
        add_tags(o, "MainDicomTags", in, T_PATIENT_ID, T_PATIENT_SEX);
        cJSON_AddItemToObject(o, "Studies", children(id, l));
        break;
    case L_STUDY:
        cJSON_AddStringToObject(o, "Type", "Study");
        cJSON_AddStringToObject(o, "ParentPatient", in->patient);
        add_tags(o, "MainDicomTags", in, T_STUDY_UID, T_STUDY_ID);
        add_tags(o, "PatientMainDicomTags", in, T_PATIENT_ID, T_PATIENT_SEX);
        cJSON_AddItemToObject(o, "Series", children(id, l));
        break;
    case L_SERIES:
        cJSON_AddStringToObject(o, "Type", "Series");
        cJSON_AddStringToObject(o, "ParentStudy", in->study);
        add_tags(o, "MainDicomTags", in, T_SERIES_UID, T_SERIES_DESC);
        cJSON_AddItemToObject(o, "Instances", children(id, l));
        cJSON_AddNullToObject(o, "ExpectedNumberOfInstances");
        cJSON_AddStringToObject(o, "Status", "Unknown");
        break;
    case L_INSTANCE:
        cJSON_AddStringToObject(o, "Type", "Instance");
        cJSON_AddStringToObject(o, "ParentSeries", in->series);
        add_tags(o, "MainDicomTags", in, T_SOP_UID, T_INSTANCE_NUMBER);
        cJSON_AddNumberToObject(o, "FileSize", (double)in->len);
        cJSON_AddStringToObject(o, "FileUuid", in->id);
        cJSON_AddNumberToObject(o, "IndexInSeries",
                                atoi(in->tags[T_INSTANCE_NUMBER]));
        break;
    }
    return o;
}

/* Remove every instance of (id, l) and what hangs on removed studies. */
static bool delete_resource(const char *id, enum level l)
{
    instance **p = &fake.instances;
    bool removed = false;

    while (*p != NULL) {
        instance *in = *p;

        if (strcmp(level_id(in, l), id) == 0) {
            char study[FAKE_ID_SIZE];

            *p = in->next;
            snprintf(study, sizeof(study), "%s", in->study);
            free(in->data);
            free(in);
            removed = true;
            if (any_instance(study, L_STUDY) == NULL) {
                char key[96];

                snprintf(key, sizeof(key), "/studies/%s/", study);
                kv_remove(&fake.attachments, key, true);
            }
        } else {
            p = &in->next;
        }
    }
    return removed;
}

/* ------------------------------------------------------------------ */
/* The REST API                                                         */

typedef struct call {
    oa_http_method method;
    const char *uri;
    const void *body;
    size_t body_size;
    oa_buf out;           /* answer body */
    uint16_t status;
} call;

static void answer_json(call *c, cJSON *json)
{
    char *text = cJSON_PrintUnformatted(json);

    if (text != NULL)
        (void)oa_buf_append(&c->out, text, strlen(text));
    cJSON_free(text);
    cJSON_Delete(json);
    c->status = 200;
}

static void answer_error(call *c, uint16_t status, const char *message)
{
    oa_buf_reset(&c->out);
    (void)oa_buf_printf(&c->out,
                        "{\"HttpStatus\": %u, \"Message\": \"%s\", "
                        "\"Details\": \"\", \"Method\": \"%s\", "
                        "\"Uri\": \"%s\"}",
                        (unsigned)status, message,
                        oa_http_method_name(c->method), c->uri);
    c->status = status;
}

static remote *find_remote(const char *name, bool peer)
{
    size_t i;

    for (i = 0; i < fake.nremotes; i++)
        if (fake.remotes[i].peer == peer &&
            strcmp(fake.remotes[i].name, name) == 0)
            return &fake.remotes[i];
    return NULL;
}

static fake_job *find_job(const char *id)
{
    size_t i;

    for (i = 0; i < fake.njobs; i++)
        if (strcmp(fake.jobs[i]->id, id) == 0)
            return fake.jobs[i];
    return NULL;
}

/* Split "/a/b/c" into at most `max` segments (copied into `storage`). */
static size_t split(const char *uri, char *storage, size_t size, char **seg,
                    size_t max)
{
    size_t n = 0;
    char *p, *save = NULL;

    snprintf(storage, size, "%s", uri);
    for (p = strtok_r(storage, "/", &save); p != NULL && n < max;
         p = strtok_r(NULL, "/", &save))
        seg[n++] = p;
    return p == NULL ? n : max + 1;
}

static bool level_of(const char *s, enum level *l)
{
    if (strcmp(s, "patients") == 0)
        *l = L_PATIENT;
    else if (strcmp(s, "studies") == 0)
        *l = L_STUDY;
    else if (strcmp(s, "series") == 0)
        *l = L_SERIES;
    else if (strcmp(s, "instances") == 0)
        *l = L_INSTANCE;
    else
        return false;
    return true;
}

static cJSON *job_json(const fake_job *j);

/* Job operations that need the plugin: with the lock released. */
static void job_action(call *c, const char *id, const char *action);
static void job_get(call *c, const char *id);

/* Under the lock; may release it (jobs).  Fills c->status and c->out. */
static void dispatch_call(call *c)
{
    char storage[512], *seg[8];
    size_t n = split(c->uri, storage, sizeof(storage), seg, 7);
    enum level l;
    bool get = c->method == OA_HTTP_GET;

    c->status = 404;
    if (n == 0 || n > 7) {
        answer_error(c, 404, "Unknown resource");
        return;
    }
    /* /system */
    if (n == 1 && strcmp(seg[0], "system") == 0 && get) {
        cJSON *o = cJSON_CreateObject();

        cJSON_AddStringToObject(o, "Version", "1.10.1");
        cJSON_AddStringToObject(o, "Name", "FakeOrthanc");
        cJSON_AddNumberToObject(o, "ApiVersion", 16);
        answer_json(c, o);
        return;
    }
    /* POST /instances */
    if (n == 1 && strcmp(seg[0], "instances") == 0 &&
        c->method == OA_HTTP_POST) {
        c->status = store_locked(c->body, c->body_size, NULL, &c->out);
        return;
    }
    /* GET /patients, /studies, ...: every ID of the level */
    if (n == 1 && level_of(seg[0], &l) && get) {
        cJSON *list = cJSON_CreateArray();
        const instance *in;

        for (in = fake.instances; in != NULL; in = in->next) {
            const cJSON *have;
            bool seen = false;

            cJSON_ArrayForEach(have, list)
                seen |= strcmp(have->valuestring, level_id(in, l)) == 0;
            if (!seen)
                cJSON_AddItemToArray(list,
                                     cJSON_CreateString(level_id(in, l)));
        }
        answer_json(c, list);
        return;
    }
    if (n >= 2 && level_of(seg[0], &l)) {
        const instance *in = any_instance(seg[1], l);

        if (in == NULL) {
            answer_error(c, 404, "Unknown resource");
            return;
        }
        if (n == 2 && get) {
            answer_json(c, resource_json(seg[1], l));
            return;
        }
        if (n == 2 && c->method == OA_HTTP_DELETE) {
            cJSON *o = cJSON_CreateObject();

            delete_resource(seg[1], l);
            cJSON_AddNullToObject(o, "RemainingAncestor");
            answer_json(c, o);
            return;
        }
        /* /studies/{id}/series, /series/{id}/instances, ... */
        if (n == 3 && get && l != L_INSTANCE) {
            enum level child;

            if (level_of(seg[2], &child) && child == l + 1) {
                cJSON *ids = children(seg[1], l), *list = cJSON_CreateArray();
                const cJSON *id;

                cJSON_ArrayForEach(id, ids)
                    cJSON_AddItemToArray(list,
                                         resource_json(id->valuestring, child));
                cJSON_Delete(ids);
                answer_json(c, list);
                return;
            }
        }
        /* /instances/{id}/file, /instances/{id}/content/gggg-eeee */
        if (l == L_INSTANCE && get && n == 3 && strcmp(seg[2], "file") == 0) {
            (void)oa_buf_append(&c->out, in->data, in->len);
            c->status = 200;
            return;
        }
        if (l == L_INSTANCE && get && n == 4 &&
            strcmp(seg[2], "content") == 0) {
            unsigned g, e;
            char value[4096];
            tag_reader r;
            oa_error err;

            memset(&r, 0, sizeof(r));
            if (sscanf(seg[3], "%4x-%4x", &g, &e) != 2) {
                answer_error(c, 400, "Bad request");
                return;
            }
            r.want = (uint32_t)(g << 16 | e);
            r.wanted = value;
            r.wanted_size = sizeof(value);
            oa_error_clear(&err);
            if (parse_tags(in->data, in->len, &r, &err) != OA_OK ||
                !r.found) {
                answer_error(c, 404, "Unknown resource");
                return;
            }
            (void)oa_buf_append(&c->out, value, strlen(value));
            c->status = 200;
            return;
        }
        /* metadata and attachments of any level */
        if ((n == 4 || n == 5) && (strcmp(seg[2], "metadata") == 0 ||
                                   strcmp(seg[2], "attachments") == 0)) {
            char key[160];
            bool attachment = seg[2][0] == 'a';
            const char *v;
            int number = atoi(seg[3]);

            if (number < 1024 && c->method != OA_HTTP_GET) {
                answer_error(c, 403, "Reserved");   /* not for plugins */
                return;
            }
            snprintf(key, sizeof(key), "/%s/%s/%s/%d", seg[0], seg[1], seg[2],
                     number);
            if (n == 5 && !(attachment && strcmp(seg[4], "data") == 0 && get)) {
                answer_error(c, 404, "Unknown resource");
                return;
            }
            switch (c->method) {
            case OA_HTTP_PUT:
                if (n != 4)
                    break;
                {
                    char *value = malloc(c->body_size + 1);

                    if (value == NULL)
                        abort();
                    if (c->body_size > 0)
                        memcpy(value, c->body, c->body_size);
                    value[c->body_size] = '\0';
                    kv_set(&fake.attachments, key, value);
                    free(value);
                }
                answer_json(c, cJSON_CreateObject());
                return;
            case OA_HTTP_DELETE:
                if (n == 4 && kv_remove(&fake.attachments, key, false)) {
                    answer_json(c, cJSON_CreateObject());
                    return;
                }
                break;
            case OA_HTTP_GET:
                v = kv_get(fake.attachments, key);
                if (v != NULL && (!attachment || n == 5)) {
                    (void)oa_buf_append(&c->out, v, strlen(v));
                    c->status = 200;
                    return;
                }
                if (v != NULL) {   /* attachment info */
                    cJSON *o = cJSON_CreateObject();

                    cJSON_AddNumberToObject(o, "Size", (double)strlen(v));
                    answer_json(c, o);
                    return;
                }
                break;
            default:
                break;
            }
            answer_error(c, 404, "Unknown resource");
            return;
        }
        answer_error(c, 404, "Unknown resource");
        return;
    }
    /* jobs */
    if (strcmp(seg[0], "jobs") == 0) {
        fake_job *j;

        if (n == 1 && get) {
            cJSON *list = cJSON_CreateArray();
            size_t i;

            for (i = 0; i < fake.njobs; i++)
                if (!fake.jobs[i]->finalized)
                    cJSON_AddItemToArray(list,
                                         cJSON_CreateString(fake.jobs[i]->id));
            answer_json(c, list);
            return;
        }
        j = n >= 2 ? find_job(seg[1]) : NULL;
        if (j == NULL || j->finalized) {
            answer_error(c, 404, "Unknown resource");
            return;
        }
        if (n == 2 && get) {
            job_get(c, seg[1]);
            return;
        }
        if (n == 3 && c->method == OA_HTTP_POST) {
            job_action(c, seg[1], seg[2]);
            return;
        }
        answer_error(c, 404, "Unknown resource");
        return;
    }
    /* modalities and peers */
    if (strcmp(seg[0], "modalities") == 0 || strcmp(seg[0], "peers") == 0) {
        bool peer = seg[0][0] == 'p';
        remote *r;

        if (n == 1 && get) {
            cJSON *list = cJSON_CreateArray();
            size_t i;

            for (i = 0; i < fake.nremotes; i++)
                if (fake.remotes[i].peer == peer)
                    cJSON_AddItemToArray(
                        list, cJSON_CreateString(fake.remotes[i].name));
            answer_json(c, list);
            return;
        }
        r = n >= 2 ? find_remote(seg[1], peer) : NULL;
        if (r == NULL) {
            answer_error(c, 404, "Unknown resource");
            return;
        }
        if (n == 3 && ((peer && get && strcmp(seg[2], "system") == 0) ||
                       (!peer && c->method == OA_HTTP_POST &&
                        strcmp(seg[2], "echo") == 0))) {
            if (r->status == 200) {
                answer_json(c, cJSON_CreateObject());
                return;
            }
            if (peer && r->status != 0) {
                answer_error(c, r->status, "Unauthorized");
                return;
            }
            c->status = 0;   /* Orthanc raises a network error */
            return;
        }
        if (n == 3 && c->method == OA_HTTP_POST &&
            strcmp(seg[2], "store") == 0) {
            cJSON *body = cJSON_ParseWithLength(c->body, c->body_size);
            const cJSON *res = cJSON_GetObjectItemCaseSensitive(body,
                                                                "Resources");
            const cJSON *id;
            size_t count = 0;

            if (!cJSON_IsArray(res)) {
                cJSON_Delete(body);
                answer_error(c, 400, "Bad request");
                return;
            }
            cJSON_ArrayForEach(id, res)
                if (cJSON_IsString(id) &&
                    any_instance(id->valuestring, L_INSTANCE) != NULL)
                    count++;
            cJSON_Delete(body);
            if (r->status == 200) {
                cJSON *o = cJSON_CreateObject();

                r->received += count;
                cJSON_AddStringToObject(o, "Description", "REST API");
                cJSON_AddNumberToObject(o, "InstancesCount", (double)count);
                cJSON_AddNumberToObject(o, "FailedInstancesCount", 0);
                answer_json(c, o);
                return;
            }
            c->status = 0;   /* "Error in the network protocol" */
            return;
        }
        answer_error(c, 404, "Unknown resource");
        return;
    }
    answer_error(c, 404, "Unknown resource");
}

oa_status oa_host_rest(oa_http_method method, const char *uri,
                       const void *body, size_t body_size, oa_buf *answer,
                       uint16_t *http_status, oa_error *err)
{
    call c;
    const fault *f;
    oa_status rc = OA_OK;

    *http_status = 0;
    if (uri == NULL)
        return oa_error_set(err, OA_EINVAL, "plugin host not initialized");
    memset(&c, 0, sizeof(c));
    c.method = method;
    c.uri = uri;
    c.body = body;
    c.body_size = body_size;
    oa_buf_init(&c.out, (size_t)1 << 30);

    pthread_mutex_lock(&lock);
    note_call_locked();
    if (!fake.initialized) {
        pthread_mutex_unlock(&lock);
        oa_buf_dispose(&c.out);
        return oa_error_set(err, OA_EINVAL, "plugin host not initialized");
    }
    f = fault_for((unsigned)method, uri);
    if (f != NULL && f->status != 0)
        answer_error(&c, f->status, "Injected failure");
    else if (f != NULL)
        c.status = 0;
    else
        dispatch_call(&c);
    pthread_mutex_unlock(&lock);

    if (c.status == 0) {
        /* what host.c reports when Orthanc raised an error code */
        rc = oa_error_set(err, OA_EIO, "%s %s: %s",
                          oa_http_method_name(method), uri,
                          f != NULL ? "The file storage is full (injected)"
                                    : "Error in the network protocol");
    } else if (answer != NULL && c.out.len > 0 && method != OA_HTTP_DELETE &&
               c.status < 400) {
        /* An HTTP error is an error code of CallRestApi: no body. */
        if (oa_buf_append(answer, oa_buf_data(&c.out), c.out.len) != OA_OK)
            rc = oa_error_set(err, OA_ELIMIT,
                              "answer of %s too large (%u bytes)", uri,
                              (unsigned)c.out.len);
    }
    oa_buf_dispose(&c.out);
    *http_status = c.status;
    return rc;
}

/* ------------------------------------------------------------------ */
/* Life cycle, logging, metadata, configuration                         */

void oa_host_init(struct _OrthancPluginContext_t *context)
{
    (void)context;
    pthread_mutex_lock(&lock);
    fake.initialized = true;
    fake.rest_fn = NULL;
    fake.rest_user = NULL;
    pthread_mutex_unlock(&lock);
}

void oa_host_finalize(void)
{
    pthread_mutex_lock(&lock);
    fake.rest_fn = NULL;
    fake.rest_user = NULL;
    fake.initialized = false;
    pthread_mutex_unlock(&lock);
}

bool oa_host_check_version(void)
{
    return fake.initialized;
}

const char *oa_host_orthanc_version(void)
{
    return "1.10.1";
}

const char *oa_host_sdk_version(void)
{
    return "1.10.1";
}

/* The fake is Orthanc 1.10.1: none of the newer services. */
bool oa_host_has(oa_host_feature feature)
{
    (void)feature;
    return false;
}

const char *oa_host_feature_name(oa_host_feature feature)
{
    (void)feature;
    return "?";
}

void oa_host_set_thread_name(const char *name)
{
    (void)name;
}

void oa_host_clear_thread_name(void)
{
}

oa_status oa_host_stream_start(oa_host_output *out, const char *mime,
                               oa_error *err)
{
    (void)out;
    (void)mime;
    return oa_error_set(err, OA_EUNSUPPORTED, "no streamed answers");
}

oa_status oa_host_stream_chunk(oa_host_output *out, const void *data,
                               size_t len, oa_error *err)
{
    (void)out;
    (void)data;
    (void)len;
    return oa_error_set(err, OA_EUNSUPPORTED, "no streamed answers");
}

void oa_host_log(oa_log_level level, const char *msg)
{
    if (msg == NULL)
        return;
    pthread_mutex_lock(&lock);
    log_line(level == OA_LOG_ERROR     ? 'E'
             : level == OA_LOG_WARNING ? 'W'
                                       : 'I',
             msg);
    pthread_mutex_unlock(&lock);
}

const char *fake_host_logs(void)
{
    const char *s;

    pthread_mutex_lock(&lock);
    if (!fake.logs_ready) {
        oa_buf_init(&fake.logs, (size_t)64 << 20);
        fake.logs_ready = true;
    }
    s = oa_buf_cstr(&fake.logs);
    pthread_mutex_unlock(&lock);
    return s != NULL ? s : "";
}

bool fake_host_log_contains(const char *needle)
{
    return strstr(fake_host_logs(), needle) != NULL;
}

void oa_host_set_description(const char *description)
{
    (void)description;
}

void oa_host_set_root_uri(const char *uri)
{
    (void)uri;
}

void oa_host_extend_explorer(const char *javascript)
{
    (void)javascript;
}

void fake_host_set_configuration(const char *json)
{
    pthread_mutex_lock(&lock);
    free(fake.configuration);
    fake.configuration = xstrdup(json != NULL ? json : "{}");
    pthread_mutex_unlock(&lock);
}

oa_status oa_host_get_configuration(cJSON **out, oa_error *err)
{
    *out = NULL;
    pthread_mutex_lock(&lock);
    if (!fake.initialized) {
        pthread_mutex_unlock(&lock);
        return oa_error_set(err, OA_EINVAL, "plugin host not initialized");
    }
    *out = cJSON_Parse(fake.configuration != NULL ? fake.configuration
                                                  : "{}");
    pthread_mutex_unlock(&lock);
    if (*out == NULL)
        return oa_error_set(err, OA_EPARSE,
                            "Orthanc's configuration is not valid JSON");
    return OA_OK;
}

/* ------------------------------------------------------------------ */
/* Requests to the plugin                                               */

struct oa_host_output {
    fake_response *r;
};

void oa_host_set_rest_dispatcher(oa_host_rest_fn fn, void *user)
{
    pthread_mutex_lock(&lock);
    fake.rest_fn = fn;
    fake.rest_user = user;
    pthread_mutex_unlock(&lock);
}

void *oa_host_rest_dispatcher_user(void)
{
    void *u;

    pthread_mutex_lock(&lock);
    u = fake.rest_user;
    pthread_mutex_unlock(&lock);
    return u;
}

void oa_host_register_route(const char *regex)
{
    if (regex == NULL)
        return;
    pthread_mutex_lock(&lock);
    free(fake.route);
    fake.route = xstrdup(regex);
    pthread_mutex_unlock(&lock);
}

static void add_header(fake_response *r, const char *key, const char *value)
{
    if (r->header_count >= FAKE_MAX_HEADERS)
        return;
    r->header_keys[r->header_count] = xstrdup(key);
    r->header_values[r->header_count] = xstrdup(value);
    r->header_count++;
}

static void set_body(fake_response *r, const void *body, size_t len)
{
    free(r->body);
    r->body = malloc(len + 1);
    if (r->body == NULL)
        abort();
    if (len > 0)
        memcpy(r->body, body, len);
    r->body[len] = '\0';
    r->body_len = len;
    cJSON_Delete(r->json);
    r->json = len > 0 ? cJSON_ParseWithLength(r->body, len) : NULL;
}

oa_status oa_host_answer(oa_host_output *out, uint16_t status,
                         const char *mime, const void *body, size_t len,
                         oa_error *err)
{
    fake_response *r;

    if (out == NULL)
        return oa_error_set(err, OA_EINVAL, "no connection to answer on");
    r = out->r;
    if (len > UINT32_MAX)
        return oa_error_set(err, OA_ELIMIT,
                            "answer of %zu bytes exceeds Orthanc's 4 GiB",
                            len);
    if (body == NULL && len != 0)
        return oa_error_set(err, OA_EINVAL, "answer body missing");
    if (mime == NULL)
        mime = "application/octet-stream";
    if (status != 200 && (status < 100 || status > 599 || status == 301 ||
                          status == 401 || status == 405))
        return oa_error_set(err, OA_EINVAL,
                            "HTTP status %u needs its own SDK call",
                            (unsigned)status);
    r->answers++;
    r->status = status;
    if (status == 200 || len > 0)
        snprintf(r->content_type, sizeof(r->content_type), "%s", mime);
    set_body(r, body, len);
    return OA_OK;
}

void oa_host_redirect(oa_host_output *out, const char *location)
{
    if (out == NULL || location == NULL)
        return;
    out->r->answers++;
    out->r->status = 301;
    add_header(out->r, "Location", location);
    set_body(out->r, "", 0);
}

void oa_host_answer_method_not_allowed(oa_host_output *out,
                                       const char *allowed)
{
    if (out == NULL)
        return;
    out->r->answers++;
    out->r->status = 405;
    add_header(out->r, "Allow", allowed != NULL ? allowed : "");
    set_body(out->r, "", 0);
}

void oa_host_set_header(oa_host_output *out, const char *key,
                        const char *value)
{
    if (out == NULL || key == NULL || value == NULL)
        return;
    if (out->r->answers > 0)
        out->r->late_headers++;
    add_header(out->r, key, value);
}

void oa_host_set_error_details(oa_host_output *out, const char *details,
                               bool log)
{
    if (out == NULL || details == NULL)
        return;
    if (log)
        oa_host_log(OA_LOG_ERROR, details);
}

void fake_request_with(fake_response *r, oa_http_method method,
                       const char *url, const char *body,
                       const char *const *get_args,
                       const char *const *headers)
{
    oa_host_request req;
    struct oa_host_output out;
    const char *keys[16], *values[16];
    const char *hkeys[9] = {"content-type"};
    const char *hvalues[9] = {"application/json"};
    uint32_t nh = 1;
    oa_host_rest_fn fn;
    void *user;
    uint32_t n = 0;

    memset(r, 0, sizeof(*r));
    memset(&req, 0, sizeof(req));
    req.method = method;
    req.url = url;
    req.body = body;
    req.body_size = body != NULL ? strlen(body) : 0;
    /* Orthanc gives header names in lower case */
    while (headers != NULL && headers[2 * (nh - 1)] != NULL && nh < 9) {
        hkeys[nh] = headers[2 * (nh - 1)];
        hvalues[nh] = headers[2 * (nh - 1) + 1];
        nh++;
    }
    req.header_count = nh;
    req.header_keys = hkeys;
    req.header_values = hvalues;
    /* Orthanc fills the GET arguments for GET requests only. */
    while (method == OA_HTTP_GET && get_args != NULL && get_args[2 * n] &&
           n < 16) {
        keys[n] = get_args[2 * n];
        values[n] = get_args[2 * n + 1];
        n++;
    }
    req.get_count = n;
    req.get_keys = keys;
    req.get_values = values;
    out.r = r;

    pthread_mutex_lock(&lock);
    fn = fake.rest_fn;
    user = fake.rest_user;
    pthread_mutex_unlock(&lock);
    if (fn == NULL) {   /* as host.c: no dispatcher answers 404 */
        r->answers = 1;
        r->status = 404;
        set_body(r, "", 0);
        return;
    }
    fn(user, &out, &req);
    if (r->body == NULL)
        set_body(r, "", 0);
}

void fake_request(fake_response *r, oa_http_method method, const char *url,
                  const char *body, const char *const *get_args)
{
    fake_request_with(r, method, url, body, get_args, NULL);
}

const char *fake_response_header(const fake_response *r, const char *name)
{
    size_t i;

    for (i = 0; i < r->header_count; i++)
        if (strcasecmp(r->header_keys[i], name) == 0)
            return r->header_values[i];
    return NULL;
}

const char *fake_response_str(const fake_response *r, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(r->json, key);

    return cJSON_IsString(v) ? v->valuestring : NULL;
}

void fake_response_dispose(fake_response *r)
{
    size_t i;

    for (i = 0; i < r->header_count; i++) {
        free(r->header_keys[i]);
        free(r->header_values[i]);
    }
    free(r->body);
    cJSON_Delete(r->json);
    memset(r, 0, sizeof(*r));
}

/* ------------------------------------------------------------------ */
/* DICOM files, properties, UUIDs, peers                                */

oa_status oa_host_get_dicom(const char *instance_id, oa_host_blob *out,
                            oa_error *err)
{
    instance *in;
    const fault *f;
    uint8_t *copy;

    memset(out, 0, sizeof(*out));
    if (instance_id == NULL)
        return oa_error_set(err, OA_EINVAL, "plugin host not initialized");
    pthread_mutex_lock(&lock);
    note_call_locked();
    if (fake.dicom_delay_ms > 0) {
        struct timespec t = {(time_t)(fake.dicom_delay_ms / 1000),
                             (long)(fake.dicom_delay_ms % 1000) * 1000000L};

        pthread_mutex_unlock(&lock);
        nanosleep(&t, NULL);
        pthread_mutex_lock(&lock);
    }
    f = fault_for(FAKE_OP_DICOM, instance_id);
    in = find_instance(instance_id);
    if (f != NULL || in == NULL) {
        pthread_mutex_unlock(&lock);
        if (f != NULL)
            return oa_error_set(err, OA_EIO,
                                "cannot read instance %s from Orthanc: %s",
                                instance_id, "Error in the storage area");
        return oa_error_set(err, OA_ENOTFOUND,
                            "instance %s is not in Orthanc (deleted?)",
                            instance_id);
    }
    copy = malloc(in->len ? in->len : 1);
    if (copy == NULL)
        abort();
    memcpy(copy, in->data, in->len);
    out->data = copy;
    out->size = in->len;
    out->priv = copy;
    pthread_mutex_unlock(&lock);
    return OA_OK;
}

void oa_host_blob_free(oa_host_blob *blob)
{
    if (blob == NULL)
        return;
    free(blob->priv);
    memset(blob, 0, sizeof(*blob));
}

/* Orthanc's transcoder: the fake has no image decoder, so it answers as
 * Orthanc does for a syntax it cannot decode (the plugin then refuses the
 * image, naming the reason). */
oa_status oa_host_transcode(const uint8_t *data, size_t size,
                            const char *transfer_syntax, oa_host_blob *out,
                            oa_error *err)
{
    (void)data;
    (void)size;
    memset(out, 0, sizeof(*out));
    pthread_mutex_lock(&lock);
    note_call_locked();
    pthread_mutex_unlock(&lock);
    return oa_error_set(err, OA_EUNSUPPORTED,
                        "Orthanc cannot transcode this instance to %s (no "
                        "decoder for its transfer syntax)",
                        transfer_syntax != NULL ? transfer_syntax : "?");
}

oa_status oa_host_get_property(int32_t property, char **out, oa_error *err)
{
    char key[16];
    const char *v;

    *out = NULL;
    snprintf(key, sizeof(key), "%d", (int)property);
    pthread_mutex_lock(&lock);
    note_call_locked();
    v = kv_get(fake.properties, key);
    if (v != NULL && v[0] != '\0') {
        *out = oa_strdup(v);
        if (*out == NULL) {
            pthread_mutex_unlock(&lock);
            return oa_error_set(err, OA_ENOMEM, "out of memory");
        }
    }
    pthread_mutex_unlock(&lock);
    return OA_OK;
}

oa_status oa_host_set_property(int32_t property, const char *value,
                               oa_error *err)
{
    char key[16];

    if (value == NULL)
        return oa_error_set(err, OA_EINVAL, "plugin host not initialized");
    if (property < OA_HOST_FIRST_PLUGIN_PROPERTY)
        return oa_error_set(err, OA_EINVAL,
                            "global property %d is reserved to Orthanc",
                            (int)property);
    snprintf(key, sizeof(key), "%d", (int)property);
    pthread_mutex_lock(&lock);
    note_call_locked();
    if (fault_for(FAKE_OP_PROPERTY, value) != NULL) {
        pthread_mutex_unlock(&lock);
        return oa_error_set(err, OA_EIO,
                            "Orthanc could not write global property %d",
                            (int)property);
    }
    kv_set(&fake.properties, key, value);
    pthread_mutex_unlock(&lock);
    return OA_OK;
}

oa_status oa_host_generate_uuid(char out[37], oa_error *err)
{
    unsigned n;
    const fault *f;

    out[0] = '\0';
    pthread_mutex_lock(&lock);
    f = fault_for(FAKE_OP_UUID, "");
    n = ++fake.uuid_counter;
    pthread_mutex_unlock(&lock);
    if (f != NULL)
        return oa_error_set(err, OA_EIO, "Orthanc gave no UUID");
    snprintf(out, 37, "%08x-%04x-4%03x-8%03x-%012x", n * 2654435761u,
             n & 0xffffu, n & 0xfffu, (n >> 12) & 0xfffu, n);
    return OA_OK;
}

oa_status oa_host_peer_get(const char *name, const char *uri,
                           unsigned timeout, uint16_t *http_status,
                           oa_error *err)
{
    remote *r;

    (void)uri;
    (void)timeout;
    *http_status = 0;
    if (name == NULL || uri == NULL)
        return oa_error_set(err, OA_EINVAL, "plugin host not initialized");
    pthread_mutex_lock(&lock);
    r = find_remote(name, true);
    if (r != NULL)
        *http_status = r->status;
    pthread_mutex_unlock(&lock);
    if (r == NULL)
        return oa_error_set(err, OA_ENOTFOUND, "Orthanc knows no peer %s",
                            name);
    return OA_OK;
}

void fake_host_add_modality(const char *name, bool up)
{
    pthread_mutex_lock(&lock);
    if (fake.nremotes < MAX_REMOTES) {
        remote *r = &fake.remotes[fake.nremotes++];

        memset(r, 0, sizeof(*r));
        snprintf(r->name, sizeof(r->name), "%s", name);
        r->status = up ? 200 : 0;
    }
    pthread_mutex_unlock(&lock);
}

void fake_host_add_peer(const char *name, uint16_t status)
{
    pthread_mutex_lock(&lock);
    if (fake.nremotes < MAX_REMOTES) {
        remote *r = &fake.remotes[fake.nremotes++];

        memset(r, 0, sizeof(*r));
        snprintf(r->name, sizeof(r->name), "%s", name);
        r->peer = true;
        r->status = status;
    }
    pthread_mutex_unlock(&lock);
}

size_t fake_host_received(const char *name)
{
    size_t i, n = 0;

    pthread_mutex_lock(&lock);
    for (i = 0; i < fake.nremotes; i++)
        if (strcmp(fake.remotes[i].name, name) == 0)
            n += fake.remotes[i].received;
    pthread_mutex_unlock(&lock);
    return n;
}

void fake_host_fault(unsigned op, const char *prefix, uint16_t status,
                     unsigned skip, unsigned count)
{
    pthread_mutex_lock(&lock);
    if (fake.nfaults < MAX_FAULTS) {
        fault *f = &fake.faults[fake.nfaults++];

        f->op = op;
        snprintf(f->prefix, sizeof(f->prefix), "%s",
                 prefix != NULL ? prefix : "");
        f->status = status;
        f->skip = skip;
        f->count = count;
    }
    pthread_mutex_unlock(&lock);
}

void fake_host_set_dicom_delay(unsigned ms)
{
    pthread_mutex_lock(&lock);
    fake.dicom_delay_ms = ms;
    pthread_mutex_unlock(&lock);
}

unsigned fake_host_faults_fired(void)
{
    unsigned n;

    pthread_mutex_lock(&lock);
    n = fake.fired;
    pthread_mutex_unlock(&lock);
    return n;
}

void oa_host_register_on_change(oa_host_change_fn fn)
{
    pthread_mutex_lock(&lock);
    fake.change_fn = fn;
    pthread_mutex_unlock(&lock);
}

bool fake_host_stable_study(const char *study_id)
{
    oa_host_change_fn fn;

    pthread_mutex_lock(&lock);
    fn = fake.change_fn;
    pthread_mutex_unlock(&lock);
    if (fn == NULL)
        return false;
    fn(OA_CHANGE_STABLE_STUDY, study_id);
    return true;
}

bool fake_host_orthanc_stopped(void)
{
    oa_host_change_fn fn;

    pthread_mutex_lock(&lock);
    fn = fake.change_fn;
    pthread_mutex_unlock(&lock);
    if (fn == NULL)
        return false;
    fn(OA_CHANGE_ORTHANC_STOPPED, NULL);
    pthread_mutex_lock(&lock);
    fake.stopped = true;
    fake.calls_since_stopped = 0;
    pthread_mutex_unlock(&lock);
    return true;
}

unsigned fake_host_calls_since_stopped(void)
{
    unsigned n;

    pthread_mutex_lock(&lock);
    n = fake.calls_since_stopped;
    pthread_mutex_unlock(&lock);
    return n;
}

/* ------------------------------------------------------------------ */
/* Jobs                                                                 */

const char *fake_job_state_name(fake_job_state state)
{
    switch (state) {
    case FAKE_JOB_PENDING: return "Pending";
    case FAKE_JOB_RUNNING: return "Running";
    case FAKE_JOB_SUCCESS: return "Success";
    case FAKE_JOB_FAILURE: return "Failure";
    case FAKE_JOB_PAUSED: return "Paused";
    case FAKE_JOB_UNKNOWN:
    default: return "Unknown";
    }
}

/* The job as GET /jobs/{id} shows it.  With j->run held and the lock
 * NOT held: the callbacks may lock what the plugin's workers hold while
 * they call the host. */
static cJSON *job_json(const fake_job *j)
{
    cJSON *o = cJSON_CreateObject(), *content;
    float progress;

    progress = j->ops->progress != NULL ? j->ops->progress(j->job) : 0.0f;
    content = cJSON_Parse(j->ops->content != NULL ? j->ops->content(j->job)
                                                  : "{}");
    pthread_mutex_lock(&lock);
    cJSON_AddStringToObject(o, "ID", j->id);
    cJSON_AddStringToObject(o, "Type", j->ops->type);
    cJSON_AddStringToObject(o, "State", fake_job_state_name(j->state));
    cJSON_AddNumberToObject(o, "Progress", (int)(progress * 100.0f + 0.5f));
    cJSON_AddNumberToObject(o, "Priority", j->priority);
    cJSON_AddNumberToObject(o, "ErrorCode", j->error_code);
    cJSON_AddStringToObject(o, "ErrorDescription",
                            j->error[0] != '\0' ? j->error : "Success");
    pthread_mutex_unlock(&lock);
    cJSON_AddStringToObject(o, "CreationTime", "20261126T101500.000000");
    cJSON_AddItemToObject(o, "Content",
                          content != NULL ? content : cJSON_CreateObject());
    return o;
}

static fake_job *add_job(const oa_host_job_ops *ops, void *job, int priority,
                         const char *id)
{
    fake_job *j = calloc(1, sizeof(*j));

    if (j == NULL)
        abort();
    j->ops = ops;
    j->job = job;
    j->priority = priority;
    j->state = FAKE_JOB_PENDING;
    pthread_mutex_init(&j->run, NULL);
    if (id != NULL) {
        snprintf(j->id, sizeof(j->id), "%s", id);
    } else {
        unsigned n = ++fake.uuid_counter;

        snprintf(j->id, sizeof(j->id), "%08x-%04x-4%03x-9%03x-%012x",
                 n * 2246822519u, n & 0xffffu, n & 0xfffu, (n >> 12) & 0xfffu,
                 n);
    }
    if (fake.njobs == MAX_JOBS) {
        fprintf(stderr, "fake_host: more than %d jobs\n", MAX_JOBS);
        abort();
    }
    fake.jobs[fake.njobs++] = j;
    return j;
}

oa_status oa_host_submit_job(const oa_host_job_ops *ops, void *job,
                             int priority, char *id, size_t id_size,
                             oa_error *err)
{
    fake_job *j;

    if (ops == NULL || ops->step == NULL) {
        if (ops != NULL && ops->finalize != NULL)
            ops->finalize(job);
        return oa_error_set(err, OA_EINVAL, "plugin host not initialized");
    }
    pthread_mutex_lock(&lock);
    if (!fake.initialized) {
        pthread_mutex_unlock(&lock);
        if (ops->finalize != NULL)
            ops->finalize(job);
        return oa_error_set(err, OA_EINVAL, "plugin host not initialized");
    }
    j = add_job(ops, job, priority, NULL);
    snprintf(id, id_size, "%s", j->id);
    pthread_mutex_unlock(&lock);
    return OA_OK;
}

void oa_host_register_job_unserializer(oa_host_job_unserializer fn)
{
    pthread_mutex_lock(&lock);
    fake.unserializer = fn;
    pthread_mutex_unlock(&lock);
}

void fake_host_set_auto_run(bool on)
{
    pthread_mutex_lock(&lock);
    fake.auto_run = on;
    pthread_mutex_unlock(&lock);
}

size_t fake_job_count(void)
{
    size_t n;

    pthread_mutex_lock(&lock);
    n = fake.njobs;
    pthread_mutex_unlock(&lock);
    return n;
}

bool fake_job_id(size_t index, char out[64])
{
    bool ok;

    pthread_mutex_lock(&lock);
    ok = index < fake.njobs;
    if (ok)
        snprintf(out, 64, "%s", fake.jobs[index]->id);
    pthread_mutex_unlock(&lock);
    return ok;
}

/* The live job `id`, or NULL (jobs are never freed before the reset, so
 * the pointer stays valid without the lock). */
static fake_job *live_job(const char *id)
{
    fake_job *j;

    pthread_mutex_lock(&lock);
    j = find_job(id);
    if (j != NULL && j->finalized)
        j = NULL;
    pthread_mutex_unlock(&lock);
    return j;
}

const char *fake_job_type(const char *id)
{
    fake_job *j = live_job(id);

    return j != NULL ? j->ops->type : NULL;
}

fake_job_state fake_job_state_of(const char *id)
{
    fake_job *j = live_job(id);
    fake_job_state s;

    if (j == NULL)
        return FAKE_JOB_UNKNOWN;
    pthread_mutex_lock(&lock);
    s = j->state;
    pthread_mutex_unlock(&lock);
    return s;
}

static void set_state(fake_job *j, fake_job_state s, int code,
                      const char *error)
{
    pthread_mutex_lock(&lock);
    j->state = s;
    j->error_code = code;
    snprintf(j->error, sizeof(j->error), "%s", error != NULL ? error : "");
    pthread_mutex_unlock(&lock);
}

/* With j->run held. */
static fake_job_state step_locked(fake_job *j)
{
    fake_job_state s;
    oa_job_step_status st;

    pthread_mutex_lock(&lock);
    s = j->state;
    pthread_mutex_unlock(&lock);
    if (s != FAKE_JOB_PENDING && s != FAKE_JOB_RUNNING)
        return s;
    set_state(j, FAKE_JOB_RUNNING, 0, NULL);
    j->started = true;
    st = j->ops->step(j->job);
    switch (st) {
    case OA_JOB_STEP_CONTINUE:
        return FAKE_JOB_RUNNING;
    case OA_JOB_STEP_SUCCESS:
        if (j->ops->stop != NULL)
            j->ops->stop(j->job, OA_JOB_STOP_SUCCESS);
        set_state(j, FAKE_JOB_SUCCESS, 0, NULL);
        j->started = false;
        return FAKE_JOB_SUCCESS;
    case OA_JOB_STEP_FAILURE:
    default:
        if (j->ops->stop != NULL)
            j->ops->stop(j->job, OA_JOB_STOP_FAILURE);
        /* OrthancPluginErrorCode_Plugin */
        set_state(j, FAKE_JOB_FAILURE, 1,
                  "Error encountered within the plugin engine");
        j->started = false;
        return FAKE_JOB_FAILURE;
    }
}

fake_job_state fake_job_step(const char *id)
{
    fake_job *j = live_job(id);
    fake_job_state s;

    if (j == NULL)
        return FAKE_JOB_UNKNOWN;
    pthread_mutex_lock(&j->run);
    s = step_locked(j);
    pthread_mutex_unlock(&j->run);
    return s;
}

fake_job_state fake_job_run(const char *id, unsigned max_steps)
{
    fake_job *j = live_job(id);
    fake_job_state s;
    unsigned n = 0;

    if (j == NULL)
        return FAKE_JOB_UNKNOWN;
    pthread_mutex_lock(&j->run);
    do {
        s = step_locked(j);
    } while ((s == FAKE_JOB_RUNNING || s == FAKE_JOB_PENDING) &&
             (max_steps == 0 || ++n < max_steps));
    pthread_mutex_unlock(&j->run);
    return s;
}

/* GET /jobs/{id}.  Called with the lock held; releases it meanwhile. */
static void job_get(call *c, const char *id)
{
    fake_job *j = find_job(id);
    fake_job_state s;
    cJSON *json;

    bool run = fake.auto_run;

    pthread_mutex_unlock(&lock);
    pthread_mutex_lock(&j->run);
    if (run)
        do {
            s = step_locked(j);
        } while (s == FAKE_JOB_RUNNING || s == FAKE_JOB_PENDING);
    json = job_json(j);
    pthread_mutex_unlock(&j->run);
    pthread_mutex_lock(&lock);
    answer_json(c, json);
}

size_t fake_job_run_all(void)
{
    size_t ran = 0;

    for (;;) {
        char id[64] = "";
        size_t i;

        pthread_mutex_lock(&lock);
        for (i = 0; i < fake.njobs && id[0] == '\0'; i++)
            if (!fake.jobs[i]->finalized &&
                (fake.jobs[i]->state == FAKE_JOB_PENDING ||
                 fake.jobs[i]->state == FAKE_JOB_RUNNING))
                snprintf(id, sizeof(id), "%s", fake.jobs[i]->id);
        pthread_mutex_unlock(&lock);
        if (id[0] == '\0')
            return ran;
        (void)fake_job_run(id, 0);
        ran++;
    }
}

bool fake_job_pause(const char *id)
{
    fake_job *j = live_job(id);
    bool ok = false;

    if (j == NULL)
        return false;
    pthread_mutex_lock(&j->run);
    if (fake_job_state_of(id) == FAKE_JOB_PENDING ||
        fake_job_state_of(id) == FAKE_JOB_RUNNING) {
        if (j->started && j->ops->stop != NULL)
            j->ops->stop(j->job, OA_JOB_STOP_PAUSED);
        j->started = false;
        set_state(j, FAKE_JOB_PAUSED, 0, NULL);
        ok = true;
    }
    pthread_mutex_unlock(&j->run);
    return ok;
}

bool fake_job_resume(const char *id)
{
    fake_job *j = live_job(id);
    bool ok = false;

    if (j == NULL)
        return false;
    pthread_mutex_lock(&j->run);
    if (fake_job_state_of(id) == FAKE_JOB_PAUSED) {
        set_state(j, FAKE_JOB_PENDING, 0, NULL);
        ok = true;
    }
    pthread_mutex_unlock(&j->run);
    return ok;
}

bool fake_job_cancel(const char *id)
{
    fake_job *j = live_job(id);
    fake_job_state s;
    bool ok = false;

    if (j == NULL)
        return false;
    pthread_mutex_lock(&j->run);
    s = fake_job_state_of(id);
    if (s == FAKE_JOB_PENDING || s == FAKE_JOB_RUNNING ||
        s == FAKE_JOB_PAUSED) {
        /* Orthanc stops a running job; a pending or paused one just
         * fails. */
        if (j->started && j->ops->stop != NULL)
            j->ops->stop(j->job, OA_JOB_STOP_CANCELED);
        j->started = false;
        set_state(j, FAKE_JOB_FAILURE, 37, "This job was canceled");
        ok = true;
    }
    pthread_mutex_unlock(&j->run);
    return ok;
}

bool fake_job_resubmit(const char *id)
{
    fake_job *j = live_job(id);
    bool ok = false;

    if (j == NULL)
        return false;
    pthread_mutex_lock(&j->run);
    if (fake_job_state_of(id) == FAKE_JOB_FAILURE) {
        if (j->ops->reset == NULL || j->ops->reset(j->job) == OA_OK) {
            set_state(j, FAKE_JOB_PENDING, 0, NULL);
            ok = true;
        }
    }
    pthread_mutex_unlock(&j->run);
    return ok;
}

/* Finalize a job (with j->run held). */
static void finalize_locked(fake_job *j)
{
    if (j->finalized)
        return;
    if (j->ops->finalize != NULL)
        j->ops->finalize(j->job);
    pthread_mutex_lock(&lock);
    j->finalized = true;
    j->job = NULL;
    pthread_mutex_unlock(&lock);
}

bool fake_job_restart(const char *id)
{
    fake_job *j = live_job(id);
    oa_host_job_unserializer fn;
    const oa_host_job_ops *ops = NULL;
    fake_job_state s;
    char *saved = NULL;
    const char *text, *type;
    void *job;

    if (j == NULL)
        return false;
    pthread_mutex_lock(&j->run);
    s = fake_job_state_of(id);
    if (j->started && j->ops->stop != NULL)
        j->ops->stop(j->job, OA_JOB_STOP_PAUSED);
    j->started = false;
    text = j->ops->serialized != NULL ? j->ops->serialized(j->job) : NULL;
    if (text != NULL)
        saved = xstrdup(text);
    type = j->ops->type;
    finalize_locked(j);
    pthread_mutex_unlock(&j->run);
    if (saved == NULL)
        return false;

    pthread_mutex_lock(&lock);
    fn = fake.unserializer;
    pthread_mutex_unlock(&lock);
    job = fn != NULL ? fn(type, saved, &ops) : NULL;
    free(saved);
    if (job == NULL || ops == NULL)
        return false;
    pthread_mutex_lock(&lock);
    /* the old entry gives its ID to the new one */
    j->id[0] = '\0';
    j = add_job(ops, job, j->priority, id);
    if (s == FAKE_JOB_SUCCESS || s == FAKE_JOB_FAILURE)
        j->state = s;
    pthread_mutex_unlock(&lock);
    return true;
}

bool fake_job_unserialize(const char *type, const char *serialized,
                          char out_id[64])
{
    oa_host_job_unserializer fn;
    const oa_host_job_ops *ops = NULL;
    void *job;
    fake_job *j;

    out_id[0] = '\0';
    pthread_mutex_lock(&lock);
    fn = fake.unserializer;
    pthread_mutex_unlock(&lock);
    if (fn == NULL || type == NULL || serialized == NULL)
        return false;
    job = fn(type, serialized, &ops);
    if (job == NULL || ops == NULL)
        return false;
    pthread_mutex_lock(&lock);
    j = add_job(ops, job, 0, NULL);
    snprintf(out_id, 64, "%s", j->id);
    pthread_mutex_unlock(&lock);
    return true;
}

float fake_job_progress(const char *id)
{
    fake_job *j = live_job(id);
    float f;

    if (j == NULL)
        return -1.0f;
    pthread_mutex_lock(&j->run);
    f = j->ops->progress != NULL ? j->ops->progress(j->job) : 0.0f;
    pthread_mutex_unlock(&j->run);
    return f;
}

cJSON *fake_job_content(const char *id)
{
    fake_job *j = live_job(id);
    cJSON *c;

    if (j == NULL)
        return NULL;
    pthread_mutex_lock(&j->run);
    c = cJSON_Parse(j->ops->content != NULL ? j->ops->content(j->job) : "{}");
    pthread_mutex_unlock(&j->run);
    return c;
}

char *fake_job_serialized(const char *id)
{
    fake_job *j = live_job(id);
    const char *text;
    char *copy = NULL;

    if (j == NULL)
        return NULL;
    pthread_mutex_lock(&j->run);
    text = j->ops->serialized != NULL ? j->ops->serialized(j->job) : NULL;
    if (text != NULL)
        copy = xstrdup(text);
    pthread_mutex_unlock(&j->run);
    return copy;
}

void fake_job_error(const char *id, char *out, size_t size)
{
    fake_job *j = live_job(id);

    out[0] = '\0';
    if (j == NULL)
        return;
    pthread_mutex_lock(&lock);
    snprintf(out, size, "%s", j->error);
    pthread_mutex_unlock(&lock);
}

/* POST /jobs/{id}/{action}.  Called with the lock held; releases it. */
static void job_action(call *c, const char *id, const char *action)
{
    char jid[64];
    bool ok;

    snprintf(jid, sizeof(jid), "%s", id);
    pthread_mutex_unlock(&lock);
    if (strcmp(action, "pause") == 0)
        ok = fake_job_pause(jid);
    else if (strcmp(action, "resume") == 0)
        ok = fake_job_resume(jid);
    else if (strcmp(action, "cancel") == 0)
        ok = fake_job_cancel(jid);
    else if (strcmp(action, "resubmit") == 0)
        ok = fake_job_resubmit(jid);
    else {
        pthread_mutex_lock(&lock);
        answer_error(c, 404, "Unknown resource");
        return;
    }
    pthread_mutex_lock(&lock);
    if (ok)
        answer_json(c, cJSON_CreateObject());
    else
        answer_error(c, 400, "Bad sequence of calls");
}

/* ------------------------------------------------------------------ */
/* Reset                                                                */

void fake_host_reset(void)
{
    size_t i, n;

    /* jobs first: their finalize may call the fake */
    pthread_mutex_lock(&lock);
    n = fake.njobs;
    pthread_mutex_unlock(&lock);
    for (i = 0; i < n; i++) {
        fake_job *j = fake.jobs[i];

        pthread_mutex_lock(&j->run);
        if (j->started && j->ops->stop != NULL)
            j->ops->stop(j->job, OA_JOB_STOP_PAUSED);
        finalize_locked(j);
        pthread_mutex_unlock(&j->run);
    }
    pthread_mutex_lock(&lock);
    for (i = 0; i < fake.njobs; i++) {
        pthread_mutex_destroy(&fake.jobs[i]->run);
        free(fake.jobs[i]);
    }
    fake.njobs = 0;
    while (fake.instances != NULL) {
        instance *in = fake.instances;

        fake.instances = in->next;
        free(in->data);
        free(in);
    }
    fake.seq = 0;
    kv_free(&fake.properties);
    kv_free(&fake.attachments);
    fake.nremotes = 0;
    fake.nfaults = 0;
    fake.fired = 0;
    free(fake.configuration);
    fake.configuration = NULL;
    fake.auto_run = true;
    fake.dicom_delay_ms = 0;
    fake.stopped = false;
    fake.calls_since_stopped = 0;
    if (fake.logs_ready)
        oa_buf_reset(&fake.logs);
    free(fake.route);
    fake.route = NULL;
    pthread_mutex_unlock(&lock);
}
