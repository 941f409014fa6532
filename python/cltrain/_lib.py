"""libcltrain through ctypes: finding the library, the C structs of
cltrain.h and the prototypes of its functions. Internal: the public
objects are in cltrain/__init__.py."""
import ctypes
import ctypes.util
import os

c_size_t = ctypes.c_size_t
c_u64 = ctypes.c_uint64
c_float_p = ctypes.POINTER(ctypes.c_float)
c_int32_p = ctypes.POINTER(ctypes.c_int32)
c_void_p = ctypes.c_void_p  # clt_context *, clt_tensor *, clt_optimizer *, clt_trainer *


def _candidates():
    env = os.environ.get("CLTRAIN_LIBRARY")
    if env:
        return [env], "CLTRAIN_LIBRARY=" + env
    here = os.path.dirname(os.path.abspath(__file__))
    beside = sorted(f for f in os.listdir(here) if f.startswith("libcltrain.so"))
    found = ctypes.util.find_library("cltrain")
    names = [os.path.join(here, f) for f in beside] + ([found] if found else []) + ["libcltrain.so.0.2"]
    return names, "a libcltrain.so* beside the package, the loader's path (libcltrain.so.0.2)"


def _load():
    names, tried = _candidates()
    errors = []
    for name in names:
        try:
            return ctypes.CDLL(name)
        except OSError as e:
            errors.append(f"{name}: {e}")
    raise ImportError(
        "cltrain: cannot load libcltrain (tried " + tried + "): " + "; ".join(errors) +
        ". Build and install cltrain (cmake --install), or set CLTRAIN_LIBRARY to the "
        "path of libcltrain.so")


lib = _load()


class ContextOptions(ctypes.Structure):
    _fields_ = [("device", ctypes.c_char_p), ("record_timings", ctypes.c_int),
                ("variant", ctypes.c_char_p)]


class DeviceInfo(ctypes.Structure):
    _fields_ = [("platform", ctypes.c_char * 128), ("name", ctypes.c_char * 256),
                ("version", ctypes.c_char * 128), ("is_gpu", ctypes.c_int),
                ("is_cpu", ctypes.c_int), ("compute_units", ctypes.c_uint),
                ("global_mem_bytes", c_u64), ("max_work_group_size", c_size_t),
                ("max_alloc_bytes", c_u64), ("driver", ctypes.c_char * 128)]


class LossDesc(ctypes.Structure):
    _fields_ = [("kind", ctypes.c_int), ("reduction", ctypes.c_int), ("margin", ctypes.c_float),
                ("p", ctypes.c_int), ("label_smoothing", ctypes.c_float),
                ("ignore_index", ctypes.c_int), ("huber_delta", ctypes.c_float),
                ("log_target", ctypes.c_int), ("class_weight", c_void_p),
                ("pos_weight", c_void_p)]


class RegDesc(ctypes.Structure):
    _fields_ = [("l1", ctypes.c_float), ("l2", ctypes.c_float)]


class OptimDesc(ctypes.Structure):
    _fields_ = [("kind", ctypes.c_int), ("lr", ctypes.c_float), ("weight_decay", ctypes.c_float),
                ("momentum", ctypes.c_float), ("dampening", ctypes.c_float),
                ("nesterov", ctypes.c_int), ("maximize", ctypes.c_int),
                ("beta1", ctypes.c_float), ("beta2", ctypes.c_float), ("eps", ctypes.c_float),
                ("amsgrad", ctypes.c_int), ("alpha", ctypes.c_float), ("centered", ctypes.c_int),
                ("rho", ctypes.c_float), ("lr_decay", ctypes.c_float),
                ("initial_accumulator_value", ctypes.c_float),
                ("momentum_decay", ctypes.c_float), ("decoupled_weight_decay", ctypes.c_int),
                ("trust_coefficient", ctypes.c_float), ("max_grad_norm", ctypes.c_float),
                ("skip_nonfinite", ctypes.c_int)]


class Schedule(ctypes.Structure):
    _fields_ = [("kind", ctypes.c_int), ("base_lr", ctypes.c_double), ("warmup_steps", c_u64),
                ("step_size", c_u64), ("gamma", ctypes.c_double), ("total_steps", c_u64),
                ("min_lr", ctypes.c_double)]


class TrainData(ctypes.Structure):
    _fields_ = [("n", c_size_t), ("d", c_size_t), ("classes", c_size_t), ("x", c_float_p),
                ("y", c_int32_p), ("t", c_float_p),
                ("indptr", ctypes.POINTER(ctypes.c_int64)), ("indices", c_int32_p),
                ("values", c_float_p)]


class TrainOptions(ctypes.Structure):
    _fields_ = [("loss", LossDesc), ("reg", RegDesc), ("optim", OptimDesc),
                ("schedule", Schedule), ("batch", c_size_t), ("epochs", c_size_t),
                ("seed", c_u64), ("bias", ctypes.c_int), ("init_std", ctypes.c_double),
                ("class_weight", c_float_p), ("stream", ctypes.c_int), ("shards", c_size_t)]


class EpochStats(ctypes.Structure):
    _fields_ = [("epoch", c_size_t), ("step", c_u64), ("train_loss", ctypes.c_double),
                ("test_loss", ctypes.c_double), ("test_accuracy", ctypes.c_double),
                ("val_loss", ctypes.c_double), ("val_accuracy", ctypes.c_double),
                ("seconds", ctypes.c_double), ("first_loss", ctypes.c_double),
                ("samples_per_second", ctypes.c_double)]


class OptimStats(ctypes.Structure):
    _fields_ = [("steps", c_u64), ("skipped", c_u64), ("mu_product", ctypes.c_double),
                ("last_grad_norm", ctypes.c_double)]


class ParamOptions(ctypes.Structure):
    _fields_ = [("no_weight_decay", ctypes.c_int), ("no_trust_ratio", ctypes.c_int)]


class Timing(ctypes.Structure):
    _fields_ = [("name", ctypes.c_char_p), ("kind", ctypes.c_int), ("count", c_u64),
                ("seconds", ctypes.c_double), ("bytes", c_u64), ("items", c_u64)]


class GradcheckResult(ctypes.Structure):
    _fields_ = [("max_rel_error_W", ctypes.c_double), ("max_rel_error_b", ctypes.c_double),
                ("checked_W", c_size_t), ("checked_b", c_size_t)]


_P = ctypes.POINTER
_status = ctypes.c_int


def _proto(name, restype, *argtypes):
    f = getattr(lib, name)
    f.restype = restype
    f.argtypes = list(argtypes)


for _name, _res, _args in [
    ("clt_version", ctypes.c_char_p, []),
    ("clt_status_str", ctypes.c_char_p, [_status]),
    ("clt_status_name", ctypes.c_char_p, [_status]),
    ("clt_context_create", _status, [_P(ContextOptions), _P(c_void_p)]),
    ("clt_context_destroy", None, [c_void_p]),
    ("clt_context_device_name", ctypes.c_char_p, [c_void_p]),
    ("clt_context_profile", ctypes.c_char_p, [c_void_p]),
    ("clt_context_variant", ctypes.c_char_p, [c_void_p]),
    ("clt_context_is_reference", ctypes.c_int, [c_void_p]),
    ("clt_context_max_alloc_bytes", c_u64, [c_void_p]),
    ("clt_context_global_mem_bytes", c_u64, [c_void_p]),
    ("clt_context_finish", _status, [c_void_p]),
    ("clt_last_error", ctypes.c_char_p, [c_void_p]),
    ("clt_context_timings", _status, [c_void_p, _P(Timing), c_size_t, _P(c_size_t)]),
    ("clt_context_timings_reset", _status, [c_void_p]),
    ("clt_devices_list", _status, [_P(DeviceInfo), c_size_t, _P(c_size_t)]),
    ("clt_device_select", _status, [ctypes.c_char_p, _P(c_size_t)]),
    ("clt_device_profile", ctypes.c_char_p, [_P(DeviceInfo)]),
    ("clt_device_tuned", ctypes.c_int, [_P(DeviceInfo), ctypes.c_char_p, c_size_t]),
    ("clt_tensor_create", _status, [c_void_p, c_size_t, c_size_t, ctypes.c_int, _P(c_void_p)]),
    ("clt_tensor_write", _status, [c_void_p, c_void_p, c_size_t]),
    ("clt_tensor_read", _status, [c_void_p, c_void_p, c_size_t]),
    ("clt_tensor_view_rows", _status, [c_void_p, c_size_t, c_size_t, _P(c_void_p)]),
    ("clt_tensor_gather_rows", _status, [c_void_p, c_void_p, c_void_p, c_size_t]),
    ("clt_tensor_fill", _status, [c_void_p, ctypes.c_double]),
    ("clt_tensor_copy", _status, [c_void_p, c_void_p]),
    ("clt_tensor_destroy", None, [c_void_p]),
    ("clt_tensor_rows", c_size_t, [c_void_p]),
    ("clt_tensor_cols", c_size_t, [c_void_p]),
    ("clt_tensor_dtype", ctypes.c_int, [c_void_p]),
    ("clt_linear_forward", _status, [c_void_p, c_void_p, c_void_p, c_void_p, c_void_p]),
    ("clt_linear_backward", _status,
     [c_void_p, c_void_p, c_void_p, c_void_p, c_void_p, c_void_p, c_void_p]),
    ("clt_loss_defaults", LossDesc, [ctypes.c_int]),
    ("clt_loss_kind_name", ctypes.c_char_p, [ctypes.c_int]),
    ("clt_loss_kind_from_name", _status, [ctypes.c_char_p, _P(ctypes.c_int)]),
    ("clt_loss", _status,
     [c_void_p, _P(LossDesc), c_void_p, c_void_p, _P(ctypes.c_double), c_void_p]),
    ("clt_regularize", _status,
     [c_void_p, _P(RegDesc), c_void_p, _P(ctypes.c_double), c_void_p]),
    ("clt_argmax", _status, [c_void_p, c_void_p, c_void_p]),
    ("clt_accuracy", _status, [c_void_p, c_void_p, c_void_p, _P(c_size_t)]),
    ("clt_linear_loss_grad", _status,
     [c_void_p, _P(LossDesc), _P(RegDesc), c_void_p, c_void_p, c_void_p, c_void_p,
      _P(ctypes.c_double), c_void_p, c_void_p]),
    ("clt_gradcheck", _status,
     [c_void_p, _P(LossDesc), _P(RegDesc), c_void_p, c_void_p, c_void_p, c_void_p, c_size_t,
      c_u64, ctypes.c_double, _P(GradcheckResult)]),
    ("clt_optim_defaults", OptimDesc, [ctypes.c_int]),
    ("clt_optim_kind_name", ctypes.c_char_p, [ctypes.c_int]),
    ("clt_optim_kind_from_name", _status, [ctypes.c_char_p, _P(ctypes.c_int)]),
    ("clt_optimizer_create", _status, [c_void_p, _P(OptimDesc), _P(c_void_p)]),
    ("clt_optimizer_destroy", None, [c_void_p]),
    ("clt_optimizer_step", _status, [c_void_p, c_void_p, c_void_p]),
    ("clt_optimizer_add_param", _status, [c_void_p, c_void_p, _P(ParamOptions)]),
    ("clt_optimizer_add_group", _status,
     [c_void_p, c_size_t, _P(c_size_t), _P(c_size_t), _P(ParamOptions), _P(c_void_p),
      _P(c_void_p)]),
    ("clt_optimizer_step_all", _status, [c_void_p]),
    ("clt_optimizer_set_lr", _status, [c_void_p, ctypes.c_double]),
    ("clt_optimizer_desc", _P(OptimDesc), [c_void_p]),
    ("clt_optimizer_stats", _status, [c_void_p, c_void_p, _P(OptimStats)]),
    ("clt_optimizer_read_state", _status,
     [c_void_p, c_void_p, ctypes.c_char_p, c_float_p, c_size_t]),
    ("clt_optimizer_save", _status, [c_void_p, ctypes.c_char_p]),
    ("clt_optimizer_load", _status, [c_void_p, ctypes.c_char_p]),
    ("clt_schedule_lr", ctypes.c_double, [_P(Schedule), c_u64]),
    ("clt_optimizer_apply_schedule", _status, [c_void_p, _P(Schedule), c_u64]),
    ("clt_trainer_create", _status,
     [c_void_p, _P(TrainOptions), _P(TrainData), _P(TrainData), _P(c_void_p)]),
    ("clt_trainer_destroy", None, [c_void_p]),
    ("clt_trainer_set_validation", _status, [c_void_p, _P(TrainData)]),
    ("clt_trainer_epoch", _status, [c_void_p, c_void_p, c_void_p, _P(EpochStats)]),
    ("clt_trainer_epochs_done", c_size_t, [c_void_p]),
    ("clt_trainer_params", _status, [c_void_p, c_float_p, c_float_p]),
    ("clt_trainer_set_params", _status, [c_void_p, c_float_p, c_float_p]),
]:
    _proto(_name, _res, *_args)
