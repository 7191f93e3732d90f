#include "store_rules.h"
#include <sodium.h>

usher_err store_rule_charge(const store_policy *policy, int64_t amount_krw)
{
    if (amount_krw <= 0) return USHER_ERR_INVALID_ARGUMENT;
    if (amount_krw > policy->max_charge_krw) return USHER_ERR_AMOUNT_LIMIT;
    return USHER_ERR_OK;
}

usher_err store_rule_schedule(uint32_t seats, const int64_t *prices_krw)
{
    if (seats < 1 || seats > STORE_SEATS_MAX) return USHER_ERR_INVALID_ARGUMENT;
    for (uint32_t i = 0; i < seats; i++)
        if (prices_krw[i] < 0) return USHER_ERR_INVALID_ARGUMENT;
    return USHER_ERR_OK;
}

usher_err store_rule_payment(const store_policy *policy, const uint64_t *reservation_ids, size_t n)
{
    if (n < 1 || n > policy->max_holds || n > STORE_HOLDS_MAX) return USHER_ERR_INVALID_ARGUMENT;
    for (size_t i = 1; i < n; i++)
        for (size_t j = 0; j < i; j++)
            if (reservation_ids[i] == reservation_ids[j]) return USHER_ERR_INVALID_ARGUMENT;
    return USHER_ERR_OK;
}

usher_err store_rule_refuse(const char **bad_param, const char *name)
{
    if (bad_param) *bad_param = name;
    return USHER_ERR_INVALID_ARGUMENT;
}

usher_err store_rule_queue_controls(const store_queue_control_change *change,
                                    const char **bad_param)
{
    if (change->set_max_active && change->max_active > STORE_QUEUE_MAX_ACTIVE_MAX)
        return store_rule_refuse(bad_param, "max_active");
    if (change->set_rate && change->admit_rate_per_min > STORE_QUEUE_RATE_MAX)
        return store_rule_refuse(bad_param, "admit_rate_per_min");
    return USHER_ERR_OK;
}

void store_rule_draw(uint64_t *rank_seq, uint64_t n)
{
    for (uint64_t i = 0; i < n; i++)
        rank_seq[i] = i + 1;
    for (uint64_t i = n; i > 1; i--) {   /* each permutation equally likely */
        uint64_t j = randombytes_uniform((uint32_t)i), tmp = rank_seq[i - 1];
        rank_seq[i - 1] = rank_seq[j];
        rank_seq[j] = tmp;
    }
}

usher_err store_rule_pay(store_reservation_status status_now)
{
    switch (status_now) {
    case STORE_RES_CONFIRMED: return USHER_ERR_ALREADY_PAID;
    case STORE_RES_EXPIRED:
    case STORE_RES_CANCELLED: return USHER_ERR_HOLD_EXPIRED;
    case STORE_RES_HELD: return USHER_ERR_OK;
    }
    return USHER_ERR_INTERNAL;
}

usher_err store_rule_cancel(store_reservation_status status_now, bool *already)
{
    *already = false;
    switch (status_now) {
    case STORE_RES_CANCELLED: *already = true; return USHER_ERR_OK;
    case STORE_RES_CONFIRMED: return USHER_ERR_ALREADY_PAID;
    case STORE_RES_EXPIRED: return USHER_ERR_HOLD_EXPIRED;
    case STORE_RES_HELD: break;
    }
    return USHER_ERR_OK;
}
