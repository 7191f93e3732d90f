/* usher-bench: closed-loop load generator for usherd that models a crowd, a thin front end over libusher's
 * async API. main parses the options, builds what the chosen scenarios need (tools/bench/setup.c), runs them
 * (tools/bench/scenarios.c, tools/bench/sale.c) and prints the figures (tools/bench/report.c). */
#include <getopt.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench/bench.h"

const char *const SCENARIO_NAMES[SC_COUNT] = {
    [SC_PING] = "ping", [SC_STATUS] = "status", [SC_DATES] = "dates", [SC_CHARGE] = "charge",
    [SC_ENTER] = "enter", [SC_RESERVE] = "reserve", [SC_SALE] = "sale", [SC_WATCH] = "watch",
};

static void usage(FILE *out)
{
    fprintf(out,
"usage: usher-bench [OPTIONS]\n"
"Benchmark of a running usherd that models a crowd, over libusher's async API. With several servers (a\n"
"comma list of ports or hosts: usherd hosts on one store) the connections are spread round-robin over them:\n"
"connection i goes to server i mod the number of servers, so every scenario's load is shared evenly.\n"
"\n"
"Setup registers a crowd of --waiting users (each charged 1,000,000 KRW) and, for status and dates, enters\n"
"every one into a \"status\" concert (10 performances of 1000 seats): the server's --max-active (default 100)\n"
"first entries are ACTIVE, the rest WAIT. It keeps connections x 32 (at most 3000) calls in flight and only\n"
"builds what the chosen scenarios need; it prints its time to stderr.\n"
"\n"
"Scenarios (each closed loop: connections x depth clients send their next call when the last reply\n"
"arrives, for --seconds):\n"
"  ping      sys.ping\n"
"  status    queue.status with the token of a uniformly random WAITING user of the crowd\n"
"  dates     concert.dates of the status concert with a random ACTIVE token\n"
"  charge    wallet.charge of 1 KRW with a fresh request_id, for a uniformly random user of the crowd\n"
"  enter     queue.enter of fresh queues: crowd user i enters concert \"enter-k\", then, once every user has,\n"
"            concert k+1 (setup makes ceil(seconds x 50000 / waiting) + 1 of them; a run that uses them up\n"
"            stops early and says so)\n"
"  reserve   seat.reserve of a uniformly random seat of a concert of 500 performances x 1000 seats, by up\n"
"            to 100 ACTIVE users (the first 100 of the crowd), each hold then released by reservation.cancel\n"
"            (the client's next call), so seats stay free for any --seconds; figures for both methods.\n"
"            With --hot K, every client asks for seats 1..K of the first performance: SEAT_UNAVAILABLE\n"
"            replies are counted by code as outcomes, not failures of the bench\n"
"  sale      --users users arrive at once for a new concert of --perfs x --seats seats: each registers,\n"
"            charges, enters the queue, polls queue.status every --poll-ms until ACTIVE, reads\n"
"            concert.dates and concert.seats, reserves a random free seat (another free one after\n"
"            SEAT_UNAVAILABLE) and pays for it (payment.pay). Users are multiplexed over the connections with\n"
"            connections x max(depth, 32) (at most 3000) calls in flight. It ends when every seat is paid\n"
"            (or after 300 s). Reports the time to sell out (first call to last seat paid), figures per\n"
"            method, and checks for oversell: no seat in two successful payments, no more seats paid than\n"
"            offered, and afterwards concert.seats shows every seat taken\n"
"  watch     (only when named) every WAITING user of the crowd is watched with queue.watch, 4 a connection\n"
"            (so --connections >= waiting / 4). First --seconds with nothing changing: the server's CPU\n"
"            (--server-pid) and the keep-alives received; then --watch-rounds admission rounds, each the\n"
"            --max-active entries admitted in one commit when the previous ones' --active-ttl ran out: the\n"
"            time from that commit to the first and the last queue.admitted, and to the last queue.update of\n"
"            the others. Start the server with --active-ttl equal to --watch-ttl, longer than the setup\n"
"            and the quiet --seconds\n"
"\n"
"Options:\n"
"  --host HOST[,HOST...]\n"
"                      server address (default 127.0.0.1); several are paired with the ports by position, and\n"
"                      one serves every port\n"
"  --port PORT[,PORT...]\n"
"                      server port (default 7700); several (or one port with several hosts) name up to %d\n"
"                      servers sharing one store. The sale's own setup and its final concert.seats check go\n"
"                      to the first one (while its connections are up); every other call is spread\n"
"  --admin TOKEN       admin token (usher-admin --data DIR token, or --store URL token); needed by every\n"
"                      scenario but ping and charge\n"
"  --connections N     connections (default 50)\n"
"  --depth D           calls in flight per connection in the closed-loop scenarios (default 1)\n"
"  --seconds S         duration of each closed-loop scenario (default 5)\n"
"  --scenario NAME     ping, status, dates, charge, enter, reserve, sale or watch; repeatable or a comma\n"
"                      list (default: all of them but watch)\n"
"  --waiting N         size of the crowd (default 100000)\n"
"  --hot K             reserve: every client targets seats 1..K of one performance (default: spread)\n"
"  --users U           sale: users (default 20000)\n"
"  --perfs S           sale: performances (default 20)\n"
"  --seats N           sale: seats per performance, 1..1000 (default 50)\n"
"  --poll-ms MS        sale: pause between queue.status polls, and before looking at the dates again when\n"
"                      every seat is taken (default 1000)\n"
"  --idle N            first open N plain connections that send nothing and keep them open for the whole\n"
"                      run (a crowd's silent sockets), spread over the servers like the others; with\n"
"                      --server-pid, prints the server's VmRSS before and after they opened\n"
"  --idle-partial      each --idle connection first sends the first 6 bytes of a frame and never the rest\n"
"                      (slow-loris; usherd closes them after its --frame-timeout, default 10 s)\n"
"  --server-pid PID    the usherd process (same host; with several servers, one of them): its VmRSS is\n"
"                      reported after every scenario\n"
"  --watch-ttl MS      watch: the server's --active-ttl in ms (needed by watch)\n"
"  --watch-rounds N    watch: admission rounds to time (default 3)\n"
"  --json              also print one JSON object with every figure as the last line of stdout\n"
"  --help              print this help and exit\n"
"\n"
"Output: a header (with several servers, a line naming them), then one line per scenario and method:\n"
"scenario method ops_per_s p50_us p90_us p99_us p999_us max_us ok errors (a scenario of several methods also\n"
"gets a line for method \"all\"). ops_per_s counts every reply of the servers, success or error code; latency\n"
"(send to reply) covers the same replies; errors are counted by code name, transport failures (ETIMEOUT,\n"
"ECLOSED) among them. In the JSON object \"targets\" is the number of servers; each scenario carries its\n"
"main method's name with the figures of all its methods merged, then \"methods\" one by one; the sale adds\n"
"sold_out_s (null when it did not sell out), seats, sold, oversold and unsold_after.\n"
"The server should run with its default --max-active (100) and --hold-ttl long enough to pay (default 5m).\n"
"Exit status: 0 when every scenario had a successful call and the sale sold out without oversell,\n"
"1 otherwise, 2 for bad usage.\n", BENCH_MAX_TARGETS);
}

static bool parse_int(const char *s, int lo, int hi, int *out)
{
    char *end;
    long v = strtol(s, &end, 10);
    if (*s == 0 || *end != 0 || v < lo || v > hi)
        return false;
    *out = (int)v;
    return true;
}

/* Fills ports[] from a comma list of ports; the count, or 0 when one is bad or there are too many. */
static int parse_ports(const char *list, int *ports)
{
    char buf[BENCH_HOST_LIST_CAP];
    size_t len = strlen(list);
    if (len == 0 || len >= sizeof buf || list[0] == ',' || list[len - 1] == ',' || strstr(list, ",,"))
        return 0;
    memcpy(buf, list, len + 1);
    int n = 0;
    char *save = NULL;
    for (char *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save))
        if (n == BENCH_MAX_TARGETS || !parse_int(tok, 1, 65535, &ports[n++]))
            return 0;
    return n;
}

/* Splits the comma list in o->host_list into hosts[]; the count, or 0 for an empty name or too many. */
static int split_hosts(options *o, const char **hosts)
{
    char *buf = o->host_list;
    size_t len = strlen(buf);
    if (len == 0 || buf[0] == ',' || buf[len - 1] == ',' || strstr(buf, ",,"))
        return 0;
    int n = 0;
    char *save = NULL;
    for (char *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        if (n == BENCH_MAX_TARGETS)
            return 0;
        hosts[n++] = tok;
    }
    return n;
}

/* Pairs the hosts with the ports into o->targets: as many of each by position, or one of either for all
 * of the other. False when the counts differ otherwise. */
static bool pair_targets(options *o, const char *const *hosts, int n_hosts, const int *ports, int n_ports)
{
    if (n_hosts != 1 && n_ports != 1 && n_hosts != n_ports)
        return false;
    o->n_targets = n_hosts > n_ports ? n_hosts : n_ports;
    for (int i = 0; i < o->n_targets; i++)
        o->targets[i] = (bench_target){ .host = hosts[n_hosts == 1 ? 0 : i], .port = ports[n_ports == 1 ? 0 : i] };
    return true;
}

/* Adds the scenarios of a comma list; false for an unknown name. */
static bool parse_scenarios(const char *list, unsigned *set)
{
    char buf[256];
    snprintf(buf, sizeof buf, "%s", list);
    char *save = NULL;
    for (char *name = strtok_r(buf, ",", &save); name; name = strtok_r(NULL, ",", &save)) {
        unsigned i = 0;
        while (i < SC_COUNT && strcmp(name, SCENARIO_NAMES[i]) != 0)
            i++;
        if (i == SC_COUNT)
            return false;
        *set |= 1u << i;
    }
    return *set != 0;
}

/* Fills *o from argv; returns -1 to go on, else the exit status. */
static int parse_options(int argc, char **argv, options *o)
{
    static const struct option longs[] = {
        { "host", required_argument, 0, 'H' },     { "port", required_argument, 0, 'p' },
        { "admin", required_argument, 0, 'a' },    { "connections", required_argument, 0, 'c' },
        { "depth", required_argument, 0, 'd' },    { "seconds", required_argument, 0, 's' },
        { "scenario", required_argument, 0, 'S' }, { "waiting", required_argument, 0, 'w' },
        { "hot", required_argument, 0, 'k' },      { "users", required_argument, 0, 'u' },
        { "perfs", required_argument, 0, 'P' },    { "seats", required_argument, 0, 'n' },
        { "poll-ms", required_argument, 0, 'i' },  { "json", no_argument, 0, 'j' },
        { "idle", required_argument, 0, 'I' },     { "server-pid", required_argument, 0, 'R' },
        { "idle-partial", no_argument, 0, 'F' },
        { "watch-ttl", required_argument, 0, 'T' }, { "watch-rounds", required_argument, 0, 'r' },
        { "help", no_argument, 0, 'h' },           { 0, 0, 0, 0 },
    };
    *o = (options){ .connections = 50, .seconds = 5, .depth = 1,
                    .waiting = 100000, .users = 20000, .perfs = 20, .seats = 50, .poll_ms = 1000 };
    snprintf(o->host_list, sizeof o->host_list, "127.0.0.1");
    const char *hosts[BENCH_MAX_TARGETS];
    int ports[BENCH_MAX_TARGETS] = { 7700 };
    int n_hosts = 1, n_ports = 1;
    int opt = 0, li = 0;
    bool ok = true;
    while (ok && (opt = getopt_long(argc, argv, "", longs, &li)) != -1) {
        switch (opt) {
        case 'H':
            ok = snprintf(o->host_list, sizeof o->host_list, "%s", optarg) < (int)sizeof o->host_list &&
                 (n_hosts = split_hosts(o, hosts)) > 0;
            break;
        case 'a': o->admin = optarg; break;
        case 'p': ok = (n_ports = parse_ports(optarg, ports)) > 0; break;
        case 'c': ok = parse_int(optarg, 1, 10000, &o->connections); break;
        case 'd': ok = parse_int(optarg, 1, 10000, &o->depth); break;
        case 's': ok = parse_int(optarg, 1, 3600, &o->seconds); break;
        case 'w': ok = parse_int(optarg, 1, 10000000, &o->waiting); break;
        case 'k': ok = parse_int(optarg, 1, (int)BENCH_SEATS_PER_PERF, &o->hot); break;
        case 'u': ok = parse_int(optarg, 1, 10000000, &o->users); break;
        case 'P': ok = parse_int(optarg, 1, (int)BENCH_HOLD_PERFS, &o->perfs); break;
        case 'n': ok = parse_int(optarg, 1, (int)BENCH_SEATS_PER_PERF, &o->seats); break;
        case 'i': ok = parse_int(optarg, 1, 60000, &o->poll_ms); break;
        case 'j': o->json = true; break;
        case 'I': ok = parse_int(optarg, 1, 1000000, &o->idle); break;
        case 'F': o->idle_partial = true; break;
        case 'T': ok = parse_int(optarg, 1, 86400000, &o->watch_ttl_ms); break;
        case 'r': ok = parse_int(optarg, 1, 64, &o->watch_rounds); break;
        case 'R': ok = parse_int(optarg, 1, 1 << 30, &o->server_pid); break;
        case 'h': usage(stdout); return 0;
        case 'S': ok = parse_scenarios(optarg, &o->scenarios); break;
        default: ok = false;
        }
    }
    if (ok && optind < argc)
        fprintf(stderr, "usher-bench: unexpected argument '%s'\n", argv[optind]);
    else if (!ok && opt != '?') /* getopt has already named an unknown option */
        fprintf(stderr, "usher-bench: bad value '%s' for --%s\n", optarg, longs[li].name);
    if (!ok || optind < argc) {
        fprintf(stderr, "usher-bench: try --help\n");
        return 2;
    }
    if (n_hosts == 1)
        hosts[0] = o->host_list; /* the default, or one --host */
    if (!pair_targets(o, hosts, n_hosts, ports, n_ports)) {
        fprintf(stderr, "usher-bench: --host names %d hosts and --port %d ports: give one of either, or as many "
                        "of each\n", n_hosts, n_ports);
        return 2;
    }
    if (o->scenarios == 0)
        o->scenarios = SC_DEFAULT;
    if ((o->scenarios & (1u << SC_WATCH)) && !o->watch_ttl_ms) {
        fprintf(stderr, "usher-bench: watch needs --watch-ttl MS (the server's --active-ttl)\n");
        return 2;
    }
    if ((o->scenarios & ~(1u << SC_PING | 1u << SC_CHARGE)) && !o->admin) {
        fprintf(stderr, "usher-bench: status, dates, enter, reserve, sale and watch need --admin TOKEN\n");
        return 2;
    }
    return -1;
}

/* True when ss counts as a success: a successful call, and for the sale a sell-out without oversell. */
static bool scenario_passed(const scenario_stats *ss)
{
    uint64_t ok = 0;
    for (unsigned i = 0; i < ss->n_methods; i++)
        ok += ss->methods[i].ok;
    if (ss->is_sale)
        return ok > 0 && ss->sale.sold_out_s >= 0 && ss->sale.oversold == 0 && ss->sale.sold <= ss->sale.seats &&
               ss->sale.unsold_after == 0;
    return ok > 0;
}

int main(int argc, char **argv)
{
    options o;
    int rc = parse_options(argc, argv, &o);
    if (rc >= 0)
        return rc;
    signal(SIGPIPE, SIG_IGN);
    rc = 1;
    crowd cw = { 0 };
    pool p = { 0 };
    int *idle = NULL, idle_n = 0;
    scenario_stats *res = calloc(SC_COUNT, sizeof *res);
    struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
    if (!res || !loop || !pool_open(&p, loop, &o)) {
        fprintf(stderr, "usher-bench: could not open %d connections to %s:%d%s\n", o.connections, o.targets[0].host,
                o.targets[0].port, o.n_targets > 1 ? " and the other servers" : "");
        goto done;
    }
    if (o.idle > 0) {
        long before = o.server_pid ? server_rss_kb(o.server_pid) : -1;
        idle = idle_open(&o, o.idle, &idle_n);
        if (idle_n < o.idle) {
            fprintf(stderr, "usher-bench: only %d of %d idle connections connected\n", idle_n, o.idle);
            goto done;
        }
        sleep(1);   /* let the server accept them all */
        if (o.server_pid)
            printf("# %d idle connections%s: server VmRSS %ld kB before, %ld kB with them open\n", idle_n,
                   o.idle_partial ? " holding 6 bytes of a frame" : "", before, server_rss_kb(o.server_pid));
    }
    uint64_t t0 = bench_mono_ns();
    if (!crowd_setup(&p, &o, &cw))
        goto done;
    double setup_s = (double)(bench_mono_ns() - t0) / 1e9;
    report_header(stdout, &o);
    rc = 0;
    for (unsigned i = 0; i < SC_COUNT; i++) {
        if (!(o.scenarios & (1u << i)))
            continue;
        if (i == SC_SALE) {
            if (!sale_run(&p, &o, &res[i]))
                res[i].sale.sold_out_s = -1;
        } else if (i == SC_WATCH) {
            if (!watch_run(&p, &o, &cw, &res[i]))
                rc = 1;
        } else {
            scenario_run(&p, &o, &cw, i, &res[i]);
        }
        res[i].server_rss_kb = o.server_pid ? server_rss_kb(o.server_pid) : -1;
        report_text(stdout, &res[i]);
        if (!scenario_passed(&res[i]))
            rc = 1;
    }
    if (o.json)
        report_json(stdout, &o, res, setup_s);
done:
    if (p.conns)
        pool_close(&p);
    if (loop)
        ev_loop_destroy(loop);
    crowd_free(&cw);
    idle_close(idle, idle_n);
    free(res);
    return rc;
}
