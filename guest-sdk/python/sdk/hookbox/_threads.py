"""Threads for hooks in a sandbox that has only one: cooperative ("green")
threads, so that hooks written for ``python3`` that use ``threading``,
``queue`` or ``concurrent.futures`` give the same results.

CPython for WASI cannot start a thread. Here a started thread is queued, and
queued threads run on the stack of a thread that waits, one at a time:

* ``Thread.start()`` queues the thread and returns at once; the thread is
  started (``is_alive()``, ``ident``, in ``enumerate()``) but has not run.
* A thread that waits runs queued threads, first started first, each until
  it ends or itself waits (then it runs queued threads in turn, on top of
  the stack), and checks after each whether it can go on. Waiting is:
  acquiring a lock held by another thread (``Lock``, ``RLock``, and through
  them ``Condition``, ``Event``, ``Semaphore``, ``Barrier``, ``queue.Queue``,
  ``Future.result()``), ``Thread.join()``, ``time.sleep()`` (see below) and a selector wait
  (the ``asyncio`` loop). Nothing else switches threads: a thread is never
  preempted, and one blocked in I/O holds the sandbox.
* ``time.sleep()`` runs every queued thread, then sleeps what is left of
  its time; but it runs them only in the main thread (at the
  bottom of the stack), and only if it holds no lock: a thread sleeping
  while it holds a lock or semaphore (a rate limit) would otherwise start
  others that find it taken and cannot wait for it. Elsewhere it just
  sleeps, so a thread that polls a flag (``while not done: time.sleep()``)
  set by a thread not yet run never sees it set.
* A wait with a timeout that no queued thread satisfies sleeps for real
  until its timeout and then fails as in ``python3`` (``False``,
  ``queue.Empty``, ``TimeoutError``). A wait satisfied by running other
  threads succeeds even if running them took longer than its timeout:
  threads here run one after the other, not side by side.
* ``ThreadPoolExecutor`` does not park idle worker threads: a submitted
  call is queued like a thread and runs, in submission order, when a thread
  waits (``result()``, ``as_completed``, ``wait``, ``map``, ``shutdown``,
  leaving the ``with`` block, ``time.sleep``...) on one of ``max_workers``
  worker threads (named as in ``python3``, each with its own
  ``threading.local`` and ``contextvars`` context). A call not run yet can be cancelled.
* Deadlock: a thread that waits without a timeout for something no queued
  thread can bring about, while the threads beneath it on the stack are
  paused until it returns, cannot go on. That is raised as
  ``ThreadDeadlock``, naming the threads; it is raised again in every
  thread that resumes and by ``run_remaining()``, so the run ends with it.
  The same wait in ``python3`` may hang forever (a real deadlock) or be
  woken by a paused thread (a hook this model cannot run).
* A daemon thread that waits like that while a thread beneath it could go on
  (the classic ``q.join()`` with a daemon worker blocked in ``q.get()``) is
  abandoned instead: its stack is unwound (its ``finally`` blocks and
  ``with`` exits run) and it stays alive but never runs again, as a daemon
  thread blocked until exit does in ``python3``. Joining it later without a
  timeout is a deadlock.
* At exit, ``run_remaining()`` runs the threads and calls still queued, as
  ``python3`` joins non-daemon threads; daemon threads nobody waited for
  and that never ran are dropped, as ``python3`` kills them at exit.
* At most ``MAX_NESTED`` threads can be paused on the stack at once (each
  costs native stack, and the sandbox's is small); past that, a wait that
  needs another thread to run raises ``ThreadDeadlock``. Each thread gets
  the whole recursion limit for itself.
* A thread that loops until a paused thread tells it to stop (a spinner
  whose stop event the main thread sets after a ``time.sleep``) never
  returns: the run ends at the sandbox's time limit.
"""

from __future__ import annotations

import contextvars
import sys
import time
from collections import deque
from itertools import count
from types import FrameType
from typing import Any, Callable

# Threads at most paused on the stack at once: each nested thread costs
# native stack (``Context.run``, and whatever C calls lie between its start
# and its wait); the sandbox's stack runs out at 100 to 400 of them.
MAX_NESTED = 64

_SUFFIX = "; threads in the sandbox run one at a time, each until it ends or waits"


class ThreadDeadlock(RuntimeError):
    """A thread waits for something no thread that can run will bring
    about."""


class _Abandoned(BaseException):
    """Unwinds a daemon thread that can never run again."""


class _Wait:
    """What a paused thread waits for: ``ready()`` says whether it could go
    on; ``deadline`` (monotonic) is when it gives up, if ever."""

    __slots__ = ("ready", "deadline", "lock")

    def __init__(self, ready: Callable[[], bool], deadline: float | None, lock: Any = None):
        self.ready = ready
        self.deadline = deadline
        self.lock = lock


def _always() -> bool:
    return True


class _Green:
    """A thread of this module: what it runs and where it is."""

    __slots__ = ("ident", "native_id", "function", "args", "kwargs", "thread",
                 "handle", "daemon", "waiting", "abandoned", "ended", "held")

    def __init__(self, ident: int, native_id: int, thread: Any = None,
                 function: Callable[..., Any] | None = None, args: tuple = (),
                 kwargs: dict | None = None, daemon: bool = False) -> None:
        self.ident = ident
        self.native_id = native_id
        self.thread = thread
        self.function = function
        self.args = args
        self.kwargs = kwargs or {}
        self.handle: _Handle | None = None
        self.daemon = daemon
        self.waiting: _Wait | None = None
        self.abandoned = False
        self.ended = False
        # Locks it holds (a sleep holding one runs no other thread).
        self.held = 0

    @property
    def name(self) -> str:
        if self.thread is not None:
            return self.thread.name
        function = self.function
        return f"thread of {getattr(function, '__qualname__', function)!r}"

    def runnable(self) -> bool:
        return True

    def run(self) -> None:
        try:
            _enter(self, self._call)
        finally:
            if self.abandoned:
                if self.thread is not None:
                    # It is still alive, as a blocked thread is.
                    _threading._active[self.ident] = self.thread
            else:
                self.ended = True
                if self.handle is not None:
                    self.handle._set_done()

    def _call(self) -> None:
        if self.thread is not None:
            self.function(*self.args, **self.kwargs)
            return
        try:
            self.function(*self.args, **self.kwargs)
        except (_Abandoned, SystemExit):
            pass
        except BaseException:
            if sys.exception() is _failure:
                return
            # As ``python3`` reports an exception in a ``_thread`` thread.
            import traceback

            print(f"Exception ignored in thread started by: {self.function!r}",
                  file=sys.stderr)
            traceback.print_exc()


class _Handle:
    """``_thread._ThreadHandle``: the end of a thread, to join."""

    def __init__(self, ident: int | None = None) -> None:
        self.ident = ident
        self._done = False

    def is_done(self) -> bool:
        return self._done

    def _set_done(self) -> None:
        self._done = True

    def join(self, timeout: float | None = None) -> None:
        if self.ident is not None and self.ident == get_ident() and not self._done:
            raise RuntimeError("Cannot join current thread")
        if timeout is not None and timeout < 0:
            timeout = None
        _wait_until(self.is_done, timeout)

    def __repr__(self) -> str:
        state = "done" if self._done else "running"
        return f"<_thread._ThreadHandle object: ident={self.ident} {state}>"


# The threads on the real stack, bottom first; the last one runs.
_stack: list[_Green] = []
# Started threads and submitted calls that have not run yet, in order.
_queue: deque[Any] = deque()
# The deadlock that ends the run, once one happened.
_failure: ThreadDeadlock | None = None
_origin: Any = None
_idents = count(1)
_threading: Any = None
_real_sleep = time.sleep
_monotonic = time.monotonic


def get_ident() -> int:
    """``threading.get_ident()``: the running green thread's."""
    return _stack[-1].ident


def get_native_id() -> int:
    return _stack[-1].native_id


def _new_green(**fields: Any) -> _Green:
    n = next(_idents)
    return _Green(_stack[0].ident + n, _stack[0].native_id + n, **fields)


def _enter(green: _Green, call: Callable[[], None]) -> None:
    """Runs ``call`` as ``green``, on top of the stack, with a recursion
    limit of its own."""
    depth = 0
    frame: FrameType | None = sys._getframe()
    while frame is not None:
        depth += 1
        frame = frame.f_back
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(limit + depth)
    _stack.append(green)
    try:
        call()
    finally:
        _stack.pop()
        if sys.getrecursionlimit() == limit + depth:
            sys.setrecursionlimit(limit)


def _raise_failure() -> None:
    global _origin
    if _failure is not None:
        # Where the deadlock happened, not every thread it went through.
        if _origin is None:
            _origin = _failure.__traceback__
        raise _failure.with_traceback(_origin)


def _take_next(daemons: bool = True) -> Any:
    for i, entry in enumerate(_queue):
        if entry.runnable() and (daemons or not entry.daemon):
            del _queue[i]
            return entry
    return None


def _run_next(daemons: bool = True) -> bool:
    """Runs the first queued thread or call that can run until it returns;
    whether there was one."""
    if len(_stack) >= MAX_NESTED:
        return False
    entry = _take_next(daemons)
    if entry is None:
        return False
    entry.run()
    return True


def _wait_until(ready: Callable[[], bool], timeout: float | None, lock: Any = None) -> bool:
    """Blocks the running thread until ``ready()``, running queued threads
    meanwhile; ``False`` if ``timeout`` (seconds) passed first."""
    me = _stack[-1]
    if me.abandoned:
        raise _Abandoned
    _raise_failure()
    if ready():
        return True
    if timeout is not None and timeout <= 0:
        return False
    deadline = None if timeout is None else _monotonic() + timeout
    me.waiting = _Wait(ready, deadline, lock)
    try:
        while True:
            if _run_next():
                if me.abandoned:
                    raise _Abandoned
                _raise_failure()
                if ready():
                    return True
                continue
            if deadline is None:
                _stuck(me)
            remaining = deadline - _monotonic()
            if remaining > 0:
                _real_sleep(remaining)
            return ready()
    finally:
        me.waiting = None


def _sleep(secs: float, /) -> None:
    """``time.sleep``: in the main thread holding no lock, runs every queued
    thread; then sleeps what is left."""
    try:
        deadline = _monotonic() + secs
    except TypeError:
        _real_sleep(secs)
        raise
    if secs < 0:
        _real_sleep(secs)
    me = _stack[-1]
    if me.abandoned:
        raise _Abandoned
    _raise_failure()
    me.waiting = _Wait(_always, deadline)
    try:
        while len(_stack) == 1 and not me.held and _run_next():
            if me.abandoned:
                raise _Abandoned
            _raise_failure()
    finally:
        me.waiting = None
    remaining = deadline - _monotonic()
    if remaining > 0:
        _real_sleep(remaining)


def _run_queued_now() -> bool:
    """Runs every queued thread (for a selector about to wait); whether any
    ran."""
    if not _stack or not _queue:
        return False
    me = _stack[-1]
    _raise_failure()
    ran = False
    me.waiting = _Wait(_always, _monotonic())
    try:
        while _run_next():
            ran = True
            _raise_failure()
    finally:
        me.waiting = None
    return ran


def _stuck(me: _Green) -> None:
    """``me`` waits forever and nothing can run: abandons it (and the daemon
    threads between it and a paused thread that could go on) or raises the
    deadlock."""
    global _failure
    below = _stack[:-1]
    for i in range(len(below) - 1, -1, -1):
        waiting = below[i].waiting
        if waiting is not None and (waiting.deadline is not None or waiting.ready()):
            chain = _stack[i + 1:]
            if all(green.daemon for green in chain):
                for green in chain:
                    green.abandoned = True
                raise _Abandoned
            break
    if len(_stack) >= MAX_NESTED and any(entry.runnable() for entry in _queue):
        _failure = ThreadDeadlock(
            f"hookbox: too many threads waiting at once: {len(_stack)} threads are paused "
            f"on top of each other (at most {MAX_NESTED}), and '{me.name}' waits for one "
            f"of the {len(_queue)} not started yet" + _SUFFIX
        )
        raise _failure
    _failure = ThreadDeadlock(_deadlock_message(me, below))
    raise _failure


def _names(greens: list[_Green]) -> str:
    names = [f"'{green.name}'" for green in reversed(greens)]
    if len(names) <= 2:
        return " and ".join(names)
    return ", ".join(names[:-1]) + " and " + names[-1]


def _deadlock_message(me: _Green, below: list[_Green]) -> str:
    paused = f"{_names(below)} (paused until '{me.name}' returns)" if below else ""
    operation, lock = _operation()
    owner = getattr(lock, "_holder", None) if lock is not None else None
    head = f"hookbox: deadlock: '{me.name}' "
    if lock is not None and owner is not None and owner is not me:
        if owner in below:
            others = [green for green in below if green is not owner]
            text = head + f"waits for a lock that only '{owner.name}' "
            text += f"(paused until '{me.name}' returns) can release"
            if others:
                text += f"; {_names(others)} {'is' if len(others) == 1 else 'are'} paused too"
        elif owner.abandoned:
            text = head + (f"waits for a lock held by '{owner.name}', a daemon thread that "
                           "was abandoned blocked and never runs again")
        else:
            text = head + f"waits for a lock held by '{owner.name}', which ended without releasing it"
    elif lock is not None and owner is me:
        text = head + "waits for a lock it holds itself"
        if paused:
            text += f"; {paused}"
    else:
        text = head + f"waits in {operation} with no timeout, and no thread can wake it: "
        ready = [green for green in below if green.waiting is not None and green.waiting.ready()]
        if ready:
            text += f"{_names(ready)}, which could go on, "
            text += f"{'is' if len(ready) == 1 else 'are'} paused until '{me.name}' returns"
            others = [green for green in below if green not in ready]
            if others:
                text += f" ({_names(others)} too)"
        elif paused:
            text += f"{paused} cannot run, and no other thread is ready to run"
        else:
            text += "no other thread is ready to run"
    dropped = [green.thread.name for green in _abandoned()]
    if dropped and not below:
        text += "; abandoned daemon threads never run again: " + ", ".join(
            f"'{name}'" for name in dropped)
    return text + _SUFFIX


def _abandoned() -> list[_Green]:
    threads = _threading._active.values() if _threading is not None else ()
    return [t._hookbox_green for t in threads
            if getattr(getattr(t, "_hookbox_green", None), "abandoned", False)]


# The files of the library a wait goes through (set by ``install()``).
_internal: set[str] = {__file__}


def _operation() -> tuple[str, Any]:
    """What the running thread waits in, as the outermost call into the
    library (``Event.wait()``), and the lock if it waits for a lock
    directly."""
    frame = sys._getframe(2)
    frames = []
    while (frame is not None and frame.f_code.co_filename in _internal
           and frame.f_code is not _enter.__code__):
        frames.append(frame)
        frame = frame.f_back
    # The thread's own start (``Thread.run`` calling a library target).
    while frames and frames[-1].f_code.co_qualname in _STARTS:
        frames.pop()
    if not frames:
        return "a wait", None
    outer = frames[-1]
    name = outer.f_code.co_qualname
    receiver = outer.f_locals.get("self")
    if isinstance(receiver, (_Lock, _RLock)):
        return "acquire()", receiver
    if name == "Thread.join" and receiver is not None:
        return f"join() of '{receiver.name}'", None
    return f"{name}()", None


_STARTS = {"Thread.run", "Thread._bootstrap_inner", "Thread._bootstrap", "_Green._call",
           "_Job._run_on", "_Job.run", "_Job.run.<locals>.<lambda>", "_WorkItem.run",
           "WorkerContext.run"}


class _Lock:
    """``threading.Lock``, for green threads."""

    __slots__ = ("_held", "_holder", "__weakref__")
    __module__ = "_thread"
    # Whether holding it counts as holding a lock (see ``_Green.held``).
    _counts = 1

    def __init__(self) -> None:
        self._held = False
        self._holder: _Green | None = None

    def _free(self) -> bool:
        return not self._held

    def acquire(self, blocking: bool = True, timeout: float = -1) -> bool:
        if not blocking and timeout != -1:
            raise ValueError("can't specify a timeout for a non-blocking call")
        if timeout < 0 and timeout != -1:
            raise ValueError("timeout value must be a non-negative number")
        if self._held:
            if not blocking:
                return False
            if not _wait_until(self._free, None if timeout == -1 else timeout, self):
                return False
        self._held = True
        self._holder = holder = _stack[-1]
        holder.held += self._counts
        return True

    def release(self) -> None:
        if not self._held:
            raise RuntimeError("release unlocked lock")
        self._held = False
        self._holder.held -= self._counts
        self._holder = None

    def locked(self) -> bool:
        return self._held

    def _at_fork_reinit(self) -> None:
        self._held = False
        self._holder = None

    def __enter__(self) -> bool:
        return self.acquire()

    def __exit__(self, *exc_info: Any) -> None:
        self.release()

    acquire_lock = acquire
    release_lock = release
    locked_lock = locked

    def __repr__(self) -> str:
        state = "locked" if self._held else "unlocked"
        return f"<{state} _thread.lock object at {id(self):#x}>"


class _SignalLock(_Lock):
    """The lock a ``Condition`` waiter blocks on until notified: a signal,
    not a lock held (a waiter that timed out leaves it locked for good)."""

    __slots__ = ()
    _counts = 0


_Lock.__name__ = _Lock.__qualname__ = _SignalLock.__name__ = _SignalLock.__qualname__ = "lock"


class _RLock:
    """``threading.RLock``, for green threads."""

    __slots__ = ("_holder", "_count", "__weakref__")
    __module__ = "_thread"

    def __init__(self) -> None:
        self._holder: _Green | None = None
        self._count = 0

    def _free(self) -> bool:
        return self._holder is None

    def acquire(self, blocking: bool = True, timeout: float = -1) -> bool:
        me = _stack[-1]
        if self._holder is me:
            self._count += 1
            return True
        if not blocking and timeout != -1:
            raise ValueError("can't specify a timeout for a non-blocking call")
        if timeout < 0 and timeout != -1:
            raise ValueError("timeout value must be a non-negative number")
        if self._holder is not None:
            if not blocking:
                return False
            if not _wait_until(self._free, None if timeout == -1 else timeout, self):
                return False
        self._holder = me
        self._count = 1
        me.held += 1
        return True

    def release(self) -> None:
        if self._holder is not _stack[-1] or not self._count:
            raise RuntimeError("cannot release un-acquired lock")
        self._count -= 1
        if not self._count:
            self._holder.held -= 1
            self._holder = None

    def locked(self) -> bool:
        return self._holder is not None

    def _is_owned(self) -> bool:
        return self._holder is _stack[-1]

    def _recursion_count(self) -> int:
        return self._count if self._holder is _stack[-1] else 0

    def _release_save(self) -> tuple[int, Any]:
        if not self._count:
            raise RuntimeError("cannot release un-acquired lock")
        state = (self._count, self._holder)
        self._holder.held -= 1
        self._holder = None
        self._count = 0
        return state

    def _acquire_restore(self, state: tuple[int, Any]) -> None:
        if self._holder is not None:
            _wait_until(self._free, None, self)
        self._count, self._holder = state
        self._holder.held += 1

    def _at_fork_reinit(self) -> None:
        self._holder = None
        self._count = 0

    def __enter__(self) -> bool:
        return self.acquire()

    def __exit__(self, *exc_info: Any) -> None:
        self.release()

    def __repr__(self) -> str:
        state = "locked" if self._holder is not None else "unlocked"
        owner = self._holder.ident if self._holder is not None else 0
        return (f"<{state} _thread.RLock object owner={owner} count={self._count} "
                f"at {id(self):#x}>")


_RLock.__name__ = _RLock.__qualname__ = "RLock"


def _start_joinable_thread(function: Callable[[], None], handle: _Handle | None = None,
                           daemon: bool = True) -> _Handle:
    """``_thread.start_joinable_thread``: queues the thread. A
    ``threading.Thread`` is marked started at once (``start()`` waits for
    that)."""
    if handle is None:
        handle = _Handle()
    thread = getattr(function, "__self__", None)
    if not isinstance(thread, _threading.Thread):
        thread = None
    green = _new_green(thread=thread, function=function, daemon=daemon)
    green.handle = handle
    handle.ident = green.ident
    if thread is not None:
        thread._hookbox_green = green
        thread._ident = green.ident
        thread._native_id = green.native_id
        thread._started.set()
    _queue.append(green)
    return handle


def _start_new_thread(function: Callable[..., Any], args: tuple,
                      kwargs: dict | None = None) -> int:
    if not isinstance(args, tuple):
        raise TypeError("2nd arg must be a tuple")
    green = _new_green(function=function, args=args, kwargs=kwargs, daemon=True)
    green.handle = _Handle(green.ident)
    _queue.append(green)
    return green.ident


def _make_thread_handle(ident: int) -> _Handle:
    return _Handle(ident)


def _thread_shutdown() -> None:
    """What ``threading._shutdown`` waits for: the threads and calls still
    queued, daemon threads left out."""
    main = _stack[0]
    while len(_stack) == 1:
        _raise_failure()
        entry = _take_next(daemons=False)
        if entry is None:
            break
        main.waiting = _Wait(lambda: False, None)
        try:
            entry.run()
        finally:
            main.waiting = None
    _raise_failure()


def run_remaining() -> None:
    """Runs what ``python3`` runs when the main code ends: the threading
    exit hooks, then every non-daemon thread and pool call still queued.
    Raises the run's ``ThreadDeadlock``, if there was one. Call it after the
    hook's main code, before ``atexit`` handlers."""
    if _threading is None:
        return
    _threading._shutdown()
    _thread_shutdown()


# -- concurrent.futures ---------------------------------------------------


class _Job:
    """A call submitted to a pool, not run yet."""

    __slots__ = ("executor", "item")
    daemon = False

    def __init__(self, executor: Any, item: Any) -> None:
        self.executor = executor
        self.item = item

    def runnable(self) -> bool:
        return self.item.future.cancelled() or self.executor._has_room()

    def run(self) -> None:
        executor = self.executor
        try:
            if self.item.future.cancelled():
                self.item.future.set_running_or_notify_cancel()
                return
            worker = executor._idle_worker()
            executor._busy.add(worker)
            try:
                _enter(worker.green, lambda: worker.cvars.run(self._run_on, worker))
            finally:
                executor._busy.discard(worker)
        finally:
            executor._left -= 1
            executor._retire_if_done()

    def _run_on(self, worker: Any) -> None:
        executor = self.executor
        if not worker.initialized:
            worker.initialized = True
            try:
                worker.context.initialize()
            except BaseException:
                from concurrent.futures import _base

                _base.LOGGER.critical("Exception in initializer:", exc_info=True)
                executor._initializer_failed()
                self.item.future.set_exception(executor.BROKEN(executor._broken))
                return
        if executor._broken:
            self.item.future.set_exception(executor.BROKEN(executor._broken))
            return
        self.item.run(worker.context)


class _Worker:
    """A pool's worker thread: its calls share its ``contextvars``
    context, as on a real worker thread."""

    __slots__ = ("green", "context", "initialized", "cvars")

    def __init__(self, green: _Green, context: Any) -> None:
        self.green = green
        self.context = context
        self.initialized = False
        self.cvars = contextvars.Context()


def _make_executor(base: type) -> type:
    from concurrent.futures import _base, thread as cf_thread

    class ThreadPoolExecutor(base):
        __module__ = "concurrent.futures.thread"
        __doc__ = base.__doc__

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self._workers: list[_Worker] = []
            self._busy: set[_Worker] = set()
            self._left = 0

        def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Any:
            with self._shutdown_lock:
                if self._broken:
                    raise self.BROKEN(self._broken)
                if self._shutdown:
                    raise RuntimeError("cannot schedule new futures after shutdown")
                if cf_thread._shutdown:
                    raise RuntimeError("cannot schedule new futures after "
                                       "interpreter shutdown")
                future = _base.Future()
                task = self._resolve_work_item_task(fn, args, kwargs)
                _queue.append(_Job(self, cf_thread._WorkItem(future, task)))
                self._left += 1
                return future

        submit.__doc__ = _base.Executor.submit.__doc__

        def _has_room(self) -> bool:
            return len(self._busy) < self._max_workers

        def _idle_worker(self) -> _Worker | None:
            for worker in self._workers:
                if worker not in self._busy:
                    return worker
            if len(self._workers) >= self._max_workers:
                return None
            name = f"{self._thread_name_prefix or self}_{len(self._workers)}"
            thread = _threading.Thread(name=name)
            green = _new_green(thread=thread)
            green.handle = thread._os_thread_handle
            green.handle.ident = green.ident
            thread._hookbox_green = green
            thread._ident = green.ident
            thread._native_id = green.native_id
            thread._started.set()
            _threading._active[green.ident] = thread
            self._threads.add(thread)
            worker = _Worker(green, self._create_worker_context())
            self._workers.append(worker)
            return worker

        def _adjust_thread_count(self) -> None:
            pass

        def _retire_if_done(self) -> None:
            if not (self._shutdown and self._left == 0 and not self._busy):
                return
            for worker in self._workers:
                if not worker.green.ended:
                    worker.green.ended = True
                    worker.green.handle._set_done()
                    _threading._active.pop(worker.green.ident, None)
                    if worker.initialized:
                        worker.context.finalize()

        def _initializer_failed(self) -> None:
            self._broken = ("A thread initializer failed, the thread pool "
                            "is not usable anymore")
            for job in [job for job in _queue if getattr(job, "executor", None) is self]:
                _queue.remove(job)
                self._left -= 1
                job.item.future.set_exception(self.BROKEN(self._broken))

        def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
            with self._shutdown_lock:
                self._shutdown = True
                if cancel_futures:
                    for job in list(_queue):
                        if getattr(job, "executor", None) is self:
                            job.item.future.cancel()
            if wait:
                _wait_until(lambda: self._left == 0, None)
            self._retire_if_done()

        shutdown.__doc__ = _base.Executor.shutdown.__doc__

    return ThreadPoolExecutor


# -- install ----------------------------------------------------------------


def _excepthook_factory(original: Callable[[], Callable[[Any], None]]) -> Callable[[], Any]:
    def make_invoke_excepthook() -> Callable[[Any], None]:
        invoke = original()

        def invoke_excepthook(thread: Any) -> None:
            exception = sys.exception()
            # Unwinding, or a deadlock the main thread will report.
            if isinstance(exception, _Abandoned) or (
                    exception is not None and exception is _failure):
                return
            invoke(thread)

        return invoke_excepthook

    return make_invoke_excepthook


def _native_id_property(self: Any) -> int | None:
    return self._native_id


def _set_native_id(self: Any) -> None:
    self._native_id = get_native_id()


def _patch_selectors() -> None:
    import selectors

    classes = {id(value): value for value in vars(selectors).values() if isinstance(value, type)}
    for cls in classes.values():
        if "select" in vars(cls) and issubclass(
                cls, selectors.BaseSelector) and cls is not selectors.BaseSelector:
            original = vars(cls)["select"]

            def select(self: Any, timeout: float | None = None, _original: Any = original) -> Any:
                if _run_queued_now():
                    timeout = 0
                return _original(self, timeout)

            cls.select = select


def install() -> None:
    """Makes ``threading``, ``_thread``, ``queue``, ``time.sleep`` and
    ``concurrent.futures.ThreadPoolExecutor`` green, whether they were
    imported already or not. Idempotent."""
    global _threading, _real_sleep
    import _thread
    import threading

    if getattr(threading, "_hookbox_green", False):
        return
    import _threading_local
    import queue
    from concurrent.futures import thread as cf_thread
    import concurrent.futures

    _threading = threading
    _real_sleep = time.sleep
    from concurrent.futures import _base

    _internal.update((threading.__file__, queue.__file__, _base.__file__, cf_thread.__file__))
    main = threading.main_thread()
    import os

    root = _Green(_thread.get_ident(), os.getpid(), thread=main, daemon=False)
    _stack.append(root)
    main._hookbox_green = root
    main._os_thread_handle = root.handle = _Handle(root.ident)
    main._native_id = root.native_id

    for name, value in (
        ("allocate_lock", _Lock), ("allocate", _Lock), ("LockType", _Lock),
        ("lock", _Lock), ("RLock", _RLock), ("get_ident", get_ident),
        ("get_native_id", get_native_id),
        ("start_joinable_thread", _start_joinable_thread),
        ("start_new_thread", _start_new_thread), ("start_new", _start_new_thread),
        ("_ThreadHandle", _Handle), ("_make_thread_handle", _make_thread_handle),
        ("_local", _threading_local.local),
    ):
        setattr(_thread, name, value)
    threading._start_joinable_thread = _start_joinable_thread
    threading._allocate_lock = _SignalLock
    threading._LockType = _Lock
    threading.Lock = _Lock
    threading._CRLock = _RLock
    threading._ThreadHandle = _Handle
    threading._make_thread_handle = _make_thread_handle
    threading.get_ident = get_ident
    threading.local = _threading_local.local
    threading._thread_shutdown = _thread_shutdown
    threading._make_invoke_excepthook = _excepthook_factory(threading._make_invoke_excepthook)
    # CPython for WASI has no native thread ids; ``python3`` does.
    if not threading._HAVE_THREAD_NATIVE_ID:
        threading._HAVE_THREAD_NATIVE_ID = True
        threading.Thread._set_native_id = _set_native_id
        threading.Thread.native_id = property(_native_id_property)
        threading.__all__.append("get_native_id")
    threading.get_native_id = get_native_id
    _threading_local.RLock = _RLock
    _threading_local.current_thread = threading.current_thread
    time.sleep = _sleep
    queue.SimpleQueue = type("SimpleQueue", (queue._PySimpleQueue,),
                             {"__module__": "_queue", "__doc__": queue.SimpleQueue.__doc__})

    executor = _make_executor(cf_thread.ThreadPoolExecutor)
    cf_thread.ThreadPoolExecutor = executor
    concurrent.futures.ThreadPoolExecutor = executor
    _patch_selectors()
    threading._hookbox_green = True
