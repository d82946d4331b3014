/*
 * The audit trail: who took which studies out, when, and where to.
 *
 * One entry per anonymization, export, report download and destination
 * change, appended to the store's "audit" namespace, so that every
 * server of a cluster on PostgreSQL writes to and reads one trail.
 * Append-only: an entry is written with put_if_absent under a key that
 * no other entry has (its time to the microsecond, then 32 random bits),
 * never replaced, never removed (no retention applies to it).  Keys sort
 * as the times, so a date filter is a key range and reads only the
 * entries inside it.
 *
 *   {"Time": "2026-12-02T05:54:00.123456Z", "Kind": "anonymization",
 *    "User": "alice", "Remote": "10.1.2.3", "Job": "...",
 *    "Studies": ["<Orthanc ID>", ...], "Patients": [...],
 *    "Profile": "Default", "Target": {"Type": "zip"}, "Report": "..."}
 *
 * Nothing in it is PHI beyond Orthanc IDs: no name, no DICOM value.
 */
#define _POSIX_C_SOURCE 200809L

#include "services.h"

#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

#include <openssl/rand.h>

static const char *const kinds[] = {
    OA_AUDIT_ANONYMIZATION, OA_AUDIT_EXPORT, OA_AUDIT_REPORT_DOWNLOAD,
    OA_AUDIT_DESTINATION,
};

bool oa_audit_kind_valid(const char *kind)
{
    size_t i;

    for (i = 0; kind != NULL && i < sizeof(kinds) / sizeof(kinds[0]); i++)
        if (strcmp(kind, kinds[i]) == 0)
            return true;
    return false;
}

/* Printable ASCII only, at most `max` characters: what a header says is
 * untrusted text that goes into JSON and CSV. */
static void clean_copy(char *out, size_t size, const char *in)
{
    size_t n = 0;

    if (size == 0)
        return;
    for (; in != NULL && *in != '\0' && n + 1 < size; in++)
        if ((unsigned char)*in >= 0x20 && (unsigned char)*in < 0x7f)
            out[n++] = *in;
    out[n] = '\0';
}

void oa_audit_actor_set(oa_audit_actor *a, const char *user,
                        const char *remote)
{
    memset(a, 0, sizeof(*a));
    clean_copy(a->user, sizeof(a->user), user);
    clean_copy(a->remote, sizeof(a->remote), remote);
}

oa_status oa_audit_append(oa_store *store, const char *kind,
                          const oa_audit_actor *actor, cJSON *details,
                          oa_error *err)
{
    struct timeval tv;
    struct tm tm;
    unsigned char rnd[4];
    char key[96], stamp[96];
    cJSON *e = NULL, *item;
    char *text = NULL, *stored = NULL;
    oa_status rc;

    if (!oa_audit_kind_valid(kind)) {
        cJSON_Delete(details);
        return oa_error_set(err, OA_EINVAL, "unknown audit kind");
    }
    gettimeofday(&tv, NULL);
    gmtime_r(&tv.tv_sec, &tm);
    if (RAND_bytes(rnd, sizeof(rnd)) != 1)
        memset(rnd, 0, sizeof(rnd));   /* the time still orders it */
    snprintf(key, sizeof(key),
             "%04d%02d%02dT%02d%02d%02d.%06ldZ-%02x%02x%02x%02x",
             tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
             tm.tm_min, tm.tm_sec, (long)tv.tv_usec, rnd[0], rnd[1], rnd[2],
             rnd[3]);
    snprintf(stamp, sizeof(stamp), "%04d-%02d-%02dT%02d:%02d:%02d.%06ldZ",
             tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
             tm.tm_min, tm.tm_sec, (long)tv.tv_usec);
    e = cJSON_CreateObject();
    if (e == NULL || cJSON_AddStringToObject(e, "Time", stamp) == NULL ||
        cJSON_AddStringToObject(e, "Kind", kind) == NULL) {
        rc = oa_error_set(err, OA_ENOMEM, "out of memory");
        goto out;
    }
    if (actor != NULL && actor->user[0] != '\0')
        cJSON_AddStringToObject(e, "User", actor->user);
    else
        cJSON_AddNullToObject(e, "User");
    if (actor != NULL && actor->remote[0] != '\0')
        cJSON_AddStringToObject(e, "Remote", actor->remote);
    else
        cJSON_AddNullToObject(e, "Remote");
    /* the details after, never over Time, Kind, User, Remote */
    while (details != NULL && (item = details->child) != NULL) {
        cJSON_DetachItemViaPointer(details, item);
        if (cJSON_GetObjectItemCaseSensitive(e, item->string) != NULL)
            cJSON_Delete(item);
        else
            cJSON_AddItemToObject(e, item->string, item);
    }
    text = cJSON_PrintUnformatted(e);
    if (text == NULL) {
        rc = oa_error_set(err, OA_ENOMEM, "out of memory");
        goto out;
    }
    rc = oa_store_put_if_absent(store, OA_STORE_AUDIT, key, text, &stored,
                                err);
    if (rc == OA_OK && strcmp(stored, text) != 0)
        rc = oa_error_set(err, OA_ECONFLICT,
                          "audit entry %s already exists", key);
out:
    oa_free(stored);
    cJSON_free(text);
    cJSON_Delete(e);
    cJSON_Delete(details);
    return rc;
}

/* IDs of "Resources" ([{"Level", "ID"}] or ["ID"]) by level. */
void oa_audit_resources(cJSON *details, const cJSON *resources,
                             const char *level, const char *id)
{
    cJSON *studies = cJSON_CreateArray(), *patients = cJSON_CreateArray();
    const cJSON *r;

    if (id != NULL) {
        cJSON_AddItemToArray(level != NULL && strcmp(level, "Patient") == 0
                                 ? patients
                                 : studies,
                             cJSON_CreateString(id));
    }
    cJSON_ArrayForEach(r, resources) {
        const cJSON *rid = cJSON_IsString(r)
                               ? r
                               : cJSON_GetObjectItemCaseSensitive(r, "ID");
        const cJSON *lv = cJSON_GetObjectItemCaseSensitive(r, "Level");

        if (!cJSON_IsString(rid))
            continue;
        cJSON_AddItemToArray(cJSON_IsString(lv) &&
                                     strcmp(lv->valuestring, "Patient") == 0
                                 ? patients
                                 : studies,
                             cJSON_CreateString(rid->valuestring));
    }
    cJSON_AddItemToObject(details, "Studies", studies);
    if (cJSON_GetArraySize(patients) > 0)
        cJSON_AddItemToObject(details, "Patients", patients);
    else
        cJSON_Delete(patients);
}

/* What the trail says of a target: its type and names, never a secret
 * or a Url. */
cJSON *oa_audit_target(const cJSON *target)
{
    static const char *const keys[] = {"Type", "Name", "Modality", "Peer",
                                       "Folder"};
    cJSON *o;
    size_t i;

    if (!cJSON_IsObject(target))
        return NULL;
    o = cJSON_CreateObject();
    for (i = 0; o != NULL && i < sizeof(keys) / sizeof(keys[0]); i++) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(target, keys[i]);

        if (cJSON_IsString(v))
            cJSON_AddStringToObject(o, keys[i], v->valuestring);
    }
    return o;
}

/* "2026-12-02", "20261202", "2026-12-02T05:54:00", "20261202T055400":
 * digits (and one T) without separators into `out`; false if not. */
static bool date_key(const char *in, char *out, size_t size)
{
    size_t n = 0;
    const char *p;

    for (p = in; *p != '\0'; p++) {
        if (*p == '-' || *p == ':')
            continue;
        if (n + 1 >= size)
            return false;
        if (!((*p >= '0' && *p <= '9') || (*p == 'T' && n == 8)))
            return false;
        out[n++] = *p;
    }
    out[n] = '\0';
    return n == 8 || n == 15;
}

oa_status oa_audit_query(oa_store *store, const char *since,
                         const char *until, const char *kind, size_t limit,
                         cJSON **out, oa_error *err)
{
    char lo[24] = "", hi[24] = "", **keys = NULL;
    size_t n = 0, i, got = 0;
    cJSON *list;
    oa_status rc;

    *out = NULL;
    if (since != NULL && !date_key(since, lo, sizeof(lo)))
        return oa_error_set(err, OA_EINVAL,
                            "\"since\" must be a date, YYYY-MM-DD or "
                            "YYYYMMDD[THHMMSS]");
    if (until != NULL && !date_key(until, hi, sizeof(hi)))
        return oa_error_set(err, OA_EINVAL,
                            "\"until\" must be a date, YYYY-MM-DD or "
                            "YYYYMMDD[THHMMSS]");
    if (kind != NULL && !oa_audit_kind_valid(kind))
        return oa_error_set(err, OA_EINVAL,
                            "\"kind\" must be anonymization, export, "
                            "report-download or destination");
    if (limit == 0)
        limit = OA_AUDIT_DEFAULT_LIMIT;
    rc = oa_store_list(store, OA_STORE_AUDIT, &keys, &n, err);
    if (rc != OA_OK)
        return rc;
    list = cJSON_CreateArray();
    if (list == NULL) {
        oa_store_free_keys(keys, n);
        return oa_error_set(err, OA_ENOMEM, "out of memory");
    }
    /* newest first; keys sort as times */
    for (i = n; i-- > 0 && got < limit;) {
        char *text = NULL;
        cJSON *e;

        if (hi[0] != '\0' && strncmp(keys[i], hi, strlen(hi)) > 0)
            continue;   /* after the day (or second) `until` names */
        if (lo[0] != '\0' && strncmp(keys[i], lo, strlen(lo)) < 0)
            break;      /* the rest are older */
        if (oa_store_get(store, OA_STORE_AUDIT, keys[i], &text, NULL) !=
            OA_OK)
            continue;   /* removed behind our back: not ours to judge */
        e = cJSON_Parse(text);
        oa_free(text);
        if (!cJSON_IsObject(e) ||
            (kind != NULL &&
             (!cJSON_IsString(cJSON_GetObjectItemCaseSensitive(e, "Kind")) ||
              strcmp(cJSON_GetObjectItemCaseSensitive(e, "Kind")->valuestring,
                     kind) != 0))) {
            cJSON_Delete(e);
            continue;
        }
        cJSON_AddItemToArray(list, e);
        got++;
    }
    oa_store_free_keys(keys, n);
    *out = list;
    return OA_OK;
}

static const char *const columns[] = {
    "Time", "Kind", "User", "Remote", "Job", "Report", "Profile",
    "Target", "Studies", "Patients", "Name",
};

/* A field as CSV text: strings as they are, lists joined by spaces,
 * objects as "Key=value" pairs (the target). */
static oa_status csv_value(oa_buf *out, const cJSON *v, oa_error *err)
{
    oa_buf tmp;
    const cJSON *x;
    oa_status rc = OA_OK;

    if (cJSON_IsString(v))
        return oa_csv_cell(out, v->valuestring);
    oa_buf_init(&tmp, (size_t)1 << 20);
    cJSON_ArrayForEach(x, v) {
        if (tmp.len > 0)
            rc = oa_buf_append(&tmp, (const uint8_t *)" ", 1);
        if (rc == OA_OK && x->string != NULL)
            rc = oa_buf_printf(&tmp, "%s=", x->string);
        if (rc == OA_OK && cJSON_IsString(x))
            rc = oa_buf_printf(&tmp, "%s", x->valuestring);
        if (rc != OA_OK)
            break;
    }
    if (rc == OA_OK)
        rc = oa_csv_cell(out, tmp.len > 0 ? oa_buf_cstr(&tmp) : "");
    oa_buf_dispose(&tmp);
    if (rc != OA_OK)
        return oa_error_set(err, rc, "audit CSV too large");
    return OA_OK;
}

oa_status oa_audit_csv(const cJSON *entries, oa_buf *out, oa_error *err)
{
    const cJSON *e;
    size_t i;
    oa_status rc = OA_OK;

    for (i = 0; i < sizeof(columns) / sizeof(columns[0]) && rc == OA_OK; i++)
        rc = oa_buf_printf(out, "%s%s", i ? "," : "", columns[i]);
    if (rc == OA_OK)
        rc = oa_buf_append(out, (const uint8_t *)"\r\n", 2);
    cJSON_ArrayForEach(e, entries) {
        for (i = 0; i < sizeof(columns) / sizeof(columns[0]) && rc == OA_OK;
             i++) {
            if (i > 0)
                rc = oa_buf_append(out, (const uint8_t *)",", 1);
            if (rc == OA_OK)
                rc = csv_value(out,
                               cJSON_GetObjectItemCaseSensitive(e, columns[i]),
                               err);
        }
        if (rc == OA_OK)
            rc = oa_buf_append(out, (const uint8_t *)"\r\n", 2);
        if (rc != OA_OK)
            break;
    }
    if (rc != OA_OK && (err == NULL || err->code == OA_OK))
        return oa_error_set(err, rc, "audit CSV too large");
    return rc;
}
