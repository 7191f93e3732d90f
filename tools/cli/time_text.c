/* Local times of epoch milliseconds (see time_text.h). */
#include "time_text.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

static const char *const time_keys[] = {
    "starts_at", "expires_at", "active_until", "paid_at", "at", "session_expires_at", "time",
};

bool time_text_local(int64_t epoch_ms, char *buf, size_t cap)
{
    if (epoch_ms < 0 || epoch_ms / 1000 > (int64_t)253402300799) /* year 9999 */
        return false;
    time_t secs = (time_t)(epoch_ms / 1000);
    struct tm tm;
    tzset();
    if (!localtime_r(&secs, &tm))
        return false;
    return strftime(buf, cap, "%Y-%m-%d %H:%M:%S %Z", &tm) > 0;
}

bool time_text_is_time_key(const char *key, size_t len)
{
    for (size_t i = 0; i < sizeof time_keys / sizeof time_keys[0]; i++)
        if (strlen(time_keys[i]) == len && memcmp(time_keys[i], key, len) == 0)
            return true;
    return false;
}

bool time_text_note(const char *key, size_t key_len, const char *value, size_t value_len,
                    char *note, size_t cap)
{
    if (!key || !time_text_is_time_key(key, key_len) || value_len == 0 || value_len > 18)
        return false;
    int64_t ms = 0;
    for (size_t i = 0; i < value_len; i++) {
        if (value[i] < '0' || value[i] > '9')
            return false;
        ms = ms * 10 + (value[i] - '0');
    }
    return time_text_local(ms, note, cap);
}
