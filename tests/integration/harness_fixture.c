/* Harness, fixture: cmocka setup/teardown owning every server and connection
 * a test makes, so a failing test leaves no process or temp dir behind. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "harness.h"

#include <stdlib.h>

int harness_fixture_setup(void **state)
{
    harness_fixture *fx = calloc(1, sizeof *fx);
    if (!fx)
        return -1;
    *state = fx;
    return 0;
}

void harness_fx_release(harness_fixture *fx)
{
    for (size_t i = 0; i < fx->nconns; i++)
        harness_conn_free(fx->conns[i]);
    fx->nconns = 0;
    while (fx->nservers > 0)
        harness_stop(fx->servers[--fx->nservers]);
}

int harness_fixture_teardown(void **state)
{
    harness_fixture *fx = *state;
    if (!fx)
        return 0;
    harness_fx_release(fx);
    free(fx->conns);
    free(fx);
    *state = NULL;
    return 0;
}

static harness_server *adopt(harness_fixture *fx, harness_server *hs)
{
    if (fx->nservers == sizeof fx->servers / sizeof fx->servers[0]) {
        harness_stop(hs);
        fail_msg("too many servers in one test");
    }
    fx->servers[fx->nservers++] = hs;
    return hs;
}

harness_server *harness_fx_start(harness_fixture *fx, const char *extra_args)
{
    return adopt(fx, harness_start(extra_args));
}

harness_server *harness_fx_start_shared(harness_fixture *fx, const harness_server *first,
                                        const char *extra_args)
{
    return adopt(fx, harness_start_shared(first, extra_args));
}

harness_server *harness_fx_start_shared_on(harness_fixture *fx, const harness_server *first,
                                           const char *host, const char *extra_args)
{
    return adopt(fx, harness_start_shared_on(first, host, extra_args));
}

harness_conn *harness_fx_connect(harness_fixture *fx, uint16_t port)
{
    if (fx->nconns == fx->conns_cap) {
        size_t cap = fx->conns_cap ? fx->conns_cap * 2 : 16;
        harness_conn **grown = realloc(fx->conns, cap * sizeof *grown);
        if (!grown)
            fail_msg("out of memory");
        fx->conns = grown;
        fx->conns_cap = cap;
    }
    harness_conn *c = harness_connect(port);
    fx->conns[fx->nconns++] = c;
    return c;
}

void harness_venue_open(harness_fixture *fx, const char *extra_args, uint32_t seats, int64_t price,
                        harness_venue *v)
{
    v->hs = harness_fx_start(fx, extra_args);
    v->c = harness_fx_connect(fx, v->hs->port);
    v->admin = harness_admin_token(v->hs);
    harness_make_concert(v->c, v->admin, seats, price, harness_now_ms() + 86400000LL, &v->concert_id,
                         &v->schedule_id);
}
