"""cltrain.sklearn's LinearClassifier and LinearRegressor as scikit-learn
users expect them:
scikit-learn's own estimator checks, accuracy next to LogisticRegression
on its bundled data sets, and the conventions (classes_, coef_, pickling,
class weights, early stopping)."""
import pickle
import warnings

import numpy as np
import pytest
from sklearn import datasets
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.model_selection import StratifiedKFold, cross_val_score, train_test_split
from sklearn.utils.estimator_checks import check_estimator

from cltrain.sklearn import LinearClassifier, LinearRegressor

PANDAS_SKIP = "pandas is not installed"


@pytest.mark.parametrize("estimator", [
    LinearClassifier(loss="log_loss"), LinearClassifier(loss="hinge"),
    LinearRegressor(loss="squared_error"), LinearRegressor(loss="absolute_error"),
    LinearRegressor(loss="huber")], ids=lambda e: f"{type(e).__name__}-{e.loss}")
def test_scikit_learns_estimator_checks(device, estimator):
    # Each check runs; the one that needs pandas (not a dependency here) is
    # skipped by scikit-learn itself, and only that one may be.
    for est, check in check_estimator(estimator.set_params(device=device), generate_only=True):
        try:
            check(est)
        except Exception as e:  # SkipTest is an Exception
            assert PANDAS_SKIP in str(e), f"{check}: {e!r}"


@pytest.mark.parametrize("name", ["digits", "breast_cancer", "wine", "iris"])
def test_accuracy_next_to_logistic_regression(device, name):
    # Mean accuracy over 5 stratified folds: a 30-row test split of iris
    # moves by 3.3 points per sample. Default arguments on both sides.
    X, y = getattr(datasets, f"load_{name}")(return_X_y=True)
    cv = StratifiedKFold(5, shuffle=True, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        theirs = cross_val_score(LogisticRegression(), X, y, cv=cv).mean()
    ours = cross_val_score(LinearClassifier(device=device, random_state=0), X, y, cv=cv).mean()
    assert ours >= theirs - 0.02, f"{name}: {ours:.4f} against LogisticRegression's {theirs:.4f}"


def test_conventions(device):
    X, y = datasets.load_iris(return_X_y=True)
    names = np.array(["setosa", "versicolor", "virginica"])[y]
    m = LinearClassifier(device=device, random_state=1, max_epochs=50).fit(X, names)
    assert list(m.classes_) == ["setosa", "versicolor", "virginica"]
    assert m.coef_.shape == (3, 4) and m.intercept_.shape == (3,) and m.n_iter_ == 50
    assert len(m.loss_curve_) == 50 and m.loss_curve_[-1] < m.loss_curve_[0]
    p = m.predict_proba(X)
    np.testing.assert_allclose(p.sum(axis=1), 1.0, rtol=1e-12)
    assert (m.classes_[p.argmax(axis=1)] == m.predict(X)).all()
    # the weights are for the raw features: scores = X coef_^T + intercept_
    np.testing.assert_allclose(m.decision_function(X), X @ m.coef_.T + m.intercept_)
    again = pickle.loads(pickle.dumps(m))
    np.testing.assert_array_equal(again.predict(X), m.predict(X))
    # two classes: one row of coefficients, a 1-D decision function
    b = LinearClassifier(device=device, max_epochs=20).fit(X[:100], y[:100])
    assert b.coef_.shape == (1, 4) and b.decision_function(X[:100]).shape == (100,)
    assert not hasattr(LinearClassifier(loss="hinge"), "predict_proba")


def test_class_weight_and_early_stopping(device):
    X, y = datasets.make_classification(n_samples=600, n_features=8, weights=[0.9, 0.1],
                                        random_state=0)
    plain = LinearClassifier(device=device, random_state=0, max_epochs=30).fit(X, y)
    balanced = LinearClassifier(device=device, random_state=0, max_epochs=30,
                                class_weight="balanced").fit(X, y)
    # weighting the rare class finds more of it
    assert (balanced.predict(X) == 1).sum() > (plain.predict(X) == 1).sum()
    with pytest.raises(ValueError, match="not among the classes"):
        LinearClassifier(device=device, class_weight={7: 2.0}).fit(X, y)
    es = LinearClassifier(device=device, random_state=0, max_epochs=200, early_stopping=True,
                          n_iter_no_change=3, learning_rate=0.05).fit(X, y)
    assert es.n_iter_ < 200 and len(es.validation_scores_) == es.n_iter_


def test_partial_fit_continues_the_model(device):
    X, y = datasets.load_digits(return_X_y=True)
    Xtr, Xte, ytr, yte = train_test_split(X, y, test_size=0.25, random_state=0, stratify=y)
    m = LinearClassifier(device=device, random_state=0)
    with pytest.raises(ValueError, match="classes must be passed on the first call"):
        m.partial_fit(Xtr[:100], ytr[:100])
    scores = []
    for epoch in range(4):
        for chunk in np.array_split(np.arange(len(ytr)), 5):
            m.partial_fit(Xtr[chunk], ytr[chunk], classes=np.arange(10))
        scores.append(m.score(Xte, yte))
        if epoch == 1:  # a pickled model continues where it was
            m = pickle.loads(pickle.dumps(m))
    assert m.n_iter_ == 20 and scores[-1] > 0.9 and scores[-1] >= scores[0], scores
    with pytest.raises(ValueError, match="not among the classes"):
        m.partial_fit(Xtr[:5], np.full(5, 11))
    with pytest.raises(ValueError, match="features"):
        m.partial_fit(Xtr[:5, :-1], ytr[:5])


def test_regressor_next_to_linear_regression(device):
    # 5-fold R^2 on scikit-learn's diabetes set, default arguments on both
    # sides; and two targets at once, against their own least squares.
    X, y = datasets.load_diabetes(return_X_y=True)
    theirs = cross_val_score(LinearRegression(), X, y, cv=5).mean()
    ours = cross_val_score(LinearRegressor(device=device, random_state=0), X, y, cv=5).mean()
    assert ours >= theirs - 0.02, f"R^2 {ours:.4f} against LinearRegression's {theirs:.4f}"
    Y = np.column_stack([y, 2 * y - X[:, 0] * 100])
    m = LinearRegressor(device=device, random_state=0).fit(X, Y)
    ls = LinearRegression().fit(X, Y)
    assert m.coef_.shape == (2, 10) and m.intercept_.shape == (2,)
    assert m.score(X, Y) >= ls.score(X, Y) - 0.02
    np.testing.assert_allclose(m.predict(X), X @ m.coef_.T + m.intercept_)
    one = LinearRegressor(device=device, max_epochs=5).fit(X, y)
    assert one.coef_.shape == (10,) and isinstance(one.intercept_, float)
    assert one.predict(X).shape == (len(y),)


def test_regressor_partial_fit_and_pickle(device):
    X, y = datasets.load_diabetes(return_X_y=True)
    m = LinearRegressor(device=device, random_state=0)
    for _ in range(40):
        for chunk in np.array_split(np.arange(len(y)), 4):
            m.partial_fit(X[chunk], y[chunk])
    assert m.n_iter_ == 160 and m.score(X, y) > 0.45
    again = pickle.loads(pickle.dumps(m))
    np.testing.assert_array_equal(again.predict(X), m.predict(X))
    with pytest.raises(ValueError, match="features"):
        m.partial_fit(X[:5, :3], y[:5])


def test_sparse_input(device):
    # scipy sparse rows (any format, made CSR) stay sparse on the device:
    # unstandardised, the model is the dense rows' to float rounding; with
    # standardize, features are scaled as StandardScaler(with_mean=False)
    # scales them, and the accuracy stays within a point of the dense fit's.
    sp = pytest.importorskip("scipy.sparse")
    X, y = datasets.make_classification(n_samples=800, n_features=60, n_informative=12,
                                        n_classes=3, random_state=0)
    X[np.abs(X) < 0.8] = 0.0
    Xtr, Xte, ytr, yte = train_test_split(X, y, test_size=0.25, random_state=0)
    for fmt in ("csr", "csc", "coo"):
        kw = dict(device=device, random_state=0, max_epochs=5)
        dense = LinearClassifier(standardize=False, **kw).fit(Xtr, ytr)
        sparse = LinearClassifier(standardize=False, **kw).fit(sp.csr_matrix(Xtr).asformat(fmt),
                                                                ytr)
        np.testing.assert_allclose(sparse.coef_, dense.coef_, rtol=1e-4, atol=1e-5)
        np.testing.assert_allclose(sparse.decision_function(sp.csr_matrix(Xte)),
                                   dense.decision_function(Xte), rtol=1e-4, atol=1e-5)
    scaled = LinearClassifier(device=device, random_state=0).fit(sp.csr_matrix(Xtr), ytr)
    std = np.sqrt(np.mean(Xtr ** 2, axis=0) - np.mean(Xtr, axis=0) ** 2)
    np.testing.assert_allclose(scaled._std, std, rtol=1e-6)
    assert not scaled._mean.any(), "sparse features are not centered"
    centered = LinearClassifier(device=device, random_state=0).fit(Xtr, ytr)
    assert scaled.score(sp.csr_matrix(Xte), yte) >= centered.score(Xte, yte) - 0.01
    np.testing.assert_array_equal(scaled.predict(sp.csr_matrix(Xte)), scaled.predict(Xte))
    reg = LinearRegressor(device=device, random_state=0, standardize=False, max_epochs=5)
    target = X[:, :3] @ np.array([1.0, -2.0, 0.5])
    a = reg.fit(sp.csr_matrix(X), target).predict(X)
    b = LinearRegressor(device=device, random_state=0, standardize=False,
                        max_epochs=5).fit(X, target).predict(X)
    np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-4)
