/* Independent jobs on the machine's cores (see par.h). */
#include "filters/par.h"

#include <pthread.h>
#include <stdatomic.h>
#include <unistd.h>

/* Hyperscan's compiler recurses over its pattern graphs: a compile thread gets the stack a main
 * thread usually has, not the smaller default some libcs give threads. */
#define JOB_STACK (8u << 20)
#define MAX_THREADS 16

struct par {
    void (*fn)(void *arg, size_t i);
    void *arg;
    size_t n;
    atomic_size_t next;
};

static void *
worker(void *p)
{
    struct par *w = p;
    for (size_t i; (i = atomic_fetch_add(&w->next, 1)) < w->n;)
        w->fn(w->arg, i);
    return NULL;
}

void
gw_par_run(size_t n, void (*fn)(void *arg, size_t i), void *arg)
{
    struct par w = {.fn = fn, .arg = arg, .n = n};
    atomic_init(&w.next, 0);
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    size_t want = n < (size_t)(cpus > 1 ? cpus : 1) ? n : (size_t)(cpus > 1 ? cpus : 1);
    if (want > MAX_THREADS)
        want = MAX_THREADS;
    pthread_t th[MAX_THREADS];
    size_t started = 0;
    pthread_attr_t attr;
    int attr_ok = want > 1 && pthread_attr_init(&attr) == 0;
    if (attr_ok) {
        pthread_attr_setstacksize(&attr, JOB_STACK);
        for (; started + 1 < want; started++)
            if (pthread_create(&th[started], &attr, worker, &w) != 0)
                break; /* fewer threads: the jobs still all run */
        pthread_attr_destroy(&attr);
    }
    worker(&w);
    for (size_t i = 0; i < started; i++)
        pthread_join(th[i], NULL);
}
