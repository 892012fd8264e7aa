/*
 * Independent jobs on the machine's cores, for work done once at configuration load (compiling
 * Hyperscan databases: seconds each for the shipped packs, and independent of each other).
 */
#ifndef GW_PAR_H
#define GW_PAR_H

#include <stddef.h>

/*
 * Runs fn(arg, i) for every i in [0, n) and returns when all have returned. The jobs run on up to
 * min(n, online CPUs) threads, the caller's among them, in no particular order, so they must not
 * share anything they write. Without threads (one CPU, or pthread_create failing) they run one
 * after the other on the caller's thread. Not for the event loop: it blocks until all are done.
 */
void gw_par_run(size_t n, void (*fn)(void *arg, size_t i), void *arg);

#endif
