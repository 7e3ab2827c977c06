/* Persistent thread pool for the forward pass.
 *
 * smelt_pool_run(pool, fn, arg) runs fn(arg, ith, nth) on all nth threads (the
 * caller is thread 0) and returns when every thread has returned. Inside fn,
 * threads synchronise with smelt_pool_barrier(), which every thread must call
 * the same number of times. Idle workers block on a futex; a waiting thread
 * yields the CPU briefly (sched_yield) before blocking, so it never spins.
 * A pool is used by one caller at a time.
 */
#ifndef SMELT_POOL_H
#define SMELT_POOL_H

#include "smelt/status.h"

struct smelt_pool;
typedef void (*smelt_pool_fn)(void *arg, int ith, int nth);

enum smelt_status smelt_pool_new(int n_threads, struct smelt_pool **out);
void smelt_pool_free(struct smelt_pool *p); /* accepts NULL */
int smelt_pool_n_threads(const struct smelt_pool *p);
void smelt_pool_run(struct smelt_pool *p, smelt_pool_fn fn, void *arg);
void smelt_pool_barrier(struct smelt_pool *p);
/* Number of online CPUs (>= 1). */
int smelt_n_cpus(void);

#endif
