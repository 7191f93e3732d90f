/* Tokens: signing, tamper resistance, the verification cache, the key file
 * (creation, permissions, races between processes) and user ids. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../../server/token.h"

static const char b64url_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/* ---- helpers ---- */

static int rm_entry(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
    (void)st; (void)type; (void)ftw;
    return remove(path);
}

static void rm_rf(const char *dir)
{
    nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

typedef struct fixture {
    char root[64];      /* temp dir, removed at teardown */
    char data[128];     /* root/data: the data dir under test (absent at start) */
    token_keys keys;
} fixture;

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    if (f == NULL || sodium_init() < 0)
        return -1;
    snprintf(f->root, sizeof f->root, "/tmp/usher-test-token-XXXXXX");
    if (mkdtemp(f->root) == NULL)
        return -1;
    snprintf(f->data, sizeof f->data, "%s/data", f->root);
    char err[256];
    if (token_keys_open(f->data, &f->keys, err, sizeof err) != USHER_ERR_OK) {
        fprintf(stderr, "token_keys_open: %s\n", err);
        return -1;
    }
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    rm_rf(f->root);
    free(f);
    return 0;
}

static token_claims sample_claims(token_kind kind)
{
    token_claims c;
    memset(&c, 0, sizeof c);
    c.kind = kind;
    if (kind != TOKEN_ADMIN)
        user_id_random(&c.user);
    c.expires_at_ms = 1700000000123LL;
    if (kind == TOKEN_QUEUE) {
        c.concert_id = 0x0102030405060708ULL;
        c.seq = 0xfedcba9876543210ULL;
    }
    return c;
}

static size_t sign_ok(const token_keys *keys, const token_claims *c, char out[TOKEN_MAX_LEN + 1])
{
    size_t len = 0;
    assert_int_equal(token_sign(keys, c, out, TOKEN_MAX_LEN + 1, &len), USHER_ERR_OK);
    assert_int_equal(strlen(out), len);
    return len;
}

static void assert_claims_equal(const token_claims *a, const token_claims *b)
{
    assert_int_equal(a->kind, b->kind);
    assert_int_equal(a->key_id, b->key_id);
    assert_memory_equal(a->user.bytes, b->user.bytes, sizeof a->user.bytes);
    assert_true(a->expires_at_ms == b->expires_at_ms);
    assert_true(a->concert_id == b->concert_id);
    assert_true(a->seq == b->seq);
}

/* ---- signing and verification ---- */

static void test_sign_verify_round_trip_every_kind(void **state)
{
    fixture *f = *state;
    const token_kind kinds[] = { TOKEN_SESSION, TOKEN_QUEUE, TOKEN_ADMIN };
    for (size_t i = 0; i < 3; i++) {
        token_claims in = sample_claims(kinds[i]), out;
        char tok[TOKEN_MAX_LEN + 1];
        size_t len = sign_ok(&f->keys, &in, tok);
        assert_true(len <= TOKEN_MAX_LEN);
        assert_memory_equal(tok, "u1.", 3);
        memset(&out, 0xee, sizeof out);
        assert_true(token_verify(&f->keys, tok, len, &out));
        in.key_id = f->keys.key_id; /* filled by token_sign */
        assert_claims_equal(&in, &out);
    }
}

static void test_sign_fills_key_id_and_keeps_negative_expiry(void **state)
{
    fixture *f = *state;
    token_claims in = sample_claims(TOKEN_SESSION), out;
    in.key_id = f->keys.key_id ^ 0xffffffffu; /* ignored by token_sign */
    in.expires_at_ms = -5;
    char tok[TOKEN_MAX_LEN + 1];
    size_t len = sign_ok(&f->keys, &in, tok);
    assert_true(token_verify(&f->keys, tok, len, &out));
    assert_int_equal(out.key_id, f->keys.key_id);
    assert_true(out.expires_at_ms == -5);
}

static void test_sign_refuses_small_buffer_and_bad_kind(void **state)
{
    fixture *f = *state;
    token_claims c = sample_claims(TOKEN_SESSION);
    char tok[TOKEN_MAX_LEN + 1];
    size_t len = sign_ok(&f->keys, &c, tok);
    char small[TOKEN_MAX_LEN + 1];
    assert_int_equal(token_sign(&f->keys, &c, small, len, NULL), USHER_ERR_INTERNAL);
    assert_int_equal(token_sign(&f->keys, &c, small, len + 1, NULL), USHER_ERR_OK);
    c.kind = (token_kind)4;
    assert_int_equal(token_sign(&f->keys, &c, small, sizeof small, NULL), USHER_ERR_INTERNAL);
    c.kind = (token_kind)0;
    assert_int_equal(token_sign(&f->keys, &c, small, sizeof small, NULL), USHER_ERR_INTERNAL);
}

static void test_changing_any_character_invalidates_token(void **state)
{
    fixture *f = *state;
    token_claims c = sample_claims(TOKEN_QUEUE);
    char tok[TOKEN_MAX_LEN + 1];
    size_t len = sign_ok(&f->keys, &c, tok);
    size_t tried = 0;

    for (size_t pos = 0; pos < len; pos++) {
        char orig = tok[pos];
        for (const char *alt = b64url_alphabet; *alt; alt++) {
            if (*alt == orig)
                continue;
            tok[pos] = *alt;
            assert_false(token_verify(&f->keys, tok, len, NULL));
            tried++;
        }
        tok[pos] = orig;
    }
    assert_true(tried >= len * 62);
    assert_true(token_verify(&f->keys, tok, len, NULL)); /* restored: valid again */
}

static void test_noncanonical_last_character_is_rejected(void **state)
{
    fixture *f = *state;
    token_claims c = sample_claims(TOKEN_SESSION);
    char tok[TOKEN_MAX_LEN + 1];
    size_t len = sign_ok(&f->keys, &c, tok);
    /* 110 bytes leave 2 unused bits in the last character; setting them
     * would decode to the same bytes under a lax decoder. */
    const char *p = strchr(b64url_alphabet, tok[len - 1]);
    assert_non_null(p);
    int v = (int)(p - b64url_alphabet);
    assert_int_equal(v & 3, 0);
    for (int bits = 1; bits < 4; bits++) {
        tok[len - 1] = b64url_alphabet[v | bits];
        assert_false(token_verify(&f->keys, tok, len, NULL));
    }
}

static void test_malformed_tokens_are_invalid(void **state)
{
    fixture *f = *state;
    token_claims c = sample_claims(TOKEN_SESSION);
    char tok[TOKEN_MAX_LEN + 1];
    size_t len = sign_ok(&f->keys, &c, tok);
    char buf[1024];

    for (size_t n = 0; n < len; n++)  /* every truncation */
        assert_false(token_verify(&f->keys, tok, n, NULL));
    for (size_t extra = 1; extra <= 4; extra++) { /* extensions */
        memcpy(buf, tok, len);
        memset(buf + len, 'A', extra);
        assert_false(token_verify(&f->keys, buf, len + extra, NULL));
    }
    memcpy(buf, tok, len);
    buf[len] = '\0';
    assert_false(token_verify(&f->keys, buf, len + 1, NULL)); /* trailing NUL counted */
    memcpy(buf, tok, len);
    buf[len - 1] = '=';                                       /* padding character */
    assert_false(token_verify(&f->keys, buf, len, NULL));
    memcpy(buf, tok, len);
    buf[10] = '+';                                            /* standard base64 char */
    assert_false(token_verify(&f->keys, buf, len, NULL));
    memcpy(buf, "u2.", 3);                                    /* wrong prefix */
    memcpy(buf + 3, tok + 3, len - 3);
    assert_false(token_verify(&f->keys, buf, len, NULL));

    memset(buf, 'A', sizeof buf);                             /* garbage of the right shape */
    memcpy(buf, "u1.", 3);
    assert_false(token_verify(&f->keys, buf, len, NULL));
    assert_false(token_verify(&f->keys, "garbage", 7, NULL));
    assert_false(token_verify(&f->keys, "", 0, NULL));
    assert_false(token_verify(&f->keys, NULL, 0, NULL));
    assert_false(token_verify(&f->keys, buf, TOKEN_MAX_LEN + 1, NULL));
    assert_false(token_verify(&f->keys, buf, sizeof buf, NULL));
}

static void test_token_of_another_key_pair_is_invalid(void **state)
{
    fixture *f = *state;
    char other_dir[160], err[256];
    token_keys other;
    snprintf(other_dir, sizeof other_dir, "%s/other", f->root);
    assert_int_equal(token_keys_open(other_dir, &other, err, sizeof err), USHER_ERR_OK);
    assert_memory_not_equal(other.public_key, f->keys.public_key, 32);
    assert_int_not_equal(other.key_id, f->keys.key_id);

    token_claims c = sample_claims(TOKEN_ADMIN);
    char tok[TOKEN_MAX_LEN + 1];
    size_t len = sign_ok(&other, &c, tok);
    assert_true(token_verify(&other, tok, len, NULL));
    assert_false(token_verify(&f->keys, tok, len, NULL));

    /* Another deployment's signature with this deployment's key id. */
    token_keys forger = other;
    forger.key_id = f->keys.key_id;
    len = sign_ok(&forger, &c, tok);
    assert_false(token_verify(&f->keys, tok, len, NULL));

    /* This deployment's signature but another key id. */
    token_keys wrong_id = f->keys;
    wrong_id.key_id ^= 1;
    len = sign_ok(&wrong_id, &c, tok);
    assert_false(token_verify(&f->keys, tok, len, NULL));
}

/* ---- cache ---- */

static void test_cache_hit_returns_same_claims_without_reverifying(void **state)
{
    fixture *f = *state;
    token_cache *cache = token_cache_new(64);
    assert_non_null(cache);
    token_claims in = sample_claims(TOKEN_QUEUE), first, again;
    char tok[TOKEN_MAX_LEN + 1];
    size_t len = sign_ok(&f->keys, &in, tok);

    assert_true(token_verify_cached(&f->keys, cache, tok, len, &first));
    /* Same key id, unusable public key: only a cache hit can still succeed. */
    token_keys broken = f->keys;
    memset(broken.public_key, 0, sizeof broken.public_key);
    assert_false(token_verify(&broken, tok, len, NULL));
    assert_true(token_verify_cached(&broken, cache, tok, len, &again));
    assert_claims_equal(&first, &again);
    in.key_id = f->keys.key_id;
    assert_claims_equal(&in, &again);
    token_cache_free(cache);
}

static void test_cache_never_hits_for_a_tampered_token(void **state)
{
    fixture *f = *state;
    token_cache *cache = token_cache_new(1); /* every token shares the one slot */
    assert_non_null(cache);
    token_claims c = sample_claims(TOKEN_SESSION);
    char tok[TOKEN_MAX_LEN + 1];
    size_t len = sign_ok(&f->keys, &c, tok);
    assert_true(token_verify_cached(&f->keys, cache, tok, len, NULL));

    for (size_t pos = 0; pos < len; pos++) {
        char orig = tok[pos];
        tok[pos] = orig == 'A' ? 'B' : 'A';
        assert_false(token_verify_cached(&f->keys, cache, tok, len, NULL));
        tok[pos] = orig;
        /* The tampered token was not inserted: the original still hits
         * even when signatures cannot be checked. */
        token_keys broken = f->keys;
        memset(broken.public_key, 0, sizeof broken.public_key);
        assert_true(token_verify_cached(&broken, cache, tok, len, NULL));
    }
    assert_false(token_verify_cached(&f->keys, cache, tok, len - 1, NULL));
    assert_false(token_verify_cached(&f->keys, cache, tok, 0, NULL));
    token_cache_free(cache);
}

/* A key whose signatures cannot verify anything: with it, only a cache hit
 * can accept a token. */
static token_keys keys_that_verify_nothing(const fixture *f)
{
    token_keys broken = f->keys;
    memset(broken.public_key, 0, sizeof broken.public_key);
    return broken;
}

static void test_cache_full_bucket_pushes_out_its_oldest(void **state)
{
    fixture *f = *state;
    token_cache *cache = token_cache_new(1); /* one bucket: every token shares it */
    assert_non_null(cache);
    size_t ways = token_cache_stats_get(cache).capacity;
    assert_true(ways >= 1 && ways < 16);
    char tok[16][TOKEN_MAX_LEN + 1];
    size_t len[16];
    for (size_t i = 0; i <= ways; i++) {
        token_claims c = sample_claims(TOKEN_SESSION);
        c.user.bytes[0] = (uint8_t)i;
        len[i] = sign_ok(&f->keys, &c, tok[i]);
        assert_true(token_verify_cached(&f->keys, cache, tok[i], len[i], NULL));
    }
    token_cache_stats s = token_cache_stats_get(cache);
    assert_int_equal(s.misses, ways + 1);
    assert_int_equal(s.evictions, 1);
    token_keys broken = keys_that_verify_nothing(f);
    assert_false(token_verify_cached(&broken, cache, tok[0], len[0], NULL)); /* the oldest is gone */
    for (size_t i = 1; i <= ways; i++) {
        token_claims out;
        assert_true(token_verify_cached(&broken, cache, tok[i], len[i], &out));
        assert_int_equal(out.user.bytes[0], i);
    }
    assert_int_equal(token_cache_stats_get(cache).hits, ways);
    token_cache_free(cache);
}

/* A population a quarter of the capacity is served from the cache on its
 * second pass, and a cache of zero tokens is no cache. */
static void test_cache_holds_a_population_below_capacity(void **state)
{
    fixture *f = *state;
    enum { POPULATION = 4000 };
    token_cache *cache = token_cache_new(4 * POPULATION);
    assert_non_null(cache);
    assert_true(token_cache_stats_get(cache).capacity >= 4 * POPULATION);
    static char tok[POPULATION][TOKEN_MAX_LEN + 1];
    static size_t len[POPULATION];
    for (int i = 0; i < POPULATION; i++) {
        token_claims c = sample_claims(TOKEN_QUEUE);
        c.seq = (uint64_t)i;
        len[i] = sign_ok(&f->keys, &c, tok[i]);
        assert_true(token_verify_cached(&f->keys, cache, tok[i], len[i], NULL));
    }
    token_keys broken = keys_that_verify_nothing(f);
    int served = 0;
    for (int i = 0; i < POPULATION; i++) {
        token_claims out;
        if (token_verify_cached(&broken, cache, tok[i], len[i], &out)) {
            served++;
            assert_int_equal(out.seq, (uint64_t)i);
        }
    }
    assert_true(served >= POPULATION * 99 / 100);
    token_cache_free(cache);

    assert_null(token_cache_new(0));
    assert_true(token_verify_cached(&f->keys, NULL, tok[0], len[0], NULL));
    assert_false(token_verify_cached(&broken, NULL, tok[0], len[0], NULL));
}

static void test_cache_refuses_token_of_another_key_id(void **state)
{
    fixture *f = *state;
    token_cache *cache = token_cache_new(16);
    token_claims c = sample_claims(TOKEN_SESSION);
    char tok[TOKEN_MAX_LEN + 1];
    size_t len = sign_ok(&f->keys, &c, tok);
    assert_true(token_verify_cached(&f->keys, cache, tok, len, NULL));
    token_keys other = f->keys;
    other.key_id ^= 0x80000000u;
    assert_false(token_verify_cached(&other, cache, tok, len, NULL));
    token_cache_free(cache);
}

/* ---- key file ---- */

/* No temp files left behind: the directory holds "keys" and nothing else. */
static void assert_dir_holds_only_keys(const char *dir)
{
    DIR *d = opendir(dir);
    assert_non_null(d);
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        assert_true(e->d_name[0] == '.' || strcmp(e->d_name, "keys") == 0);
    closedir(d);
}

static void keys_path(const fixture *f, char *out, size_t cap)
{
    snprintf(out, cap, "%s/keys", f->data);
}

static void test_keys_file_created_private_and_reopens_same(void **state)
{
    fixture *f = *state;
    char path[256], err[256];
    struct stat st;
    keys_path(f, path, sizeof path);
    assert_int_equal(lstat(f->data, &st), 0);
    assert_true(S_ISDIR(st.st_mode));
    assert_int_equal(st.st_mode & 0777, 0700);
    assert_int_equal(lstat(path, &st), 0);
    assert_true(S_ISREG(st.st_mode));
    assert_int_equal(st.st_mode & 0777, 0600);
    assert_int_equal(st.st_size, 96);

    token_keys again;
    assert_int_equal(token_keys_open(f->data, &again, err, sizeof err), USHER_ERR_OK);
    assert_memory_equal(again.public_key, f->keys.public_key, 32);
    assert_memory_equal(again.secret_key, f->keys.secret_key, 64);
    assert_int_equal(again.key_id, f->keys.key_id);

    /* A token signed before reopening verifies after. */
    token_claims c = sample_claims(TOKEN_SESSION);
    char tok[TOKEN_MAX_LEN + 1];
    size_t len = sign_ok(&f->keys, &c, tok);
    assert_true(token_verify(&again, tok, len, NULL));

    assert_dir_holds_only_keys(f->data);
}

static void test_keys_file_readable_by_others_is_refused(void **state)
{
    fixture *f = *state;
    char path[256], err[256] = "";
    token_keys k;
    keys_path(f, path, sizeof path);
    const mode_t bad[] = { 0644, 0640, 0604, 0610, 0601 };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(chmod(path, bad[i]), 0);
        err[0] = '\0';
        assert_int_equal(token_keys_open(f->data, &k, err, sizeof err), USHER_ERR_INTERNAL);
        assert_non_null(strstr(err, "keys"));
    }
    assert_int_equal(chmod(path, 0600), 0);
    assert_int_equal(token_keys_open(f->data, &k, NULL, 0), USHER_ERR_OK);
}

static void test_keys_file_symlink_is_refused(void **state)
{
    fixture *f = *state;
    char path[256], real[256], err[256] = "";
    token_keys k;
    keys_path(f, path, sizeof path);
    snprintf(real, sizeof real, "%s/real-keys", f->root);
    assert_int_equal(rename(path, real), 0);
    assert_int_equal(symlink(real, path), 0);
    assert_int_equal(token_keys_open(f->data, &k, err, sizeof err), USHER_ERR_INTERNAL);
    assert_true(err[0] != '\0');
    /* The link was not replaced by a fresh key. */
    struct stat st;
    assert_int_equal(lstat(path, &st), 0);
    assert_true(S_ISLNK(st.st_mode));
}

static void test_keys_file_wrong_size_or_damaged_is_refused(void **state)
{
    fixture *f = *state;
    char path[256], err[256];
    token_keys k;
    keys_path(f, path, sizeof path);

    int fd = open(path, O_WRONLY);
    assert_true(fd >= 0);
    assert_int_equal(ftruncate(fd, 95), 0);
    close(fd);
    err[0] = '\0';
    assert_int_equal(token_keys_open(f->data, &k, err, sizeof err), USHER_ERR_INTERNAL);
    assert_true(err[0] != '\0');

    /* Right size, but the public key does not belong to the secret key. */
    uint8_t bytes[96];
    memcpy(bytes, f->keys.public_key, 32);
    memcpy(bytes + 32, f->keys.secret_key, 64);
    bytes[0] ^= 1;
    fd = open(path, O_WRONLY | O_TRUNC);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, bytes, sizeof bytes), 96);
    close(fd);
    err[0] = '\0';
    assert_int_equal(token_keys_open(f->data, &k, err, sizeof err), USHER_ERR_INTERNAL);
    assert_true(err[0] != '\0');

    /* A directory in place of the file. */
    assert_int_equal(unlink(path), 0);
    assert_int_equal(mkdir(path, 0700), 0);
    assert_int_equal(token_keys_open(f->data, &k, err, sizeof err), USHER_ERR_INTERNAL);
}

static void test_racing_processes_create_one_key(void **state)
{
    fixture *f = *state;
    enum { RACERS = 16 };
    char dir[160];
    int go[2], results[2];
    pid_t pids[RACERS];
    snprintf(dir, sizeof dir, "%s/race", f->root);
    assert_int_equal(pipe(go), 0);
    assert_int_equal(pipe(results), 0);

    int forked = 0;
    for (int i = 0; i < RACERS; i++) {
        pids[i] = fork();
        if (pids[i] < 0)
            break;  /* reaped and reported below */
        forked++;
        if (pids[i] == 0) {
            char c;
            token_keys k;
            close(go[1]);
            (void)!read(go[0], &c, 1); /* returns at EOF: all start together */
            uint8_t msg[33] = { 0 };
            if (token_keys_open(dir, &k, NULL, 0) == USHER_ERR_OK) {
                msg[0] = 1;
                memcpy(msg + 1, k.public_key, 32);
            }
            _exit(write(results[1], msg, sizeof msg) == (ssize_t)sizeof msg ? 0 : 1);
        }
    }
    close(go[0]);
    close(go[1]);
    close(results[1]);

    /* Collect everything and reap every child before asserting, so a
     * failure never leaves racers running while teardown deletes the dir. */
    uint8_t msgs[RACERS][33];
    size_t got = 0;
    while (got < sizeof msgs) {
        ssize_t n = read(results[0], (uint8_t *)msgs + got, sizeof msgs - got);
        if (n <= 0)
            break;
        got += (size_t)n;
    }
    close(results[0]);
    int exited_ok = 0;
    for (int i = 0; i < forked; i++) {
        int status;
        if (waitpid(pids[i], &status, 0) == pids[i] && WIFEXITED(status) && WEXITSTATUS(status) == 0)
            exited_ok++;
    }
    assert_int_equal(forked, RACERS);
    assert_int_equal(exited_ok, RACERS);
    assert_int_equal(got, sizeof msgs);
    uint8_t first[32];
    memcpy(first, msgs[0] + 1, 32);
    for (int i = 0; i < RACERS; i++) {
        assert_int_equal(msgs[i][0], 1);
        assert_memory_equal(first, msgs[i] + 1, 32);
    }
    token_keys k;
    assert_int_equal(token_keys_open(dir, &k, NULL, 0), USHER_ERR_OK);
    assert_memory_equal(k.public_key, first, 32);
    assert_dir_holds_only_keys(dir);
}

/* ---- user ids ---- */

static void test_user_id_format_parse_round_trip(void **state)
{
    (void)state;
    user_id u = { { 0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef,
                    0xfe, 0xdc, 0xba, 0x98, 0x76, 0x54, 0x32, 0x10 } }, back;
    char s[37];
    user_id_format(&u, s);
    assert_string_equal(s, "01234567-89ab-cdef-fedc-ba9876543210");
    assert_true(user_id_parse(s, 36, &back));
    assert_memory_equal(u.bytes, back.bytes, 16);

    for (int i = 0; i < 100; i++) {
        user_id_random(&u);
        user_id_format(&u, s);
        assert_int_equal(strlen(s), 36);
        assert_true(user_id_parse(s, strlen(s), &back));
        assert_memory_equal(u.bytes, back.bytes, 16);
    }
}

static void test_user_id_parse_rejects_malformed(void **state)
{
    (void)state;
    user_id u;
    const char *bad[] = {
        "01234567-89AB-cdef-fedc-ba9876543210",  /* uppercase */
        "0123456789ab-cdef-fedc-ba9876543210",   /* missing dash (35) */
        "01234567-89ab-cdef-fedc-ba987654321",   /* short */
        "01234567-89ab-cdef-fedc-ba98765432100", /* long */
        "0123456-789ab-cdef-fedc-ba9876543210",  /* dash moved */
        "01234567_89ab-cdef-fedc-ba9876543210",  /* wrong separator */
        "01234567-89ab-cdef-fedc-ba987654321g",  /* not hex */
        "01234567-89ab-cdef-fedc-ba98765432-0",  /* dash in a group */
        "{1234567-89ab-cdef-fedc-ba9876543210",
        "",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_false(user_id_parse(bad[i], strlen(bad[i]), &u));
    /* Exactly len bytes: a valid prefix with the wrong length is refused. */
    const char *ok = "01234567-89ab-cdef-fedc-ba9876543210";
    assert_false(user_id_parse(ok, 35, &u));
    assert_true(user_id_parse(ok, 36, &u));
    assert_false(user_id_parse(NULL, 36, &u));
}

static void test_user_id_random_is_version_4(void **state)
{
    (void)state;
    user_id a, b;
    for (int i = 0; i < 200; i++) {
        user_id_random(&a);
        assert_int_equal(a.bytes[6] >> 4, 4);
        assert_int_equal(a.bytes[8] & 0xc0, 0x80);
        char s[37];
        user_id_format(&a, s);
        assert_int_equal(s[14], '4');
        assert_non_null(strchr("89ab", s[19]));
    }
    user_id_random(&b);
    assert_memory_not_equal(a.bytes, b.bytes, 16);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_sign_verify_round_trip_every_kind, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sign_fills_key_id_and_keeps_negative_expiry, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sign_refuses_small_buffer_and_bad_kind, setup, teardown),
        cmocka_unit_test_setup_teardown(test_changing_any_character_invalidates_token, setup, teardown),
        cmocka_unit_test_setup_teardown(test_noncanonical_last_character_is_rejected, setup, teardown),
        cmocka_unit_test_setup_teardown(test_malformed_tokens_are_invalid, setup, teardown),
        cmocka_unit_test_setup_teardown(test_token_of_another_key_pair_is_invalid, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cache_hit_returns_same_claims_without_reverifying, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cache_never_hits_for_a_tampered_token, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cache_full_bucket_pushes_out_its_oldest, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cache_holds_a_population_below_capacity, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cache_refuses_token_of_another_key_id, setup, teardown),
        cmocka_unit_test_setup_teardown(test_keys_file_created_private_and_reopens_same, setup, teardown),
        cmocka_unit_test_setup_teardown(test_keys_file_readable_by_others_is_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_keys_file_symlink_is_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_keys_file_wrong_size_or_damaged_is_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_racing_processes_create_one_key, setup, teardown),
        cmocka_unit_test(test_user_id_format_parse_round_trip),
        cmocka_unit_test(test_user_id_parse_rejects_malformed),
        cmocka_unit_test(test_user_id_random_is_version_4),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
