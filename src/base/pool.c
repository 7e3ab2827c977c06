#include "pool.h"

#include <linux/futex.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "base.h"

#define SMELT_MAX_THREADS 256
/* How many sched_yield() rounds a waiter does before blocking in the kernel. */
#define YIELD_ROUNDS 64

struct smelt_pool {
    int n;
    pthread_t threads[SMELT_MAX_THREADS];
    /* job dispatch */
    _Atomic uint32_t job_gen;   /* incremented to start a job (futex word) */
    _Atomic int job_done;       /* workers finished with the current job */
    _Atomic uint32_t done_gen;  /* futex word the caller waits on */
    _Atomic int quit;
    smelt_pool_fn fn;
    void *arg;
    /* barrier */
    _Atomic int bar_count;
    _Atomic uint32_t bar_gen;   /* futex word */
    _Atomic int bar_sleepers;   /* threads blocked (or about to block) on bar_gen */
};

static void futex_wait(_Atomic uint32_t *addr, uint32_t val) {
    syscall(SYS_futex, (uint32_t *)addr, FUTEX_WAIT_PRIVATE, val, NULL, NULL, 0);
}
static void futex_wake_all(_Atomic uint32_t *addr) {
    syscall(SYS_futex, (uint32_t *)addr, FUTEX_WAKE_PRIVATE, 0x7fffffff, NULL, NULL, 0);
}

/* Wait until *addr != val: yield a while, then block. When sleepers is not
 * NULL it counts the threads that may be blocked, so that the waker can skip
 * the wake-up system call when every waiter is still yielding (the common
 * case at a barrier); the counter and the word are accessed sequentially
 * consistently, so either the waker sees the sleeper or the sleeper sees the
 * new value before it blocks. */
static void wait_change(_Atomic uint32_t *addr, uint32_t val, _Atomic int *sleepers) {
    for (int i = 0; i < YIELD_ROUNDS; i++) {
        if (atomic_load_explicit(addr, memory_order_acquire) != val) return;
        sched_yield();
    }
    if (sleepers) atomic_fetch_add(sleepers, 1);
    while (atomic_load(addr) == val) futex_wait(addr, val);
    if (sleepers) atomic_fetch_sub(sleepers, 1);
}

struct worker_arg {
    struct smelt_pool *p;
    int ith;
};

static void *worker_main(void *varg) {
    struct smelt_pool *p = ((struct worker_arg *)varg)->p;
    int ith = ((struct worker_arg *)varg)->ith;
    free(varg);
    uint32_t seen = 0;
    for (;;) {
        /* long idle periods: block without yielding first */
        while (atomic_load_explicit(&p->job_gen, memory_order_acquire) == seen)
            futex_wait(&p->job_gen, seen);
        seen = atomic_load_explicit(&p->job_gen, memory_order_acquire);
        if (atomic_load(&p->quit)) return NULL;
        p->fn(p->arg, ith, p->n);
        if (atomic_fetch_add_explicit(&p->job_done, 1, memory_order_acq_rel) + 1 == p->n - 1) {
            atomic_fetch_add_explicit(&p->done_gen, 1, memory_order_release);
            futex_wake_all(&p->done_gen);
        }
    }
}

int smelt_n_cpus(void) {
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n < 1 ? 1 : (int)n;
}

enum smelt_status smelt_pool_new(int n_threads, struct smelt_pool **out) {
    *out = NULL;
    if (n_threads < 1 || n_threads > SMELT_MAX_THREADS)
        return smelt_err(SMELT_ERR_INVALID_ARG, "thread count %d out of range 1..%d", n_threads,
                         SMELT_MAX_THREADS);
    struct smelt_pool *p = smelt_calloc(1, sizeof *p);
    if (!p) return SMELT_ERR_NOMEM;
    p->n = 1;
    for (int i = 1; i < n_threads; i++) {
        struct worker_arg *a = smelt_malloc(sizeof *a);
        if (!a) goto fail;
        a->p = p;
        a->ith = i;
        if (pthread_create(&p->threads[i], NULL, worker_main, a) != 0) {
            free(a);
            smelt_err(SMELT_ERR_NOMEM, "could not start worker thread %d", i);
            goto fail;
        }
        p->n++;
    }
    *out = p;
    return SMELT_OK;
fail:
    smelt_pool_free(p);
    return SMELT_ERR_NOMEM;
}

void smelt_pool_free(struct smelt_pool *p) {
    if (!p) return;
    atomic_store(&p->quit, 1);
    atomic_fetch_add(&p->job_gen, 1);
    futex_wake_all(&p->job_gen);
    for (int i = 1; i < p->n; i++) pthread_join(p->threads[i], NULL);
    free(p);
}

int smelt_pool_n_threads(const struct smelt_pool *p) { return p->n; }

void smelt_pool_run(struct smelt_pool *p, smelt_pool_fn fn, void *arg) {
    if (p->n == 1) {
        fn(arg, 0, 1);
        return;
    }
    p->fn = fn;
    p->arg = arg;
    atomic_store(&p->job_done, 0);
    uint32_t done = atomic_load(&p->done_gen);
    atomic_fetch_add_explicit(&p->job_gen, 1, memory_order_release);
    futex_wake_all(&p->job_gen);
    fn(arg, 0, p->n);
    wait_change(&p->done_gen, done, NULL);
}

void smelt_pool_barrier(struct smelt_pool *p) {
    if (p->n == 1) return;
    uint32_t gen = atomic_load_explicit(&p->bar_gen, memory_order_acquire);
    if (atomic_fetch_add_explicit(&p->bar_count, 1, memory_order_acq_rel) + 1 == p->n) {
        atomic_store_explicit(&p->bar_count, 0, memory_order_relaxed);
        atomic_fetch_add(&p->bar_gen, 1);
        if (atomic_load(&p->bar_sleepers) > 0) futex_wake_all(&p->bar_gen);
        return;
    }
    wait_change(&p->bar_gen, gen, &p->bar_sleepers);
}
