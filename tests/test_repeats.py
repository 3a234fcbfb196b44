"""Repeats: an event equal to one exported within the repeat window is dropped
by the hook (in C for the C hook) and counted as ``repeated``; anything new
goes out at once.  Both implementations, through the real SDK pipeline."""

from __future__ import annotations

from conftest import COUNT_HANDLER_CALLS, Runner

NO_LIMITS = {"rate_limit": 0, "rate_limit_total": 0}


def test_a_repeat_goes_out_once_and_anything_new_at_once(run: Runner) -> None:
    t = run(
        COUNT_HANDLER_CALLS
        + """
with span("work"):
    for i in range(50):
        sys.audit("myapp.fetch", "db.example", 5432)
        sys.audit("myapp.fetch", "db.example", 5433)
    sys.audit("myapp.fetch", "cache.example", 6379)
    sys.audit("myapp.fetch", ("db.example", 5432), [b"x", 1.5, None, True])
    sys.audit("myapp.fetch", ("db.example", 5432), [b"x", 1.5, None, False])
dump(handled=len(handled))
""",
        kwargs={"events": "myapp.*", **NO_LIMITS},
    )
    events = t.events("work", "myapp.fetch")
    assert [(e["python.audit.arg.0"], e["python.audit.arg.1"]) for e in events[:3]] == [
        ("db.example", 5432),
        ("db.example", 5433),
        ("cache.example", 6379),
    ]
    # a nested value that differs in one item is another behaviour
    assert len(events) == 5
    # decided before any of our Python ran
    assert t.extra["handled"] == 5
    assert t.count("myapp.fetch") == 103
    assert t.dropped("myapp.fetch", "repeated") == 98


def test_the_window_ends_and_zero_exports_every_repeat(run: Runner) -> None:
    body = """
import sys, time
with span("work"):
    for i in range(3):
        sys.audit("myapp.tick", "same")
    time.sleep(0.4)
    sys.audit("myapp.tick", "same")
dump()
"""
    short = run(body, kwargs={"events": "myapp.*", "repeat_window": 0.2, **NO_LIMITS})
    assert len(short.events("work", "myapp.tick")) == 2
    assert short.dropped("myapp.tick", "repeated") == 2
    off = run(body, kwargs={"events": "myapp.*", "repeat_window": 0, **NO_LIMITS})
    assert len(off.events("work", "myapp.tick")) == 4
    assert off.dropped("myapp.tick", "repeated") == 0


def test_handles_by_type_paths_by_value_code_never_a_repeat(run: Runner) -> None:
    t = run(
        """
import os, pathlib, socket
os.makedirs("d", exist_ok=True)
with span("work"):
    for _ in range(3):
        # a new socket object each time, to the same (closed) address: one behaviour
        s = socket.socket()
        try:
            s.connect_ex(("127.0.0.1", 9))
        finally:
            s.close()
    # code objects are never repeats: two sources compiled at one place differ
    # only in bytecode and constants, and a freed one's address is reused
    code = compile("x = 1", "<a>", "exec")
    exec(code, {})
    exec(code, {})
    for source in ("x = 1", "y = 2"):
        exec(compile(source, "<a>", "exec"), {})
    # open() raises its event with the path object's file system path
    for _ in range(3):
        open(pathlib.Path("d") / "f.txt", "w").close()
    for _ in range(3):
        open("d/g.txt", "w").close()
dump()
""",
        kwargs={"events": "socket.connect,exec,open", "code_location": False, **NO_LIMITS},
    )
    connects = t.events("work", "socket.connect")
    assert len(connects) == 1
    assert connects[0]["server.port"] == 9
    assert t.dropped("socket.connect", "repeated") == 2
    execs = t.events("work", "exec")
    assert [e["python.audit.arg.code_object"] for e in execs] == ["<module> (<a>:1)"] * 4
    assert t.dropped("exec", "repeated") == 0
    opens = [e["file.path"] for e in t.events("work", "open")]
    assert opens == ["d/f.txt", "d/g.txt"]
    assert t.dropped("open", "repeated") == 4


def test_no_code_of_an_argument_runs_to_tell_a_repeat(run: Runner) -> None:
    t = run(
        """
ran = []
class Meta(type):
    def __hash__(cls):
        ran.append("metaclass hash")
        return 0
    def __eq__(cls, other):
        ran.append("metaclass eq")
        return False
class Hostile(metaclass=Meta):
    def __hash__(self):
        ran.append("hash")
        return 0
    def __eq__(self, other):
        ran.append("eq")
        return True
    def __len__(self):
        ran.append("len")
        return 0
    def __iter__(self):
        ran.append("iter")
        return iter(())
class Text(str):
    def __hash__(self):
        ran.append("str subclass hash")
        return 0
with span("work"):
    for _ in range(3):
        sys.audit("myapp.odd", Hostile(), (Hostile(),), [Text("x")], Text("y"))
    for _ in range(3):
        sys.audit("myapp.odd", "plain", {"k": Hostile()})
dump(ran=ran)
""",
        kwargs={"events": "myapp.*", **NO_LIMITS},
    )
    assert t.extra["ran"] == []
    # user objects: never a repeat; a dict (an environment) by its type
    assert len(t.events("work", "myapp.odd")) == 4
    assert t.dropped("myapp.odd", "repeated") == 2


def test_an_event_the_handler_drops_is_not_a_repeat_of_anything(run: Runner) -> None:
    # the first two go over the span's budget for the name, in a span that
    # takes one; in the next span the same event is new, not a repeat
    t = run(
        """
with span("first"):
    sys.audit("myapp.x", "a")
    sys.audit("myapp.x", "b")
with span("second"):
    sys.audit("myapp.x", "b")
dump()
""",
        kwargs={"events": "myapp.*", "span_event_budget": 1, **NO_LIMITS},
    )
    assert [e["python.audit.arg.0"] for e in t.events("first", "myapp.x")] == ["a"]
    assert t.dropped("myapp.x", "span_budget") == 1
    assert [e["python.audit.arg.0"] for e in t.events("second", "myapp.x")] == ["b"]
    assert t.dropped("myapp.x", "repeated") == 0


def test_a_long_value_is_told_by_its_ends_and_length(run: Runner) -> None:
    t = run(
        """
head, tail = "h" * 3000, "t" * 3000
with span("work"):
    sys.audit("myapp.body", head + "1" + tail)
    sys.audit("myapp.body", head + "2" + tail)  # differs in the middle only
    sys.audit("myapp.body", head + "1" + tail + "!")
    sys.audit("myapp.body", (head + "1" + tail).encode())
dump()
""",
        kwargs={"events": "myapp.*", **NO_LIMITS},
    )
    assert len(t.events("work", "myapp.body")) == 3
    assert t.dropped("myapp.body", "repeated") == 1


def test_the_child_of_a_fork_starts_with_no_repeat(run: Runner) -> None:
    t = run(
        """
import os
with span("parent"):
    sys.audit("myapp.job", "same")
pid = os.fork()
if pid == 0:
    with span("child"):
        sys.audit("myapp.job", "same")
    dump()
    os._exit(0)
os.waitpid(pid, 0)
""",
        kwargs={"events": "myapp.*", **NO_LIMITS},
    )
    assert len(t.events("child", "myapp.job")) == 1
