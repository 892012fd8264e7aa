/* Unit tests for filters/par.c: every job runs once, whatever their number, and the caller's
 * thread takes part. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <cmocka.h>

#include "filters/par.h"

struct jobs {
    atomic_int *runs; /* per job: how many times it ran */
    atomic_int on_caller;
    pthread_t caller;
};

static void
job(void *arg, size_t i)
{
    struct jobs *j = arg;
    atomic_fetch_add(&j->runs[i], 1);
    if (pthread_equal(pthread_self(), j->caller))
        atomic_fetch_add(&j->on_caller, 1);
}

static void
run_n(size_t n)
{
    struct jobs j = {.runs = calloc(n ? n : 1, sizeof(atomic_int)), .caller = pthread_self()};
    assert_non_null(j.runs);
    atomic_init(&j.on_caller, 0);
    gw_par_run(n, job, &j);
    for (size_t i = 0; i < n; i++)
        assert_int_equal(atomic_load(&j.runs[i]), 1);
    /* the caller runs jobs too (all of them when there is one) */
    if (n == 1)
        assert_int_equal(atomic_load(&j.on_caller), 1);
    free(j.runs);
}

static void
test_every_job_once(void **state)
{
    (void)state;
    run_n(0);
    run_n(1);
    run_n(2);
    run_n(3);
    run_n(1000); /* more jobs than threads: each thread takes the next until none is left */
}

static void
nested(void *arg, size_t i)
{
    (void)i;
    run_n(5 + (size_t)(uintptr_t)arg);
}

/* a job may run jobs of its own (a pack's database compiling its modes side by side) */
static void
test_nested(void **state)
{
    (void)state;
    gw_par_run(4, nested, (void *)(uintptr_t)3);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_job_once),
        cmocka_unit_test(test_nested),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
