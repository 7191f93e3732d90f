/* End to end, the operator's view of usherd: request and connection log
 * lines (text and JSON), log levels, secrets kept out of the log, the port
 * lock, --workers, the command line, --demo and --sync modes.
 * The server log is the harness's ROOT/usherd-PORT.log (stdout and stderr). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "harness.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define LOG_WAIT_MS 3000          /* how long a log line may take to appear */
#define CHILD_WAIT_MS 5000        /* how long a usherd that must exit may take */
#define SECRET_PREFIX_LEN 20      /* no secret's first 20 characters may be logged */
#define WORKER_PROBES_MAX 200     /* fresh connections tried to meet both workers */
#define WORKER_PROBES_MIN 40      /* connections always tried, to catch a third instance */

/* ------------------------------------------------------------ log reading */

/* The whole file at path, NUL-terminated, caller frees; "" when missing. */
static char *file_text(const char *path)
{
    FILE *f = fopen(path, "rb");
    char *text = NULL;
    size_t len = 0, cap = 0;
    if (f) {
        for (;;) {
            if (cap - len < 4096) {
                cap = cap ? cap * 2 : 65536;
                text = realloc(text, cap);
                assert_non_null(text);
            }
            size_t n = fread(text + len, 1, cap - len - 1, f);
            if (n == 0)
                break;
            len += n;
        }
        fclose(f);
    }
    if (!text) {
        text = malloc(1);
        assert_non_null(text);
    }
    text[len] = '\0';
    return text;
}

/* Calls visit(line, len, ctx) for each line of text (without its newline). */
static void each_line(const char *text, void (*visit)(const char *, size_t, void *), void *ctx)
{
    while (*text) {
        const char *nl = strchr(text, '\n');
        size_t len = nl ? (size_t)(nl - text) : strlen(text);
        visit(text, len, ctx);
        text += len + (nl ? 1 : 0);
    }
}

/* True when the line [line, line+len) contains needle. */
static bool line_has(const char *line, size_t len, const char *needle)
{
    size_t n = strlen(needle);
    for (size_t i = 0; n <= len && i <= len - n; i++)
        if (memcmp(line + i, needle, n) == 0)
            return true;
    return false;
}

/* Text-format field "key=value" of a line, copied into out (value ends at a
 * space or the line's end); false when absent. */
static bool line_field(const char *line, size_t len, const char *key, char *out, size_t cap)
{
    char pat[48];
    snprintf(pat, sizeof pat, " %s=", key);
    size_t pn = strlen(pat);
    for (size_t i = 0; pn <= len && i <= len - pn; i++) {
        if (memcmp(line + i, pat, pn) != 0)
            continue;
        size_t at = i + pn, n = 0;
        while (at + n < len && line[at + n] != ' ')
            n++;
        if (n >= cap)
            return false;
        memcpy(out, line + at, n);
        out[n] = '\0';
        return true;
    }
    return false;
}

/* Lines of a text log that match: every needle (NULL-terminated list). */
typedef struct line_match {
    const char *const *needles;
    const char *field_key;        /* when set: the line's key= field must equal */
    const char *field_value;      /* field_value exactly */
    int count;
    char last[1024];              /* the last matching line */
} line_match;

static void match_visit(const char *line, size_t len, void *ctx)
{
    line_match *m = ctx;
    for (const char *const *n = m->needles; *n; n++)
        if (!line_has(line, len, *n))
            return;
    char value[128];
    if (m->field_key && (!line_field(line, len, m->field_key, value, sizeof value) ||
                         strcmp(value, m->field_value) != 0))
        return;
    m->count++;
    size_t keep = len < sizeof m->last - 1 ? len : sizeof m->last - 1;
    memcpy(m->last, line, keep);
    m->last[keep] = '\0';
}

/* Scans the server log with m (needles and field set by the caller); fills
 * m->count and m->last and returns the count. */
static int log_scan(const harness_server *hs, line_match *m)
{
    char *text = file_text(hs->log_path);
    m->count = 0;
    m->last[0] = '\0';
    each_line(text, match_visit, m);
    free(text);
    return m->count;
}

/* How many lines of the server log hold every needle. */
static int log_count(const harness_server *hs, const char *const *needles)
{
    line_match m = { .needles = needles };
    return log_scan(hs, &m);
}

/* Waits until some log line matches m; fails the test after LOG_WAIT_MS. */
static void log_wait(const harness_server *hs, line_match *m)
{
    for (int waited = 0; log_scan(hs, m) == 0; waited += 10) {
        if (waited >= LOG_WAIT_MS) {
            harness_print_log_tail(hs, 40);
            fail_msg("no log line with '%s' within %d ms", m->needles[0], LOG_WAIT_MS);
        }
        harness_sleep_ms(10);
    }
}

/* "127.0.0.1:LOCALPORT": how the server names this connection's peer. */
static void conn_peer(const harness_conn *c, char *out, size_t cap)
{
    struct sockaddr_in sa;
    socklen_t sl = sizeof sa;
    assert_int_equal(getsockname(c->fd, (struct sockaddr *)&sa, &sl), 0);
    snprintf(out, cap, "127.0.0.1:%u", (unsigned)ntohs(sa.sin_port));
}

/* The one text request line for (method, msgid); fails unless exactly one. */
static void request_line(const harness_server *hs, const char *method, uint32_t msgid,
                         line_match *out)
{
    char needle[128];
    snprintf(needle, sizeof needle, " request method=%s msgid=%u ", method, (unsigned)msgid);
    const char *const needles[] = { needle, NULL };
    *out = (line_match){ .needles = needles };
    int n = log_scan(hs, out);
    if (n != 1) {
        harness_print_log_tail(hs, 40);
        fail_msg("%d log lines with '%s', want exactly 1", n, needle);
    }
}

/* Asserts a text line's field equals want. */
static void assert_field(const line_match *m, const char *key, const char *want)
{
    char value[128];
    if (!line_field(m->last, strlen(m->last), key, value, sizeof value))
        fail_msg("no %s= in log line: %s", key, m->last);
    if (strcmp(value, want) != 0)
        fail_msg("%s=%s, want %s, in log line: %s", key, value, want, m->last);
}

/* Asserts the line starts "YYYY-MM-DDTHH:MM:SS" within a minute of now,
 * then the instance, then "request", and has a plausible us= value. */
static void assert_request_line_shape(const line_match *m, const char *instance)
{
    struct tm tm = { 0 };
    char inst[128], word[32];
    if (sscanf(m->last, "%4d-%2d-%2dT%2d:%2d:%2d%*s %127s %31s", &tm.tm_year, &tm.tm_mon,
               &tm.tm_mday, &tm.tm_hour, &tm.tm_min, &tm.tm_sec, inst, word) != 8)
        fail_msg("log line does not start with time, instance, 'request': %s", m->last);
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    int64_t at_s = (int64_t)timegm(&tm);
    int64_t now_s = harness_now_ms() / 1000;
    assert_true(at_s > now_s - 60 && at_s <= now_s + 1);
    assert_string_equal(inst, instance);
    assert_string_equal(word, "request");
    char us[32];
    assert_true(line_field(m->last, strlen(m->last), "us", us, sizeof us));
    assert_true(us[0] != '\0' && strspn(us, "0123456789") == strlen(us));
    assert_true(strtoll(us, NULL, 10) < 5000000);
}

/* ------------------------------------------------------------ JSON lines */

/* Parses one JSON line into *out (owning sb); fails the test on bad JSON or
 * a value that is not an object. */
static void json_line_parse(const char *line, size_t len, msgpack_sbuffer *sb,
                            msgpack_unpacked *out)
{
    msgpack_packer pk;
    size_t err_at = 0;
    msgpack_sbuffer_init(sb);
    msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
    if (msg_from_json(line, len, &pk, &err_at) != USHER_ERR_OK)
        fail_msg("log line is not JSON (byte %zu): %.*s", err_at, (int)len, line);
    msgpack_unpacked_init(out);
    size_t off = 0;
    if (msgpack_unpack_next(out, sb->data, sb->size, &off) != MSGPACK_UNPACK_SUCCESS ||
        out->data.type != MSGPACK_OBJECT_MAP)
        fail_msg("log line is not a JSON object: %.*s", (int)len, line);
}

/* Value of key in map o, or NULL. */
static const msgpack_object *json_key(const msgpack_object *o, const char *key)
{
    size_t n = strlen(key);
    for (uint32_t i = 0; i < o->via.map.size; i++) {
        const msgpack_object *k = &o->via.map.ptr[i].key;
        if (k->type == MSGPACK_OBJECT_STR && k->via.str.size == n &&
            memcmp(k->via.str.ptr, key, n) == 0)
            return &o->via.map.ptr[i].val;
    }
    return NULL;
}

/* True when key of map o is a string equal to s. */
static bool json_str_is(const msgpack_object *o, const char *key, const char *s)
{
    const msgpack_object *v = json_key(o, key);
    return v && v->type == MSGPACK_OBJECT_STR && v->via.str.size == strlen(s) &&
           memcmp(v->via.str.ptr, s, v->via.str.size) == 0;
}

/* What the JSON log of one test must hold. */
typedef struct json_log_check {
    const char *instance;
    const char *user_id;
    int lines, requests, conn_opens, conn_closes;
    bool saw_register, saw_charge, saw_unauthenticated;
} json_log_check;

static void json_visit(const char *line, size_t len, void *ctx)
{
    json_log_check *chk = ctx;
    if (len == 0 || line[0] != '{' || line[len - 1] != '}')
        fail_msg("log line is not one JSON object: %.*s", (int)len, line);
    msgpack_sbuffer sb;
    msgpack_unpacked u;
    json_line_parse(line, len, &sb, &u);
    const msgpack_object *o = &u.data;
    chk->lines++;
    const msgpack_object *ts = json_key(o, "ts");
    assert_true(ts && ts->type == MSGPACK_OBJECT_STR);
    if (!json_str_is(o, "instance", chk->instance))
        fail_msg("log line without instance %s: %.*s", chk->instance, (int)len, line);
    const msgpack_object *event = json_key(o, "event");
    if (!event || event->type != MSGPACK_OBJECT_STR)
        fail_msg("log line without an event: %.*s", (int)len, line);
    if (json_str_is(o, "event", "message")) {   /* an operator message: a level and a text */
        const msgpack_object *level = json_key(o, "level"), *msg = json_key(o, "msg");
        if (!level || !msg || msg->type != MSGPACK_OBJECT_STR)
            fail_msg("message line without level and msg: %.*s", (int)len, line);
    } else if (json_str_is(o, "event", "request")) {
        chk->requests++;
        const msgpack_object *msgid = json_key(o, "msgid"), *us = json_key(o, "us");
        const msgpack_object *code = json_key(o, "code"), *user = json_key(o, "user");
        const msgpack_object *method = json_key(o, "method");
        if (!method || method->type != MSGPACK_OBJECT_STR || !msgid ||
            msgid->type != MSGPACK_OBJECT_POSITIVE_INTEGER || !us ||
            us->type != MSGPACK_OBJECT_POSITIVE_INTEGER || !code ||
            code->type != MSGPACK_OBJECT_STR || !user || user->type != MSGPACK_OBJECT_STR)
            fail_msg("request line lacks method/msgid/user/code/us: %.*s", (int)len, line);
        if (json_str_is(o, "method", "user.register") && json_str_is(o, "code", "OK") &&
            json_str_is(o, "user", chk->user_id))
            chk->saw_register = true;
        if (json_str_is(o, "method", "wallet.charge") && json_str_is(o, "code", "OK") &&
            json_str_is(o, "user", chk->user_id))
            chk->saw_charge = true;
        if (json_str_is(o, "method", "wallet.balance") && json_str_is(o, "code", "UNAUTHENTICATED"))
            chk->saw_unauthenticated = true;
    } else if (json_str_is(o, "event", "conn_open")) {
        chk->conn_opens++;
    } else if (json_str_is(o, "event", "conn_close")) {
        chk->conn_closes++;
    }
    msgpack_unpacked_destroy(&u);
    msgpack_sbuffer_destroy(&sb);
}

/* ---------------------------------------------------------- small helpers */

/* sys.hello's instance on c, copied into out. */
static void hello_instance(harness_conn *c, char *out, size_t cap)
{
    harness_reply r;
    harness_call(c, "sys.hello", NULL, &r);
    harness_expect(&r, OK);
    snprintf(out, cap, "%s", harness_get_str(&r, "instance"));
    harness_reply_free(&r);
}

/* The demo concert's id: concert.list must hold exactly one concert. */
static uint64_t only_concert(harness_conn *c)
{
    harness_reply r;
    size_t n = 0;
    harness_call(c, "concert.list", NULL, &r);
    harness_expect(&r, OK);
    const msgpack_object *first = harness_get_array(&r, "concerts", &n);
    assert_int_equal(n, 1);
    uint64_t id = harness_obj_u64(first, "concert_id");
    harness_reply_free(&r);
    return id;
}

/* Fails unless needle (or its first SECRET_PREFIX_LEN characters) is absent
 * from text. */
static void assert_not_logged(const char *text, const char *what, const char *needle)
{
    char prefix[SECRET_PREFIX_LEN + 1];
    assert_true(strlen(needle) >= SECRET_PREFIX_LEN);
    snprintf(prefix, sizeof prefix, "%s", needle);
    if (strstr(text, prefix))
        fail_msg("the log holds the %s (or its first %d characters: %s)", what,
                 SECRET_PREFIX_LEN, prefix);
}

/* ------------------------------------------------- running usherd directly */


/* How a directly run usherd ended, with what it printed. */
typedef struct run_result {
    int exit_code;                /* exit status, or -1 (killed by a signal or by us) */
    bool timed_out;               /* still running after the time limit: we killed it */
    char out[16384], err[8192];   /* stdout and stderr, NUL-terminated (truncated) */
} run_result;

/* Appends what fd has to buf (len in *len); false at EOF or error. */
static bool drain_into(int fd, char *buf, size_t cap, size_t *len)
{
    char scratch[4096];
    ssize_t n = read(fd, scratch, sizeof scratch);
    if (n <= 0)
        return n < 0 && errno == EINTR;
    size_t keep = (size_t)n < cap - 1 - *len ? (size_t)n : cap - 1 - *len;
    memcpy(buf + *len, scratch, keep);
    *len += keep;
    buf[*len] = '\0';
    return true;
}

/* Runs usherd with args (NULL-terminated, without argv[0]), capturing its
 * output; kills it when it has not exited within timeout_ms. No test
 * assertion runs while the child lives, so it never outlives this call. */
static void run_usherd(const char *const *args, int timeout_ms, run_result *rr)
{
    char bin[512];
    char *argv[32];
    int argc = 0, out_pipe[2], err_pipe[2];
    harness_program_path("USHERD_BIN", "usherd", bin, sizeof bin);
    assert_int_equal(access(bin, X_OK), 0);
    argv[argc++] = bin;
    for (; *args && argc < 31; args++)
        argv[argc++] = (char *)*args;
    argv[argc] = NULL;
    memset(rr, 0, sizeof *rr);
    assert_int_equal(pipe2(out_pipe, O_CLOEXEC), 0);
    assert_int_equal(pipe2(err_pipe, O_CLOEXEC), 0);
    pid_t parent = getpid();
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent)
            _exit(127);
        int null_fd = open("/dev/null", O_RDONLY);
        if (null_fd >= 0)
            dup2(null_fd, 0);
        dup2(out_pipe[1], 1);
        dup2(err_pipe[1], 2);
        execv(bin, argv);
        _exit(127);
    }
    close(out_pipe[1]);
    close(err_pipe[1]);
    struct timespec start;
    clock_gettime(CLOCK_MONOTONIC, &start);
    size_t out_len = 0, err_len = 0;
    bool out_open = true, err_open = true;
    int status = 0;
    for (;;) {
        struct timespec now;
        clock_gettime(CLOCK_MONOTONIC, &now);
        int64_t elapsed_ms = (now.tv_sec - start.tv_sec) * 1000 + (now.tv_nsec - start.tv_nsec) / 1000000;
        if (elapsed_ms >= timeout_ms) {
            rr->timed_out = true;
            kill(pid, SIGKILL);
            waitpid(pid, &status, 0);
            break;
        }
        if (!out_open && !err_open) {   /* output done: wait for the exit */
            if (waitpid(pid, &status, WNOHANG) == pid)
                break;
            harness_sleep_ms(10);
            continue;
        }
        struct pollfd p[2] = { { .fd = out_open ? out_pipe[0] : -1, .events = POLLIN },
                               { .fd = err_open ? err_pipe[0] : -1, .events = POLLIN } };
        if (poll(p, 2, 50) <= 0)
            continue;
        if (p[0].revents && !drain_into(out_pipe[0], rr->out, sizeof rr->out, &out_len))
            out_open = false;
        if (p[1].revents && !drain_into(err_pipe[0], rr->err, sizeof rr->err, &err_len))
            err_open = false;
    }
    close(out_pipe[0]);
    close(err_pipe[0]);
    rr->exit_code = !rr->timed_out && WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* True when text holds word as a whole word (neighbours not letters). */
static bool has_word(const char *text, const char *word)
{
    size_t n = strlen(word);
    for (const char *p = strstr(text, word); p; p = strstr(p + 1, word)) {
        bool left = p == text || !isalpha((unsigned char)p[-1]);
        bool right = !isalpha((unsigned char)p[n]);
        if (left && right)
            return true;
    }
    return false;
}

/* ------------------------------------------------------------------ tests */

static void test_request_log_has_one_line_per_request_with_user_code_and_time(void **state)
{
    harness_fixture *fx = *state;
    harness_server *hs = harness_fx_start(fx, "--demo --admit-interval 100ms");
    harness_conn *c = harness_fx_connect(fx, hs->port);
    char instance[128], peer[64], uid[40], secret[HARNESS_TOKEN_CAP], session[HARNESS_TOKEN_CAP];
    harness_reply r;
    conn_peer(c, peer, sizeof peer);
    hello_instance(c, instance, sizeof instance);
    uint64_t concert_id = only_concert(c);

    harness_call(c, "user.register", NULL, &r);
    harness_expect(&r, OK);
    uint32_t register_id = r.msgid;
    snprintf(uid, sizeof uid, "%s", harness_get_str(&r, "user_id"));
    snprintf(secret, sizeof secret, "%s", harness_get_str(&r, "secret"));
    snprintf(session, sizeof session, "%s", harness_get_str(&r, "session"));
    harness_reply_free(&r);

    harness_callf(c, &r, "wallet.charge", "{\"session\":\"%s\",\"amount\":5000}", session);
    harness_expect(&r, OK);
    uint32_t charge_id = r.msgid;
    harness_reply_free(&r);

    harness_callf(c, &r, "queue.enter", "{\"session\":\"%s\",\"concert_id\":%llu}", session,
                  (unsigned long long)concert_id);
    harness_expect(&r, OK);
    uint32_t enter_id = r.msgid;
    harness_reply_free(&r);

    harness_callf(c, &r, "auth.login", "{\"user_id\":\"%s\",\"secret\":\"%s\"}", uid, secret);
    harness_expect(&r, OK);
    uint32_t login_id = r.msgid;
    harness_reply_free(&r);

    harness_call(c, "wallet.balance", "{\"session\":\"not-a-session-token\"}", &r);
    harness_expect(&r, UNAUTHENTICATED);
    uint32_t denied_id = r.msgid;
    harness_reply_free(&r);

    harness_conn_disconnect(c);
    const char *const closed[] = { " conn_close ", NULL };
    line_match closed_line = { .needles = closed, .field_key = "peer", .field_value = peer };
    log_wait(hs, &closed_line);

    static const struct { const char *method; bool has_user; } rows[] = {
        { "user.register", true }, { "wallet.charge", true }, { "queue.enter", true },
        { "auth.login", true },
    };
    const uint32_t ids[] = { register_id, charge_id, enter_id, login_id };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        line_match m;
        request_line(hs, rows[i].method, ids[i], &m);
        assert_request_line_shape(&m, instance);
        assert_field(&m, "user", uid);
        assert_field(&m, "code", "OK");
    }
    line_match denied;
    request_line(hs, "wallet.balance", denied_id, &denied);
    assert_request_line_shape(&denied, instance);
    assert_field(&denied, "code", "UNAUTHENTICATED");
    assert_field(&denied, "user", "-");

    /* Exactly one open and one close line for this connection. */
    const char *const events[] = { " conn_open ", " conn_close " };
    for (size_t k = 0; k < 2; k++) {
        const char *const needles[] = { events[k], NULL };
        line_match m = { .needles = needles, .field_key = "peer", .field_value = peer };
        log_scan(hs, &m);
        if (m.count != 1)
            fail_msg("%d '%s' lines for peer %s, want exactly 1", m.count, events[k], peer);
        char inst[128];
        assert_int_equal(sscanf(m.last, "%*s %127s", inst), 1);
        assert_string_equal(inst, instance);
    }
}

static void test_secrets_and_tokens_never_appear_in_the_log(void **state)
{
    harness_fixture *fx = *state;
    harness_server *hs = harness_fx_start(fx, "--demo --admit-interval 100ms --log-level debug");
    harness_conn *c = harness_fx_connect(fx, hs->port);
    uint64_t concert_id = only_concert(c);
    harness_user u;
    harness_register(c, &u);
    char session2[HARNESS_TOKEN_CAP], token[HARNESS_TOKEN_CAP], bad[HARNESS_TOKEN_CAP];
    harness_reply r;

    harness_callf(c, &r, "auth.login", "{\"user_id\":\"%s\",\"secret\":\"%s\"}", u.user_id, u.secret);
    harness_expect(&r, OK);
    snprintf(session2, sizeof session2, "%s", harness_get_str(&r, "session"));
    harness_reply_free(&r);
    snprintf(bad, sizeof bad, "%s", u.secret);
    harness_tamper(bad);
    harness_callf_expect(c, UNAUTHENTICATED, "auth.login", "{\"user_id\":\"%s\",\"secret\":\"%s\"}",
                         u.user_id, bad);
    harness_charge(c, u.session, 9000);
    harness_callf_expect(c, INVALID_ARGUMENT, "wallet.charge", "{\"session\":\"%s\",\"amount\":0}",
                         session2);
    snprintf(bad, sizeof bad, "%s", u.session);
    harness_tamper(bad);
    harness_callf_expect(c, UNAUTHENTICATED, "wallet.balance", "{\"session\":\"%s\"}", bad);

    harness_enter_until_active(c, u.session, concert_id, token, 5000);
    harness_callf_expect(c, FORBIDDEN, "concert.dates", "{\"token\":\"%s\",\"concert_id\":%llu}",
                         token, (unsigned long long)concert_id + 100);
    harness_callf_expect(c, INVALID_ARGUMENT, "seat.reserve",
                         "{\"token\":\"%s\",\"schedule_id\":1,\"seat_no\":9999}", token);
    snprintf(bad, sizeof bad, "%s", token);
    harness_tamper(bad);
    harness_callf_expect(c, TOKEN_INVALID, "queue.status", "{\"token\":\"%s\"}", bad);

    const char *admin = harness_admin_token(hs);
    harness_callf_expect(c, OK, "admin.concert.create", "{\"admin\":\"%s\",\"title\":\"Ops\"}", admin);
    harness_callf_expect(c, INVALID_ARGUMENT, "admin.schedule.create",
                         "{\"admin\":\"%s\",\"concert_id\":1,\"starts_at\":1,\"price\":-5}", admin);
    snprintf(bad, sizeof bad, "%s", admin);
    harness_tamper(bad);
    harness_callf_expect(c, FORBIDDEN, "admin.concert.create", "{\"admin\":\"%s\",\"title\":\"X\"}", bad);

    /* A graceful stop writes everything the server will ever log. */
    harness_conn_disconnect(c);
    int status = harness_kill(hs, SIGTERM);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);

    const char *const logins[] = { " request method=auth.login ", NULL };
    assert_int_equal(log_count(hs, logins), 2);   /* the log is really there */
    char *text = file_text(hs->log_path);
    assert_not_logged(text, "secret", u.secret);
    assert_not_logged(text, "session token", u.session);
    assert_not_logged(text, "login session token", session2);
    assert_not_logged(text, "queue token", token);
    assert_not_logged(text, "admin token", admin);
    free(text);
}

static void test_log_json_writes_every_line_as_a_json_object(void **state)
{
    harness_fixture *fx = *state;
    harness_server *hs = harness_fx_start(fx, "--log-json");
    harness_conn *c = harness_fx_connect(fx, hs->port);
    char instance[128];
    hello_instance(c, instance, sizeof instance);
    harness_user u;
    harness_register(c, &u);
    harness_charge(c, u.session, 700);
    harness_callf_expect(c, UNAUTHENTICATED, "wallet.balance", "{\"session\":\"%s\"}", "nope");
    harness_conn_disconnect(c);
    int status = harness_kill(hs, SIGTERM);   /* every line written */
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);

    json_log_check chk = { .instance = instance, .user_id = u.user_id };
    char *text = file_text(hs->log_path);
    each_line(text, json_visit, &chk);
    free(text);
    assert_int_equal(chk.requests, 4);   /* hello, register, charge, balance */
    assert_true(chk.saw_register);
    assert_true(chk.saw_charge);
    assert_true(chk.saw_unauthenticated);
    assert_true(chk.conn_opens >= 1);
    assert_true(chk.conn_closes >= 1);
    assert_true(chk.lines > chk.requests);
}

static void test_log_level_warn_writes_no_request_or_connection_lines(void **state)
{
    harness_fixture *fx = *state;
    harness_server *hs = harness_fx_start(fx, "--log-level warn");
    harness_conn *c = harness_fx_connect(fx, hs->port);
    harness_user u;
    harness_register(c, &u);
    harness_charge(c, u.session, 100);
    harness_callf_expect(c, UNAUTHENTICATED, "wallet.balance", "{\"session\":\"%s\"}", "nope");
    harness_conn_disconnect(c);
    int status = harness_kill(hs, SIGTERM);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);

    const char *const requests[] = { " request ", NULL };
    const char *const methods[] = { "method=", NULL };
    const char *const opens[] = { "conn_open", NULL };
    const char *const closes[] = { "conn_close", NULL };
    assert_int_equal(log_count(hs, requests), 0);
    assert_int_equal(log_count(hs, methods), 0);
    assert_int_equal(log_count(hs, opens), 0);
    assert_int_equal(log_count(hs, closes), 0);
}

static void test_second_usherd_on_same_address_exits_and_first_keeps_serving(void **state)
{
    harness_fixture *fx = *state;
    harness_server *hs = harness_fx_start(fx, NULL);
    harness_conn *c = harness_fx_connect(fx, hs->port);
    char instance[128], listen[64], other_data[320];
    hello_instance(c, instance, sizeof instance);
    snprintf(listen, sizeof listen, "127.0.0.1:%u", (unsigned)hs->port);
    snprintf(other_data, sizeof other_data, "%s/other-data", hs->root);

    const char *const args[] = { "--listen", listen, "--data", other_data, NULL };
    run_result *rr = malloc(sizeof *rr);
    assert_non_null(rr);
    run_usherd(args, CHILD_WAIT_MS, rr);
    bool timed_out = rr->timed_out;
    int exit_code = rr->exit_code;
    bool names_address = strstr(rr->err, listen) != NULL;
    bool names_another = strstr(rr->err, "another usherd") != NULL;
    if (timed_out || exit_code == 0 || !names_address || !names_another)
        fprintf(stderr, "second usherd: exit %d%s, stderr: %s\n", exit_code,
                timed_out ? " (killed: did not exit)" : "", rr->err);
    free(rr);
    assert_false(timed_out);
    assert_true(exit_code > 0);
    assert_true(names_address);
    assert_true(names_another);

    harness_callf_expect(c, OK, "sys.ping", "%s", "{}");
    for (int i = 0; i < 5; i++) {   /* new connections still reach the first server */
        harness_conn *fresh = harness_fx_connect(fx, hs->port);
        char seen[128];
        hello_instance(fresh, seen, sizeof seen);
        assert_string_equal(seen, instance);
        harness_conn_disconnect(fresh);
    }
    assert_true(harness_alive(hs));
}

/* A worker's instance "HOST:PID" names a process of the server's group other
 * than the master. */
static void assert_worker_instance(const harness_server *hs, const char *instance)
{
    const char *colon = strrchr(instance, ':');
    assert_non_null(colon);
    pid_t pid = (pid_t)strtol(colon + 1, NULL, 10);
    assert_true(pid > 0);
    assert_int_not_equal(pid, hs->pid);
    assert_int_equal(getpgid(pid), hs->pid);
}

static void test_two_workers_report_two_stable_instances_sharing_data(void **state)
{
    harness_fixture *fx = *state;
    harness_server *hs = harness_fx_start(fx, "--workers 2");
    char names[2][128] = { "", "" };
    harness_conn *by_worker[2] = { NULL, NULL };
    int distinct = 0;

    /* Register on one worker, then charge from fresh connections until both
     * workers have charged; each balance must include every earlier charge. */
    harness_conn *first = harness_fx_connect(fx, hs->port);
    hello_instance(first, names[0], sizeof names[0]);
    by_worker[0] = first;
    distinct = 1;
    harness_user u;
    harness_register(first, &u);
    int64_t charged = 0;
    bool charged_on[2] = { false, false };
    int probes = 0;
    for (; probes < WORKER_PROBES_MAX; probes++) {
        if (probes >= WORKER_PROBES_MIN && charged_on[0] && charged_on[1])
            break;
        harness_conn *c = harness_fx_connect(fx, hs->port);
        char a[128], b[128];
        hello_instance(c, a, sizeof a);
        hello_instance(c, b, sizeof b);
        assert_string_equal(a, b);   /* stable on one connection */
        int w = strcmp(a, names[0]) == 0 ? 0 : (distinct > 1 && strcmp(a, names[1]) == 0) ? 1 : -1;
        if (w < 0) {
            if (distinct == 2)
                fail_msg("a third instance %s besides %s and %s", a, names[0], names[1]);
            snprintf(names[1], sizeof names[1], "%s", a);
            distinct = 2;
            w = 1;
        }
        if (!charged_on[w] || probes % 8 == 0) {
            charged += 1000;
            assert_int_equal(harness_charge(c, u.session, 1000), charged);
            charged_on[w] = true;
        }
        if (!by_worker[w])
            by_worker[w] = c;
        else
            harness_conn_disconnect(c);
    }
    assert_int_equal(distinct, 2);
    assert_true(charged_on[0] && charged_on[1]);
    assert_string_not_equal(names[0], names[1]);
    for (int w = 0; w < 2; w++) {
        assert_worker_instance(hs, names[w]);
        char again[128];
        hello_instance(by_worker[w], again, sizeof again);
        assert_string_equal(again, names[w]);   /* still the same process */
        assert_int_equal(harness_balance(by_worker[w], u.session), charged);
    }
}

static void test_help_lists_every_flag_and_bad_flags_exit_2(void **state)
{
    (void)state;
    static const char *const flags[] = {
        "--listen", "--data", "--workers", "--hold-ttl", "--active-ttl", "--max-active",
        "--max-holds", "--admit-interval", "--max-frame", "--sync", "--demo", "--log-level",
        "--log-json",
    };
    run_result *rr = malloc(sizeof *rr);
    assert_non_null(rr);
    const char *const help[] = { "--help", NULL };
    run_usherd(help, CHILD_WAIT_MS, rr);
    assert_int_equal(rr->exit_code, 0);
    for (size_t i = 0; i < sizeof flags / sizeof flags[0]; i++)
        if (!strstr(rr->out, flags[i]))
            fail_msg("usherd --help does not mention %s", flags[i]);

    /* Should a bad flag be accepted, the server must not touch anything:
     * an unused port and a data dir that cannot be created. */
    char listen[64];
    snprintf(listen, sizeof listen, "127.0.0.1:%u", (unsigned)harness_free_port());
    const char *const bare_duration[] = { "--hold-ttl", "5", "--listen", listen, "--data",
                                          "/dev/null/usher", NULL };
    run_usherd(bare_duration, CHILD_WAIT_MS, rr);
    assert_int_equal(rr->exit_code, 2);
    if (!has_word(rr->err, "ms") || !has_word(rr->err, "s") || !has_word(rr->err, "m"))
        fail_msg("usherd --hold-ttl 5 should name the units ms, s and m; stderr: %s", rr->err);
    assert_non_null(strstr(rr->err, "--hold-ttl"));

    const char *const bogus[] = { "--bogus", "--listen", listen, "--data", "/dev/null/usher", NULL };
    run_usherd(bogus, CHILD_WAIT_MS, rr);
    assert_int_equal(rr->exit_code, 2);
    assert_non_null(strstr(rr->err, "--bogus"));

    const char *const sync_fast[] = { "--sync", "fast", "--listen", listen, "--data",
                                      "/dev/null/usher", NULL };
    run_usherd(sync_fast, CHILD_WAIT_MS, rr);
    assert_int_equal(rr->exit_code, 2);
    assert_non_null(strstr(rr->err, "fast"));
    free(rr);
}

/* concert.dates of the demo concert: three future dates, 50 of 50 seats free. */
static void assert_demo_dates(harness_conn *c, const char *token, uint64_t concert_id)
{
    harness_reply r;
    size_t n = 0;
    harness_callf(c, &r, "concert.dates", "{\"token\":\"%s\",\"concert_id\":%llu}", token,
                  (unsigned long long)concert_id);
    harness_expect(&r, OK);
    const msgpack_object *dates = harness_get_array(&r, "dates", &n);
    assert_int_equal(n, 3);
    int64_t now = harness_now_ms();
    for (size_t i = 0; i < n; i++) {
        assert_true(harness_obj_i64(&dates[i], "starts_at") > now);
        assert_int_equal(harness_obj_u64(&dates[i], "total"), 50);
        assert_int_equal(harness_obj_u64(&dates[i], "available"), 50);
    }
    harness_reply_free(&r);
}

static void test_demo_creates_one_concert_with_three_dates_once(void **state)
{
    harness_fixture *fx = *state;
    harness_server *hs = harness_fx_start(fx, "--demo --admit-interval 100ms");
    harness_conn *c = harness_fx_connect(fx, hs->port);
    uint64_t concert_id = only_concert(c);
    harness_user u;
    harness_register(c, &u);
    char token[HARNESS_TOKEN_CAP];
    harness_enter_until_active(c, u.session, concert_id, token, 5000);
    assert_demo_dates(c, token, concert_id);

    harness_conn_disconnect(c);
    int status = harness_kill(hs, SIGTERM);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    harness_restart(hs);
    c = harness_fx_connect(fx, hs->port);
    assert_int_equal(only_concert(c), concert_id);
    assert_demo_dates(c, token, concert_id);
}

/* Starts usherd with sync_args, charges, restarts, and finds the balance. */
static void charge_survives_restart(harness_fixture *fx, const char *sync_args)
{
    harness_server *hs = harness_fx_start(fx, sync_args);
    harness_conn *c = harness_fx_connect(fx, hs->port);
    harness_user u;
    harness_register(c, &u);
    assert_int_equal(harness_charge(c, u.session, 4321), 4321);
    assert_int_equal(harness_charge(c, u.session, 1000), 5321);
    harness_conn_disconnect(c);
    int status = harness_kill(hs, SIGTERM);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    harness_restart(hs);
    c = harness_fx_connect(fx, hs->port);
    assert_int_equal(harness_balance(c, u.session), 5321);
    harness_callf_expect(c, OK, "auth.login", "{\"user_id\":\"%s\",\"secret\":\"%s\"}", u.user_id,
                         u.secret);
}

static void test_sync_none_serves_writes_that_survive_restart(void **state)
{
    charge_survives_restart(*state, "--sync none");
}

static void test_sync_meta_serves_writes_that_survive_restart(void **state)
{
    charge_survives_restart(*state, "--sync meta");
}

/* --max-conns: a connection past the limit gets one OVERLOADED reply with
 * msgid 0 and is closed; the connections within the limit keep working. */
static void test_connection_past_max_conns_gets_overloaded_then_close(void **state)
{
    harness_fixture *fx = *state;
    harness_server *hs = harness_fx_start(fx, "--max-conns 2");
    harness_reply r;
    harness_conn *a = harness_fx_connect(fx, hs->port);
    assert_int_equal(harness_call(a, "sys.ping", "{}", &r), USHER_ERR_OK);
    harness_reply_free(&r);
    /* The harness's start-up probe may still hold a slot for a moment: retry b. */
    harness_conn *b = NULL;
    for (int tries = 0; tries < 100 && !b; tries++) {
        harness_conn *candidate = harness_fx_connect(fx, hs->port);
        harness_send(candidate, "sys.ping", "{}");
        harness_io io = harness_read_reply(candidate, &r);
        bool served = io == HARNESS_IO_OK && r.err == USHER_ERR_OK && r.msgid != 0;
        if (io == HARNESS_IO_OK) harness_reply_free(&r);
        if (served) b = candidate;
        else { harness_conn_disconnect(candidate); harness_sleep_ms(50); }
    }
    assert_non_null(b);

    harness_conn *c = harness_fx_connect(fx, hs->port);
    assert_int_equal(harness_read_reply(c, &r), HARNESS_IO_OK);
    assert_int_equal(r.msgid, 0);
    assert_int_equal(r.err, USHER_ERR_OVERLOADED);
    harness_reply_free(&r);
    assert_true(harness_conn_closed(c, 2000));
    harness_conn_disconnect(c);

    assert_int_equal(harness_call(a, "sys.ping", "{}", &r), USHER_ERR_OK);
    harness_reply_free(&r);
    harness_conn_disconnect(b);   /* a slot frees: new connections are served again */
    harness_sleep_ms(100);
    harness_conn *d = harness_fx_connect(fx, hs->port);
    assert_int_equal(harness_call(d, "sys.ping", "{}", &r), USHER_ERR_OK);
    harness_reply_free(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        HARNESS_TEST(test_request_log_has_one_line_per_request_with_user_code_and_time),
        HARNESS_TEST(test_secrets_and_tokens_never_appear_in_the_log),
        HARNESS_TEST(test_log_json_writes_every_line_as_a_json_object),
        HARNESS_TEST(test_log_level_warn_writes_no_request_or_connection_lines),
        HARNESS_TEST(test_second_usherd_on_same_address_exits_and_first_keeps_serving),
        HARNESS_TEST(test_two_workers_report_two_stable_instances_sharing_data),
        HARNESS_TEST(test_help_lists_every_flag_and_bad_flags_exit_2),
        HARNESS_TEST(test_demo_creates_one_concert_with_three_dates_once),
        HARNESS_TEST(test_sync_none_serves_writes_that_survive_restart),
        HARNESS_TEST(test_sync_meta_serves_writes_that_survive_restart),
        HARNESS_TEST(test_connection_past_max_conns_gets_overloaded_then_close),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
