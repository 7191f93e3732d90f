/* Harness, crowds: the set-up every contention scenario starts with (a
 * topology, a concert, many shoppers with their connections, made on client
 * threads so set-up is quick too) and its end (final state, usher-check,
 * the history checker). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "harness_history.h"

#include <stdlib.h>
#include <string.h>

#define DAY_MS 86400000LL

typedef struct crowd_setup {
    harness_crowd *cw;
    const harness_crowd_spec *spec;
    usher_err *errors;          /* per user */
} crowd_setup;

/* One user: connect its clients, make it a shopper on the first. */
static void setup_user(void *arg, size_t u)
{
    crowd_setup *cs = arg;
    harness_crowd *cw = cs->cw;
    cw->users[u].index = (uint32_t)u;
    for (size_t k = 0; k < cw->per_user; k++) {
        size_t j = u * cw->per_user + k;
        if (harness_hclient_open_on(&cw->clients[j], cw->h, (uint32_t)j, harness_stage_server(&cw->st, j)) != 0) {
            cs->errors[u] = USHER_ERR_INTERNAL;
            return;
        }
    }
    harness_hclient *c = &cw->clients[u * cw->per_user];
    usher_err e = harness_hclient_register(c, &cw->users[u]);
    if (e == USHER_ERR_OK && cs->spec->balance > 0)
        e = harness_hclient_charge(c, &cw->users[u], cs->spec->balance);
    if (e == USHER_ERR_OK && !cs->spec->outside_queue)
        e = harness_hclient_enter(c, &cw->users[u], cw->concert_id, 50, 10000);
    cs->errors[u] = e;
}

void harness_crowd_open(harness_fixture *fx, const harness_topology *t, const harness_crowd_spec *spec,
                        harness_crowd *cw)
{
    memset(cw, 0, sizeof *cw);
    cw->started_ms = harness_now_ms();
    size_t nusers = spec->users, per_user = spec->per_user ? spec->per_user : 1;
    harness_stage_open(fx, t, spec->args, &cw->st);
    harness_make_concert(cw->st.setup, cw->st.admin, spec->seats, spec->price, harness_now_ms() + DAY_MS,
                         &cw->concert_id, &cw->schedule_id);
    cw->h = harness_history_new();
    cw->nusers = nusers;
    cw->per_user = per_user;
    cw->nclients = nusers * per_user;
    cw->users = calloc(nusers + 1, sizeof *cw->users);  /* + 1: a crowd of none is legal */
    cw->clients = calloc(cw->nclients + 1, sizeof *cw->clients);
    crowd_setup cs = { .cw = cw, .spec = spec, .errors = calloc(nusers + 1, sizeof(usher_err)) };
    if (!cw->h || !cw->users || !cw->clients || !cs.errors)
        fail_msg("out of memory for a crowd of %zu", nusers);
    harness_run_threads(nusers, setup_user, &cs);
    for (size_t u = 0; u < nusers; u++)
        if (cs.errors[u] != USHER_ERR_OK)
            fail_msg("[%s] user %zu of %zu could not be made a shopper: %s", t->name, u, nusers,
                     usher_err_name(cs.errors[u]));
    free(cs.errors);
}

void harness_crowd_finish(harness_crowd *cw, const char *check_args, const char *label)
{
    for (size_t j = 0; j < cw->nclients; j++)
        harness_hclient_close(&cw->clients[j]);
    harness_scenario_finish(cw->h, &cw->st, cw->users, cw->nusers, check_args, label, cw->nclients, cw->started_ms);
    harness_history_free(cw->h);
    free(cw->users);
    free(cw->clients);
    memset(cw, 0, sizeof *cw);
}
