/* usher-fuzz: a network fuzzer for a running usherd on loopback. main parses the options, gets real
 * tokens (tools/fuzz/setup.c), runs the attack loop (tools/fuzz/attack.c) beside the polite client
 * (tools/fuzz/polite.c) for --seconds, then checks that the server still answers and prints a summary. */
#include <arpa/inet.h>
#include <getopt.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "common/tool_args.h"
#include "fuzz/fuzz.h"

#define PROG "usher-fuzz"
#define FINAL_PING_TIMEOUT_MS 2000

static void usage(FILE *out)
{
    fprintf(out,
"usage: usher-fuzz [OPTIONS]\n"
"Network fuzzer for a running usherd on loopback, for a bounded time.\n"
"\n"
"Setup registers a user and charges it; with --admin it also creates a concert with one performance,\n"
"enters its queue and holds a seat, so valid requests carry real tokens and ids. Then, for --seconds,\n"
"--connections concurrent connections each run one attack after another:\n"
"  mutated     1..8 requests of any method of protocol v1, mutated: envelope fields of another type,\n"
"              wrong arity, a method name off by a byte, params dropped, renamed, added or of another\n"
"              type or size, then bytes flipped, inserted or deleted, now and then a lying length header\n"
"  garbage     1..2048 random bytes\n"
"  truncated   a valid request frame cut short, then closed\n"
"  oversized   a length header of 0 or above 65536 (up to 4 GiB), a few bytes after it\n"
"  bomb        deep nesting (up to 30000 levels), huge declared array/map/str/bin/ext counts, one\n"
"              element past the 4096 limit, wide containers\n"
"  slow-drip   a request sent one byte every 100..400 ms (at most 4 at once, each for at most 4 s)\n"
"  half-close  valid requests, shutdown(SHUT_WR), then reading replies for up to 1 s\n"
"  reset       requests (the last maybe cut short), then an abrupt reset (SO_LINGER 0 + close)\n"
"and every 3..4 s a flood opens --flood connections at once, pings on half of them and drops them\n"
"after 300 ms (half closed, half reset). Whatever the server answers is read and dropped.\n"
"Meanwhile a polite client on its own connection calls sys.ping every 100 ms (with --admin, every\n"
"other call is a wallet.charge of 1 KRW instead) with a 3 s timeout, recording latency and failures.\n"
"\n"
"At the end it checks that sys.ping answers on a fresh connection within 2 s, and that the polite\n"
"client never failed (no timeout, closed connection or error code) and never went longer than\n"
"--max-gap-ms between two successful calls. It prints one summary: attacks per kind, polite calls,\n"
"latency, longest gap, the verdict.\n"
"\n"
"Options:\n"
"  --host ADDR         server address, a 127.x.x.x address only (default 127.0.0.1)\n"
"  --port PORT         server port (default 7700)\n"
"  --seconds S         how long to attack, 1..3600 (default 10)\n"
"  --admin TOKEN       admin token (usher-admin --data DIR token): real concert, queue token and hold,\n"
"                      and polite writes\n"
"  --seed N            seed of every choice of the attacks (default: from the clock; printed). The same\n"
"                      seed repeats each connection's sequence of attacks byte for byte (tokens the server\n"
"                      issues aside); how many of them run in the time depends on the server's speed\n"
"  --connections N     concurrent attack connections, 1..64 (default 12)\n"
"  --flood N           connections per flood, 0..1000 (default 500; 0: no floods; fewer when the\n"
"                      open-file limit is lower)\n"
"  --max-gap-ms MS     longest allowed time between two successful polite calls (default 2000)\n"
"  --help              print this help and exit\n"
"\n"
"Exit status: 0 when the server passed both checks, 1 when it did not (or setup failed), 2 for usage\n"
"errors.\n");
}

typedef struct fuzz_options {
    const char *host;
    uint16_t port;
    int seconds, connections, flood;
    int64_t max_gap_ms;
    uint64_t seed;
    const char *admin;
} fuzz_options;

static int parse_options(int argc, char **argv, fuzz_options *o)
{
    enum { O_HOST = 1, O_PORT, O_SECONDS, O_ADMIN, O_SEED, O_CONNS, O_FLOOD, O_GAP, O_HELP };
    static const struct option LONG[] = {
        { "host", required_argument, NULL, O_HOST }, { "port", required_argument, NULL, O_PORT },
        { "seconds", required_argument, NULL, O_SECONDS }, { "admin", required_argument, NULL, O_ADMIN },
        { "seed", required_argument, NULL, O_SEED }, { "connections", required_argument, NULL, O_CONNS },
        { "flood", required_argument, NULL, O_FLOOD }, { "max-gap-ms", required_argument, NULL, O_GAP },
        { "help", no_argument, NULL, O_HELP }, { NULL, 0, NULL, 0 },
    };
    *o = (fuzz_options){ .host = "127.0.0.1", .port = 7700, .seconds = 10, .connections = 12, .flood = 500,
                         .max_gap_ms = 2000, .seed = (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32) };
    int c;
    long long v;
    while ((c = getopt_long(argc, argv, "", LONG, NULL)) != -1) {
        switch (c) {
        case O_HOST: {
            struct in_addr a;
            if (inet_pton(AF_INET, optarg, &a) != 1 || (ntohl(a.s_addr) >> 24) != 127)
                return tool_usage_error(PROG, 2, "--host must be a 127.x.x.x address, not '%s'", optarg);
            o->host = optarg;
            break;
        }
        case O_PORT:
            if (!tool_parse_range(optarg, 1, 65535, &v))
                return tool_usage_error(PROG, 2, "bad --port '%s'", optarg);
            o->port = (uint16_t)v;
            break;
        case O_SECONDS:
            if (!tool_parse_range(optarg, 1, 3600, &v))
                return tool_usage_error(PROG, 2, "bad --seconds '%s' (1..3600)", optarg);
            o->seconds = (int)v;
            break;
        case O_ADMIN:
            if (!optarg[0] || strlen(optarg) >= FUZZ_TOKEN_CAP)
                return tool_usage_error(PROG, 2, "bad --admin token%s", "");
            o->admin = optarg;
            break;
        case O_SEED:
            if (!tool_parse_range(optarg, 0, INT64_MAX, &v))
                return tool_usage_error(PROG, 2, "bad --seed '%s'", optarg);
            o->seed = (uint64_t)v;
            break;
        case O_CONNS:
            if (!tool_parse_range(optarg, 1, 64, &v))
                return tool_usage_error(PROG, 2, "bad --connections '%s' (1..64)", optarg);
            o->connections = (int)v;
            break;
        case O_FLOOD:
            if (!tool_parse_range(optarg, 0, 1000, &v))
                return tool_usage_error(PROG, 2, "bad --flood '%s' (0..1000)", optarg);
            o->flood = (int)v;
            break;
        case O_GAP:
            if (!tool_parse_range(optarg, 100, 600000, &v))
                return tool_usage_error(PROG, 2, "bad --max-gap-ms '%s' (100..600000)", optarg);
            o->max_gap_ms = v;
            break;
        case O_HELP:
            usage(stdout);
            exit(0);
        default:
            return tool_usage_error(PROG, 2, "unknown option%s", "");
        }
    }
    if (optind < argc)
        return tool_usage_error(PROG, 2, "unexpected argument '%s'", argv[optind]);
    return 0;
}

/* Raises the soft open-file limit as far as the flood needs, and lowers the flood to what it allows. */
static int fit_flood(int flood, int connections)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
        return flood;
    rlim_t want = (rlim_t)(flood + connections + 64);
    if (rl.rlim_cur < want) {
        rl.rlim_cur = rl.rlim_max == RLIM_INFINITY || rl.rlim_max > want ? want : rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
        getrlimit(RLIMIT_NOFILE, &rl);
    }
    long room = (long)rl.rlim_cur - connections - 64;
    return room < flood ? (room > 0 ? (int)room : 0) : flood;
}

/* sys.ping on a fresh connection; its latency in ms, or -1. */
static int64_t final_ping(const fuzz_options *o)
{
    int64_t t0 = fuzz_mono_ms();
    int fd = fuzz_wire_connect(o->host, o->port, FINAL_PING_TIMEOUT_MS);
    if (fd < 0)
        return -1;
    fuzz_reply r;
    int rc = fuzz_wire_call(fd, 1, "sys.ping", "{}", &r);
    close(fd);
    if (rc != 0)
        return -1;
    bool ok = r.err == USHER_ERR_OK && r.result;
    fuzz_reply_free(&r);
    int64_t ms = fuzz_mono_ms() - t0;
    return ok && ms <= FINAL_PING_TIMEOUT_MS ? ms : -1;
}

static void print_summary(const fuzz_options *o, const fuzz_attack_stats *st, const fuzz_polite *p,
                          int64_t ping_ms, bool pass)
{
    printf("usher-fuzz: seed %" PRIu64 ", %d s against %s:%u, %d connections, floods of %d\n", o->seed,
           o->seconds, o->host, (unsigned)o->port, o->connections, o->flood);
    printf("attacks:");
    uint64_t total = 0;
    for (int k = 0; k < FK_COUNT; k++) {
        printf(" %s %" PRIu64, FUZZ_KIND_NAMES[k], st->attacks[k]);
        total += st->attacks[k];
    }
    printf(" (total %" PRIu64 ")\n", total);
    printf("traffic: %" PRIu64 " mutated frames, %" PRIu64 " flood connections, %" PRIu64 " bytes sent, %" PRIu64
           " received, %" PRIu64 " closed by the server, %" PRIu64 " connect failures\n",
           st->frames_sent, st->flood_conns, st->bytes_sent, st->bytes_received, st->server_closes,
           st->connect_failures);
    printf("polite: %" PRIu64 " sys.ping, %" PRIu64 " wallet.charge ok, %" PRIu64 " failures%s%s, max latency %"
           PRId64 " ms, max gap %" PRId64 " ms (bound %" PRId64 ")\n",
           p->pings_ok, p->charges_ok, p->failures, p->failures ? ", first: " : "", p->first_failure,
           p->max_latency_ms, p->max_gap_ms, o->max_gap_ms);
    if (ping_ms >= 0)
        printf("final sys.ping on a fresh connection: ok in %" PRId64 " ms\n", ping_ms);
    else
        printf("final sys.ping on a fresh connection: FAILED (no answer within %d ms)\n", FINAL_PING_TIMEOUT_MS);
    printf("verdict: %s\n", pass ? "PASS" : "FAIL");
}

int main(int argc, char **argv)
{
    fuzz_options o;
    int rc = parse_options(argc, argv, &o);
    if (rc != 0)
        return rc;
    signal(SIGPIPE, SIG_IGN);
    o.flood = fit_flood(o.flood, o.connections);
    fuzz_ctx ctx;
    memset(&ctx, 0, sizeof ctx);
    if (o.admin)
        snprintf(ctx.admin, sizeof ctx.admin, "%s", o.admin);
    int fd = fuzz_wire_connect(o.host, o.port, 5000);
    if (fd < 0) {
        fprintf(stderr, PROG ": cannot connect to %s:%u\n", o.host, (unsigned)o.port);
        return 1;
    }
    bool ready = fuzz_setup(fd, &ctx);
    close(fd);
    if (!ready)
        return 1;

    fuzz_polite polite = { .host = o.host, .port = o.port, .ctx = &ctx, .writes = o.admin != NULL,
                           .interval_ms = 100 };
    atomic_init(&polite.stop, false);
    pthread_t th;
    if (pthread_create(&th, NULL, fuzz_polite_main, &polite) != 0) {
        fprintf(stderr, PROG ": cannot start the polite client\n");
        return 1;
    }
    fuzz_attack_opts ao = { .host = o.host, .port = o.port, .connections = o.connections, .flood = o.flood,
                            .end_ms = fuzz_mono_ms() + (int64_t)o.seconds * 1000, .seed = o.seed };
    fuzz_attack_stats st;
    memset(&st, 0, sizeof st);
    int arc = fuzz_attack_run(&ao, &ctx, &st);
    atomic_store(&polite.stop, true);
    pthread_join(th, NULL);
    if (arc != 0) {
        fprintf(stderr, PROG ": the attack loop could not run\n");
        return 1;
    }
    int64_t ping_ms = final_ping(&o);
    bool pass = ping_ms >= 0 && polite.failures == 0 && polite.pings_ok > 0 && polite.max_gap_ms <= o.max_gap_ms;
    print_summary(&o, &st, &polite, ping_ms, pass);
    return pass ? 0 : 1;
}
