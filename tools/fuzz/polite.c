/* The polite client: its own thread and connection, one call every interval_ms (sys.ping, and with
 * writes every other call a wallet.charge of 1 KRW of the setup's user), recording latency, the longest
 * time between two successful calls, and any failure: no reply within the socket timeout, a closed
 * connection (it reconnects) or an error code. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "fuzz.h"

#define POLITE_TIMEOUT_MS 3000

static void note_failure(fuzz_polite *p, const char *what, const char *detail)
{
    if (p->failures++ == 0)
        snprintf(p->first_failure, sizeof p->first_failure, "%s: %s", what, detail);
}

static void sleep_ms(int ms)
{
    struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000 };
    nanosleep(&ts, NULL);
}

void *fuzz_polite_main(void *arg)
{
    fuzz_polite *p = arg;
    int fd = -1;
    uint32_t msgid = 1;
    char charge[FUZZ_TOKEN_CAP + 64];
    snprintf(charge, sizeof charge, "{\"session\":\"%s\",\"amount\":1}", p->ctx->session);
    int64_t last_ok = fuzz_mono_ms();
    for (uint64_t turn = 0; !atomic_load(&p->stop); turn++) {
        if (fd < 0) {
            fd = fuzz_wire_connect(p->host, p->port, POLITE_TIMEOUT_MS);
            if (fd < 0) {
                note_failure(p, "connect", strerror(errno));
                sleep_ms(p->interval_ms);
                continue;
            }
        }
        bool write = p->writes && turn % 2 == 1;
        const char *method = write ? "wallet.charge" : "sys.ping";
        int64_t t0 = fuzz_mono_ms();
        fuzz_reply r;
        if (fuzz_wire_call(fd, msgid++, method, write ? charge : "{}", &r) != 0) {
            note_failure(p, method, "no reply (timeout or closed); reconnecting");
            close(fd);
            fd = -1;
            p->reconnects++;
        } else {
            int64_t t1 = fuzz_mono_ms();
            if (r.err != USHER_ERR_OK) {
                note_failure(p, method, usher_err_name(r.err));
            } else {
                if (t1 - t0 > p->max_latency_ms)
                    p->max_latency_ms = t1 - t0;
                if (t1 - last_ok > p->max_gap_ms)
                    p->max_gap_ms = t1 - last_ok;
                last_ok = t1;
                if (write)
                    p->charges_ok++;
                else
                    p->pings_ok++;
            }
            fuzz_reply_free(&r);
        }
        sleep_ms(p->interval_ms);
    }
    int64_t end = fuzz_mono_ms();
    if (end - last_ok > p->max_gap_ms)
        p->max_gap_ms = end - last_ok;
    if (fd >= 0)
        close(fd);
    return NULL;
}
