/*
 * The Orthanc backends: DICOM C-STORE to a modality Orthanc knows
 * ("DicomModalities") and transfer to an Orthanc peer ("OrthancPeers"),
 * both through Orthanc's own REST API, which sends the stored instances
 * (POST /modalities/{m}/store, /peers/{p}/store, synchronously), with
 * the functions the plugin gives at start-up (oa_export_orthanc_set_host):
 * nothing here calls Orthanc directly.
 *
 * An anonymization on the way out has no stored instance to name: it
 * sends each file's bytes (put) with POST .../store-straight (Orthanc
 * 1.10.1), from any thread, one instance a call.
 *
 * C-STORE has no temporary names: what a receiver got before a failure
 * stays there; the job reports how far it went.  Orthanc must run with
 * TCP_NODELAY=1 in its environment or dcmtk's Nagle delays make C-STORE
 * twenty times slower (doc/orthanc-1.10.1.md, pitfall 8).
 */
#define _POSIX_C_SOURCE 200809L

#include "export_int.h"

#include <cjson/cJSON.h>

#include <stdio.h>
#include <string.h>

/* Orthanc's REST API, or all NULL outside Orthanc. */
static oa_export_orthanc_host api;

void oa_export_orthanc_set_host(const oa_export_orthanc_host *h)
{
    if (h != NULL)
        api = *h;
    else
        memset(&api, 0, sizeof(api));
}

typedef struct orthanc_exporter {
    oa_exporter base;
    bool peer;
    char name[256];
    uint64_t sent;
} orthanc_exporter;

static bool name_ok(const char *n)
{
    size_t i;

    if (n == NULL || n[0] == '\0' || strlen(n) > 200)
        return false;
    for (i = 0; n[i] != '\0'; i++)
        if (n[i] == '/' || n[i] == '?' || n[i] == '#' || n[i] == '%' ||
            (unsigned char)n[i] < 0x20 || n[i] == ' ')
            return false;
    return true;
}

/* The modality or peer must be one Orthanc knows. */
oa_status oa_export_orthanc_check(bool peer, const char *name, oa_error *err)
{
    cJSON *list = NULL;
    const cJSON *item;
    bool found = false;
    oa_status rc;

    if (!name_ok(name))
        return oa_error_set(err, OA_EINVAL, "%s name missing or invalid",
                            peer ? "peer" : "modality");
    if (api.call == NULL || api.get_json == NULL || api.peer_get == NULL)
        return oa_error_set(err, OA_EINVAL,
                            "exports to a %s work only inside Orthanc",
                            peer ? "peer" : "DICOM modality");
    rc = api.get_json(peer ? "/peers" : "/modalities", &list, err);
    if (rc != OA_OK)
        return rc;
    cJSON_ArrayForEach(item, list)
        found |= cJSON_IsString(item) && strcmp(item->valuestring, name) == 0;
    cJSON_Delete(list);
    if (!found)
        return oa_error_set(err, OA_EINVAL,
                            "Orthanc knows no %s named %s (see GET %s)",
                            peer ? "peer" : "DICOM modality", name,
                            peer ? "/peers" : "/modalities");
    return OA_OK;
}

/* Orthanc's error details from an answer body, for the message. */
static void details_of(const oa_buf *answer, char *out, size_t size)
{
    cJSON *json = cJSON_ParseWithLength((const char *)oa_buf_data(answer),
                                        answer->len);
    const cJSON *d = cJSON_GetObjectItemCaseSensitive(json, "Details");
    const cJSON *m = cJSON_GetObjectItemCaseSensitive(json, "Message");

    snprintf(out, size, "%s",
             cJSON_IsString(d) && d->valuestring[0] ? d->valuestring
             : cJSON_IsString(m)                    ? m->valuestring
                                                    : "see Orthanc's log");
    cJSON_Delete(json);
}

static oa_status orthanc_test_with(bool peer, const oa_export_target *t,
                                   oa_error *err)
{
    const char *name = peer ? t->peer : t->modality;
    char uri[300], details[300];
    oa_buf answer;
    uint16_t status;
    oa_status rc = oa_export_orthanc_check(peer, name, err);

    if (rc != OA_OK)
        return rc;
    oa_buf_init(&answer, 1 << 20);
    if (peer)
        snprintf(uri, sizeof(uri), "/peers/%s/system", name);
    else
        snprintf(uri, sizeof(uri), "/modalities/%s/echo", name);
    rc = api.call(!peer, uri, "{}", 2, &answer, &status, err);
    if (rc == OA_OK && status != 200) {
        details_of(&answer, details, sizeof(details));
        rc = oa_error_set(err, OA_ENET, "%s %s does not answer (HTTP %u): %s",
                          peer ? "Orthanc peer" : "DICOM modality", name,
                          (unsigned)status, details);
    }
    oa_buf_dispose(&answer);
    return rc;
}

static oa_status dicom_test(const oa_export_target *t, oa_error *err)
{
    return orthanc_test_with(false, t, err);
}

static oa_status peer_test(const oa_export_target *t, oa_error *err)
{
    return orthanc_test_with(true, t, err);
}

static oa_status open_with(oa_exporter **out, const oa_export_target *t,
                           bool peer, oa_error *err)
{
    orthanc_exporter *o;
    const char *name = peer ? t->peer : t->modality;
    oa_status rc = oa_export_orthanc_check(peer, name, err);

    *out = NULL;
    if (rc != OA_OK)
        return rc;
    o = oa_calloc(1, sizeof(*o));
    if (o == NULL)
        return oa_error_set(err, OA_ENOMEM, "out of memory");
    o->base.backend = peer ? &oa_export_backend_peer : &oa_export_backend_dicom;
    o->peer = peer;
    snprintf(o->name, sizeof(o->name), "%s", name);
    *out = &o->base;
    return OA_OK;
}

static oa_status dicom_open(oa_exporter **out, const oa_export_target *t,
                            const char *name, oa_error *err)
{
    (void)name;
    return open_with(out, t, false, err);
}

static oa_status peer_open(oa_exporter **out, const oa_export_target *t,
                           const char *name, oa_error *err)
{
    (void)name;
    return open_with(out, t, true, err);
}

/* A failed transfer as ours: refused credentials are not retried. */
static oa_status classify(const orthanc_exporter *o, const char *details,
                          oa_error *err)
{
    const char *what = o->peer ? "Orthanc peer" : "DICOM modality";
    uint16_t status = 0;

    /* Orthanc 1.10.1 says "Error in the network protocol" for a peer that
     * is down and for one that refuses the password alike: ask it. */
    if (o->peer &&
        api.peer_get(o->name, "/system", 10, &status, NULL) == OA_OK &&
        (status == 401 || status == 403))
        return oa_error_set(err, OA_EAUTH,
                            "Orthanc peer %s refused the credentials (HTTP "
                            "%u: check its Username and Password in "
                            "Orthanc's OrthancPeers)",
                            o->name, (unsigned)status);

    if (strstr(details, "401") != NULL || strstr(details, "nauthorized") ||
        strstr(details, "403") != NULL || strstr(details, "orbidden"))
        return oa_error_set(err, OA_EAUTH,
                            "%s %s refused the credentials (check its "
                            "user name and password in Orthanc's "
                            "configuration): %s",
                            what, o->name, details);
    if (!o->peer && strstr(details, "eject") != NULL)
        return oa_error_set(err, OA_ENET,
                            "DICOM modality %s rejected the association "
                            "(check its AE title and Orthanc's): %s",
                            o->name, details);
    return oa_error_set(err, OA_ENET,
                        "%s %s could not be reached or broke the "
                        "transfer (is it running? check its address and "
                        "port): %s",
                        what, o->name, details);
}

/* POST `body` to `uri`; a refusal or failure classified as ours. */
static oa_status post_classified(const orthanc_exporter *o, const char *uri,
                                 const void *body, size_t len, oa_error *err)
{
    char details[300];
    oa_buf answer;
    uint16_t status = 0;
    oa_status rc;

    oa_buf_init(&answer, 1 << 20);
    rc = api.call(true, uri, body, len, &answer, &status, err);
    if (rc == OA_EIO || (rc == OA_OK && status != 200)) {
        /* Orthanc raises these as errors of its own ("Error in the
         * network protocol", "Unauthorized"...): say what they mean. */
        if (rc == OA_OK)
            details_of(&answer, details, sizeof(details));
        else
            snprintf(details, sizeof(details), "%s", err->msg);
        rc = classify(o, details, err);
    }
    oa_buf_dispose(&answer);
    return rc;
}

static oa_status orthanc_put(oa_exporter *e, const char *const *ids,
                             size_t count, oa_error *err)
{
    orthanc_exporter *o = (orthanc_exporter *)e;
    cJSON *body = cJSON_CreateObject(), *list;
    char uri[300], *text = NULL;
    oa_status rc;
    size_t i;

    list = body != NULL ? cJSON_AddArrayToObject(body, "Resources") : NULL;
    for (i = 0; list != NULL && i < count; i++)
        if (!cJSON_AddItemToArray(list, cJSON_CreateString(ids[i])))
            list = NULL;
    if (list == NULL ||
        cJSON_AddBoolToObject(body, "Synchronous", 1) == NULL ||
        (text = cJSON_PrintUnformatted(body)) == NULL) {
        rc = oa_error_set(err, OA_ENOMEM, "out of memory");
        goto out;
    }
    snprintf(uri, sizeof(uri), "/%s/%s/store", o->peer ? "peers" : "modalities",
             o->name);
    rc = post_classified(o, uri, text, strlen(text), err);
    if (rc == OA_OK)
        o->sent += count;
out:
    cJSON_free(text);
    cJSON_Delete(body);
    return rc;
}

/* One DICOM file (the bytes, not a stored instance): store-straight.  No
 * state is touched, so that workers may call it in parallel. */
static oa_status orthanc_put_file(oa_exporter *e, const char *relpath,
                                  const uint8_t *data, size_t len,
                                  unsigned flags, oa_error *err)
{
    const orthanc_exporter *o = (const orthanc_exporter *)e;
    char uri[300];

    (void)relpath;
    (void)flags;
    snprintf(uri, sizeof(uri), "/%s/%s/store-straight",
             o->peer ? "peers" : "modalities", o->name);
    return post_classified(o, uri, data, len, err);
}

static oa_status orthanc_finish(oa_exporter *e, oa_export_result *res,
                                oa_error *err)
{
    orthanc_exporter *o = (orthanc_exporter *)e;

    (void)err;
    snprintf(res->location, sizeof(res->location), "%s %s",
             o->peer ? "Orthanc peer" : "DICOM modality", o->name);
    return OA_OK;
}

static void orthanc_abort(oa_exporter *e)
{
    (void)e;   /* what a receiver got cannot be taken back */
}

static void orthanc_free(oa_exporter *e)
{
    oa_free(e);
}

static const oa_export_ops dicom_ops = {
    dicom_test,     /* test */
    dicom_open,     /* open */
    orthanc_put_file, /* put: the bytes (store-straight) */
    orthanc_put,    /* put_orthanc */
    orthanc_finish, /* finish */
    orthanc_abort,  /* abort */
    orthanc_free,   /* free */
};

static const oa_export_ops peer_ops = {
    peer_test,      /* test */
    peer_open,      /* open */
    orthanc_put_file, /* put: the bytes (store-straight) */
    orthanc_put,    /* put_orthanc */
    orthanc_finish, /* finish */
    orthanc_abort,  /* abort */
    orthanc_free,   /* free */
};

const oa_export_backend oa_export_backend_dicom = {"dicom", true, &dicom_ops};
const oa_export_backend oa_export_backend_peer = {"peer", true, &peer_ops};
