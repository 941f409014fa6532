"""`cltrain train` with no tuning flags on small real data: scikit-learn's
bundled digits, breast-cancer, wine and iris sets, split 80/20 (stratified,
random_state=0) and written as CSV here (never committed), must each come
within 2 points of test accuracy of scikit-learn's
make_pipeline(StandardScaler(), LogisticRegression(max_iter=5000)) on the
same split.

    python3 tests/small_data_defaults.py CLTRAIN WORKDIR
"""
import json
import os
import subprocess
import sys

import numpy as np
from sklearn import datasets
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

MARGIN = 0.02


def main():
    cltrain, work = sys.argv[1:3]
    os.makedirs(work, exist_ok=True)
    failed = []
    for name in ("digits", "breast_cancer", "wine", "iris"):
        X, y = getattr(datasets, "load_" + name)(return_X_y=True)
        Xtr, Xte, ytr, yte = train_test_split(X, y, test_size=0.2, random_state=0, stratify=y)
        paths = {}
        for part, (a, b) in (("train", (Xtr, ytr)), ("test", (Xte, yte))):
            paths[part] = os.path.join(work, f"{name}_{part}.csv")
            np.savetxt(paths[part], np.hstack([b[:, None], a]), delimiter=",", fmt="%.10g")
        ref = make_pipeline(StandardScaler(), LogisticRegression(max_iter=5000))
        want = ref.fit(Xtr, ytr).score(Xte, yte)
        run = subprocess.run([cltrain, "train", "--data", paths["train"], "--test", paths["test"],
                              "--json"], capture_output=True, text=True, check=True)
        got = json.loads(run.stdout.strip().splitlines()[-1])
        line = (f"{name}: cltrain {got['test_accuracy']:.3f} (batch {got['batch']}, "
                f"{got['epochs']} epochs, {got['seconds']:.2f} s), sklearn {want:.3f}")
        print(line)
        if "warning" in run.stderr:
            failed.append(f"{name}: warned: {run.stderr.strip()}")
        if got["test_accuracy"] < want - MARGIN:
            failed.append(line)
    if failed:
        sys.exit("small_data_defaults: more than %g below sklearn:\n  %s"
                 % (MARGIN, "\n  ".join(failed)))


if __name__ == "__main__":
    main()
