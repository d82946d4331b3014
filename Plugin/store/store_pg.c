/*
 * The PostgreSQL store (libpq): the state of the plugin shared by every
 * Orthanc server of a cluster that runs on one PostgreSQL index, since
 * Orthanc keeps plugin global properties per server.
 *
 * Our own schema, "orthanc_anonymizer", created and migrated on first
 * use inside one transaction that holds an advisory lock, so that two
 * servers starting together do not race:
 *
 *   meta(key, value)                      -- schema_version
 *   kv(ns, key, value, updated, created)  -- the store's values
 *
 * Version 2 added kv.created (when a key was first written: what
 * retention goes by; rows of version 1 count from the migration).
 * Adding a key is one INSERT on the primary key's index: O(log n).
 *
 * Every write is one statement (atomic on its own); put_if_absent is
 * INSERT ... ON CONFLICT DO NOTHING followed by a read, so the first
 * writer wins across servers.  One connection per store behind a mutex,
 * reset when the server dropped it.  Values are never logged.
 */
#define _POSIX_C_SOURCE 200809L

#include "store_int.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#define SCHEMA "orthanc_anonymizer"
#define SCHEMA_VERSION 2

typedef struct pg_store {
    oa_store base;
    pthread_mutex_t lock;
    char *conninfo;
    PGconn *conn;
    bool migrated;
} pg_store;

/* A libpq error as ours (the message is PostgreSQL's, never a value). */
static oa_status pg_error(pg_store *p, const char *what, const PGresult *r,
                          oa_error *err)
{
    const char *msg = r != NULL ? PQresultErrorMessage(r)
                                : PQerrorMessage(p->conn);
    char clean[200];
    size_t n;

    snprintf(clean, sizeof(clean), "%s", msg != NULL ? msg : "?");
    n = strlen(clean);
    while (n > 0 && (clean[n - 1] == '\n' || clean[n - 1] == ' '))
        clean[--n] = '\0';
    return oa_error_set(err, OA_EIO, "PostgreSQL store, %s: %s", what,
                        clean);
}

/* PostgreSQL's notices ("schema ... already exists, skipping") are not
 * for Orthanc's log. */
static void quiet(void *arg, const char *message)
{
    (void)arg;
    (void)message;
}

/* Under the lock: a working connection with our schema in place. */
static oa_status ready(pg_store *p, oa_error *err)
{
    static const char *const migration[] = {
        "BEGIN",
        "SELECT pg_advisory_xact_lock(1329949293)", /* ours: "OAnm" */
        "CREATE SCHEMA IF NOT EXISTS " SCHEMA,
        "CREATE TABLE IF NOT EXISTS " SCHEMA ".meta ("
        " key text PRIMARY KEY, value text NOT NULL)",
        "CREATE TABLE IF NOT EXISTS " SCHEMA ".kv ("
        " ns text NOT NULL, key text NOT NULL, value text NOT NULL,"
        " updated timestamptz NOT NULL DEFAULT now(),"
        " created timestamptz NOT NULL DEFAULT now(),"
        " PRIMARY KEY (ns, key))",
        "INSERT INTO " SCHEMA ".meta VALUES ('schema_version', '2')"
        " ON CONFLICT (key) DO NOTHING",
    };
    PGresult *r;
    size_t i;
    int version;

    if (p->conn == NULL) {
        p->conn = PQconnectdb(p->conninfo);
        if (p->conn == NULL)
            return oa_error_set(err, OA_ENOMEM, "out of memory");
        PQsetNoticeProcessor(p->conn, quiet, NULL);
    }
    if (PQstatus(p->conn) != CONNECTION_OK) {
        PQreset(p->conn);
        if (PQstatus(p->conn) != CONNECTION_OK)
            return oa_error_set(err, OA_ENET,
                                "PostgreSQL store: cannot connect: %.150s",
                                PQerrorMessage(p->conn));
    }
    if (p->migrated)
        return OA_OK;
    for (i = 0; i < sizeof(migration) / sizeof(migration[0]); i++) {
        r = PQexec(p->conn, migration[i]);
        if (PQresultStatus(r) != PGRES_COMMAND_OK &&
            PQresultStatus(r) != PGRES_TUPLES_OK) {
            oa_status rc = pg_error(p, "creating its tables", r, err);

            PQclear(r);
            PQclear(PQexec(p->conn, "ROLLBACK"));
            return rc;
        }
        PQclear(r);
    }
    r = PQexec(p->conn,
               "SELECT value FROM " SCHEMA ".meta WHERE key = 'schema_version'");
    version = PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1
                  ? atoi(PQgetvalue(r, 0, 0))
                  : -1;
    PQclear(r);
    if (version > SCHEMA_VERSION || version < 1) {
        PQclear(PQexec(p->conn, "ROLLBACK"));
        return oa_error_set(err, OA_EUNSUPPORTED,
                            "PostgreSQL store: schema version %d is not "
                            "ours (%d): a newer plugin migrated it",
                            version, SCHEMA_VERSION);
    }
    /* Later versions migrate here, step by step, in this transaction. */
    if (version == 1) {
        static const char *const to2[] = {
            "ALTER TABLE " SCHEMA ".kv ADD COLUMN IF NOT EXISTS"
            " created timestamptz NOT NULL DEFAULT now()",
            "UPDATE " SCHEMA ".meta SET value = '2'"
            " WHERE key = 'schema_version'",
        };

        for (i = 0; i < sizeof(to2) / sizeof(to2[0]); i++) {
            r = PQexec(p->conn, to2[i]);
            if (PQresultStatus(r) != PGRES_COMMAND_OK) {
                oa_status rc = pg_error(p, "migrating its tables", r, err);

                PQclear(r);
                PQclear(PQexec(p->conn, "ROLLBACK"));
                return rc;
            }
            PQclear(r);
        }
    }
    r = PQexec(p->conn, "COMMIT");
    if (PQresultStatus(r) != PGRES_COMMAND_OK) {
        oa_status rc = pg_error(p, "creating its tables", r, err);

        PQclear(r);
        return rc;
    }
    PQclear(r);
    p->migrated = true;
    return OA_OK;
}

/* Run one statement with text parameters (under the lock). */
static PGresult *run(pg_store *p, const char *sql, int n,
                     const char *const *params, oa_status *rc, oa_error *err)
{
    PGresult *r;
    int attempt;

    for (attempt = 0; attempt < 2; attempt++) {
        *rc = ready(p, err);
        if (*rc != OA_OK)
            return NULL;
        r = PQexecParams(p->conn, sql, n, NULL, params, NULL, NULL, 0);
        if (PQresultStatus(r) == PGRES_COMMAND_OK ||
            PQresultStatus(r) == PGRES_TUPLES_OK)
            return r;
        /* A dropped connection: reset and try once more. */
        if (PQstatus(p->conn) != CONNECTION_OK && attempt == 0) {
            PQclear(r);
            continue;
        }
        *rc = pg_error(p, "query", r, err);
        PQclear(r);
        return NULL;
    }
    *rc = oa_error_set(err, OA_ENET, "PostgreSQL store: connection lost");
    return NULL;
}

static oa_status pg_get(oa_store *s, const char *ns, const char *key,
                        char **value, oa_error *err)
{
    pg_store *p = (pg_store *)s;
    const char *params[2] = {ns, key};
    oa_status rc;
    PGresult *r;

    pthread_mutex_lock(&p->lock);
    r = run(p, "SELECT value FROM " SCHEMA ".kv WHERE ns = $1 AND key = $2",
            2, params, &rc, err);
    if (r != NULL) {
        if (PQntuples(r) == 0)
            rc = oa_error_set(err, OA_ENOTFOUND, "no %s named %s", ns, key);
        else if ((*value = oa_strdup(PQgetvalue(r, 0, 0))) == NULL)
            rc = oa_error_set(err, OA_ENOMEM, "out of memory");
        PQclear(r);
    }
    pthread_mutex_unlock(&p->lock);
    return rc;
}

static oa_status pg_put(oa_store *s, const char *ns, const char *key,
                        const char *value, oa_error *err)
{
    pg_store *p = (pg_store *)s;
    const char *params[3] = {ns, key, value};
    oa_status rc;
    PGresult *r;

    pthread_mutex_lock(&p->lock);
    r = run(p,
            "INSERT INTO " SCHEMA ".kv (ns, key, value) VALUES ($1, $2, $3)"
            " ON CONFLICT (ns, key) DO UPDATE SET value = EXCLUDED.value,"
            " updated = now()",
            3, params, &rc, err);
    PQclear(r);
    pthread_mutex_unlock(&p->lock);
    return rc;
}

static oa_status pg_put_if_absent(oa_store *s, const char *ns,
                                  const char *key, const char *value,
                                  char **stored, oa_error *err)
{
    pg_store *p = (pg_store *)s;
    const char *params[3] = {ns, key, value};
    oa_status rc = OA_OK;
    PGresult *r;
    int attempt;

    pthread_mutex_lock(&p->lock);
    for (attempt = 0; attempt < 3 && *stored == NULL; attempt++) {
        r = run(p,
                "INSERT INTO " SCHEMA ".kv (ns, key, value)"
                " VALUES ($1, $2, $3) ON CONFLICT (ns, key) DO NOTHING",
                3, params, &rc, err);
        PQclear(r);
        if (rc != OA_OK)
            break;
        /* A new statement: sees whichever writer won. */
        r = run(p, "SELECT value FROM " SCHEMA ".kv WHERE ns = $1 AND key = $2",
                2, params, &rc, err);
        if (r != NULL && PQntuples(r) == 1 &&
            (*stored = oa_strdup(PQgetvalue(r, 0, 0))) == NULL)
            rc = oa_error_set(err, OA_ENOMEM, "out of memory");
        PQclear(r);
        if (rc != OA_OK)
            break;
    }
    if (rc == OA_OK && *stored == NULL)
        rc = oa_error_set(err, OA_EIO,
                          "PostgreSQL store: the value of %s could not be "
                          "settled",
                          key);
    pthread_mutex_unlock(&p->lock);
    return rc;
}

static oa_status pg_remove(oa_store *s, const char *ns, const char *key,
                           oa_error *err)
{
    pg_store *p = (pg_store *)s;
    const char *params[2] = {ns, key};
    oa_status rc;
    PGresult *r;

    pthread_mutex_lock(&p->lock);
    r = run(p, "DELETE FROM " SCHEMA ".kv WHERE ns = $1 AND key = $2", 2,
            params, &rc, err);
    if (r != NULL && strcmp(PQcmdTuples(r), "0") == 0)
        rc = oa_error_set(err, OA_ENOTFOUND, "no %s named %s", ns, key);
    PQclear(r);
    pthread_mutex_unlock(&p->lock);
    return rc;
}

static oa_status pg_list(oa_store *s, const char *ns, char ***keys,
                         int64_t **times, size_t *count, oa_error *err)
{
    pg_store *p = (pg_store *)s;
    const char *params[1] = {ns};
    oa_status rc;
    PGresult *r;
    char **out = NULL;
    int64_t *t = NULL;
    int n = 0, i;

    pthread_mutex_lock(&p->lock);
    r = run(p,
            "SELECT key, (extract(epoch FROM created) * 1000000)::bigint FROM "
            SCHEMA
            ".kv WHERE ns = $1",
            1, params, &rc, err);
    if (r != NULL) {
        n = PQntuples(r);
        out = oa_calloc(n > 0 ? (size_t)n : 1, sizeof(*out));
        if (times != NULL && out != NULL &&
            (t = oa_calloc(n > 0 ? (size_t)n : 1, sizeof(*t))) == NULL) {
            oa_free(out);
            out = NULL;
        }
        if (out == NULL)
            rc = oa_error_set(err, OA_ENOMEM, "out of memory");
        for (i = 0; out != NULL && i < n; i++) {
            if (t != NULL)
                t[i] = strtoll(PQgetvalue(r, i, 1), NULL, 10);
            if ((out[i] = oa_strdup(PQgetvalue(r, i, 0))) == NULL) {
                oa_store_free_keys(out, (size_t)i);
                out = NULL;
                oa_free(t);
                t = NULL;
                rc = oa_error_set(err, OA_ENOMEM, "out of memory");
            }
        }
        PQclear(r);
    }
    pthread_mutex_unlock(&p->lock);
    if (rc == OA_OK) {
        /* strcmp order, as the others */
        oa_store_sort_keyed(out, t, (size_t)n);
        *keys = out;
        if (times != NULL)
            *times = t;
        *count = (size_t)n;
    }
    return rc;
}

static void pg_free(oa_store *s)
{
    pg_store *p = (pg_store *)s;

    if (p->conn != NULL)
        PQfinish(p->conn);
    if (p->conninfo != NULL) {
        memset(p->conninfo, 0, strlen(p->conninfo));
        oa_free(p->conninfo);
    }
    pthread_mutex_destroy(&p->lock);
    oa_free(p);
}

static const oa_store_ops pg_ops = {
    "postgresql", pg_get, pg_put, pg_put_if_absent, pg_remove, pg_list,
    pg_free,
};

oa_status oa_store_pg_new(oa_store **out, const char *conninfo,
                          oa_error *err)
{
    pg_store *p;

    *out = NULL;
    if (conninfo == NULL)
        return oa_error_set(err, OA_EINVAL, "no PostgreSQL connection");
    p = oa_calloc(1, sizeof(*p));
    if (p == NULL || (p->conninfo = oa_strdup(conninfo)) == NULL) {
        oa_free(p);
        return oa_error_set(err, OA_ENOMEM, "out of memory");
    }
    p->base.ops = &pg_ops;
    pthread_mutex_init(&p->lock, NULL);
    *out = &p->base;
    return OA_OK;
}
