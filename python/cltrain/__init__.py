"""cltrain: linear classifiers and optimizers on OpenCL devices (libcltrain).

The low-level layer mirrors cltrain.h: devices(), Context, Tensor, the
ops (linear_forward, linear_backward, loss, regularize, argmax, accuracy,
linear_loss_grad, gradcheck), Optimizer, Schedule and the Trainer of
`cltrain train`. Failures raise CltrainError subclasses carrying the
status name and the library's detail. Contexts, tensors, optimizers and
trainers free their C objects on close() (or leaving a with block), and
on garbage collection; a closed object raises ClosedError when used.
scikit-learn estimators are in cltrain.sklearn.
"""
import ctypes
import threading
from dataclasses import dataclass

import numpy as np

from . import _lib
from ._lib import lib

__all__ = [
    "CltrainError", "ClosedError", "Device", "devices", "Context", "Tensor", "linear_forward",
    "linear_backward", "loss_desc", "loss", "regularize", "argmax", "accuracy",
    "linear_loss_grad", "gradcheck", "Optimizer", "Schedule", "schedule_lr", "Trainer",
    "version",
]


def version():
    """The linked library's version, "MAJOR.MINOR.PATCH"."""
    return lib.clt_version().decode()


# ------------------------------------------------------------------ errors

class CltrainError(Exception):
    """A status other than CLT_OK: .status (the number), .name
    ("CLT_ERR_SHAPE"), .detail (clt_last_error)."""

    def __init__(self, status, detail=""):
        self.status = status
        self.name = lib.clt_status_name(status).decode()
        self.detail = detail
        text = lib.clt_status_str(status).decode()
        super().__init__(f"{self.name}: {detail}" if detail else f"{self.name}: {text}")


class ClosedError(CltrainError, ValueError):
    """An object used after close()."""

    def __init__(self, what):
        Exception.__init__(self, f"{what} is closed")
        self.status, self.name, self.detail = 1, "CLT_ERR_INVALID_ARG", f"{what} is closed"


def _error_class(name, *bases):
    cls = type(name, (CltrainError,) + bases, {"__doc__": f"{name} (a CltrainError)."})
    globals()[name] = cls
    __all__.append(name)
    return cls


_BY_NAME = {
    "CLT_ERR_INVALID_ARG": _error_class("InvalidArgumentError", ValueError),
    "CLT_ERR_SHAPE": _error_class("ShapeError", ValueError),
    "CLT_ERR_LABEL": _error_class("LabelError", ValueError),
    "CLT_ERR_NONFINITE": _error_class("NonFiniteError", ArithmeticError),
    "CLT_ERR_NO_DEVICE": _error_class("NoDeviceError"),
    "CLT_ERR_OUT_OF_MEMORY": _error_class("OutOfMemoryError", MemoryError),
    "CLT_ERR_BUILD": _error_class("BuildError"),
    "CLT_ERR_OPENCL": _error_class("OpenCLError"),
    "CLT_ERR_IO": _error_class("CltrainIOError", OSError),
    "CLT_ERR_FORMAT": _error_class("FormatError", ValueError),
    "CLT_ERR_DTYPE": _error_class("DTypeError", TypeError),
    "CLT_ERR_CONTEXT": _error_class("ContextError", ValueError),
    "CLT_ERR_DISTRIBUTED": _error_class("DistributedError"),
}


def _check(status, ctx=None):
    if status != 0:
        detail = lib.clt_last_error(ctx).decode(errors="replace")
        name = lib.clt_status_name(status).decode()
        raise _BY_NAME.get(name, CltrainError)(status, detail)


# ----------------------------------------------------------------- devices

@dataclass(frozen=True)
class Device:
    """An OpenCL device as the library sees it."""
    index: int
    name: str
    platform: str
    version: str
    type: str
    compute_units: int
    global_mem_bytes: int
    max_alloc_bytes: int
    profile: str
    driver: str = ""
    tuned: str = ""  # the tuning cache's variant for it ("" if none)


def devices():
    """Every OpenCL device found (an empty list without any)."""
    count = ctypes.c_size_t()
    _check(lib.clt_devices_list(None, 0, ctypes.byref(count)))
    infos = (_lib.DeviceInfo * max(count.value, 1))()
    _check(lib.clt_devices_list(infos, count.value, ctypes.byref(count)))
    out = []
    for i in range(count.value):
        d = infos[i]
        profile = lib.clt_device_profile(ctypes.byref(d))
        tuned = ctypes.create_string_buffer(1024)
        if not lib.clt_device_tuned(ctypes.byref(d), tuned, len(tuned)):
            tuned.value = b""
        out.append(Device(i, d.name.decode(errors="replace"), d.platform.decode(errors="replace"),
                          d.version.decode(errors="replace"),
                          "gpu" if d.is_gpu else "cpu" if d.is_cpu else "other",
                          d.compute_units, d.global_mem_bytes, d.max_alloc_bytes,
                          profile.decode() if profile else "",
                          d.driver.decode(errors="replace"), tuned.value.decode()))
    return out


class _Handle:
    """A C object with a destructor, freed once."""
    _destroy = None
    _what = "object"

    def __init__(self, ptr, owner=None):
        self._ptr = ptr
        self._owner = owner  # keeps what this object needs alive

    @property
    def handle(self):
        if not self._ptr:
            raise ClosedError(self._what)
        return self._ptr

    def close(self):
        """Frees the C object now (again: nothing)."""
        if self._ptr:
            getattr(lib, self._destroy)(self._ptr)
            self._ptr = None
        self._owner = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __del__(self):
        try:
            self.close()
        except Exception:  # interpreter shutdown
            pass


class Context(_Handle):
    """A device to compute on: "auto" (a GPU, else a CPU OpenCL device,
    else the reference backend), "gpu", "cpu", "ref", or part of a device
    name. Its tensors keep it alive. One thread at a time (the lock
    attribute serialises users that share one). variant: None for the
    device's tuned variant (the device tuned at its first use unless
    CLT_TUNE=off), else another context's `variant`, to get its bits."""
    _destroy = "clt_context_destroy"
    _what = "context"

    def __init__(self, device="auto", record_timings=False, variant=None):
        opt = _lib.ContextOptions(device.encode() if device else None, int(record_timings),
                                  None if variant is None else variant.encode())
        ptr = ctypes.c_void_p()
        _check(lib.clt_context_create(ctypes.byref(opt), ctypes.byref(ptr)))
        super().__init__(ptr)
        self.lock = threading.RLock()

    @property
    def device_name(self):
        return lib.clt_context_device_name(self.handle).decode(errors="replace")

    @property
    def profile(self):
        return lib.clt_context_profile(self.handle).decode()

    @property
    def variant(self):
        """The whole of the context's profile ("reference" on the
        reference backend): Context(variant=...) reproduces its bits."""
        return lib.clt_context_variant(self.handle).decode()

    @property
    def is_reference(self):
        return bool(lib.clt_context_is_reference(self.handle))

    @property
    def max_alloc_bytes(self):
        return lib.clt_context_max_alloc_bytes(self.handle)

    def finish(self):
        _check(lib.clt_context_finish(self.handle), self.handle)

    def check(self, status):
        _check(status, self._ptr)

    def timings(self):
        """What a context made with record_timings spent its time on: a list
        of (name, kind, count, seconds, bytes, items), kind "kernel",
        "transfer" or "wait"; items: an OpenCL kernel's work-items, summed
        over its launches."""
        n = ctypes.c_size_t()
        self.check(lib.clt_context_timings(self.handle, None, 0, ctypes.byref(n)))
        out = (_lib.Timing * max(n.value, 1))()
        self.check(lib.clt_context_timings(self.handle, out, n.value, ctypes.byref(n)))
        kinds = ("kernel", "transfer", "wait")
        return [(t.name.decode(), kinds[t.kind], t.count, t.seconds, t.bytes, t.items)
                for t in out[:n.value]]

    def timings_reset(self):
        self.check(lib.clt_context_timings_reset(self.handle))

    def tensor(self, array, dtype=None):
        """A tensor holding array (see Tensor.from_numpy)."""
        return Tensor.from_numpy(self, array, dtype)

    def empty(self, rows, cols, dtype=np.float32):
        return Tensor.empty(self, rows, cols, dtype)

    def __repr__(self):
        return f"Context({self.device_name!r})" if self._ptr else "Context(closed)"


_DTYPES = {np.dtype(np.float32): 0, np.dtype(np.int32): 1}


def _host(array, dtype=None):
    """array as a C-contiguous 2-D float32 or int32 array: no copy when it
    is one already, else converted once (1-D becomes one column)."""
    a = np.asarray(array)
    if dtype is None:
        dtype = np.int32 if a.dtype.kind in "iub" else np.float32
    a = np.ascontiguousarray(a, dtype=dtype)
    if a.ndim == 1:
        a = a.reshape(-1, 1)
    if a.ndim != 2:
        raise ValueError(f"cltrain: tensors are 2-D (rows, cols); got shape {a.shape}")
    return a


class Tensor(_Handle):
    """A rows x cols float32 or int32 array on a context's device."""
    _destroy = "clt_tensor_destroy"
    _what = "tensor"

    def __init__(self, ptr, context):
        super().__init__(ptr, context)
        self.context = context

    @classmethod
    def empty(cls, context, rows, cols, dtype=np.float32):
        ptr = ctypes.c_void_p()
        context.check(lib.clt_tensor_create(context.handle, rows, cols, _DTYPES[np.dtype(dtype)],
                                            ctypes.byref(ptr)))
        return cls(ptr, context)

    @classmethod
    def from_numpy(cls, context, array, dtype=None):
        """A tensor of array's values: float32 (or int32) C-contiguous arrays
        are read in place, other dtypes converted once (integers to int32,
        the rest to float32; dtype forces one); a 1-D array is a column."""
        a = _host(array, dtype)
        t = cls.empty(context, a.shape[0], a.shape[1], a.dtype)
        t.write(a)
        return t

    @property
    def shape(self):
        return (lib.clt_tensor_rows(self.handle), lib.clt_tensor_cols(self.handle))

    @property
    def dtype(self):
        return np.dtype(np.int32) if lib.clt_tensor_dtype(self.handle) else np.dtype(np.float32)

    def write(self, array):
        a = _host(array, self.dtype)
        if a.shape != self.shape:
            raise ValueError(f"cltrain: writing {a.shape} into a tensor of {self.shape}")
        self.context.check(lib.clt_tensor_write(self.handle, a.ctypes.data, a.nbytes))

    def numpy(self):
        """The values, copied into a new array."""
        out = np.empty(self.shape, self.dtype)
        self.context.check(lib.clt_tensor_read(self.handle, out.ctypes.data, out.nbytes))
        return out

    def fill(self, value):
        self.context.check(lib.clt_tensor_fill(self.handle, value))

    def copy_from(self, src):
        """self = src (same shape and dtype)."""
        self.context.check(lib.clt_tensor_copy(self.handle, src.handle))

    def gather_rows(self, src, idx, first=0):
        """Row r of self = row idx[first + r] of src (idx an int32 column)."""
        self.context.check(lib.clt_tensor_gather_rows(self.handle, src.handle, idx.handle, first))

    def view_rows(self, first, count):
        ptr = ctypes.c_void_p()
        self.context.check(lib.clt_tensor_view_rows(self.handle, first, count, ctypes.byref(ptr)))
        return Tensor(ptr, self.context)

    def __repr__(self):
        return f"Tensor({self.shape}, {self.dtype})" if self._ptr else "Tensor(closed)"


def _t(tensor):
    return None if tensor is None else tensor.handle


# -------------------------------------------------------------------- ops

def linear_forward(ctx, X, W, b, S):
    """S = X W + b (b may be None)."""
    ctx.check(lib.clt_linear_forward(ctx.handle, _t(X), _t(W), _t(b), _t(S)))


def linear_backward(ctx, X, W, dS, dW, db=None, dX=None):
    """dW = X^T dS, db = column sums of dS, dX = dS W^T (each may be None)."""
    ctx.check(lib.clt_linear_backward(ctx.handle, _t(X), _t(W), _t(dS), _t(dW), _t(db), _t(dX)))


_REDUCTIONS = {"mean": 0, "sum": 1, "batchmean": 2}


def _kind(fn, name):
    k = ctypes.c_int()
    if fn(name.encode(), ctypes.byref(k)) != 0:
        raise ValueError(f"cltrain: unknown kind {name!r}")
    return k.value


def loss_desc(kind="cross-entropy", reduction="mean", margin=None, p=None,
              label_smoothing=None, ignore_index=None, huber_delta=None, log_target=None,
              class_weight=None, pos_weight=None):
    """A loss's description (PyTorch's defaults for what is left out);
    class_weight and pos_weight are (1, C) float32 tensors."""
    d = lib.clt_loss_defaults(_kind(lib.clt_loss_kind_from_name, kind))
    d.reduction = _REDUCTIONS[reduction]
    for field, value in (("margin", margin), ("p", p), ("label_smoothing", label_smoothing),
                         ("ignore_index", ignore_index), ("huber_delta", huber_delta),
                         ("log_target", log_target)):
        if value is not None:
            setattr(d, field, value)
    d.class_weight = _t(class_weight)
    d.pos_weight = _t(pos_weight)
    d._keep = (class_weight, pos_weight)
    return d


def loss(ctx, desc, S, target, dS=None):
    """The loss of scores S against target (labels or values); its gradient
    into dS when given."""
    out = ctypes.c_double()
    ctx.check(lib.clt_loss(ctx.handle, ctypes.byref(desc), _t(S), _t(target),
                           ctypes.byref(out), _t(dS)))
    return out.value


def regularize(ctx, W, l1=0.0, l2=0.0, dW=None):
    """The penalty l1 sum|W| + 0.5 l2 sum W^2; its gradient added to dW."""
    reg = _lib.RegDesc(l1, l2)
    out = ctypes.c_double()
    ctx.check(lib.clt_regularize(ctx.handle, ctypes.byref(reg), _t(W), ctypes.byref(out), _t(dW)))
    return out.value


def argmax(ctx, S, pred):
    ctx.check(lib.clt_argmax(ctx.handle, _t(S), _t(pred)))


def accuracy(ctx, S, labels):
    """Rows of S whose argmax is their label."""
    n = ctypes.c_size_t()
    ctx.check(lib.clt_accuracy(ctx.handle, _t(S), _t(labels), ctypes.byref(n)))
    return n.value


def linear_loss_grad(ctx, desc, X, y, W, b, dW, db=None, l1=0.0, l2=0.0):
    """loss(X W + b, y) + penalty and its gradient into dW (and db)."""
    reg = _lib.RegDesc(l1, l2)
    out = ctypes.c_double()
    ctx.check(lib.clt_linear_loss_grad(ctx.handle, ctypes.byref(desc), ctypes.byref(reg), _t(X),
                                       _t(y), _t(W), _t(b), ctypes.byref(out), _t(dW), _t(db)))
    return out.value


def gradcheck(ctx, desc, X, target, W, b=None, l1=0.0, l2=0.0, samples=0, seed=0, h=1e-5):
    """The analytic gradient against central differences: (max relative
    error of W, of b)."""
    reg = _lib.RegDesc(l1, l2)
    r = _lib.GradcheckResult()
    ctx.check(lib.clt_gradcheck(ctx.handle, ctypes.byref(desc), ctypes.byref(reg), _t(X),
                                _t(target), _t(W), _t(b), samples, seed, h, ctypes.byref(r)))
    return r.max_rel_error_W, r.max_rel_error_b


# ------------------------------------------------------------ optimizers

def optim_desc(kind="adam", **options):
    """An optimizer's description: PyTorch's defaults for kind, then the
    fields given (lr, weight_decay, momentum, betas=(b1, b2), eps, ...)."""
    d = lib.clt_optim_defaults(_kind(lib.clt_optim_kind_from_name, kind))
    betas = options.pop("betas", None)
    if betas is not None:
        d.beta1, d.beta2 = betas
    names = {f for f, _ in _lib.OptimDesc._fields_} - {"kind"}
    for key, value in options.items():
        if key not in names:
            raise TypeError(f"cltrain: optimizer option {key!r} is not one of {sorted(names)}")
        setattr(d, key, value)
    return d


class Optimizer(_Handle):
    """An optimizer of cltrain.h: step(param, grad) updates a tensor in
    place; state per tensor lives on the device."""
    _destroy = "clt_optimizer_destroy"
    _what = "optimizer"

    def __init__(self, ctx, kind="adam", **options):
        desc = optim_desc(kind, **options)
        ptr = ctypes.c_void_p()
        ctx.check(lib.clt_optimizer_create(ctx.handle, ctypes.byref(desc), ctypes.byref(ptr)))
        super().__init__(ptr, ctx)
        self.context = ctx
        self._params = []

    def add_param(self, param, no_weight_decay=False, no_trust_ratio=False):
        o = _lib.ParamOptions(int(no_weight_decay), int(no_trust_ratio))
        self.context.check(lib.clt_optimizer_add_param(self.handle, param.handle, ctypes.byref(o)))
        self._params.append(param)

    def step(self, param, grad):
        self.context.check(lib.clt_optimizer_step(self.handle, param.handle, grad.handle))
        self._params.append(param)

    def add_group(self, shapes, no_weight_decay=False, no_trust_ratio=False):
        """Tensors of the given (rows, cols) shapes (zeros) and their
        gradients, in one flat buffer each, updated together by step_all:
        (params, grads), lists of Tensors."""
        n = len(shapes)
        rows = (ctypes.c_size_t * n)(*[r for r, _ in shapes])
        cols = (ctypes.c_size_t * n)(*[c for _, c in shapes])
        o = _lib.ParamOptions(int(no_weight_decay), int(no_trust_ratio))
        params, grads = (ctypes.c_void_p * n)(), (ctypes.c_void_p * n)()
        self.context.check(lib.clt_optimizer_add_group(self.handle, n, rows, cols,
                                                       ctypes.byref(o), params, grads))
        ps = [Tensor(ctypes.c_void_p(p), self.context) for p in params]
        gs = [Tensor(ctypes.c_void_p(g), self.context) for g in grads]
        return ps, gs

    def step_all(self):
        """One update of every group."""
        self.context.check(lib.clt_optimizer_step_all(self.handle))

    def apply_schedule(self, schedule, step):
        """The learning rate of schedule at 0-based step."""
        self.context.check(lib.clt_optimizer_apply_schedule(self.handle,
                                                            ctypes.byref(schedule.c()), step))

    def set_lr(self, lr):
        self.context.check(lib.clt_optimizer_set_lr(self.handle, lr))

    @property
    def desc(self):
        return lib.clt_optimizer_desc(self.handle).contents

    def stats(self, param=None):
        s = _lib.OptimStats()
        self.context.check(lib.clt_optimizer_stats(self.handle, _t(param), ctypes.byref(s)))
        return {"steps": s.steps, "skipped": s.skipped, "mu_product": s.mu_product,
                "last_grad_norm": s.last_grad_norm}

    def state(self, param, name):
        """The optimizer's state buffer name (exp_avg, ...) for param."""
        out = np.empty(param.shape, np.float32)
        self.context.check(lib.clt_optimizer_read_state(
            self.handle, param.handle, name.encode(), out.ctypes.data_as(_lib.c_float_p),
            out.nbytes))
        return out

    def save(self, path):
        self.context.check(lib.clt_optimizer_save(self.handle, str(path).encode()))

    def load(self, path):
        self.context.check(lib.clt_optimizer_load(self.handle, str(path).encode()))


_SCHEDULES = {"constant": 0, "step": 1, "exponential": 2, "cosine": 3}


@dataclass
class Schedule:
    """A learning-rate schedule (cltrain.h's clt_schedule)."""
    kind: str = "constant"
    base_lr: float = 1e-3
    warmup_steps: int = 0
    step_size: int = 1
    gamma: float = 0.1
    total_steps: int = 1
    min_lr: float = 0.0

    def c(self):
        return _lib.Schedule(_SCHEDULES[self.kind], self.base_lr, self.warmup_steps,
                             self.step_size, self.gamma, self.total_steps, self.min_lr)


def schedule_lr(schedule, step):
    """The learning rate of 0-based step."""
    return lib.clt_schedule_lr(ctypes.byref(schedule.c()), step)


# ---------------------------------------------------------------- trainer

def _csr(x):
    """A scipy sparse matrix as CSR arrays the library takes: int64 row
    offsets, int32 columns sorted within each row, float32 values; None when
    x is not sparse (scipy is needed only for sparse input)."""
    if not (hasattr(x, "tocsr") and hasattr(x, "nnz")):
        return None
    x = x.tocsr()
    if not x.has_sorted_indices:
        x = x.sorted_indices()
    x.sum_duplicates()
    return (x.shape, np.ascontiguousarray(x.indptr, dtype=np.int64),
            np.ascontiguousarray(x.indices, dtype=np.int32),
            np.ascontiguousarray(x.data, dtype=np.float32))


def _data(x, y, classes, t=None):
    """The C view of x (a numpy array, or a scipy sparse matrix: sparse
    rows) with labels y and/or target values t (n, classes), and the arrays
    it points into (keep them alive while it is used)."""
    sparse = _csr(x)
    if sparse is None:
        x = _host(x, np.float32)
    shape = sparse[0] if sparse is not None else x.shape
    if y is not None:
        y = np.ascontiguousarray(np.asarray(y).reshape(-1), dtype=np.int32)
        if y.shape[0] != shape[0]:
            raise ValueError(f"cltrain: {shape[0]} rows of features and {y.shape[0]} labels")
    if t is not None:
        t = np.ascontiguousarray(np.asarray(t, dtype=np.float32).reshape(shape[0], -1))
        if t.shape[1] != classes:
            raise ValueError(f"cltrain: targets of {t.shape[1]} columns for {classes} outputs")
    d = _lib.TrainData(shape[0], shape[1], classes,
                       x.ctypes.data_as(_lib.c_float_p) if sparse is None else None,
                       y.ctypes.data_as(_lib.c_int32_p) if y is not None else None,
                       t.ctypes.data_as(_lib.c_float_p) if t is not None else None)
    if sparse is not None:
        _, indptr, indices, values = sparse
        d.indptr = indptr.ctypes.data_as(ctypes.POINTER(ctypes.c_int64))
        d.indices = indices.ctypes.data_as(_lib.c_int32_p)
        d.values = values.ctypes.data_as(_lib.c_float_p)
        return d, (sparse, y, t)
    return d, (x, y, t)


class Trainer(_Handle):
    """The trainer of `cltrain train` (cltrain.h): x (n, d), a numpy array or
    a scipy sparse matrix (sparse rows), and labels y in [0, classes) (or,
    for a loss that takes values, targets t (n, classes) with y None)
    uploaded once, or with stream=True kept in host memory (the trainer
    keeps x alive) and uploaded a minibatch at a time; epoch() runs one
    epoch on the device."""
    _destroy = "clt_trainer_destroy"
    _what = "trainer"

    def __init__(self, ctx, x, y, classes, *, loss=None, optim=None, schedule=None, l1=0.0,
                 l2=0.0, batch=256, epochs=1, seed=0, bias=True, init_std=1e-3,
                 class_weight=None, x_test=None, y_test=None, t=None, t_test=None,
                 stream=False):
        data, keep = _data(x, y, classes, t)
        o = _lib.TrainOptions()
        o.loss = loss if loss is not None else loss_desc()
        o.reg = _lib.RegDesc(l1, l2)
        o.optim = optim if optim is not None else optim_desc("adamw")
        o.schedule = (schedule or Schedule(base_lr=o.optim.lr)).c()
        o.batch, o.epochs, o.seed, o.bias, o.init_std = batch, epochs, seed, bias, init_std
        o.stream = 1 if stream else 0
        cw = None
        if class_weight is not None:
            cw = np.ascontiguousarray(class_weight, dtype=np.float32)
            if cw.shape != (classes,):
                raise ValueError(f"cltrain: {cw.shape} class weights for {classes} classes")
            o.class_weight = cw.ctypes.data_as(_lib.c_float_p)
        test = None
        if x_test is not None:
            test, keep_test = _data(x_test, y_test, classes, t_test)
        ptr = ctypes.c_void_p()
        ctx.check(lib.clt_trainer_create(ctx.handle, ctypes.byref(o), ctypes.byref(data),
                                         ctypes.byref(test) if test is not None else None,
                                         ctypes.byref(ptr)))
        del cw
        super().__init__(ptr, ctx)
        self._streamed = keep if stream else None  # read by every epoch
        del keep
        self.context = ctx
        self.d, self.classes, self.bias = data.d, classes, bias

    def set_validation(self, x, y, t=None):
        data, keep = _data(x, y, self.classes, t)
        self.context.check(lib.clt_trainer_set_validation(self.handle, ctypes.byref(data)))
        del keep

    def epoch(self):
        """One epoch; its figures as a dict (epoch, step, train_loss,
        test_loss, test_accuracy, val_loss, val_accuracy, seconds, ...)."""
        s = _lib.EpochStats()
        self.context.check(lib.clt_trainer_epoch(self.handle, None, None, ctypes.byref(s)))
        return {name: getattr(s, name) for name, _ in _lib.EpochStats._fields_}

    @property
    def epochs_done(self):
        return lib.clt_trainer_epochs_done(self.handle)

    def set_params(self, W, b=None):
        """Sets W (d, classes) and b (classes,; None: zeros)."""
        W = np.ascontiguousarray(W, dtype=np.float32)
        if W.shape != (self.d, self.classes):
            raise ValueError(f"cltrain: W of {W.shape} for a model of {(self.d, self.classes)}")
        bb = None if b is None else np.ascontiguousarray(b, dtype=np.float32).reshape(-1)
        if bb is not None and bb.shape != (self.classes,):
            raise ValueError(f"cltrain: b of {bb.shape} for {self.classes} classes")
        self.context.check(lib.clt_trainer_set_params(
            self.handle, W.ctypes.data_as(_lib.c_float_p),
            bb.ctypes.data_as(_lib.c_float_p) if bb is not None else None))

    def params(self):
        """(W (d, classes), b (classes,) or None), copied."""
        W = np.empty((self.d, self.classes), np.float32)
        b = np.empty(self.classes, np.float32) if self.bias else None
        self.context.check(lib.clt_trainer_params(
            self.handle, W.ctypes.data_as(_lib.c_float_p),
            b.ctypes.data_as(_lib.c_float_p) if b is not None else None))
        return W, b
