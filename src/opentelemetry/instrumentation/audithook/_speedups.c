/* The audit hook in C (PEP 578: PySys_AddAuditHook).
 *
 * Unselected events are rejected here with no Python allocation: the event
 * name is hashed and looked up in a fixed-size cache that Python fills once
 * per distinct name.  Every decision to drop a selected event that can be
 * made without the span is made here too, before any Python runs:
 * suppression (the telemetry pipeline's own work), standard-library imports,
 * sampling, no span, repeats, and the rate limits per name and process-wide; each is
 * counted here.  Only the events that will be exported reach the Python
 * handler.  The pure-Python twin is _purehook.py: same functions, same
 * behaviour, same order of decisions.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <frameobject.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>

#define CACHE_CAPACITY 4096 /* a power of two */
#define CACHE_MAX_FILL 3072 /* then the cache is emptied: names stay bounded */

/* Per-name counts live in their own table, which is never emptied: at most
 * COUNTED_MAX names (the Python side admits fewer), the rest in `overflow`. */
#define COUNTED_CAPACITY 4096 /* a power of two */
#define COUNTED_MAX 2048

#define FLAG_SELECTED 1
#define FLAG_NEED_SPAN 2  /* with no recording span: dropped as no_span */
#define FLAG_NON_STDLIB 4 /* an import event: standard-library modules are not recorded */
#define FLAG_OVERFLOW 8   /* counted in the overflow bucket, not under its name */
#define FLAG_HANDLE_FIRST 16 /* the first argument is a handle (a socket, a connection): its type
                                tells a repeat, not its value */

/* Where an event happens: what situation() says (the numbers are
 * _hook.SUPPRESSED, _hook.NO_SPAN and _hook.IN_SPAN). */
#define SITUATION_SUPPRESSED 0
#define SITUATION_NO_SPAN 1
#define SITUATION_IN_SPAN 2

/* What the hook counts, in the order counts() reports it (COUNTS). */
enum {
    N_SELECTED,
    N_NO_SPAN,
    N_SAMPLED_OUT,
    N_RATE_LIMITED,
    N_RATE_LIMITED_TOTAL,
    N_REPEATED,
    N_KINDS
};
static const char *const COUNT_NAMES[] = {"selected",           "no_span",  "sampled_out",
                                          "rate_limited",       "rate_limited_total",
                                          "repeated",           "other_interpreter"};

/* A token bucket: it fills at its rate and holds `burst_seconds` of it (at
 * least one token); `primed` 0: full at next use. */
typedef struct {
    double tokens;
    double last;
    int primed;
} bucket_t;

static const char PROBE_EVENT[] = "opentelemetry.instrumentation.audithook.probe";

typedef struct {
    char *name; /* NULL: empty slot */
    size_t len;
    uint64_t hash;
    PyObject *pyname; /* NULL for the overflow bucket */
    unsigned long long n[N_KINDS];
    bucket_t bucket; /* the per-name rate limit (shared by the overflow names) */
    /* raised in another interpreter: never recorded, only counted, and
     * written without the main interpreter's GIL, hence atomic */
    _Atomic unsigned long long elsewhere;
} counted_t;

typedef struct {
    char *name; /* NULL: empty slot */
    size_t len;
    uint64_t hash;
    int flags;
    double ratio;      /* the sample ratio; 1.0: every event */
    PyObject *pyname;  /* the name as str, made once */
    counted_t *count;  /* where a selected name is counted; never freed */
    int pinned;        /* survives emptying: resolved ahead of its first event */
} entry_t;

#define PINNED_MAX 8

static entry_t cache[CACHE_CAPACITY];
static size_t cache_fill = 0;
static counted_t counted[COUNTED_CAPACITY];
static size_t counted_fill = 0;
/* The slots in use, in the order they were filled: a walk over the counts
 * touches only these (the whole table is 450 KiB of zero pages until used,
 * and writing to each at start-up cost a process 100 page faults). */
static counted_t *counted_used[COUNTED_MAX];
static counted_t overflow;

/* Events raised from C pass the same string literal every time: a small
 * table keyed by the pointer finds their entry without hashing.  A hit is
 * verified against the name, so a pointer reused for another string only
 * costs a miss. */
#define POINTER_SLOTS 512
static entry_t *by_pointer[POINTER_SLOTS];

static inline size_t
pointer_slot(const char *event)
{
    return ((uintptr_t)event >> 3) & (POINTER_SLOTS - 1);
}

static inline int
same_name(const char *a, const char *b)
{
    while (*a && *a == *b) {
        a++;
        b++;
    }
    return *a == *b;
}

static int enabled = 0;
static int installed = 0;
static int probe_seen = 0;
static PyObject *resolver = NULL;    /* resolve(name: str) -> int flags */
static PyObject *handler = NULL;     /* handle(name: str, args: tuple) -> None */
static PyObject *context_var = NULL; /* the OpenTelemetry context's ContextVar */
static PyObject *suppress_keys = NULL; /* tuple of context keys */
static PyObject *span_key = NULL;
static PyObject *non_recording = NULL; /* the API's NonRecordingSpan type */
static PyObject *situation_fn = NULL;  /* situation(name) -> int, where context_var is NULL */
static PyObject *stdlib_names = NULL;  /* frozenset: sys.stdlib_module_names */
static double rate_limit = 0.0;        /* per name, events per second; 0: none */
static double rate_limit_total = 0.0;  /* process-wide */
static double burst_seconds = 1.0;     /* how many seconds of its rate a bucket holds */
static double repeat_window = 0.0;     /* seconds; 0: repeats are exported */
static bucket_t total_bucket;
static PyInterpreterState *main_interp = NULL;

/* Python runs signal handlers in the main thread, between any two bytecodes:
 * ours and the SDK's included, where an `except Exception` would swallow an
 * application's exception (a timeout on SIGALRM).  So while our Python code
 * runs in the main thread, asynchronous signals wait; once it is done they
 * are delivered, and their handlers run in the application's stead. */
static unsigned long main_thread = 0;
static sigset_t deferred_signals;

static void
init_deferred_signals(void)
{
    sigfillset(&deferred_signals);
    /* Synchronous and fatal signals are never deferred. */
    const int keep[] = {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGTRAP, SIGABRT, SIGSYS, SIGKILL, SIGSTOP};
    for (size_t i = 0; i < sizeof(keep) / sizeof(keep[0]); i++) {
        sigdelset(&deferred_signals, keep[i]);
    }
}

/* Signals deferred while our Python code runs, from the first call into
 * Python on; decisions made in C alone need no mask (no bytecode runs). */
typedef struct {
    int masked;
    sigset_t saved;
} signal_guard_t;

static inline void
defer_signals(signal_guard_t *guard)
{
    if (!guard->masked && main_thread != 0 && PyThread_get_thread_ident() == main_thread &&
        pthread_sigmask(SIG_BLOCK, &deferred_signals, &guard->saved) == 0) {
        guard->masked = 1;
    }
}

/* One lock guards the tables.  The GIL is not enough: interpreters with a
 * GIL of their own (3.12+) and free-threaded builds run hooks in parallel.
 * It is held only around plain C work on the tables: never while Python
 * code runs, never while anything could release the GIL or allocate a
 * Python object that the garbage collector tracks, so it cannot deadlock
 * and a table is never seen half-changed. */
static atomic_int table_lock = 0;

static inline void
lock_tables(void)
{
    unsigned spins = 0;
    while (atomic_exchange_explicit(&table_lock, 1, memory_order_acquire)) {
        while (atomic_load_explicit(&table_lock, memory_order_relaxed)) {
            if (++spins % 1024 == 0) {
                sched_yield(); /* the holder was preempted */
            }
        }
    }
}

static inline void
unlock_tables(void)
{
    atomic_store_explicit(&table_lock, 0, memory_order_release);
}

/* fork(): the child must not inherit a lock held by a thread it lacks. */
static void
atfork_prepare(void)
{
    lock_tables();
}

static void
atfork_parent(void)
{
    unlock_tables();
}

static void
atfork_child(void)
{
    atomic_store_explicit(&table_lock, 0, memory_order_relaxed);
}

#if defined(_MSC_VER)
static __declspec(thread) int busy = 0;
#else
static _Thread_local int busy = 0;
#endif

static int
is_finalizing(void)
{
#if PY_VERSION_HEX >= 0x030D0000
    return Py_IsFinalizing();
#else
    return _Py_IsFinalizing();
#endif
}

static inline uint64_t
fnv1a(const char *s, size_t *len_out)
{
    uint64_t h = 1469598103934665603ULL;
    const unsigned char *p = (const unsigned char *)s;
    while (*p) {
        h ^= *p++;
        h *= 1099511628211ULL;
    }
    *len_out = (size_t)((const char *)p - s);
    return h;
}

/* Lock held. */
static inline entry_t *
lookup(const char *event, uint64_t hash, size_t len)
{
    size_t i = (size_t)hash & (CACHE_CAPACITY - 1);
    for (;;) {
        entry_t *e = &cache[i];
        if (e->name == NULL) {
            return NULL;
        }
        if (e->hash == hash && e->len == len && memcmp(e->name, event, len) == 0) {
            return e;
        }
        i = (i + 1) & (CACHE_CAPACITY - 1);
    }
}

/* Where a name goes: its home slot, or the next free one.  Lock held. */
static inline entry_t *
free_slot(uint64_t hash)
{
    size_t i = (size_t)hash & (CACHE_CAPACITY - 1);
    while (cache[i].name != NULL) {
        i = (i + 1) & (CACHE_CAPACITY - 1);
    }
    return &cache[i];
}

/* Empty the cache but for its pinned names.  Lock and GIL held (main
 * interpreter): freeing a name and releasing an exact str run no Python
 * code.  Counts are kept. */
static void
empty_cache(void)
{
    entry_t pinned[PINNED_MAX];
    size_t n_pinned = 0;
    memset(by_pointer, 0, sizeof(by_pointer));
    for (size_t i = 0; i < CACHE_CAPACITY; i++) {
        entry_t *e = &cache[i];
        if (e->name == NULL) {
            continue;
        }
        if (e->pinned && n_pinned < PINNED_MAX) {
            pinned[n_pinned++] = *e; /* moved, not freed */
        }
        else {
            PyMem_RawFree(e->name);
            Py_CLEAR(e->pyname);
        }
        memset(e, 0, sizeof(*e));
    }
    /* Placed again from their home slots: the gaps left behind would end
     * their probe sequences early. */
    for (size_t k = 0; k < n_pinned; k++) {
        *free_slot(pinned[k].hash) = pinned[k];
    }
    cache_fill = n_pinned;
}

/* The slot where a name is counted, or where it would go (name NULL).
 * Lock held. */
static counted_t *
counted_slot(const char *event, uint64_t hash, size_t len)
{
    size_t i = (size_t)hash & (COUNTED_CAPACITY - 1);
    for (;;) {
        counted_t *c = &counted[i];
        if (c->name == NULL ||
            (c->hash == hash && c->len == len && memcmp(c->name, event, len) == 0)) {
            return c;
        }
        i = (i + 1) & (COUNTED_CAPACITY - 1);
    }
}

static inline counted_t *
find_counted(const char *event, uint64_t hash, size_t len)
{
    counted_t *c = counted_slot(event, hash, len);
    return c->name != NULL ? c : NULL;
}

/* Where a selected name is counted: its own slot, made from `spare` (a copy
 * of the name, taken when used), or the overflow bucket.  Lock held. */
static counted_t *
counter_for(const char *event, uint64_t hash, size_t len, PyObject *pyname, char **spare)
{
    counted_t *c = counted_slot(event, hash, len);
    if (c->name != NULL) {
        return c;
    }
    if (counted_fill >= COUNTED_MAX || *spare == NULL) {
        return &overflow;
    }
    c->name = *spare;
    *spare = NULL;
    c->len = len;
    c->hash = hash;
    c->pyname = Py_NewRef(pyname);
    counted_used[counted_fill++] = c;
    return c;
}

/* Remember what to do with a name.  `copies` are two copies of the name
 * made before the lock was taken; the ones used are set to NULL.  Lock and
 * GIL held. */
static entry_t *
insert(const char *event, uint64_t hash, size_t len, int flags, double ratio, int pin,
       PyObject *pyname, char **copies)
{
    counted_t *count = NULL;
    if (flags & FLAG_SELECTED) {
        count = (flags & FLAG_OVERFLOW) ? &overflow
                                       : counter_for(event, hash, len, pyname, &copies[1]);
    }
    entry_t *e = lookup(event, hash, len);
    if (e != NULL) {
        e->flags = flags;
        e->ratio = ratio;
        e->count = count;
        e->pinned |= pin;
        return e;
    }
    if (copies[0] == NULL) {
        return NULL;
    }
    if (cache_fill >= CACHE_MAX_FILL) {
        empty_cache();
    }
    e = free_slot(hash);
    e->pinned = pin;
    e->name = copies[0];
    copies[0] = NULL;
    e->len = len;
    e->hash = hash;
    e->flags = flags;
    e->ratio = ratio;
    e->pyname = Py_NewRef(pyname);
    e->count = count;
    cache_fill++;
    return e;
}

/* Remember a resolved name, and say where it is counted (NULL: it is not
 * selected).  GIL held, lock not held. */
static int
remember(const char *event, uint64_t hash, size_t len, int flags, double ratio, int pin,
         PyObject *pyname, counted_t **count)
{
    /* Allocated before the lock: nothing allocates while it is held. */
    char *copies[2] = {PyMem_RawMalloc(len + 1), PyMem_RawMalloc(len + 1)};
    for (int k = 0; k < 2; k++) {
        if (copies[k] != NULL) {
            memcpy(copies[k], event, len + 1);
        }
    }
    lock_tables();
    entry_t *e = insert(event, hash, len, flags, ratio, pin, pyname, copies);
    *count = e != NULL ? e->count : NULL;
    unlock_tables();
    PyMem_RawFree(copies[0]);
    PyMem_RawFree(copies[1]);
    return e != NULL ? 0 : -1;
}

/* Run our Python code as CPython runs Python audit hooks: unseen by
 * sys.settrace, sys.setprofile and sys.monitoring. */
static PyObject *
call_untraced(PyObject *callable, PyObject *a, PyObject *b)
{
    PyThreadState *ts = PyThreadState_Get();
    PyThreadState_EnterTracing(ts);
    PyObject *res = a == NULL   ? PyObject_CallNoArgs(callable)
                    : b == NULL ? PyObject_CallOneArg(callable, a)
                                : PyObject_CallFunctionObjArgs(callable, a, b, NULL);
    PyThreadState_LeaveTracing(ts);
    return res;
}

/* Where the event happens, read from the OpenTelemetry context without
 * Python code: SITUATION_*, or -1 with an exception set.  A span of the
 * API's NonRecordingSpan type counts as none; any other span as recording
 * (the Python handler checks is_recording() again).  Where the context
 * cannot be read here (an unusual runtime context, an unusual suppress
 * value), Python's situation(name) tells. */
static int
situation(signal_guard_t *guard, PyObject *pyname)
{
    PyObject *ctx = NULL;
    if (context_var == NULL) {
        goto ask_python;
    }
    if (PyContextVar_Get(context_var, NULL, &ctx) < 0) {
        PyErr_Clear();
        goto ask_python;
    }
    if (ctx == NULL) {
        return SITUATION_NO_SPAN;
    }
    if (!PyDict_Check(ctx)) {
        Py_DECREF(ctx);
        goto ask_python;
    }
    for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(suppress_keys); i++) {
        PyObject *v = PyDict_GetItemWithError(ctx, PyTuple_GET_ITEM(suppress_keys, i));
        if (v == Py_True) {
            Py_DECREF(ctx);
            return SITUATION_SUPPRESSED; /* the telemetry pipeline's own work */
        }
        if (v != NULL && v != Py_False && v != Py_None) {
            Py_DECREF(ctx);
            goto ask_python; /* its truth is Python's to judge */
        }
        if (v == NULL && PyErr_Occurred()) {
            PyErr_Clear();
            Py_DECREF(ctx);
            goto ask_python;
        }
    }
    PyObject *span = PyDict_GetItemWithError(ctx, span_key);
    int where = SITUATION_IN_SPAN;
    if (span == NULL) {
        if (PyErr_Occurred()) {
            PyErr_Clear();
            Py_DECREF(ctx);
            goto ask_python;
        }
        where = SITUATION_NO_SPAN;
    }
    else if (non_recording != NULL && (PyObject *)Py_TYPE(span) == non_recording) {
        where = SITUATION_NO_SPAN;
    }
    Py_DECREF(ctx);
    return where;
ask_python:
    if (situation_fn == NULL) {
        return SITUATION_IN_SPAN; /* not told how: the handler decides */
    }
    defer_signals(guard);
    PyObject *res = call_untraced(situation_fn, pyname, NULL);
    if (res == NULL) {
        return -1;
    }
    long value = PyLong_AsLong(res);
    Py_DECREF(res);
    if (value == -1 && PyErr_Occurred()) {
        return -1;
    }
    return (int)value;
}

/* Whether an import event imports a standard-library module: those are
 * left out of @default.  Never raises. */
static int
is_stdlib_import(PyObject *args)
{
    if (stdlib_names == NULL || !PyTuple_Check(args) || PyTuple_GET_SIZE(args) < 1) {
        return 0;
    }
    PyObject *module = PyTuple_GET_ITEM(args, 0);
    if (!PyUnicode_CheckExact(module)) {
        return 0;
    }
    Py_ssize_t dot = PyUnicode_FindChar(module, '.', 0, PyUnicode_GET_LENGTH(module), 1);
    PyObject *top = dot >= 0 ? PyUnicode_Substring(module, 0, dot) : Py_NewRef(module);
    if (top == NULL) {
        PyErr_Clear();
        return 0;
    }
    int found = PySet_Contains(stdlib_names, top);
    Py_DECREF(top);
    if (found < 0) {
        PyErr_Clear();
        return 0;
    }
    return found;
}

static inline double
monotonic_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Take a token.  Lock held. */
static inline int
take(bucket_t *b, double rate, double now)
{
    double capacity = rate * burst_seconds;
    if (capacity < 1.0) {
        capacity = 1.0;
    }
    if (!b->primed) {
        b->primed = 1;
        b->tokens = capacity;
        b->last = now;
    }
    double tokens = b->tokens + (now - b->last) * rate;
    if (tokens > capacity) {
        tokens = capacity;
    }
    b->last = now;
    if (tokens >= 1.0) {
        b->tokens = tokens - 1.0;
        return 1;
    }
    b->tokens = tokens;
    return 0;
}

/* A uniform double in [0, 1): xorshift64*, one state per thread. */
#if defined(_MSC_VER)
static __declspec(thread) uint64_t rng_state = 0;
#else
static _Thread_local uint64_t rng_state = 0;
#endif

static inline double
uniform(void)
{
    uint64_t x = rng_state;
    if (x == 0) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        x = ((uint64_t)ts.tv_nsec << 20) ^ (uint64_t)ts.tv_sec ^ (uint64_t)(uintptr_t)&rng_state;
        x |= 1;
    }
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    rng_state = x;
    return (double)((x * 0x2545F4914F6CDD1DULL) >> 11) * (1.0 / 9007199254740992.0);
}

/* Repeats: the events exported in the last `repeat_window` seconds, by a
 * fingerprint of their name and arguments.  A slot holds the latest of the
 * fingerprints that share it: a collision forgets one, which costs an export,
 * never a new behaviour. */
#define REPEAT_SLOTS 1024 /* a power of two */
typedef struct {
    uint64_t key; /* 0: empty */
    double at;
} seen_t;
static seen_t seen[REPEAT_SLOTS];
/* The key of the event this thread's handler is exporting: unsee() forgets
 * it when the handler drops the event after all (no span budget left). */
#if defined(_MSC_VER)
static __declspec(thread) uint64_t handling_key = 0;
#else
static _Thread_local uint64_t handling_key = 0;
#endif

#define LONG_VALUE 4096 /* longer str and bytes are fingerprinted by their ends */
#define FINGERPRINT_DEPTH 3
#define FINGERPRINT_ITEMS 16

static inline uint64_t
mix(uint64_t h, uint64_t v)
{
    h ^= v + 0x9e3779b97f4a7c15ULL + (h << 6) + (h >> 2);
    return h;
}

static uint64_t
fnv_bytes(uint64_t h, const unsigned char *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        h = (h ^ p[i]) * 0x100000001b3ULL;
    }
    return h;
}

/* The ends and the length of a long value's memory: hashing all of a large
 * payload (a request body sent) at every event would cost its length. */
static uint64_t
ends_of(const unsigned char *p, size_t n, size_t width)
{
    size_t part = (LONG_VALUE / 2) * width;
    uint64_t h = fnv_bytes(0xcbf29ce484222325ULL, p, part);
    h = fnv_bytes(h, p + n * width - part, part);
    return mix(h, (uint64_t)n);
}

static uint64_t fingerprint(PyObject *o, int depth, int *unknown);

static uint64_t
hash_of(PyObject *exact, int *unknown)
{
    Py_hash_t v = PyObject_Hash(exact); /* str, bytes, int, float: CPython's own */
    if (v == -1) {
        PyErr_Clear();
        *unknown = 1;
        return 0;
    }
    return (uint64_t)v;
}

static uint64_t
items_of(uint64_t h, PyObject *const *items, Py_ssize_t n, int depth, int *unknown)
{
    h = mix(h, (uint64_t)n);
    for (Py_ssize_t i = 0; i < n && i < FINGERPRINT_ITEMS; i++) {
        h = mix(h, fingerprint(items[i], depth + 1, unknown));
    }
    return h;
}

/* What identifies an argument, without running any code of its class: the
 * value of a str, bytes, int, float, bool or None (exact types), of a tuple
 * or list of those; a dict (an environment) by its type.  Anything else sets
 * *unknown: the event is never taken for a repeat.  A code object is one of
 * those: code compiled from two sources at one place ("<string>", line 1)
 * differs only in its bytecode and constants, and a freed one's address is
 * soon another's, so `exec` of dynamic code always goes out. */
static uint64_t
fingerprint(PyObject *o, int depth, int *unknown)
{
    PyTypeObject *t = Py_TYPE(o);
    uint64_t h = (uint64_t)(uintptr_t)t;
    if (o == Py_None || o == Py_True || o == Py_False) {
        return mix(h, (uint64_t)(uintptr_t)o);
    }
    if (t == &PyDict_Type) {
        return h;
    }
    if (t == &PyUnicode_Type && PyUnicode_GET_LENGTH(o) > LONG_VALUE) {
        return mix(h, ends_of((const unsigned char *)PyUnicode_DATA(o), (size_t)PyUnicode_GET_LENGTH(o),
                              (size_t)PyUnicode_KIND(o)));
    }
    if (t == &PyBytes_Type && PyBytes_GET_SIZE(o) > LONG_VALUE) {
        return mix(h, ends_of((const unsigned char *)PyBytes_AS_STRING(o),
                              (size_t)PyBytes_GET_SIZE(o), 1));
    }
    if (t == &PyUnicode_Type || t == &PyBytes_Type || t == &PyLong_Type || t == &PyFloat_Type) {
        return mix(h, hash_of(o, unknown));
    }
    if (depth < FINGERPRINT_DEPTH && t == &PyTuple_Type) {
        return items_of(h, ((PyTupleObject *)o)->ob_item, PyTuple_GET_SIZE(o), depth, unknown);
    }
    if (depth < FINGERPRINT_DEPTH && t == &PyList_Type) {
        return items_of(h, ((PyListObject *)o)->ob_item, PyList_GET_SIZE(o), depth, unknown);
    }
    *unknown = 1;
    return h;
}

/* The event's key in `seen`; 0: not one we can tell a repeat of. */
static uint64_t
repeat_key(uint64_t name_hash, PyObject *args, int flags)
{
    if (!PyTuple_CheckExact(args)) {
        return 0;
    }
    Py_ssize_t n = PyTuple_GET_SIZE(args);
    uint64_t key = mix(name_hash, (uint64_t)n);
    int unknown = 0;
    for (Py_ssize_t i = 0; i < n && i < FINGERPRINT_ITEMS; i++) {
        PyObject *arg = PyTuple_GET_ITEM(args, i);
        if (i == 0 && (flags & FLAG_HANDLE_FIRST)) {
            key = mix(key, (uint64_t)(uintptr_t)Py_TYPE(arg));
        }
        else {
            key = mix(key, fingerprint(arg, 1, &unknown));
        }
    }
    if (unknown) {
        return 0;
    }
    return key ? key : 1;
}

/* Count a selected event and decide whether it goes to the handler: 1 yes,
 * 0 dropped (and counted by reason).  The order is the pure twin's.  *key:
 * the admitted event's repeat key (0: none), for unsee(). */
static int
admit(counted_t *count, int flags, double ratio, int where, uint64_t name_hash, PyObject *args,
      uint64_t *key_out)
{
    int sampled_out = ratio < 1.0 && uniform() >= ratio;
    int no_span = where == SITUATION_NO_SPAN && (flags & FLAG_NEED_SPAN);
    /* only an event that could be exported is fingerprinted */
    uint64_t key = repeat_window > 0.0 && !sampled_out && !no_span
                       ? repeat_key(name_hash, args, flags)
                       : 0;
    int timed = rate_limit > 0.0 || rate_limit_total > 0.0 || key != 0;
    double now = timed && !sampled_out && !no_span ? monotonic_seconds() : 0.0;
    seen_t *slot = key ? &seen[key & (REPEAT_SLOTS - 1)] : NULL;
    int kind = -1;
    lock_tables();
    count->n[N_SELECTED]++;
    if (sampled_out) {
        kind = N_SAMPLED_OUT;
    }
    else if (no_span) {
        kind = N_NO_SPAN;
    }
    else if (slot != NULL && slot->key == key && now - slot->at < repeat_window) {
        kind = N_REPEATED;
    }
    else if (rate_limit > 0.0 && !take(&count->bucket, rate_limit, now)) {
        kind = N_RATE_LIMITED;
    }
    else if (rate_limit_total > 0.0 && !take(&total_bucket, rate_limit_total, now)) {
        kind = N_RATE_LIMITED_TOTAL;
    }
    if (kind >= 0) {
        count->n[kind]++;
    }
    else if (slot != NULL) {
        slot->key = key;
        slot->at = now;
    }
    unlock_tables();
    *key_out = kind < 0 ? key : 0;
    return kind < 0;
}

/* An event raised in another interpreter.  Our Python side lives in the
 * main interpreter: nothing here may touch a Python object.  A name the main
 * interpreter resolved is counted under it when selected; a name it never
 * saw is counted in the overflow bucket (its selection is unknown). */
static int
elsewhere(const char *event)
{
    size_t len = 0;
    uint64_t hash = fnv1a(event, &len);
    counted_t *count = &overflow;
    lock_tables();
    entry_t *e = lookup(event, hash, len);
    if (e != NULL) {
        count = e->flags > 0 ? e->count : NULL;
    }
    else {
        /* Emptied from the cache since: a name that has a count of its own
         * was selected, and is counted there. */
        counted_t *c = find_counted(event, hash, len);
        if (c != NULL) {
            count = c;
        }
    }
    unlock_tables();
    if (count != NULL) {
        atomic_fetch_add_explicit(&count->elsewhere, 1, memory_order_relaxed);
    }
    return 0;
}

static int
audit_hook(const char *event, PyObject *args, void *data)
{
    (void)data;
    if (!enabled) {
        if (!probe_seen && strcmp(event, PROBE_EVENT) == 0) {
            probe_seen = 1;
        }
        return 0;
    }
    /* Before anything else: the tables and our Python objects belong to the
     * main interpreter. */
    if (PyInterpreterState_Get() != main_interp) {
        return elsewhere(event);
    }
    if (busy) {
        return 0; /* an event raised by our own work */
    }
    size_t len = 0;
    uint64_t hash = 0;
    int flags;
    PyObject *pyname = NULL;
    counted_t *count = NULL;
    lock_tables();
    entry_t *e = by_pointer[pointer_slot(event)];
    if (e == NULL || !same_name(e->name, event)) {
        hash = fnv1a(event, &len);
        e = lookup(event, hash, len);
        if (e != NULL) {
            by_pointer[pointer_slot(event)] = e;
        }
    }
    else {
        len = e->len;
        hash = e->hash;
    }
    flags = e != NULL ? e->flags : -1;
    double ratio = 1.0;
    if (flags > 0) {
        pyname = Py_NewRef(e->pyname);
        count = e->count;
        ratio = e->ratio;
    }
    unlock_tables();
    if (flags == 0) {
        return 0; /* the hot path: an unselected event */
    }
    if (is_finalizing()) {
        Py_XDECREF(pyname);
        return 0; /* our Python side is going away */
    }
    busy = 1;
    signal_guard_t guard = {0};
    /* Errors of our own (the glue below) are dropped here; whatever the
     * Python side lets through is the application's (KeyboardInterrupt, a
     * signal handler's exception) and goes on to it. */
    int rc = 0;
    if (flags < 0) {
        /* First sight of this name: ask Python, once. */
        pyname = PyUnicode_DecodeUTF8(event, (Py_ssize_t)len, "surrogateescape");
        if (pyname == NULL) {
            PyErr_Clear();
            goto done;
        }
        defer_signals(&guard);
        PyObject *res = call_untraced(resolver, pyname, NULL);
        if (res == NULL) {
            rc = -1;
            goto done;
        }
        /* (flags, sample ratio) */
        if (PyTuple_Check(res) && PyTuple_GET_SIZE(res) == 2) {
            flags = (int)PyLong_AsLong(PyTuple_GET_ITEM(res, 0));
            ratio = PyFloat_AsDouble(PyTuple_GET_ITEM(res, 1));
        }
        else {
            flags = -1;
            PyErr_SetString(PyExc_TypeError, "resolve() returns (flags, ratio)");
        }
        Py_DECREF(res);
        if (PyErr_Occurred()) {
            PyErr_Clear();
            goto done;
        }
        if (!enabled) {
            goto done; /* disarmed while resolving: do not fill the cache */
        }
        if (remember(event, hash, len, flags, ratio, 0, pyname, &count) < 0) {
            goto done; /* out of memory: asked again next time */
        }
        if (!(flags & FLAG_SELECTED)) {
            goto done;
        }
    }
    if (count == NULL) {
        goto done;
    }
    if ((flags & FLAG_NON_STDLIB) && is_stdlib_import(args)) {
        goto done; /* neither recorded nor counted */
    }
    int where = situation(&guard, pyname);
    if (where < 0) {
        rc = -1; /* the application's exception (a signal handler's) */
        goto done;
    }
    if (where == SITUATION_SUPPRESSED) {
        goto done;
    }
    /* hash is the name's (the cache hit or the first sight) */
    uint64_t key = 0;
    if (!admit(count, flags, ratio, where, hash, args, &key)) {
        goto done;
    }
    defer_signals(&guard);
    handling_key = key;
    PyObject *res = call_untraced(handler, pyname, args);
    handling_key = 0;
    if (res == NULL) {
        rc = -1;
    }
    else {
        Py_DECREF(res);
    }
done:
    Py_XDECREF(pyname);
    busy = 0;
    if (guard.masked) {
        pthread_sigmask(SIG_SETMASK, &guard.saved, NULL);
        /* Signals that arrived meanwhile: their handlers run now, and an
         * exception they raise is the audited operation's to raise. */
        if (rc == 0 && PyErr_CheckSignals() < 0) {
            rc = -1;
        }
    }
    return rc;
}

/* install(resolve, handle, report) -> True (installed), False (not installed:
 * another hook refused it) or None (unknown: another hook refused the probe
 * event that would tell).  Never raises for what other hooks do. */
static PyObject *
speedups_install(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    /* report() is for the pure hook's Python decisions; here they are C. */
    if (nargs != 3 || !PyCallable_Check(args[0]) || !PyCallable_Check(args[1]) ||
        !PyCallable_Check(args[2])) {
        PyErr_SetString(PyExc_TypeError, "install(resolve, handle, report) takes three callables");
        return NULL;
    }
    Py_XSETREF(resolver, Py_NewRef(args[0]));
    Py_XSETREF(handler, Py_NewRef(args[1]));
    if (installed) {
        Py_RETURN_TRUE;
    }
    main_interp = PyInterpreterState_Main();
    PyObject *threading = PyImport_ImportModule("threading");
    PyObject *main = threading ? PyObject_CallMethod(threading, "main_thread", NULL) : NULL;
    PyObject *ident = main ? PyObject_GetAttrString(main, "ident") : NULL;
    Py_XDECREF(threading);
    Py_XDECREF(main);
    if (ident == NULL) {
        return NULL;
    }
    main_thread = PyLong_AsUnsignedLong(ident);
    Py_DECREF(ident);
    if (PyErr_Occurred()) {
        return NULL;
    }
    init_deferred_signals();
    /* A hook that refuses sys.addaudithook with RuntimeError makes this
     * return 0 without adding ours; with another exception, -1. */
    if (PySys_AddAuditHook(audit_hook, NULL) < 0) {
        PyErr_Clear();
        Py_RETURN_FALSE;
    }
    static int atfork_registered = 0;
    if (!atfork_registered && pthread_atfork(atfork_prepare, atfork_parent, atfork_child) == 0) {
        atfork_registered = 1;
    }
    probe_seen = 0;
    if (PySys_Audit(PROBE_EVENT, NULL) < 0) {
        /* Refused before it reached us: ours may well be installed. */
        PyErr_Clear();
        installed = 1;
        Py_RETURN_NONE;
    }
    installed = probe_seen;
    return PyBool_FromLong(installed);
}

static PyObject *
speedups_set_enabled(PyObject *self, PyObject *flag)
{
    int value = PyObject_IsTrue(flag);
    if (value < 0) {
        return NULL;
    }
    enabled = value && installed;
    Py_RETURN_NONE;
}

/* unsee(): the event being handled was not exported after all (the handler
 * dropped it): its repeats are not repeats of anything exported. */
static PyObject *
speedups_unsee(PyObject *self, PyObject *unused)
{
    uint64_t key = handling_key;
    if (key != 0) {
        lock_tables();
        seen_t *slot = &seen[key & (REPEAT_SLOTS - 1)];
        if (slot->key == key) {
            slot->key = 0;
        }
        unlock_tables();
    }
    Py_RETURN_NONE;
}

static PyObject *
speedups_clear_cache(PyObject *self, PyObject *unused)
{
    lock_tables();
    empty_cache();
    unlock_tables();
    Py_RETURN_NONE;
}

static size_t n_pins = 0;

static PyObject *
speedups_pin(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 2 || !PyUnicode_CheckExact(args[0]) || !PyLong_Check(args[1])) {
        PyErr_SetString(PyExc_TypeError, "pin(name: str, flags: int)");
        return NULL;
    }
    if (n_pins >= PINNED_MAX) {
        PyErr_SetString(PyExc_ValueError, "too many pinned names");
        return NULL;
    }
    Py_ssize_t size;
    const char *event = PyUnicode_AsUTF8AndSize(args[0], &size);
    if (event == NULL) {
        return NULL;
    }
    int flags = (int)PyLong_AsLong(args[1]);
    if (flags == -1 && PyErr_Occurred()) {
        return NULL;
    }
    size_t len = 0;
    uint64_t hash = fnv1a(event, &len);
    if (len != (size_t)size) {
        PyErr_SetString(PyExc_ValueError, "an event name has no NUL character");
        return NULL;
    }
    counted_t *count;
    if (remember(event, hash, len, flags, 1.0, 1, args[0], &count) < 0) {
        return PyErr_NoMemory();
    }
    n_pins++;
    Py_RETURN_NONE;
}

/* set_context(context_var, suppress_keys, span_key, non_recording, situation):
 * where the OpenTelemetry context is, to tell suppression and spans in C;
 * context_var None: ask situation(name) instead. */
static PyObject *
speedups_set_context(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 5 || !PyCallable_Check(args[4])) {
        PyErr_SetString(PyExc_TypeError, "set_context(context_var, suppress_keys, span_key, "
                                         "non_recording, situation)");
        return NULL;
    }
    Py_XSETREF(situation_fn, Py_NewRef(args[4]));
    if (args[0] == Py_None) {
        Py_CLEAR(context_var);
        Py_RETURN_NONE;
    }
    if (!PyContextVar_CheckExact(args[0]) || !PyTuple_Check(args[1]) ||
        !(args[3] == Py_None || PyType_Check(args[3]))) {
        PyErr_SetString(PyExc_TypeError,
                        "a ContextVar, a tuple of keys and a type (or None) are needed");
        return NULL;
    }
    Py_XSETREF(suppress_keys, Py_NewRef(args[1]));
    Py_XSETREF(span_key, Py_NewRef(args[2]));
    if (args[3] == Py_None) {
        Py_CLEAR(non_recording);
    }
    else {
        Py_XSETREF(non_recording, Py_NewRef(args[3]));
    }
    Py_XSETREF(context_var, Py_NewRef(args[0]));
    Py_RETURN_NONE;
}

/* Every rate limit full again, no repeat remembered (lock held). */
static void
refill_buckets(void)
{
    memset(seen, 0, sizeof(seen));
    for (size_t i = 0; i < counted_fill; i++) {
        counted_used[i]->bucket.primed = 0;
    }
    overflow.bucket.primed = 0;
    total_bucket.primed = 0;
}

/* configure(rate_limit, rate_limit_total, stdlib_names, burst_seconds,
 * repeat_window): the rate limits (events per second; 0: none), the module
 * names that FLAG_NON_STDLIB leaves out, how many seconds of its rate each
 * bucket holds (they start full), and for how many seconds an event that was
 * exported makes its repeats drop (0: never). */
static PyObject *
speedups_configure(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 5 || !PyFrozenSet_CheckExact(args[2])) {
        PyErr_SetString(PyExc_TypeError,
                        "configure(rate_limit: float, rate_limit_total: float, stdlib: frozenset, "
                        "burst_seconds: float, repeat_window: float)");
        return NULL;
    }
    double per_name = PyFloat_AsDouble(args[0]);
    double total = PyFloat_AsDouble(args[1]);
    double burst = PyFloat_AsDouble(args[3]);
    double window = PyFloat_AsDouble(args[4]);
    if (PyErr_Occurred()) {
        return NULL;
    }
    if (!(per_name >= 0.0) || !(total >= 0.0)) {
        PyErr_SetString(PyExc_ValueError, "rate limits are >= 0");
        return NULL;
    }
    if (!(burst > 0.0) || burst > 3600.0) {
        PyErr_SetString(PyExc_ValueError, "burst_seconds is > 0 and <= 3600");
        return NULL;
    }
    if (!(window >= 0.0) || window > 86400.0) {
        PyErr_SetString(PyExc_ValueError, "repeat_window is >= 0 and <= 86400");
        return NULL;
    }
    Py_XSETREF(stdlib_names, Py_NewRef(args[2]));
    lock_tables();
    rate_limit = per_name;
    rate_limit_total = total;
    burst_seconds = burst;
    repeat_window = window;
    refill_buckets();
    unlock_tables();
    Py_RETURN_NONE;
}

typedef struct {
    PyObject *pyname;
    unsigned long long n[N_KINDS + 1]; /* the last: other interpreters */
} snapshot_t;

static void
snap_one(snapshot_t *out, counted_t *c, PyObject *pyname)
{
    out->pyname = Py_NewRef(pyname);
    memcpy(out->n, c->n, sizeof(c->n));
    out->n[N_KINDS] = atomic_load_explicit(&c->elsewhere, memory_order_relaxed);
}

/* counts() -> {name or None: (selected, no_span, sampled_out, rate_limited,
 * rate_limited_total, repeated, other_interpreter)}: the counts kept in C (COUNTS
 * names them); None is the overflow bucket.  The table is copied under the
 * lock and the dict built after it: building can run the garbage collector,
 * whose finalizers may release the GIL and let other threads count. */
static PyObject *
speedups_counts(PyObject *self, PyObject *unused)
{
    snapshot_t *snap = PyMem_RawMalloc(sizeof(snapshot_t) * (COUNTED_MAX + 1));
    if (snap == NULL) {
        return PyErr_NoMemory();
    }
    size_t n = 0;
    lock_tables();
    for (size_t i = 0; i < counted_fill; i++) {
        snap_one(&snap[n++], counted_used[i], counted_used[i]->pyname);
    }
    snap_one(&snap[n++], &overflow, Py_None);
    unlock_tables();
    PyObject *out = PyDict_New();
    for (size_t k = 0; k < n; k++) {
        int any = 0;
        for (int j = 0; j <= N_KINDS; j++) {
            any |= snap[k].n[j] != 0;
        }
        if (out != NULL && any) {
            PyObject *row = PyTuple_New(N_KINDS + 1);
            for (int j = 0; row != NULL && j <= N_KINDS; j++) {
                PyObject *v = PyLong_FromUnsignedLongLong(snap[k].n[j]);
                if (v == NULL) {
                    Py_CLEAR(row);
                    break;
                }
                PyTuple_SET_ITEM(row, j, v);
            }
            if (row == NULL || PyDict_SetItem(out, snap[k].pyname, row) < 0) {
                Py_CLEAR(out);
            }
            Py_XDECREF(row);
        }
        Py_DECREF(snap[k].pyname);
    }
    PyMem_RawFree(snap);
    return out;
}

static PyObject *
speedups_reset_after_fork(PyObject *self, PyObject *unused)
{
    /* The child's counts start fresh, its rate limits full, and no thread
     * of it is inside the hook. */
    atomic_store_explicit(&table_lock, 0, memory_order_relaxed);
    for (size_t i = 0; i < counted_fill; i++) {
        memset(counted_used[i]->n, 0, sizeof(counted_used[i]->n));
        atomic_store_explicit(&counted_used[i]->elsewhere, 0, memory_order_relaxed);
    }
    memset(overflow.n, 0, sizeof(overflow.n));
    atomic_store_explicit(&overflow.elsewhere, 0, memory_order_relaxed);
    refill_buckets();
    busy = 0;
    rng_state = 0;
    Py_RETURN_NONE;
}

static PyObject *
speedups_installed(PyObject *self, PyObject *unused)
{
    return PyBool_FromLong(installed);
}

/* "__name__", interned at the module's exec (main interpreter only) */
static PyObject *name_key = NULL;

/* The module whose import runs `frame` or a frame outside it: the innermost
 * frame of code "<module>" that importlib's _call_with_frames_removed
 * called, and its globals' __name__.  A new reference, or NULL: none (no
 * error set), or an error. */
static PyObject *
importing_module(PyFrameObject *frame)
{
    PyFrameObject *current = (PyFrameObject *)Py_XNewRef(frame);
    while (current != NULL) {
        PyCodeObject *code = PyFrame_GetCode(current);
        int body = PyUnicode_CompareWithASCIIString(code->co_name, "<module>") == 0;
        Py_DECREF(code);
        PyFrameObject *back = PyFrame_GetBack(current);
        if (body && back != NULL) {
            PyCodeObject *caller = PyFrame_GetCode(back);
            int imported =
                PyUnicode_CompareWithASCIIString(caller->co_name, "_call_with_frames_removed") == 0 &&
                PyUnicode_CompareWithASCIIString(caller->co_filename,
                                                 "<frozen importlib._bootstrap>") == 0;
            Py_DECREF(caller);
            if (imported) {
                Py_DECREF(back);
                PyObject *globals = PyFrame_GetGlobals(current);
                Py_DECREF(current);
                PyObject *name = NULL;
                if (globals != NULL && PyDict_Check(globals)) {
                    name = PyDict_GetItemWithError(globals, name_key);
                    /* only a str: a module may bind __name__ to anything */
                    name = name != NULL && PyUnicode_CheckExact(name) ? Py_NewRef(name) : NULL;
                }
                Py_XDECREF(globals);
                return name;
            }
        }
        Py_DECREF(current);
        current = back;
    }
    return NULL;
}

/* caller_location(skip, classify) -> (file, line, function, importing) or
 * None: the first frame, from the caller outwards, whose file is not
 * skipped, and the module whose import is running it (or None).  `skip`
 * caches classify(file) -> bool per file name.  Walks the frames with the C
 * API: unlike sys._getframe and frame.f_code, it raises no audit event. */
static PyObject *
speedups_caller_location(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 2 || !PyDict_CheckExact(args[0]) || !PyCallable_Check(args[1])) {
        PyErr_SetString(PyExc_TypeError, "caller_location(skip: dict, classify: callable)");
        return NULL;
    }
    PyObject *skip = args[0], *classify = args[1];
    PyFrameObject *frame = (PyFrameObject *)Py_XNewRef(PyEval_GetFrame());
    PyObject *result = NULL;
    while (frame != NULL) {
        PyCodeObject *code = PyFrame_GetCode(frame);
        PyObject *filename = code->co_filename;
        PyObject *skipped = Py_XNewRef(PyDict_GetItemWithError(skip, filename));
        if (skipped == NULL && !PyErr_Occurred()) {
            skipped = PyObject_CallOneArg(classify, filename);
            if (skipped != NULL && PyDict_SetItem(skip, filename, skipped) < 0) {
                Py_CLEAR(skipped);
            }
        }
        if (skipped == NULL) {
            Py_DECREF(code);
            Py_DECREF(frame);
            return NULL;
        }
        int is_skipped = PyObject_IsTrue(skipped);
        Py_DECREF(skipped);
        if (is_skipped == 0) {
            PyObject *importing = importing_module(frame);
            if (importing == NULL && PyErr_Occurred()) {
                Py_DECREF(code);
                Py_DECREF(frame);
                return NULL;
            }
            result = Py_BuildValue("(OiOO)", filename, PyFrame_GetLineNumber(frame),
                                   code->co_qualname, importing != NULL ? importing : Py_None);
            Py_XDECREF(importing);
            Py_DECREF(code);
            Py_DECREF(frame);
            return result;
        }
        Py_DECREF(code);
        if (is_skipped < 0) {
            Py_DECREF(frame);
            return NULL;
        }
        PyFrameObject *back = PyFrame_GetBack(frame);
        Py_DECREF(frame);
        frame = back;
    }
    Py_RETURN_NONE;
}

/* The floor for benchmarks: a C hook that returns at once. */
static int
bare_hook(const char *event, PyObject *args, void *data)
{
    return 0;
}

static PyObject *
speedups_install_bare_hook(PyObject *self, PyObject *unused)
{
    if (PySys_AddAuditHook(bare_hook, NULL) < 0) {
        return NULL;
    }
    Py_RETURN_NONE;
}

/* raised_by(traceback, functions) -> bool: whether a frame of the traceback
 * runs the code of one of the functions (plain functions or bound methods).
 * Reads frames and code through the C API: no audit event. */
static PyObject *
speedups_raised_by(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 2 || !PyTuple_Check(args[1])) {
        PyErr_SetString(PyExc_TypeError, "raised_by(traceback, functions: tuple)");
        return NULL;
    }
    PyObject *functions = args[1];
    for (PyObject *tb = args[0]; tb != NULL && PyTraceBack_Check(tb);
         tb = (PyObject *)((PyTracebackObject *)tb)->tb_next) {
        PyFrameObject *frame = ((PyTracebackObject *)tb)->tb_frame;
        if (frame == NULL) {
            continue;
        }
        PyCodeObject *code = PyFrame_GetCode(frame);
        for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(functions); i++) {
            PyObject *f = PyTuple_GET_ITEM(functions, i);
            if (PyMethod_Check(f)) {
                f = PyMethod_GET_FUNCTION(f);
            }
            if (PyFunction_Check(f) && PyFunction_GET_CODE(f) == (PyObject *)code) {
                Py_DECREF(code);
                Py_RETURN_TRUE;
            }
        }
        Py_DECREF(code);
    }
    Py_RETURN_FALSE;
}

static PyMethodDef speedups_methods[] = {
    {"install", (PyCFunction)(void (*)(void))speedups_install, METH_FASTCALL,
     "install(resolve, handle, report) -> bool: install the hook once; False if another hook vetoed it."},
    {"set_enabled", speedups_set_enabled, METH_O, "set_enabled(flag): arm or disarm the hook."},
    {"unsee", speedups_unsee, METH_NOARGS,
     "unsee(): the event being handled was not exported: its repeats are not repeats."},
    {"clear_cache", speedups_clear_cache, METH_NOARGS,
     "clear_cache(): forget every resolved event name but the pinned ones (counts are kept)."},
    {"pin", (PyCFunction)(void (*)(void))speedups_pin, METH_FASTCALL,
     "pin(name, flags): resolve a name ahead of its first event, for good."},
    {"caller_location", (PyCFunction)(void (*)(void))speedups_caller_location, METH_FASTCALL,
     "caller_location(skip, classify) -> (file, line, function, importing) | None, raising no audit event."},
    {"set_context", (PyCFunction)(void (*)(void))speedups_set_context, METH_FASTCALL,
     "set_context(context_var, suppress_keys, span_key, non_recording, situation): where to "
     "look for suppression and the span."},
    {"configure", (PyCFunction)(void (*)(void))speedups_configure, METH_FASTCALL,
     "configure(rate_limit, rate_limit_total, stdlib, burst_seconds): the rate limits, "
     "stdlib modules and buckets' size."},
    {"counts", speedups_counts, METH_NOARGS,
     "counts() -> {name | None: (counts in the order of COUNTS)} counted in C."},
    {"reset_after_fork", speedups_reset_after_fork, METH_NOARGS,
     "reset_after_fork(): fresh counts in a forked child."},
    {"raised_by", (PyCFunction)(void (*)(void))speedups_raised_by, METH_FASTCALL,
     "raised_by(traceback, functions) -> bool, raising no audit event."},
    {"installed", speedups_installed, METH_NOARGS, "installed() -> bool"},
    {"_install_bare_hook", speedups_install_bare_hook, METH_NOARGS,
     "Install a C hook that returns 0 at once (the floor, for benchmarks only)."},
    {NULL, NULL, 0, NULL},
};

static int
speedups_exec(PyObject *module)
{
    /* The hook's state is static: one per process, holding the main
     * interpreter's objects.  A legacy subinterpreter may import modules that
     * declare no multi-interpreter support, and an install() from there would
     * swap that state for its own objects (the main interpreter would then
     * call into another interpreter's functions).  Refuse: _hook falls back to
     * the pure-Python hook, whose state is per interpreter. */
    if (PyInterpreterState_Get() != PyInterpreterState_Main()) {
        PyErr_SetString(PyExc_ImportError,
                        "the C audit hook serves the main interpreter only");
        return -1;
    }
    if (name_key == NULL && (name_key = PyUnicode_InternFromString("__name__")) == NULL) {
        return -1;
    }
    PyObject *names = PyTuple_New(N_KINDS + 1);
    for (int j = 0; names != NULL && j <= N_KINDS; j++) {
        PyObject *v = PyUnicode_FromString(COUNT_NAMES[j]);
        if (v == NULL) {
            Py_CLEAR(names);
            break;
        }
        PyTuple_SET_ITEM(names, j, v);
    }
    int added = names != NULL ? PyModule_AddObjectRef(module, "COUNTS", names) : -1;
    Py_XDECREF(names);
    if (added < 0) {
        return -1;
    }
    if (PyModule_AddIntConstant(module, "FLAG_SELECTED", FLAG_SELECTED) < 0 ||
        PyModule_AddIntConstant(module, "FLAG_NEED_SPAN", FLAG_NEED_SPAN) < 0 ||
        PyModule_AddIntConstant(module, "FLAG_NON_STDLIB", FLAG_NON_STDLIB) < 0 ||
        PyModule_AddIntConstant(module, "FLAG_OVERFLOW", FLAG_OVERFLOW) < 0 ||
        PyModule_AddIntConstant(module, "FLAG_HANDLE_FIRST", FLAG_HANDLE_FIRST) < 0 ||
        PyModule_AddStringConstant(module, "PROBE_EVENT", PROBE_EVENT) < 0) {
        return -1;
    }
    /* caller_location reads frames through the C API: no audit event */
    return PyModule_AddObjectRef(module, "WALK_IS_SILENT", Py_True);
}

static PyModuleDef_Slot speedups_slots[] = {
    {Py_mod_exec, speedups_exec},
#if PY_VERSION_HEX >= 0x030C0000
    /* One hook per process, in static storage, serving the main interpreter. */
    {Py_mod_multiple_interpreters, Py_MOD_MULTIPLE_INTERPRETERS_NOT_SUPPORTED},
#endif
#if PY_VERSION_HEX >= 0x030D0000
    {Py_mod_gil, Py_MOD_GIL_NOT_USED},
#endif
    {0, NULL},
};

static struct PyModuleDef speedups_module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "opentelemetry.instrumentation.audithook._speedups",
    .m_doc = "The audit hook in C; see _purehook.py for its pure-Python twin.",
    .m_size = 0,
    .m_methods = speedups_methods,
    .m_slots = speedups_slots,
};

PyMODINIT_FUNC
PyInit__speedups(void)
{
    return PyModuleDef_Init(&speedups_module);
}
