/* The deployment's signing key pair in DATA/keys: load it, or create it once.
 * File format: exactly 96 bytes, the 32-byte Ed25519 public key followed by
 * libsodium's 64-byte secret key (seed || public key). On load the pair is
 * re-derived from the seed and must match, so a damaged file is refused
 * rather than signing tokens nobody can verify.
 * Creation is safe against other processes doing the same at once: each
 * writes a private temp file (O_EXCL, 0600), fsyncs it and link()s it to
 * DATA/keys; link never replaces, so exactly one wins and every process,
 * winner or loser, then loads whatever DATA/keys holds.
 * The caller should have called sodium_init(); it is called again here,
 * which is harmless (idempotent). */
#include "token.h"

#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define KEYS_FILE_NAME "keys"
#define KEYS_FILE_LEN (crypto_sign_PUBLICKEYBYTES + crypto_sign_SECRETKEYBYTES)
#define KEYS_PATH_MAX 4096

_Static_assert(crypto_sign_PUBLICKEYBYTES == sizeof ((token_keys *)0)->public_key, "pk size");
_Static_assert(crypto_sign_SECRETKEYBYTES == sizeof ((token_keys *)0)->secret_key, "sk size");

static usher_err keys_fail(char *err, size_t err_cap, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static usher_err keys_fail(char *err, size_t err_cap, const char *fmt, ...)
{
    if (err && err_cap) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, err_cap, fmt, ap);
        va_end(ap);
    }
    return USHER_ERR_INTERNAL;
}

static uint32_t key_id_of(const uint8_t public_key[32])
{
    uint8_t hash[32];
    crypto_generichash(hash, sizeof hash, public_key, 32, NULL, 0);
    return (uint32_t)hash[0] << 24 | (uint32_t)hash[1] << 16 | (uint32_t)hash[2] << 8 | hash[3];
}

/* Reads or writes exactly len bytes, retrying short transfers and EINTR. */
static bool transfer_all(int fd, uint8_t *buf, size_t len, bool writing)
{
    while (len > 0) {
        ssize_t n = writing ? write(fd, buf, len) : read(fd, buf, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return false;
        buf += n;
        len -= (size_t)n;
    }
    return true;
}

/* Opens and checks an existing key file. Returns USHER_ERR_NOT_FOUND (no
 * message) when path does not exist, so the caller may create it. */
static usher_err keys_load(const char *path, token_keys *out, char *err, size_t err_cap)
{
    uint8_t file[KEYS_FILE_LEN];
    uint8_t pk[crypto_sign_PUBLICKEYBYTES], sk[crypto_sign_SECRETKEYBYTES];
    struct stat st;
    usher_err rc = USHER_ERR_INTERNAL;

    int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOENT)
            return USHER_ERR_NOT_FOUND;
        if (errno == ELOOP)
            return keys_fail(err, err_cap, "%s: refusing a symbolic link as the key file", path);
        return keys_fail(err, err_cap, "%s: %s", path, strerror(errno));
    }
    if (fstat(fd, &st) != 0) {
        keys_fail(err, err_cap, "%s: %s", path, strerror(errno));
        goto fail;
    }
    if (!S_ISREG(st.st_mode)) {
        keys_fail(err, err_cap, "%s: not a regular file", path);
        goto fail;
    }
    if (st.st_mode & (S_IRWXG | S_IRWXO)) {
        keys_fail(err, err_cap, "%s: mode %04o gives access to group or others; chmod 600 it",
                  path, (unsigned)(st.st_mode & 07777));
        goto fail;
    }
    if (st.st_size != (off_t)KEYS_FILE_LEN) {
        keys_fail(err, err_cap, "%s: size %lld, expected %u bytes", path,
                  (long long)st.st_size, (unsigned)KEYS_FILE_LEN);
        goto fail;
    }
    if (!transfer_all(fd, file, sizeof file, false)) {
        keys_fail(err, err_cap, "%s: short read", path);
        goto fail;
    }
    /* The secret key starts with its seed: re-derive and compare. */
    crypto_sign_seed_keypair(pk, sk, file + crypto_sign_PUBLICKEYBYTES);
    if (sodium_memcmp(pk, file, sizeof pk) != 0
        || sodium_memcmp(sk, file + crypto_sign_PUBLICKEYBYTES, sizeof sk) != 0) {
        keys_fail(err, err_cap, "%s: public and secret key do not match", path);
        goto fail;
    }
    memcpy(out->public_key, pk, sizeof pk);
    memcpy(out->secret_key, sk, sizeof sk);
    out->key_id = key_id_of(pk);
    rc = USHER_ERR_OK;
fail:
    sodium_memzero(file, sizeof file);
    sodium_memzero(sk, sizeof sk);
    close(fd);
    return rc;
}

/* Makes the directory's new entries durable; best effort. */
static void fsync_dir(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
        (void)fsync(fd);
        close(fd);
    }
}

/* Publishes tmp as path without ever replacing an existing path. Losing the
 * race (EEXIST) is success: the caller then loads the winner's key. *won
 * tells whether this key is the one published. */
static bool publish_no_replace(const char *tmp, const char *path, bool *won)
{
    *won = link(tmp, path) == 0;
    if (*won || errno == EEXIST)
        return true;
    /* Filesystems without hard links: an atomic rename that never replaces. */
    if (errno == EPERM || errno == ENOSYS || errno == EOPNOTSUPP) {
        *won = renameat2(AT_FDCWD, tmp, AT_FDCWD, path, RENAME_NOREPLACE) == 0;
        return *won || errno == EEXIST;
    }
    return false;
}

/* Generates a key pair and tries to publish it as path. */
static usher_err keys_create(const char *dir, const char *path, bool *won, char *err,
                             size_t err_cap)
{
    uint8_t file[KEYS_FILE_LEN];
    char tmp[KEYS_PATH_MAX];
    usher_err rc = USHER_ERR_INTERNAL;
    int fd = -1;

    int n = snprintf(tmp, sizeof tmp, "%s/%s.tmp.%ld.%08x", dir, KEYS_FILE_NAME,
                     (long)getpid(), (unsigned)randombytes_random());
    if (n < 0 || (size_t)n >= sizeof tmp)
        return keys_fail(err, err_cap, "%s: path too long", dir);
    fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0)
        return keys_fail(err, err_cap, "%s: %s", tmp, strerror(errno));

    crypto_sign_keypair(file, file + crypto_sign_PUBLICKEYBYTES);
    /* fchmod: the umask may only narrow 0600, but be exact anyway. */
    if (fchmod(fd, 0600) != 0 || !transfer_all(fd, file, sizeof file, true) || fsync(fd) != 0) {
        keys_fail(err, err_cap, "%s: %s", tmp, strerror(errno));
        goto fail;
    }
    if (close(fd) != 0) {
        fd = -1;
        keys_fail(err, err_cap, "%s: %s", tmp, strerror(errno));
        goto fail;
    }
    fd = -1;
    if (!publish_no_replace(tmp, path, won)) {
        keys_fail(err, err_cap, "%s: %s", path, strerror(errno));
        goto fail;
    }
    fsync_dir(dir);
    rc = USHER_ERR_OK;
fail:
    sodium_memzero(file, sizeof file);
    if (fd >= 0)
        close(fd);
    unlink(tmp);
    return rc;
}

usher_err token_keys_open(const char *data_dir, token_keys *out, char *err, size_t err_cap)
{
    return token_keys_open_as(data_dir, TOKEN_KEYS_LOAD_OR_CREATE, out, NULL, err, err_cap);
}

usher_err token_keys_open_as(const char *data_dir, token_keys_mode mode, token_keys *out,
                             bool *created, char *err, size_t err_cap)
{
    char path[KEYS_PATH_MAX];

    if (created)
        *created = false;
    if (err && err_cap)
        err[0] = '\0';
    if (sodium_init() < 0)
        return keys_fail(err, err_cap, "libsodium failed to initialise");
    if (data_dir == NULL || data_dir[0] == '\0')
        return keys_fail(err, err_cap, "no data directory given");
    int n = snprintf(path, sizeof path, "%s/%s", data_dir, KEYS_FILE_NAME);
    if (n < 0 || (size_t)n >= sizeof path - 32) /* room for the temp suffix */
        return keys_fail(err, err_cap, "%s: path too long", data_dir);
    if (mode == TOKEN_KEYS_LOAD_ONLY) {
        usher_err rc = keys_load(path, out, err, err_cap);
        if (rc == USHER_ERR_NOT_FOUND && err && err_cap)
            snprintf(err, err_cap, "%s: no such file", path);
        return rc;
    }
    if (mkdir(data_dir, 0700) != 0 && errno != EEXIST)
        return keys_fail(err, err_cap, "%s: %s", data_dir, strerror(errno));

    usher_err rc = keys_load(path, out, err, err_cap);
    if (rc != USHER_ERR_NOT_FOUND)
        return rc;
    bool won = false;
    rc = keys_create(data_dir, path, &won, err, err_cap);
    if (rc != USHER_ERR_OK)
        return rc;
    if (created)
        *created = won;
    rc = keys_load(path, out, err, err_cap);
    if (rc == USHER_ERR_NOT_FOUND)
        return keys_fail(err, err_cap, "%s: vanished right after creation", path);
    return rc;
}

usher_err token_keys_from_seed(const uint8_t seed[TOKEN_SEED_BYTES], token_keys *out)
{
    if (sodium_init() < 0)
        return USHER_ERR_INTERNAL;
    crypto_sign_seed_keypair(out->public_key, out->secret_key, seed);
    out->key_id = key_id_of(out->public_key);
    return USHER_ERR_OK;
}

usher_err token_keys_from_store(store *st, token_keys *out, bool *created, char *err,
                                size_t err_cap)
{
    uint8_t fresh[TOKEN_SEED_BYTES], seed[TOKEN_SEED_BYTES];
    bool made = false;

    if (created)
        *created = false;
    if (err && err_cap)
        err[0] = '\0';
    if (sodium_init() < 0)
        return keys_fail(err, err_cap, "libsodium failed to initialise");
    randombytes_buf(fresh, sizeof fresh);
    usher_err rc = store_shared_key(st, fresh, sizeof fresh, seed, &made);
    sodium_memzero(fresh, sizeof fresh);
    if (rc == USHER_ERR_OK)
        rc = token_keys_from_seed(seed, out);
    sodium_memzero(seed, sizeof seed);
    if (rc == USHER_ERR_OK) {
        if (created)
            *created = made;
        return rc;
    }
    if (err && err_cap)
        snprintf(err, err_cap, "%s", rc == USHER_ERR_NOT_FOUND ? "the database holds no signing key yet (start usherd on it once)"
                 : rc == USHER_ERR_UNAVAILABLE ? "the database cannot be reached"
                 : "cannot read the signing key from the database");
    return rc;
}
