/* Shared by the fuzz targets: a token key pair from a fixed seed, installed
 * as DATA/keys in a directory and loaded by the server's own token_keys_open,
 * so every run (and every corpus file) sees the same keys and key id. */
#ifndef USHER_TESTS_FUZZ_KEYS_H
#define USHER_TESTS_FUZZ_KEYS_H

#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "../../server/token.h"

/* The seed behind every fuzz key pair ("usher fuzz keys", zero padded). */
static inline void fuzz_keys_seed(uint8_t seed[crypto_sign_SEEDBYTES])
{
    memset(seed, 0, crypto_sign_SEEDBYTES);
    memcpy(seed, "usher fuzz keys", 15);
}

/* Writes dir/keys from the fixed seed and loads it into *out; aborts on any
 * failure (a fuzz target cannot run without its keys). */
static inline void fuzz_keys_install(const char *dir, token_keys *out)
{
    uint8_t seed[crypto_sign_SEEDBYTES], file[crypto_sign_PUBLICKEYBYTES + crypto_sign_SECRETKEYBYTES];
    if (sodium_init() < 0) abort();
    fuzz_keys_seed(seed);
    crypto_sign_seed_keypair(file, file + crypto_sign_PUBLICKEYBYTES, seed);
    char path[1100];
    snprintf(path, sizeof path, "%s/keys", dir);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd < 0 || write(fd, file, sizeof file) != (ssize_t)sizeof file || close(fd) != 0) abort();
    char err[256];
    if (token_keys_open(dir, out, err, sizeof err) != USHER_ERR_OK) {
        fprintf(stderr, "fuzz: keys: %s\n", err);
        abort();
    }
}

#endif
