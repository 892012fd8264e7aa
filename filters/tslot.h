/*
 * A per-thread block of memory, allocated zeroed on the thread's first call and freed by the
 * key's destructor when the thread exits (the normalisation scratch of the injection pack, the
 * classifier's repeat counts).
 */
#ifndef GW_TSLOT_H
#define GW_TSLOT_H

#include <pthread.h>
#include <stdlib.h>

/* The calling thread's block of size bytes under key (created once by make_key, which sets its
 * destructor), or NULL when out of memory. */
static inline void *
gw_thread_slot(pthread_key_t *key, pthread_once_t *once, void (*make_key)(void), size_t size)
{
    pthread_once(once, make_key);
    void *b = pthread_getspecific(*key);
    if (!b && (b = calloc(1, size)) && pthread_setspecific(*key, b) != 0) {
        free(b);
        b = NULL;
    }
    return b;
}

#endif
