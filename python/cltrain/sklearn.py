"""scikit-learn estimators trained by libcltrain's trainer on the device.

LinearClassifier and LinearRegressor follow scikit-learn's conventions:
fit / partial_fit / predict / score (and predict_proba, decision_function
for the classifier), classes_ of any labels, coef_ and intercept_ shaped
as LogisticRegression's and LinearRegression's, n_iter_, pickling of the
trained weights (never of device state). X may be a scipy sparse matrix
(converted to CSR): its rows stay sparse on the device, and standardize
scales its features without centering them (StandardScaler(with_mean=
False)), so that their zeros stay zeros.
"""
import threading

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
from sklearn.model_selection import train_test_split
from sklearn.utils import check_random_state
from sklearn.utils.metaestimators import available_if
from sklearn.utils.multiclass import _check_partial_fit_first_call, check_classification_targets
from sklearn.utils.validation import check_is_fitted

from . import Context, Schedule, Trainer, loss_desc, optim_desc

__all__ = ["LinearClassifier", "LinearRegressor"]

# The tool's defaults by data size (host/cli/cmd_train.c, build_options):
# below SMALL_ROWS rows, batches of 32, at least MIN_STEPS steps and AdamW
# at 0.01; from there on 20 epochs of 256 and AdamW at 7e-4.
SMALL_ROWS = 16384
MIN_STEPS = 4000
# Rows per block of the feature statistics' sums (float32 within a block).
_STAT_BLOCK = 1024

_LOSSES = {"log_loss": ("cross-entropy", 1), "softmax": ("cross-entropy", 1),
           "cross-entropy": ("cross-entropy", 1), "hinge": ("hinge", 1), "svm": ("hinge", 1),
           "squared_hinge": ("hinge", 2)}
_REGRESSION_LOSSES = {"squared_error": "mse", "absolute_error": "l1", "huber": "huber"}

_contexts = {}
_contexts_lock = threading.Lock()


def _context(device):
    """One context per device string for the process, with its lock: a
    context is created (and its kernels compiled) once, not per fit."""
    with _contexts_lock:
        if device not in _contexts:
            _contexts[device] = Context(device)
        return _contexts[device]


def _sparse(X):
    return hasattr(X, "tocsr") and hasattr(X, "nnz")


def _as_float64(X):
    return X.astype(np.float64) if _sparse(X) else np.asarray(X, dtype=np.float64)


def _std_divisor(std):
    """What a feature (or target) is divided by: its std, or 1 below 1e-8
    (constant ones become 0, not inf), as clt_data_std_divisor."""
    return np.where(std >= 1e-8, std, 1.0)


def _store_params(estimator, args):
    """Every argument of an estimator's __init__ as the attribute of its
    name, unchanged (scikit-learn's convention)."""
    for name, value in args.items():
        if name != "self":
            setattr(estimator, name, value)


class _LinearModel(BaseEstimator):
    """What both estimators share: the tool's defaults, the standardisation
    folded into coef_ and intercept_, and the runs of the library's
    trainer."""

    def _optimizer(self, small):
        od = optim_desc(self.optimizer)
        if self.optimizer in ("sgd", "lars"):
            od.lr = 0.1
        if self.optimizer == "adamw":
            od.lr = 1e-2 if small else 7e-4
            od.weight_decay = 0.05
        if self.learning_rate is not None:
            od.lr = self.learning_rate
        if self.weight_decay is not None:
            od.weight_decay = self.weight_decay
        if self.momentum is not None:
            od.momentum = self.momentum
        return od

    def _plan(self, n):
        """Batch, epochs, optimizer and schedule of a fit on n rows."""
        small = n < SMALL_ROWS
        batch = min(self.batch_size or (32 if small else 256), n)
        steps_per_epoch = -(-n // batch)
        epochs = self.max_epochs or (max(20, -(-MIN_STEPS // steps_per_epoch)) if small else 20)
        od = self._optimizer(small)
        total = steps_per_epoch * epochs
        sched = Schedule(self.schedule, base_lr=od.lr, step_size=max(total // 3, 1),
                         gamma=0.1 if self.schedule == "step" else 0.01 ** (1.0 / total),
                         total_steps=total)
        return batch, epochs, od, sched

    def _seed(self):
        return int(check_random_state(self.random_state).randint(np.iinfo(np.int32).max))

    def _run(self, desc, n_out, Xs, y, t, batch, epochs, od, sched, seed, init=None, val=None,
             class_weight=None):
        """Epochs of the library's trainer on the standardised rows Xs with
        labels y or target values t: (W, b) in the standardised space, the
        epochs run. init: the parameters to start from; val: (x, y, t) of a
        validation set for early stopping."""
        ctx = _context(self.device)
        with ctx.lock:
            with Trainer(ctx, Xs, y, n_out, t=t, loss=desc, optim=od, schedule=sched,
                         l1=self.l1, l2=self.l2, batch=batch, epochs=epochs, seed=seed,
                         bias=self.fit_intercept, class_weight=class_weight) as tr:
                if init is not None:
                    tr.set_params(*init)
                if val is not None:
                    tr.set_validation(*val)
                best, best_params, since = np.inf, None, 0
                for _ in range(epochs):
                    st = tr.epoch()
                    self.loss_curve_.append(st["train_loss"])
                    if val is None:
                        continue
                    self.validation_scores_.append(
                        st["val_accuracy"] if y is not None else -st["val_loss"])
                    if st["val_loss"] < best:
                        best, best_params, since = st["val_loss"], tr.params(), 0
                    else:
                        since += 1
                        if since >= self.n_iter_no_change:
                            break
                W, b = best_params if best_params is not None else tr.params()
                return W, b, tr.epochs_done

    def _standardise(self, X):
        """(X - mean) / std as the float32 rows the device takes, in one
        float32 array (X is not copied to float64 first); sparse rows (whose
        mean is 0) as CSR with each stored value divided by its column's std."""
        if _sparse(X):
            xs = X.tocsr().astype(np.float32, copy=True)
            xs.sum_duplicates()
            xs.sort_indices()
            xs.data *= (1.0 / self._std).astype(np.float32)[xs.indices]
            return xs
        xs = np.subtract(X, self._mean.astype(np.float32), dtype=np.float32)
        xs *= (1.0 / self._std).astype(np.float32)
        return xs

    def _fit_stats(self, X):
        """Per-feature mean and population std (numpy's and StandardScaler's),
        two passes over X in blocks of rows: each block's column sums in
        float32 through BLAS, the blocks' sums added in float64."""
        n, d = X.shape
        if not self.standardize:
            self._mean, self._std = np.zeros(d), np.ones(d)
            return
        if _sparse(X):  # the columns' std with their zeros, no centering
            mean = np.asarray(X.sum(axis=0), dtype=np.float64).ravel() / n
            sq = np.asarray(X.multiply(X).sum(axis=0), dtype=np.float64).ravel() / n
            self._mean = np.zeros(d)
            self._std = _std_divisor(np.sqrt(np.maximum(sq - mean * mean, 0.0)))
            return
        ones = np.ones(min(n, _STAT_BLOCK), dtype=X.dtype)
        total = np.zeros(d)
        for i in range(0, n, _STAT_BLOCK):
            block = X[i:i + _STAT_BLOCK]
            total += ones[:len(block)] @ block
        self._mean = total / n
        m = self._mean.astype(X.dtype)
        total[:] = 0
        for i in range(0, n, _STAT_BLOCK):
            c = X[i:i + _STAT_BLOCK] - m
            np.square(c, out=c)
            total += ones[:len(c)] @ c
        std = np.sqrt(total / n)
        self._std = _std_divisor(std)

    def _raw_weights(self, W, b):
        """W and b for the raw features from the model's on standardised
        ones: s = ((x - mean) / std) W + b = x (W / std) + b - (mean / std) W."""
        self._W, self._b = W, b
        W = W.astype(np.float64)
        b = b.astype(np.float64) if b is not None else np.zeros(W.shape[1])
        return (W / self._std[:, None]).T, b - (self._mean / self._std) @ W


class LinearClassifier(ClassifierMixin, _LinearModel):
    """A linear classifier (softmax regression or a multiclass SVM) trained
    by minibatch epochs on an OpenCL device (or cltrain's reference
    backend) through libcltrain.

    Parameters
    ----------
    loss : "log_loss" (alias "softmax"), "hinge" (alias "svm") or
        "squared_hinge": softmax cross-entropy, or the Weston-Watkins
        multiclass hinge.
    optimizer : any of cltrain's optimizers ("adamw", "adam", "sgd",
        "lamb", ...).
    learning_rate, batch_size, max_epochs : None picks cltrain's defaults
        for the data's size: below 16384 rows, batches of 32, enough
        epochs for 4000 steps and lr 0.01 (AdamW); otherwise 20 epochs of
        256 and lr 7e-4; 0.1 for sgd and lars.
    l1, l2 : penalties l1 sum|W| + 0.5 l2 sum W^2 on the weights.
    weight_decay, momentum : the optimizer's (None: cltrain's defaults,
        0.05 weight decay for AdamW).
    schedule : "cosine", "constant", "step" or "exponential", over the run.
    class_weight : None, "balanced" or {label: weight}.
    early_stopping : hold out validation_fraction of the training set
        (stratified, from random_state) and stop after n_iter_no_change
        epochs without a lower validation loss, keeping the best epoch's
        weights.
    fit_intercept : a bias per class.
    standardize : train on standardised features (the statistics of the
        training set); coef_ and intercept_ are given for the raw features.
    random_state : seeds the initial weights, the epochs' permutations and
        the validation split.
    device : "auto", "gpu", "cpu", "ref" or part of a device's name.

    Attributes
    ----------
    classes_, coef_ (1 or n_classes, n_features), intercept_, n_iter_,
    n_features_in_ (and feature_names_in_ for data frames), loss_curve_
    (the training loss per epoch), validation_scores_ (with
    early_stopping: the validation accuracy per epoch).
    """

    def __init__(self, loss="log_loss", optimizer="adamw", learning_rate=None,
                 batch_size=None, max_epochs=None, l1=0.0, l2=0.0, weight_decay=None,
                 momentum=None, schedule="cosine", class_weight=None, early_stopping=False,
                 validation_fraction=0.1, n_iter_no_change=5, fit_intercept=True,
                 standardize=True, random_state=None, device="auto"):
        _store_params(self, locals())

    # ------------------------------------------------------------ fitting

    def _class_weights(self, y_idx, n_classes):
        if self.class_weight is None:
            return None
        if isinstance(self.class_weight, str):
            if self.class_weight != "balanced":
                raise ValueError(f"class_weight must be None, 'balanced' or a dict, "
                                 f"not {self.class_weight!r}")
            counts = np.bincount(y_idx, minlength=n_classes)
            return len(y_idx) / (n_classes * counts.astype(np.float64))
        w = np.ones(n_classes)
        for label, weight in self.class_weight.items():
            where = np.flatnonzero(self.classes_ == label)
            if where.size == 0:
                raise ValueError(f"class_weight names the label {label!r}, which is not "
                                 f"among the classes {list(self.classes_)}")
            w[where[0]] = weight
        return w

    def _desc(self):
        if self.loss not in _LOSSES:
            raise ValueError(f"loss must be one of {sorted(_LOSSES)}, not {self.loss!r}")
        kind, p = _LOSSES[self.loss]
        return loss_desc(kind, p=p)

    def _set_coef(self, W, b):
        coef, intercept = self._raw_weights(W, b)
        if W.shape[1] == 2:  # as LogisticRegression: the second class's margin
            coef = (coef[1] - coef[0])[None, :]
            intercept = np.array([intercept[1] - intercept[0]])
        self.coef_, self.intercept_ = coef, intercept

    def fit(self, X, y):
        """Trains on X (n_samples, n_features) and labels y (any values)."""
        X, y = self._validate_data(X, y, accept_sparse="csr", dtype=[np.float32, np.float64])
        check_classification_targets(y)
        self.classes_, y_idx = np.unique(y, return_inverse=True)
        if len(self.classes_) < 2:
            raise ValueError(f"{type(self).__name__} needs samples of at least 2 classes in "
                             f"the data, but the data contains only one class: "
                             f"{self.classes_[0]!r}")
        desc, seed = self._desc(), self._seed()
        self._fit_stats(X)
        Xs = self._standardise(X)
        val = None
        if self.early_stopping:
            Xs, x_val, y_idx, y_val = train_test_split(
                Xs, y_idx, test_size=self.validation_fraction, random_state=seed,
                stratify=y_idx if np.bincount(y_idx).min() >= 2 else None)
            val = (x_val, y_val)
        batch, epochs, od, sched = self._plan(len(y_idx))
        self.loss_curve_ = []
        self.validation_scores_ = [] if self.early_stopping else None
        n = len(self.classes_)
        W, b, self.n_iter_ = self._run(desc, n, Xs, y_idx, None, batch, epochs, od, sched, seed,
                                       val=val, class_weight=self._class_weights(y_idx, n))
        self._set_coef(W, b)
        return self

    def partial_fit(self, X, y, classes=None):
        """One epoch on X and y, continuing from the model so far. The first
        call needs classes (every label the calls will see) and fixes the
        standardisation to its rows' statistics; the learning rate stays at
        its base (no schedule over an unknown length), and each call starts
        the optimizer's state afresh."""
        first = _check_partial_fit_first_call(self, classes)
        X, y = self._validate_data(X, y, reset=first, accept_sparse="csr",
                                   dtype=[np.float32, np.float64])
        check_classification_targets(y)
        if first:
            if len(self.classes_) < 2:
                raise ValueError(f"{type(self).__name__} needs at least 2 classes, got "
                                 f"{list(self.classes_)}")
            self._fit_stats(X)
            self.n_iter_, self.loss_curve_, self.validation_scores_ = 0, [], None
        unknown = ~np.isin(y, self.classes_)
        if unknown.any():
            raise ValueError(f"y holds {y[unknown][0]!r}, which is not among the classes "
                             f"{list(self.classes_)} given to the first partial_fit")
        y_idx = np.searchsorted(self.classes_, y)
        batch, _, od, _ = self._plan(len(y_idx))
        n = len(self.classes_)
        W, b, done = self._run(self._desc(), n, self._standardise(X), y_idx, None, batch, 1, od,
                               Schedule("constant", base_lr=od.lr), self._seed() + self.n_iter_,
                               init=None if first else (self._W, self._b),
                               class_weight=self._class_weights(y_idx, n))
        self.n_iter_ += done
        self._set_coef(W, b)
        return self

    # --------------------------------------------------------- predicting

    def decision_function(self, X):
        """Scores (n_samples, n_classes), or (n_samples,) for two classes:
        the second class's margin over the first."""
        check_is_fitted(self)
        X = self._validate_data(X, reset=False, accept_sparse="csr",
                                dtype=[np.float32, np.float64])
        s = _as_float64(X) @ self.coef_.T + self.intercept_
        return s.ravel() if s.shape[1] == 1 else s

    def predict(self, X):
        s = self.decision_function(X)
        idx = (s > 0).astype(int) if s.ndim == 1 else s.argmax(axis=1)
        return self.classes_[idx]

    def _has_proba(self):
        return _LOSSES.get(self.loss, ("",))[0] == "cross-entropy"

    @available_if(_has_proba)
    def predict_proba(self, X):
        """Class probabilities (softmax; a logistic for two classes)."""
        s = self.decision_function(X)
        if s.ndim == 1:
            s = np.column_stack([np.zeros_like(s), s])
        s = s - s.max(axis=1, keepdims=True)
        e = np.exp(s)
        return e / e.sum(axis=1, keepdims=True)

    @available_if(_has_proba)
    def predict_log_proba(self, X):
        return np.log(self.predict_proba(X))

    def _more_tags(self):
        return {"requires_y": True}


class LinearRegressor(RegressorMixin, _LinearModel):
    """A linear model of one or several real targets (least squares, least
    absolute deviations or Huber) trained by minibatch epochs on an OpenCL
    device (or cltrain's reference backend) through libcltrain.

    Parameters as LinearClassifier's, except: loss "squared_error",
    "absolute_error" or "huber" (epsilon: where it turns linear, in units
    of the standardised target); standardize also standardises the
    targets (per output) for training, folded back into coef_ and
    intercept_; no class_weight.

    Attributes
    ----------
    coef_ (n_features,) for one target, (n_targets, n_features) for several;
    intercept_ (a float, or (n_targets,)); n_iter_, n_features_in_,
    loss_curve_, validation_scores_ (with early_stopping: minus the
    validation loss per epoch).
    """

    def __init__(self, loss="squared_error", optimizer="adamw", learning_rate=None,
                 batch_size=None, max_epochs=None, l1=0.0, l2=0.0, weight_decay=None,
                 momentum=None, epsilon=1.0, schedule="cosine", early_stopping=False,
                 validation_fraction=0.1, n_iter_no_change=5, fit_intercept=True,
                 standardize=True, random_state=None, device="auto"):
        _store_params(self, locals())

    def _desc(self):
        if self.loss not in _REGRESSION_LOSSES:
            raise ValueError(f"loss must be one of {sorted(_REGRESSION_LOSSES)}, "
                             f"not {self.loss!r}")
        return loss_desc(_REGRESSION_LOSSES[self.loss], huber_delta=self.epsilon)

    def _targets(self, y):
        return ((np.asarray(y, dtype=np.float64).reshape(len(y), -1) - self._y_mean) /
                self._y_std).astype(np.float32)

    def _set_coef(self, W, b):
        coef, intercept = self._raw_weights(W, b)
        # back to the targets' own scale: y = s * y_std + y_mean
        coef = coef * self._y_std[:, None]
        intercept = intercept * self._y_std + self._y_mean
        if self._single:
            coef, intercept = coef[0], float(intercept[0])
        self.coef_, self.intercept_ = coef, intercept

    def _fit_targets(self, y):
        y = np.asarray(y, dtype=np.float64)
        self._single = y.ndim == 1
        y2 = y.reshape(len(y), -1)
        self._y_mean = y2.mean(axis=0) if self.standardize else np.zeros(y2.shape[1])
        std = y2.std(axis=0) if self.standardize else np.ones(y2.shape[1])
        self._y_std = _std_divisor(std)

    def fit(self, X, y):
        """Trains on X (n_samples, n_features) and y (n_samples,) or
        (n_samples, n_targets)."""
        X, y = self._validate_data(X, y, accept_sparse="csr", dtype=[np.float32, np.float64],
                                   multi_output=True,
                                   y_numeric=True)
        desc, seed = self._desc(), self._seed()
        self._fit_stats(X)
        self._fit_targets(y)
        Xs, t = self._standardise(X), self._targets(y)
        val = None
        if self.early_stopping:
            Xs, x_val, t, t_val = train_test_split(Xs, t, test_size=self.validation_fraction,
                                                   random_state=seed)
            val = (x_val, None, t_val)
        batch, epochs, od, sched = self._plan(len(t))
        self.loss_curve_ = []
        self.validation_scores_ = [] if self.early_stopping else None
        W, b, self.n_iter_ = self._run(desc, t.shape[1], Xs, None, t, batch, epochs, od, sched,
                                       seed, val=val)
        self._set_coef(W, b)
        return self

    def partial_fit(self, X, y):
        """One epoch on X and y from the model so far; the first call fixes
        the standardisation of X and y to its rows (see LinearClassifier's)."""
        first = not hasattr(self, "coef_")
        X, y = self._validate_data(X, y, reset=first, accept_sparse="csr",
                                   dtype=[np.float32, np.float64],
                                   multi_output=True, y_numeric=True)
        if first:
            self._fit_stats(X)
            self._fit_targets(y)
            self.n_iter_, self.loss_curve_, self.validation_scores_ = 0, [], None
        t = self._targets(y)
        if t.shape[1] != len(self._y_mean):
            raise ValueError(f"y has {t.shape[1]} targets, the model {len(self._y_mean)}")
        batch, _, od, _ = self._plan(len(t))
        W, b, done = self._run(self._desc(), t.shape[1], self._standardise(X), None, t, batch, 1,
                               od, Schedule("constant", base_lr=od.lr),
                               self._seed() + self.n_iter_,
                               init=None if first else (self._W, self._b))
        self.n_iter_ += done
        self._set_coef(W, b)
        return self

    def predict(self, X):
        check_is_fitted(self)
        X = self._validate_data(X, reset=False, accept_sparse="csr",
                                dtype=[np.float32, np.float64])
        return _as_float64(X) @ np.asarray(self.coef_).T + self.intercept_

    def _more_tags(self):
        return {"multioutput": True}
