/* End to end, usherd --metrics: the scrape passes `promtool check metrics`
 * and its figures move with the traffic that made them (requests by method
 * and code, commits, connections, queue gauges, holds, seats sold); with
 * --workers 2 one port reports the sum of both workers; the HTTP responder
 * answers bad requests with 4xx, closes slow clients at its deadline, and
 * the protocol is served meanwhile. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "harness.h"
#include "harness_procs.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#define SCRAPE_CAP (1 << 20)
#define HTTP_IO_TIMEOUT_S 10         /* more than the responder's 5 s deadline */
#define SLOW_CLOSE_DEADLINE_MS 9000  /* the responder closes a stalled request within 5 s */
#define CONNS_HELD 16                /* the responder's per-process cap */
#define PROMTOOL "/usr/bin/promtool"

static int http_connect(uint16_t port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    struct timeval tv = { .tv_sec = HTTP_IO_TIMEOUT_S };
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(port) };
    inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) fail_msg("connect to :%u failed", port);
    return fd;
}

static void send_all(int fd, const char *bytes, size_t n)
{
    while (n > 0) {
        ssize_t w = send(fd, bytes, n, MSG_NOSIGNAL);
        if (w <= 0) fail_msg("send to the metrics port failed");
        bytes += w;
        n -= (size_t)w;
    }
}

/* Reads until the server closes; returns the bytes (NUL-terminated, malloc'ed). */
static char *read_to_close(int fd, size_t *len)
{
    char *buf = malloc(SCRAPE_CAP + 1);
    assert_non_null(buf);
    size_t n = 0;
    for (;;) {
        ssize_t r = recv(fd, buf + n, SCRAPE_CAP - n, 0);
        if (r == 0) break;
        if (r < 0) fail_msg("metrics response: no close within %d s", HTTP_IO_TIMEOUT_S);
        n += (size_t)r;
        if (n == SCRAPE_CAP) fail_msg("metrics response above %d bytes", SCRAPE_CAP);
    }
    buf[n] = '\0';
    if (len) *len = n;
    return buf;
}

/* Sends request bytes as they are and returns the whole response. */
static char *http_exchange(uint16_t port, const char *request)
{
    int fd = http_connect(port);
    send_all(fd, request, strlen(request));
    char *resp = read_to_close(fd, NULL);
    close(fd);
    return resp;
}

static void expect_status(const char *resp, const char *status)
{
    if (strncmp(resp, "HTTP/1.1 ", 9) != 0 || strncmp(resp + 9, status, strlen(status)) != 0)
        fail_msg("expected HTTP %s, got: %.120s", status, resp);
    if (!strstr(resp, "\r\nConnection: close\r\n")) fail_msg("no Connection: close in %.200s", resp);
}

/* GET /metrics: the body of a 200 (malloc'ed). */
static char *scrape(uint16_t port)
{
    char *resp = http_exchange(port, "GET /metrics HTTP/1.1\r\nHost: t\r\n\r\n");
    expect_status(resp, "200");
    if (!strstr(resp, "Content-Type: text/plain; version=0.0.4")) fail_msg("content type: %.200s", resp);
    char *body = strstr(resp, "\r\n\r\n");
    assert_non_null(body);
    char *copy = strdup(body + 4);
    free(resp);
    return copy;
}

/* Runs promtool check metrics on the text; fails loudly when promtool is
 * missing (`make deps` installs it: package prometheus). */
static void promtool_check(const harness_server *hs, const char *text)
{
    if (access(PROMTOOL, X_OK) != 0)
        fail_msg(PROMTOOL " is missing: run `make deps` (Debian package prometheus)");
    char path[400];
    snprintf(path, sizeof path, "%s/scrape.txt", hs->root);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    char out[4096];
    int rc = harness_shell(out, sizeof out, PROMTOOL " check metrics < %s 2>&1", path);
    if (rc != 0) fail_msg("promtool check metrics failed (%d): %s", rc, out);
}

/* The value of one series ("name" or "name{labels}"), exactly as written;
 * -1 when the scrape has no such series. */
static double series(const char *text, const char *name)
{
    size_t n = strlen(name);
    for (const char *p = text; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL)
        if (strncmp(p, name, n) == 0 && p[n] == ' ') return strtod(p + n + 1, NULL);
    return -1;
}

static double must_series(const char *text, const char *name)
{
    double v = series(text, name);
    if (v < 0) fail_msg("the scrape has no series %s", name);
    return v;
}

/* A scrape that shows every write made before it: on a PostgreSQL store
 * the stored figures are a copy refreshed every second, so wait out two. */
static char *scrape_after_writes(const harness_server *hs, uint16_t mport)
{
    if (harness_store_is_url(hs->data_dir)) harness_sleep_ms(2100);
    return scrape(mport);
}

static uint16_t metrics_port_args(char *args, size_t cap, const char *more)
{
    uint16_t port = harness_free_port();
    snprintf(args, cap, "--metrics 127.0.0.1:%u %s", (unsigned)port, more);
    return port;
}

static void test_scrape_passes_promtool_and_counts_a_sale(void **state)
{
    harness_fixture *fx = *state;
    char args[128];
    uint16_t mport = metrics_port_args(args, sizeof args, "--max-active 2");
    harness_venue v;
    harness_venue_open(fx, args, 10, 1000, &v);

    char *before = scrape(mport);
    promtool_check(v.hs, before);
    double commits0 = must_series(before, "usher_commits_total");
    double accepted0 = must_series(before, "usher_connections_accepted_total");
    assert_true(accepted0 >= 1);   /* the venue's connection */
    assert_true(must_series(before, "usher_uptime_seconds") >= 0);
    if (harness_store_is_url(v.hs->data_dir))   /* PostgreSQL: no map */
        assert_true(must_series(before, "usher_storage_map_bytes") == 0);
    else
        assert_true(must_series(before, "usher_storage_map_bytes") >=
                    must_series(before, "usher_storage_used_bytes"));
    assert_true(must_series(before, "usher_storage_used_bytes") > 0);

    /* Two shoppers take the two ACTIVE slots; a third waits. */
    harness_conn *c2 = harness_fx_connect(fx, v.hs->port);
    harness_shopper a, b;
    harness_shopper_new(v.c, v.concert_id, 5000, &a);
    harness_shopper_new(c2, v.concert_id, 5000, &b);
    harness_user w;
    harness_register(v.c, &w);
    harness_callf_expect(v.c, OK, "queue.enter", "{\"session\":\"%s\",\"concert_id\":%llu}", w.session,
                         (unsigned long long)v.concert_id);
    uint64_t rid = harness_reserve(v.c, a.token, v.schedule_id, 1, NULL);
    harness_callf_expect(c2, SEAT_UNAVAILABLE, "seat.reserve",
                         "{\"token\":\"%s\",\"schedule_id\":%llu,\"seat_no\":1}", b.token,
                         (unsigned long long)v.schedule_id);

    char during_name[64], *during = scrape_after_writes(v.hs, mport);
    promtool_check(v.hs, during);
    snprintf(during_name, sizeof during_name, "usher_queue_waiting{concert_id=\"%llu\"}",
             (unsigned long long)v.concert_id);
    assert_int_equal((int)must_series(during, during_name), 1);
    snprintf(during_name, sizeof during_name, "usher_queue_active{concert_id=\"%llu\"}",
             (unsigned long long)v.concert_id);
    assert_int_equal((int)must_series(during, during_name), 2);
    assert_int_equal((int)must_series(during, "usher_holds_live"), 1);
    assert_int_equal((int)must_series(during, "usher_seats_sold"), 0);
    assert_int_equal((int)must_series(during,
        "usher_requests_total{method=\"seat.reserve\",code=\"OK\"}"), 1);
    assert_int_equal((int)must_series(during,
        "usher_requests_total{method=\"seat.reserve\",code=\"SEAT_UNAVAILABLE\"}"), 1);
    assert_int_equal((int)must_series(during,
        "usher_requests_total{method=\"queue.enter\",code=\"OK\"}"), 3);
    assert_int_equal((int)must_series(during,
        "usher_request_duration_seconds_count{method=\"seat.reserve\"}"), 2);
    assert_true(must_series(during, "usher_commits_total") > commits0);
    assert_true(must_series(during, "usher_connections_accepted_total") >= accepted0 + 1);
    assert_true(must_series(during, "usher_connections_open") >= 2);

    harness_callf_expect(v.c, OK, "payment.pay", "{\"token\":\"%s\",\"reservation_ids\":[%llu]}",
                         a.token, (unsigned long long)rid);
    char *after = scrape_after_writes(v.hs, mport);
    promtool_check(v.hs, after);
    assert_int_equal((int)must_series(after, "usher_seats_sold"), 1);
    assert_int_equal((int)must_series(after, "usher_holds_live"), 0);
    assert_int_equal((int)must_series(after,
        "usher_requests_total{method=\"payment.pay\",code=\"OK\"}"), 1);
    /* The payer's slot went to the one waiting. */
    snprintf(during_name, sizeof during_name, "usher_queue_waiting{concert_id=\"%llu\"}",
             (unsigned long long)v.concert_id);
    assert_int_equal((int)must_series(after, during_name), 0);
    assert_true(must_series(after, "usher_commit_writes_count") ==
                must_series(after, "usher_commits_total"));
    assert_true(must_series(after, "usher_fsync_seconds_count") ==
                must_series(after, "usher_commits_total"));
    free(before);
    free(during);
    free(after);
}

static void test_two_workers_one_port_report_the_sum_of_both(void **state)
{
    harness_fixture *fx = *state;
    char args[128];
    uint16_t mport = metrics_port_args(args, sizeof args, "--workers 2");
    harness_server *hs = harness_fx_start(fx, args);
    harness_conn *a = harness_fx_connect(fx, hs->port);
    pid_t pid_a = harness_instance_pid(a), pid_b = 0;
    harness_conn *b = harness_fx_connect_other(fx, hs->port, &pid_a, 1, 5000, &pid_b);
    if (!b) fail_msg("no connection reached the second worker");
    enum { PINGS_A = 3, PINGS_B = 5 };
    harness_reply r;
    for (int i = 0; i < PINGS_A; i++) { harness_call(a, "sys.ping", NULL, &r); harness_reply_free(&r); }
    for (int i = 0; i < PINGS_B; i++) { harness_call(b, "sys.ping", NULL, &r); harness_reply_free(&r); }
    /* Whichever worker takes the scrape reports both: ask several times. */
    for (int i = 0; i < 6; i++) {
        char *text = scrape(mport);
        if (i == 0) promtool_check(hs, text);
        assert_int_equal((int)must_series(text, "usher_requests_total{method=\"sys.ping\",code=\"OK\"}"),
                         PINGS_A + PINGS_B);
        assert_true(must_series(text, "usher_connections_open") >= 2);
        free(text);
    }
}

/* One more line of protocol: the server answers on c. */
static void expect_protocol_serves(harness_conn *c)
{
    harness_reply r;
    harness_call(c, "sys.ping", NULL, &r);
    harness_expect(&r, OK);
    harness_reply_free(&r);
}

static void test_bad_http_gets_4xx_slow_clients_are_closed_and_the_protocol_goes_on(void **state)
{
    harness_fixture *fx = *state;
    char args[128];
    uint16_t mport = metrics_port_args(args, sizeof args, "");
    harness_server *hs = harness_fx_start(fx, args);
    harness_conn *c = harness_fx_connect(fx, hs->port);

    char *resp = http_exchange(mport, "GET /other HTTP/1.1\r\n\r\n");
    expect_status(resp, "404");
    free(resp);
    resp = http_exchange(mport, "POST /metrics HTTP/1.1\r\nContent-Length: 0\r\n\r\n");
    expect_status(resp, "405");
    assert_non_null(strstr(resp, "\r\nAllow: GET\r\n"));
    free(resp);
    resp = http_exchange(mport, "hello\r\n\r\n");
    expect_status(resp, "400");
    free(resp);
    /* A head past the 8 KiB cap: 431, not a wait for more. */
    size_t big = 20000;
    char *huge = malloc(big + 1);
    assert_non_null(huge);
    memset(huge, 'a', big);
    memcpy(huge, "GET /metrics HTTP/1.1\r\nX-Pad: ", 30);
    huge[big] = '\0';
    resp = http_exchange(mport, huge);
    expect_status(resp, "431");
    free(resp);
    free(huge);
    expect_protocol_serves(c);

    /* The cap of open metrics connections, all stalled mid-request. */
    int held[CONNS_HELD];
    for (int i = 0; i < CONNS_HELD; i++) {
        held[i] = http_connect(mport);
        send_all(held[i], "GET /metr", 9);
    }
    for (int i = 0; i < 20; i++) expect_protocol_serves(c);
    int64_t t0 = harness_mono_ms();
    for (int i = 0; i < CONNS_HELD; i++) {
        char *rest = read_to_close(held[i], NULL);   /* closed by the server's deadline */
        if (rest[0] != '\0') fail_msg("a stalled request got an answer: %.80s", rest);
        free(rest);
        close(held[i]);
    }
    if (harness_mono_ms() - t0 > SLOW_CLOSE_DEADLINE_MS)
        fail_msg("stalled metrics connections were not closed by the deadline");
    expect_protocol_serves(c);
    char *text = scrape(mport);   /* accepting again */
    assert_true(must_series(text, "usher_requests_total{method=\"sys.ping\",code=\"OK\"}") >= 22);
    free(text);
}

static void test_a_second_usherd_cannot_take_the_same_metrics_port(void **state)
{
    harness_fixture *fx = *state;
    char args[128];
    uint16_t mport = metrics_port_args(args, sizeof args, "");
    harness_server *first = harness_fx_start(fx, args);
    char cmd_out[2048], usherd[512];
    harness_program_path("USHERD_BIN", "usherd", usherd, sizeof usherd);
    int rc = harness_shell(cmd_out, sizeof cmd_out,
                           "%s --listen 127.0.0.1:%u --data %s --metrics 127.0.0.1:%u 2>&1 </dev/null",
                           usherd, (unsigned)harness_free_port(), first->data_dir, (unsigned)mport);
    assert_int_equal(rc, 1);
    if (!strstr(cmd_out, "its own --metrics port")) fail_msg("second usherd said: %s", cmd_out);
    char *text = scrape(mport);
    free(text);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        HARNESS_TEST(test_scrape_passes_promtool_and_counts_a_sale),
        HARNESS_TEST(test_two_workers_one_port_report_the_sum_of_both),
        HARNESS_TEST(test_bad_http_gets_4xx_slow_clients_are_closed_and_the_protocol_goes_on),
        HARNESS_TEST(test_a_second_usherd_cannot_take_the_same_metrics_port),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
