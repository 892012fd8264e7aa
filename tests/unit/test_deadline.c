/*
 * gateway/deadline.h: a deadline moved later fires at the later time, not at the earlier one the
 * timer was added for; one moved earlier fires at the earlier time; a cleared one never passes;
 * fire_now passes at once.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <event2/event.h>

#include "gateway/deadline.h"
#include "gateway/log.h"

struct probe {
    struct gw_deadline d;
    int fired;  /* callbacks run */
    int passed; /* ... of which gw_deadline_expired said the deadline passed */
    uint64_t passed_at;
};

static void
on_fire(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct probe *p = arg;
    p->fired++;
    if (gw_deadline_expired(&p->d)) {
        p->passed++;
        p->passed_at = gw_now_us();
    }
}

static void
test_moved_later(void **state)
{
    (void)state;
    struct event_base *base = event_base_new();
    struct probe p = {0};
    gw_deadline_init(&p.d, base, on_fire, &p);
    uint64_t t0 = gw_now_us();
    gw_deadline_set(&p.d, 20);
    gw_deadline_set(&p.d, 120); /* later: only written down, the timer stays at 20 ms */
    assert_true(p.d.on && p.d.at < p.d.due);
    event_base_dispatch(base);
    assert_int_equal(p.passed, 1);
    assert_true(p.fired >= 1); /* early at 20 ms (unless the loop was late), then at the deadline */
    assert_true(p.passed_at - t0 >= 120 * 1000);
    event_base_free(base);
}

static void
test_moved_earlier(void **state)
{
    (void)state;
    struct event_base *base = event_base_new();
    struct probe p = {0};
    gw_deadline_init(&p.d, base, on_fire, &p);
    uint64_t t0 = gw_now_us();
    gw_deadline_set(&p.d, 10000);
    gw_deadline_set(&p.d, 30); /* earlier: the timer is added again */
    assert_true(p.d.on && p.d.at == p.d.due);
    event_base_dispatch(base);
    assert_int_equal(p.fired, 1);
    assert_int_equal(p.passed, 1);
    assert_true(p.passed_at - t0 >= 30 * 1000);
    assert_true(p.passed_at - t0 < 10000 * 1000);
    event_base_free(base);
}

static void
test_cleared_and_fire_now(void **state)
{
    (void)state;
    struct event_base *base = event_base_new();
    struct probe p = {0};
    gw_deadline_init(&p.d, base, on_fire, &p);
    gw_deadline_set(&p.d, 10);
    gw_deadline_set(&p.d, 0); /* none: the pending timer fires and is ignored */
    event_base_dispatch(base);
    assert_int_equal(p.fired, 1);
    assert_int_equal(p.passed, 0);

    gw_deadline_set(&p.d, 10000);
    gw_deadline_fire_now(&p.d);
    event_base_dispatch(base);
    assert_int_equal(p.fired, 2);
    assert_int_equal(p.passed, 1);
    gw_deadline_stop(&p.d);
    event_base_free(base);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_moved_later),
        cmocka_unit_test(test_moved_earlier),
        cmocka_unit_test(test_cleared_and_fire_now),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
