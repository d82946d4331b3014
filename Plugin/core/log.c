/*
 * Logging hook.  The sink is installed once at start-up, before any
 * worker thread exists, and read afterwards: no lock is needed.
 */
#include "core.h"

#include <stdio.h>

static oa_log_sink log_sink;

void oa_log_set_sink(oa_log_sink sink)
{
    log_sink = sink;
}

void oa_log(oa_log_level level, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (log_sink != NULL)
        log_sink(level, msg);
    else
        fprintf(stderr, "%s: %s\n",
                level == OA_LOG_ERROR     ? "E"
                : level == OA_LOG_WARNING ? "W"
                                          : "I",
                msg);
}
