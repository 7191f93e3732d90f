/* Reading fields of a reply's result map (for what the shell remembers and
 * for the seat grid). */
#include "cli.h"

#include <stdlib.h>
#include <string.h>

const msgpack_object *cli_result_get(const msgpack_object *map, const char *key)
{
    if (!map || map->type != MSGPACK_OBJECT_MAP)
        return NULL;
    size_t n = strlen(key);
    for (uint32_t i = 0; i < map->via.map.size; i++) {
        const msgpack_object *k = &map->via.map.ptr[i].key;
        if (k->type == MSGPACK_OBJECT_STR && k->via.str.size == n &&
            memcmp(k->via.str.ptr, key, n) == 0)
            return &map->via.map.ptr[i].val;
    }
    return NULL;
}

bool cli_result_u64(const msgpack_object *map, const char *key, uint64_t *out)
{
    const msgpack_object *v = cli_result_get(map, key);
    if (!v || v->type != MSGPACK_OBJECT_POSITIVE_INTEGER)
        return false;
    *out = v->via.u64;
    return true;
}

char *cli_result_strdup(const msgpack_object *map, const char *key)
{
    const msgpack_object *v = cli_result_get(map, key);
    if (!v || v->type != MSGPACK_OBJECT_STR)
        return NULL;
    return strndup(v->via.str.ptr, v->via.str.size);
}

void cli_remember_str(char **slot, const msgpack_object *map, const char *key)
{
    char *copy = cli_result_strdup(map, key);
    if (copy) {
        free(*slot);
        *slot = copy;
    }
}
