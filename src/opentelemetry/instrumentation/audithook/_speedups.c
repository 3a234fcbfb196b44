/* The audit hook in C (PEP 578: PySys_AddAuditHook).
 *
 * Unselected events are rejected here with no Python allocation: the event
 * name is hashed and looked up in a fixed-size cache that Python fills once
 * per distinct name.  Selected events whose context holds no span are
 * counted here too (the metrics-only path); everything else is handed to the
 * Python handler.  The pure-Python twin is _purehook.py: same functions,
 * same behaviour.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

#define CACHE_CAPACITY 4096 /* a power of two */
#define CACHE_MAX_FILL 3072 /* then the cache is emptied: names stay bounded */

#define MODE_SELECTED 1
#define MODE_FAST 4 /* may be counted here when the context holds no span */

static const char PROBE_EVENT[] = "opentelemetry.instrumentation.audithook.probe";

typedef struct {
    char *name; /* NULL: empty slot */
    size_t len;
    uint64_t hash;
    int mode;
    PyObject *pyname; /* the name as str, made once */
    unsigned long long selected;
    unsigned long long no_span;
} entry_t;

static entry_t cache[CACHE_CAPACITY];

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
static size_t cache_fill = 0;
static int enabled = 0;
static int installed = 0;
static int probe_seen = 0;
static PyObject *resolver = NULL;    /* resolve(name: str) -> int mode */
static PyObject *handler = NULL;     /* handle(name: str, args: tuple) -> None */
static PyObject *context_var = NULL; /* the OpenTelemetry context's ContextVar */
static PyObject *suppress_keys = NULL; /* tuple of context keys */
static PyObject *span_key = NULL;
static PyObject *retired = NULL; /* dict: counts of names emptied from the cache */
static PyInterpreterState *main_interp = NULL;

#ifdef Py_GIL_DISABLED
/* Free-threaded builds: one mutex guards the cache and the counts. */
static PyMutex cache_mutex = {0};
#define LOCK() PyMutex_Lock(&cache_mutex)
#define UNLOCK() PyMutex_Unlock(&cache_mutex)
#else
/* The GIL is held whenever a hook runs, and nothing below releases it
 * between a lookup and its use. */
#define LOCK()
#define UNLOCK()
#endif

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

/* Move the counts of every cached name into `retired`, and empty the cache.
 * Called with the GIL held. */
static int
retire_all(void)
{
    memset(by_pointer, 0, sizeof(by_pointer));
    for (size_t i = 0; i < CACHE_CAPACITY; i++) {
        entry_t *e = &cache[i];
        if (e->name == NULL) {
            continue;
        }
        if ((e->selected || e->no_span) && retired != NULL && e->pyname != NULL) {
            unsigned long long sel = e->selected, nos = e->no_span;
            PyObject *old = PyDict_GetItemWithError(retired, e->pyname);
            if (old != NULL && PyTuple_Check(old) && PyTuple_GET_SIZE(old) == 2) {
                sel += PyLong_AsUnsignedLongLong(PyTuple_GET_ITEM(old, 0));
                nos += PyLong_AsUnsignedLongLong(PyTuple_GET_ITEM(old, 1));
            }
            PyObject *pair = Py_BuildValue("(KK)", sel, nos);
            if (pair == NULL || PyDict_SetItem(retired, e->pyname, pair) < 0) {
                Py_XDECREF(pair);
                return -1;
            }
            Py_DECREF(pair);
        }
        PyMem_RawFree(e->name);
        Py_CLEAR(e->pyname);
        memset(e, 0, sizeof(*e));
    }
    cache_fill = 0;
    return 0;
}

static entry_t *
insert(const char *event, uint64_t hash, size_t len, int mode)
{
    entry_t *e = lookup(event, hash, len);
    if (e != NULL) {
        e->mode = mode;
        return e;
    }
    if (cache_fill >= CACHE_MAX_FILL && retire_all() < 0) {
        return NULL;
    }
    size_t i = (size_t)hash & (CACHE_CAPACITY - 1);
    while (cache[i].name != NULL) {
        i = (i + 1) & (CACHE_CAPACITY - 1);
    }
    char *copy = PyMem_RawMalloc(len + 1);
    if (copy == NULL) {
        PyErr_NoMemory();
        return NULL;
    }
    memcpy(copy, event, len + 1);
    PyObject *pyname = PyUnicode_DecodeUTF8(event, (Py_ssize_t)len, "surrogateescape");
    if (pyname == NULL) {
        PyMem_RawFree(copy);
        return NULL;
    }
    e = &cache[i];
    e->name = copy;
    e->len = len;
    e->hash = hash;
    e->mode = mode;
    e->pyname = pyname;
    e->selected = 0;
    e->no_span = 0;
    cache_fill++;
    return e;
}

/* An Exception from our Python code is swallowed (the Python side counts
 * hook_error); a BaseException (KeyboardInterrupt, SystemExit) goes on to the
 * application, as it would from a pure-Python hook. */
static int
swallow_exception(void)
{
    if (PyErr_ExceptionMatches(PyExc_Exception)) {
        PyErr_Clear();
        return 0;
    }
    return -1;
}

/* 1: handled here (suppressed, or counted as no_span); 0: Python decides. */
static int
fast_path(entry_t *e)
{
    PyObject *ctx = NULL;
    if (PyContextVar_Get(context_var, NULL, &ctx) < 0) {
        PyErr_Clear();
        return 0;
    }
    if (ctx != NULL) {
        if (!PyDict_Check(ctx)) {
            Py_DECREF(ctx);
            return 0;
        }
        for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(suppress_keys); i++) {
            PyObject *v = PyDict_GetItemWithError(ctx, PyTuple_GET_ITEM(suppress_keys, i));
            if (v == Py_True) {
                Py_DECREF(ctx);
                return 1; /* the telemetry pipeline's own work: not recorded */
            }
            if (v != NULL && v != Py_False && v != Py_None) {
                Py_DECREF(ctx);
                return 0; /* an unusual value: let Python judge its truth */
            }
        }
        PyObject *span = PyDict_GetItemWithError(ctx, span_key);
        Py_DECREF(ctx);
        if (span != NULL || PyErr_Occurred()) {
            PyErr_Clear();
            return 0;
        }
    }
    LOCK();
    e->selected++;
    e->no_span++;
    UNLOCK();
    return 1;
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
    size_t len = 0;
    uint64_t hash = 0;
    int mode;
    PyObject *pyname = NULL;
    LOCK();
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
    mode = e != NULL ? e->mode : -1;
    if (mode > 0) {
        pyname = e->pyname;
        Py_INCREF(pyname);
    }
    UNLOCK();
    if (mode == 0) {
        return 0; /* the hot path: an unselected event */
    }
    /* C hooks run in every interpreter and during finalization: our Python
     * side lives in the main interpreter only, and is going away at exit. */
    if (busy || PyInterpreterState_Get() != main_interp || is_finalizing()) {
        Py_XDECREF(pyname);
        return 0; /* busy: an event raised by our own work */
    }
    busy = 1;
    int rc = 0;
    if (mode < 0) {
        /* First sight of this name: ask Python, once. */
        PyObject *name = PyUnicode_DecodeUTF8(event, (Py_ssize_t)len, "surrogateescape");
        PyObject *res = name ? PyObject_CallOneArg(resolver, name) : NULL;
        Py_XDECREF(name);
        if (res == NULL) {
            rc = swallow_exception();
            goto done;
        }
        mode = (int)PyLong_AsLong(res);
        Py_DECREF(res);
        if (mode == -1 && PyErr_Occurred()) {
            rc = swallow_exception();
            goto done;
        }
        if (!enabled) {
            goto done; /* disarmed while resolving: do not fill the cache */
        }
        LOCK();
        e = insert(event, hash, len, mode);
        if (e != NULL && (mode & MODE_SELECTED)) {
            pyname = e->pyname;
            Py_INCREF(pyname);
        }
        UNLOCK();
        if (e == NULL) {
            rc = swallow_exception();
            goto done;
        }
        if (!(mode & MODE_SELECTED)) {
            goto done;
        }
    }
    if ((mode & MODE_FAST) && context_var != NULL) {
        LOCK();
        e = lookup(event, hash, len);
        UNLOCK();
        if (e != NULL && fast_path(e)) {
            goto done;
        }
    }
    PyObject *res = PyObject_CallFunctionObjArgs(handler, pyname, args, NULL);
    if (res == NULL) {
        rc = swallow_exception();
    }
    else {
        Py_DECREF(res);
    }
done:
    Py_XDECREF(pyname);
    busy = 0;
    return rc;
}

static PyObject *
speedups_install(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 2 || !PyCallable_Check(args[0]) || !PyCallable_Check(args[1])) {
        PyErr_SetString(PyExc_TypeError, "install(resolve, handle) takes two callables");
        return NULL;
    }
    Py_XSETREF(resolver, Py_NewRef(args[0]));
    Py_XSETREF(handler, Py_NewRef(args[1]));
    if (installed) {
        Py_RETURN_TRUE;
    }
    main_interp = PyInterpreterState_Main();
    if (PySys_AddAuditHook(audit_hook, NULL) < 0) {
        return NULL;
    }
    /* An existing hook may veto ours, and PySys_AddAuditHook still returns 0:
     * raise a probe event and see whether it arrives. */
    probe_seen = 0;
    if (PySys_Audit(PROBE_EVENT, NULL) < 0) {
        return NULL;
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

static PyObject *
speedups_clear_cache(PyObject *self, PyObject *unused)
{
    LOCK();
    int rc = retire_all();
    UNLOCK();
    if (rc < 0) {
        return NULL;
    }
    Py_RETURN_NONE;
}

static PyObject *
speedups_set_fast_path(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 3) {
        PyErr_SetString(PyExc_TypeError, "set_fast_path(context_var, suppress_keys, span_key)");
        return NULL;
    }
    if (args[0] == Py_None) {
        Py_CLEAR(context_var);
        Py_RETURN_NONE;
    }
    if (!PyContextVar_CheckExact(args[0]) || !PyTuple_Check(args[1])) {
        PyErr_SetString(PyExc_TypeError, "a ContextVar and a tuple of keys are needed");
        return NULL;
    }
    Py_XSETREF(suppress_keys, Py_NewRef(args[1]));
    Py_XSETREF(span_key, Py_NewRef(args[2]));
    Py_XSETREF(context_var, Py_NewRef(args[0]));
    Py_RETURN_NONE;
}

static PyObject *
speedups_counts(PyObject *self, PyObject *unused)
{
    PyObject *out = PyDict_Copy(retired);
    if (out == NULL) {
        return NULL;
    }
    LOCK();
    for (size_t i = 0; i < CACHE_CAPACITY; i++) {
        entry_t *e = &cache[i];
        if (e->name == NULL || (!e->selected && !e->no_span)) {
            continue;
        }
        unsigned long long sel = e->selected, nos = e->no_span;
        PyObject *old = PyDict_GetItemWithError(out, e->pyname);
        if (old != NULL) {
            sel += PyLong_AsUnsignedLongLong(PyTuple_GET_ITEM(old, 0));
            nos += PyLong_AsUnsignedLongLong(PyTuple_GET_ITEM(old, 1));
        }
        PyObject *pair = Py_BuildValue("(KK)", sel, nos);
        if (pair == NULL || PyDict_SetItem(out, e->pyname, pair) < 0) {
            Py_XDECREF(pair);
            UNLOCK();
            Py_DECREF(out);
            return NULL;
        }
        Py_DECREF(pair);
    }
    UNLOCK();
    return out;
}

static PyObject *
speedups_reset_after_fork(PyObject *self, PyObject *unused)
{
    /* The child's counts start fresh, and no thread of it is inside the hook. */
    for (size_t i = 0; i < CACHE_CAPACITY; i++) {
        cache[i].selected = 0;
        cache[i].no_span = 0;
    }
    PyDict_Clear(retired);
    busy = 0;
#ifdef Py_GIL_DISABLED
    memset(&cache_mutex, 0, sizeof(cache_mutex));
#endif
    Py_RETURN_NONE;
}

static PyObject *
speedups_installed(PyObject *self, PyObject *unused)
{
    return PyBool_FromLong(installed);
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

static PyMethodDef speedups_methods[] = {
    {"install", (PyCFunction)(void (*)(void))speedups_install, METH_FASTCALL,
     "install(resolve, handle) -> bool: install the hook once; False if another hook vetoed it."},
    {"set_enabled", speedups_set_enabled, METH_O, "set_enabled(flag): arm or disarm the hook."},
    {"clear_cache", speedups_clear_cache, METH_NOARGS,
     "clear_cache(): forget every resolved event name (counts are kept)."},
    {"set_fast_path", (PyCFunction)(void (*)(void))speedups_set_fast_path, METH_FASTCALL,
     "set_fast_path(context_var, suppress_keys, span_key): where to look for a span."},
    {"counts", speedups_counts, METH_NOARGS,
     "counts() -> {name: (selected, no_span)} counted in C."},
    {"reset_after_fork", speedups_reset_after_fork, METH_NOARGS,
     "reset_after_fork(): fresh counts in a forked child."},
    {"installed", speedups_installed, METH_NOARGS, "installed() -> bool"},
    {"_install_bare_hook", speedups_install_bare_hook, METH_NOARGS,
     "Install a C hook that returns 0 at once (the floor, for benchmarks only)."},
    {NULL, NULL, 0, NULL},
};

static int
speedups_exec(PyObject *module)
{
    if (retired == NULL) {
        retired = PyDict_New();
        if (retired == NULL) {
            return -1;
        }
    }
    return PyModule_AddIntConstant(module, "MODE_FAST", MODE_FAST);
}

static PyModuleDef_Slot speedups_slots[] = {
    {Py_mod_exec, speedups_exec},
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
