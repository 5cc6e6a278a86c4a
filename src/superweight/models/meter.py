"""What a job actually forwarded: tokens and seconds of the model's forward passes, by purpose (windows, zero-shot
requests, detection, confirmation, calibration), beside its start-up and loading seconds, so that the run-time
estimate (superweight.workflow.resources) can be checked against the measurement (benchmarks/runtime_estimate.py).

``load_model`` attaches the meter to every model it loads (forward pre-hooks and hooks on the model's decoder, which
every forward runs, and on each decoder layer): a whole forward counts its ``input_ids`` / ``inputs_embeds``
positions; decoder layers run outside a whole forward (confirmation's ablations from a recorded prefix) or run again
inside one (the restore's first pass) count their positions x the share of the layers they ran. The code that runs a
kind of pass names it with ``purpose``.
"""
from __future__ import annotations

import contextlib
import functools
import time
from collections import defaultdict

_STARTED = time.time()  # this module is imported with the package, at the job's start


class Meter:
    """Tokens and forward seconds per purpose, and the seconds spent loading models, for one process."""

    def __init__(self):
        self.tokens: dict[str, int] = defaultdict(int)
        self.seconds: dict[str, float] = defaultdict(float)
        self.calls: dict[str, int] = defaultdict(int)
        self.layer_positions: dict[str, int] = defaultdict(int)  # decoder-layer positions not yet a whole token
        self.load_s = 0.0
        self.first_load_at: float | None = None
        self.current = "other"
        self._t0: dict[int, float] = {}

    def record(self) -> dict:
        """The job's figures: start-up (process start to the first model load), loading, and per purpose."""
        start = _process_start()
        return {"startup_s": None if self.first_load_at is None else round(self.first_load_at - start, 3),
                "load_s": round(self.load_s, 3),
                "forward_s": round(sum(self.seconds.values()), 3), "tokens": sum(self.tokens.values()),
                "by_purpose": {p: {"tokens": self.tokens[p], "forward_s": round(self.seconds[p], 3),
                                   "calls": self.calls[p]} for p in sorted(self.tokens)}}


METER = Meter()


def _process_start() -> float:
    """The process's start (wall clock), from psutil when it is there, else this package's import."""
    try:
        import psutil

        return psutil.Process().create_time()
    except Exception:  # noqa: BLE001 (psutil missing or /proc unreadable: the import time is close)
        return _STARTED


@contextlib.contextmanager
def purpose(name: str):
    """Forward passes inside are counted as ``name``; the outermost purpose wins (confirmation's perplexity passes
    are confirmation, not windows)."""
    prev = METER.current
    METER.current = name if prev == "other" else prev
    try:
        yield
    finally:
        METER.current = prev


def counted_as(name: str):
    """A decorator: the function's forward passes are counted as ``name`` (``purpose``)."""

    def wrap(fn):
        @functools.wraps(fn)
        def inner(*args, **kwargs):
            with purpose(name):
                return fn(*args, **kwargs)

        return inner

    return wrap


@contextlib.contextmanager
def loading():
    """Seconds spent loading a model (from_pretrained and moving it to its device)."""
    t = time.time()
    if METER.first_load_at is None:
        METER.first_load_at = t
    try:
        yield
    finally:
        METER.load_s += time.time() - t


def _positions(args, kwargs, key: str) -> int:
    x = kwargs.get(key, args[0] if args else None)
    if x is None:
        return 0
    return int(x.numel()) if key == "input_ids" else int(x.shape[0] * x.shape[1])


def attach(model, layers=None):
    """Count ``model``'s forward passes in METER: each whole forward's positions and seconds, and the decoder-layer
    calls made outside a whole forward (passes that start at layer k) or again inside one (a pass that stops early,
    run before it), as positions x layers run / all layers. Returns the hook handles."""
    from superweight.models.adapters import decoder as adapter_decoder, get_adapter

    adapter = get_adapter(model)
    if layers is None:
        layers = adapter.layers(model)
    depth = {"whole": 0}
    ran = set()  # the decoder layers the running whole forward has run
    n_layers = max(1, len(layers))
    device = next(model.parameters()).device  # read once: the hooks run on every decoder-layer call
    if device.type == "cuda":
        import torch

        def sync():
            torch.cuda.synchronize(device)
    else:
        def sync():
            pass

    def start(mod):
        sync()
        METER._t0[id(mod)] = time.perf_counter()

    def stop(mod):
        sync()
        t0 = METER._t0.pop(id(mod), None)
        if t0 is not None:
            METER.seconds[METER.current] += time.perf_counter() - t0

    def layer_share(positions_x_layers: int):
        """Positions x decoder layers run, counted in whole tokens (positions x all layers)."""
        METER.layer_positions[METER.current] += positions_x_layers
        whole, METER.layer_positions[METER.current] = divmod(METER.layer_positions[METER.current], n_layers)
        METER.tokens[METER.current] += whole

    def pre(mod, args, kwargs):
        depth["whole"] += 1
        if depth["whole"] > 1:  # counted by the outer forward
            return
        ran.clear()
        n = _positions(args, kwargs, "input_ids") or _positions((), kwargs, "inputs_embeds")
        METER.tokens[METER.current] += n
        METER.calls[METER.current] += 1
        start(mod)

    def post(mod, args, kwargs, out):  # always_call: runs when the forward raises too, so depth stays right
        depth["whole"] -= 1
        if not depth["whole"]:
            stop(mod)

    def layer_pre(mod, args, kwargs):
        if not depth["whole"]:
            start(mod)

    def layer_post(mod, args, kwargs, out):
        if not depth["whole"]:
            stop(mod)
            layer_share(_positions(args, kwargs, "hidden_states"))
        elif id(mod) in ran:  # run again within one forward (the restore's first pass on layers 0..k): its time is
            layer_share(_positions(args, kwargs, "hidden_states"))  # inside the forward's
        else:
            ran.add(id(mod))

    whole = adapter_decoder(model)  # every forward of the model, and one without its LM head (logprobs), runs it
    handles = [whole.register_forward_pre_hook(pre, with_kwargs=True),
               whole.register_forward_hook(post, with_kwargs=True, always_call=True)]
    for layer in layers:
        handles += [layer.register_forward_pre_hook(layer_pre, with_kwargs=True),
                    layer.register_forward_hook(layer_post, with_kwargs=True, always_call=True)]
    return handles
