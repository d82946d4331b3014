/*
 * The Orthanc backends: DICOM C-STORE to a modality Orthanc knows
 * ("DicomModalities") and transfer to an Orthanc peer ("OrthancPeers"),
 * both through Orthanc's own REST API, which sends the stored instances
 * (POST /modalities/{m}/store, /peers/{p}/store, synchronously), with
 * the functions the plugin gives at start-up (oa_export_orthanc_set_host):
 * nothing here calls Orthanc directly.
 *
 * An anonymization on the way out has no stored instance to name: it
 * sends each file's bytes (put).  To a peer, with POST .../store-straight
 * (Orthanc 1.10.1), from any thread, one instance a call.  To a DICOM
 * modality, through the plugin's own C-STORE SCU (dimse.c): one
 * association for the whole export, which the workers share under a
 * lock, where store-straight opens one per file (8 to 13 ms each, see
 * doc/performance.md).  The modality's settings are Orthanc's own (GET
 * /modalities/{m}/configuration: AET, Host, Port, LocalAet, Timeout;
 * Orthanc's DicomAet and DicomScuTimeout otherwise).  Orthanc's
 * A file whose transfer syntax the modality does not take is transcoded
 * by Orthanc into explicit, then implicit VR little endian (as Orthanc's
 * own C-STORE does, unless the modality says "AllowTranscoding": false).
 * Orthanc's store-straight still sends what the SCU cannot: a modality
 * with "UseDicomTls", a file whose meta information the SCU does not
 * follow, "Anonymizer.DicomScu": "orthanc".  Our association is released
 * before such a file, so that an SCP that takes one association at a time
 * takes Orthanc's.
 *
 * C-STORE has no temporary names: what a receiver got before a failure
 * stays there; the job reports how far it went.  Orthanc must run with
 * TCP_NODELAY=1 in its environment or dcmtk's Nagle delays make C-STORE
 * twenty times slower (doc/orthanc-1.10.1.md, pitfall 8).
 */
#define _POSIX_C_SOURCE 200809L

#include "export_int.h"

#include <cjson/cJSON.h>

#include <pthread.h>
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
    /* the way out to a modality (put) */
    pthread_mutex_t lock;    /* the SCU and the counters below */
    oa_scu *scu;             /* NULL: store-straight for every file */
    bool transcoding;        /* the modality's AllowTranscoding */
    uint64_t files;          /* puts so far: a file's position */
    uint64_t by_scu;         /* sent by our SCU */
    uint64_t by_orthanc;     /* sent by store-straight */
    uint64_t transcoded;     /* of by_scu, transcoded by Orthanc first */
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

static const char *json_str(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);

    return cJSON_IsString(v) ? v->valuestring : NULL;
}

/*
 * Our SCU for the modality `o->name`, from Orthanc's settings of it, or
 * none (o->scu NULL: store-straight), saying why in the log.
 */
static oa_status scu_open(orthanc_exporter *o, const oa_export_target *t,
                          oa_error *err)
{
    char uri[300];
    cJSON *conf = NULL;
    const cJSON *port, *timeout, *tls;
    const char *aet, *host, *local;
    oa_scu_params p;
    oa_error why;
    oa_status rc;

    if (!t->own_scu)
        return OA_OK;
    oa_error_clear(&why);
    snprintf(uri, sizeof(uri), "/modalities/%s/configuration", o->name);
    if (api.get_json(uri, &conf, &why) != OA_OK) {
        oa_log(OA_LOG_WARNING,
               "DICOM modality %s: its settings cannot be read (%s); the "
               "files go through Orthanc's store-straight",
               o->name, why.msg);
        return OA_OK;
    }
    aet = json_str(conf, "AET");
    host = json_str(conf, "Host");
    local = json_str(conf, "LocalAet");
    port = cJSON_GetObjectItemCaseSensitive(conf, "Port");
    timeout = cJSON_GetObjectItemCaseSensitive(conf, "Timeout");
    tls = cJSON_GetObjectItemCaseSensitive(conf, "UseDicomTls");
    o->transcoding = !cJSON_IsFalse(
        cJSON_GetObjectItemCaseSensitive(conf, "AllowTranscoding"));
    if (cJSON_IsTrue(tls) || aet == NULL || aet[0] == '\0' ||
        strlen(aet) > 16 || host == NULL || host[0] == '\0' ||
        strlen(host) >= sizeof(p.host) || !cJSON_IsNumber(port) ||
        port->valuedouble < 1 || port->valuedouble > 65535 ||
        (local != NULL && strlen(local) > 16)) {
        oa_log(OA_LOG_INFO,
               "DICOM modality %s: %s; the files go through Orthanc's "
               "store-straight",
               o->name,
               cJSON_IsTrue(tls) ? "it uses DICOM TLS, which the plugin's "
                                   "SCU does not speak"
                                 : "its settings are not ones the plugin's "
                                   "SCU takes");
        cJSON_Delete(conf);
        return OA_OK;
    }
    memset(&p, 0, sizeof(p));
    snprintf(p.name, sizeof(p.name), "%.127s", o->name);
    snprintf(p.host, sizeof(p.host), "%s", host);
    p.port = (int)port->valuedouble;
    snprintf(p.called_aet, sizeof(p.called_aet), "%s", aet);
    snprintf(p.calling_aet, sizeof(p.calling_aet), "%s",
             local != NULL && local[0] != '\0' ? local
             : t->calling_aet != NULL && t->calling_aet[0] != '\0'
                 ? t->calling_aet
                 : "ORTHANC");
    p.timeout = cJSON_IsNumber(timeout) && timeout->valuedouble >= 1 &&
                        timeout->valuedouble <= 3600
                    ? (unsigned)timeout->valuedouble
                    : t->scu_timeout;
    cJSON_Delete(conf);
    rc = oa_scu_new(&o->scu, &p, err);
    return rc;
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
    pthread_mutex_init(&o->lock, NULL);
    if (!peer && (rc = scu_open(o, t, err)) != OA_OK) {
        pthread_mutex_destroy(&o->lock);
        oa_free(o);
        return rc;
    }
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

static oa_status store_straight(const orthanc_exporter *o,
                                const uint8_t *data, size_t len,
                                oa_error *err)
{
    char uri[300];

    snprintf(uri, sizeof(uri), "/%s/%s/store-straight",
             o->peer ? "peers" : "modalities", o->name);
    return post_classified(o, uri, data, len, err);
}

/*
 * One DICOM file (the bytes, not a stored instance), from any worker.
 * Store-straight alone touches no state; our SCU is one association,
 * taken in turn.  A file the SCU cannot send as it is goes through
 * store-straight, our association released first (the lock held, so
 * that no other worker opens it again meanwhile).
 */
static oa_status orthanc_put_file(oa_exporter *e, const char *relpath,
                                  const uint8_t *data, size_t len,
                                  unsigned flags, oa_error *err)
{
    static const char *const uncompressed[2] = {
        "1.2.840.10008.1.2.1",   /* explicit VR little endian */
        "1.2.840.10008.1.2",     /* implicit VR little endian */
    };
    orthanc_exporter *o = (orthanc_exporter *)e;
    char refused[OA_ERROR_MSG_MAX];
    oa_error release_err;
    oa_scu_file meta;
    uint64_t position;
    oa_status rc;
    size_t i;

    (void)relpath;
    (void)flags;
    oa_error_clear(&release_err);
    if (o->scu == NULL) {
        rc = store_straight(o, data, len, err);
        if (rc == OA_OK) {
            pthread_mutex_lock(&o->lock);
            o->by_orthanc++;
            pthread_mutex_unlock(&o->lock);
        }
        return rc;
    }
    if (oa_scu_meta(data, len, &meta, err) != OA_OK) {
        oa_log(OA_LOG_INFO,
               "DICOM modality %s: a file of the export goes through "
               "Orthanc's store-straight (%s)", o->name, err->msg);
        oa_error_clear(err);
        pthread_mutex_lock(&o->lock);
        position = ++o->files;
        if (oa_scu_release(o->scu, &release_err) != OA_OK)
            oa_log(OA_LOG_WARNING, "%s", release_err.msg);
        rc = store_straight(o, data, len, err);
        if (rc == OA_OK)
            o->by_orthanc++;
        pthread_mutex_unlock(&o->lock);
        return rc;
    }
    pthread_mutex_lock(&o->lock);
    position = ++o->files;
    rc = oa_scu_store(o->scu, data, len, position, err);
    for (i = 0; rc == OA_EUNSUPPORTED && o->transcoding &&
                api.transcode != NULL && i < 2;
         i++) {
        oa_buf copy;
        oa_error why;

        if (strcmp(meta.transfer_syntax, uncompressed[i]) == 0)
            continue;
        snprintf(refused, sizeof(refused), "%s", err->msg);
        oa_error_clear(err);
        oa_error_clear(&why);
        oa_buf_init(&copy, (size_t)1 << 32);
        if (api.transcode(data, len, uncompressed[i], &copy, &why) != OA_OK) {
            oa_buf_dispose(&copy);
            rc = oa_error_set(err, OA_EINVAL,
                              "%s, and Orthanc cannot transcode file %llu "
                              "of the export into %s (%s)", refused,
                              (unsigned long long)position, uncompressed[i],
                              why.msg);
            break;
        }
        rc = oa_scu_store(o->scu, oa_buf_data(&copy), copy.len, position,
                          err);
        oa_buf_dispose(&copy);
        if (rc == OA_OK)
            o->transcoded++;
    }
    if (rc == OA_OK)
        o->by_scu++;
    else if (rc == OA_EUNSUPPORTED)   /* every syntax tried: not retried */
        rc = oa_error_set(err, OA_EINVAL,
                          "%s%s (check the SOP classes and transfer "
                          "syntaxes the modality accepts)", err->msg,
                          o->transcoding ? ", nor in explicit or implicit "
                                           "VR little endian"
                                         : " (its AllowTranscoding is "
                                           "false)");
    pthread_mutex_unlock(&o->lock);
    return rc;
}

static oa_status orthanc_finish(oa_exporter *e, oa_export_result *res,
                                oa_error *err)
{
    orthanc_exporter *o = (orthanc_exporter *)e;

    oa_error release_err;

    (void)err;
    snprintf(res->location, sizeof(res->location), "%s %s",
             o->peer ? "Orthanc peer" : "DICOM modality", o->name);
    pthread_mutex_lock(&o->lock);
    if (o->scu != NULL) {
        /* every file was confirmed by its C-STORE response: a release
         * the SCP does not confirm loses nothing */
        oa_error_clear(&release_err);
        if (oa_scu_release(o->scu, &release_err) != OA_OK)
            oa_log(OA_LOG_WARNING, "%s", release_err.msg);
        /* a warning when files fell back: each took an association */
        oa_log(o->by_orthanc + o->transcoded > 0 ? OA_LOG_WARNING
                                                 : OA_LOG_INFO,
               "DICOM modality %s: %llu files sent by the plugin's SCU over "
               "%llu association(s) (%llu transcoded first: the modality "
               "takes no file in its own transfer syntax), %llu by "
               "Orthanc's store-straight",
               o->name, (unsigned long long)o->by_scu,
               (unsigned long long)oa_scu_associations(o->scu),
               (unsigned long long)o->transcoded,
               (unsigned long long)o->by_orthanc);
    }
    pthread_mutex_unlock(&o->lock);
    return OA_OK;
}

static void orthanc_abort(oa_exporter *e)
{
    orthanc_exporter *o = (orthanc_exporter *)e;

    /* what a receiver got cannot be taken back; our association ends */
    pthread_mutex_lock(&o->lock);
    if (o->scu != NULL)
        oa_scu_abort(o->scu);
    pthread_mutex_unlock(&o->lock);
}

static void orthanc_free(oa_exporter *e)
{
    orthanc_exporter *o = (orthanc_exporter *)e;

    oa_scu_free(o->scu);
    pthread_mutex_destroy(&o->lock);
    oa_free(o);
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
