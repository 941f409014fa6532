"""`pip install ./python` works offline (PEP 517 with the build backend
already present), and the installed package finds libcltrain through
CLTRAIN_LIBRARY or beside itself, or says what it tried."""
import os
import shutil
import subprocess
import venv

import pytest

import cltrain

HERE = os.path.dirname(os.path.abspath(__file__))
PACKAGE = os.path.dirname(HERE)


def test_pip_install_and_library_lookup(tmp_path):
    library = os.environ.get("CLTRAIN_LIBRARY")
    if not library:
        pytest.skip("CLTRAIN_LIBRARY names no library to install beside the package")
    env_dir = tmp_path / "venv"
    try:
        venv.create(env_dir, system_site_packages=True, with_pip=True)
    except Exception as e:  # no ensurepip (Debian without python3-venv)
        pytest.skip(f"cannot make a venv with pip here: {e}")
    py = str(env_dir / "bin" / "python")
    # a copy: setuptools builds in the source directory (build/, egg-info)
    src = tmp_path / "src"
    shutil.copytree(PACKAGE, src, ignore=shutil.ignore_patterns("tests", "__pycache__"))
    subprocess.run([py, "-m", "pip", "install", "-q", "--no-build-isolation", "--no-deps",
                    str(src)], check=True, cwd=tmp_path)
    probe = "import cltrain, os; print(os.path.dirname(cltrain.__file__)); print(cltrain.version())"
    clean = {k: v for k, v in os.environ.items() if k not in ("CLTRAIN_LIBRARY", "PYTHONPATH")}

    out = subprocess.run([py, "-c", probe], env=dict(clean, CLTRAIN_LIBRARY=library),
                         capture_output=True, text=True, check=True, cwd=tmp_path).stdout.split()
    installed, version = out
    assert installed.startswith(str(env_dir)) and version == cltrain.version()

    missing = subprocess.run([py, "-c", probe], env=clean, capture_output=True, text=True,
                             cwd=tmp_path)
    if missing.returncode == 0:
        pytest.skip("a libcltrain is installed system-wide: the missing case cannot be seen")
    assert "ImportError" in missing.stderr and "CLTRAIN_LIBRARY" in missing.stderr

    shutil.copy(library, os.path.join(installed, "libcltrain.so"))
    beside = subprocess.run([py, "-c", probe], env=clean, capture_output=True, text=True,
                            check=True, cwd=tmp_path).stdout.split()
    assert beside[1] == cltrain.version()
