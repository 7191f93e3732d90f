/* usherd --config FILE: the file's lines cut into key = value pairs, each
 * applied by config_apply_key (config.c owns what a key means). Only reading
 * and cutting lines lives here. */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define CONFIG_LINE_MAX 4096   /* bytes of one line; the longest value is a 1023-byte path */

static bool is_blank(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* Cuts surrounding blanks in place; returns the first non-blank byte. */
static char *trim(char *text)
{
    while (is_blank(*text))
        text++;
    size_t len = strlen(text);
    while (len > 0 && is_blank(text[len - 1]))
        text[--len] = '\0';
    return text;
}

/* One line (NUL-terminated, len bytes read): 0, or 2 after a usage error. */
static int apply_line(usher_config *cfg, char *text, size_t len, const char *path, unsigned line,
                      FILE *err)
{
    if (strlen(text) != len)
        return config_usage_error(err, path, line, "a NUL byte in the line");
    if (len > CONFIG_LINE_MAX)
        return config_usage_error(err, path, line, "line longer than %d bytes", CONFIG_LINE_MAX);
    char *key = trim(text);
    if (key[0] == '\0' || key[0] == '#')
        return 0;
    char *equals = strchr(key, '=');
    if (equals == NULL)
        return config_usage_error(err, path, line, "'%s' is not KEY = VALUE", key);
    *equals = '\0';
    char *value = trim(equals + 1);
    key = trim(key);
    if (key[0] == '\0')
        return config_usage_error(err, path, line, "no key before '='");
    return config_apply_key(cfg, key, value, path, line, err);
}

int config_file_load(usher_config *cfg, const char *path, FILE *err)
{
    FILE *file = fopen(path, "re");
    if (file == NULL)
        return config_usage_error(err, NULL, 0, "--config: cannot open '%s': %s", path, strerror(errno));
    char *text = NULL;
    size_t cap = 0;
    unsigned line = 0;
    int rc = 0;
    ssize_t got;
    errno = 0;
    while (rc == 0 && (got = getline(&text, &cap, file)) >= 0)
        rc = apply_line(cfg, text, (size_t)got, path, ++line, err);
    if (rc == 0 && ferror(file))
        rc = config_usage_error(err, NULL, 0, "--config: cannot read '%s': %s", path,
                                strerror(errno ? errno : EIO));
    free(text);
    fclose(file);
    return rc;
}
