"""The example script and the README's Python example run."""

import os
import re
import subprocess
import sys

import pytest

import usmoe

from conftest import PKG_ROOT, REPO_ROOT


def _env():
    env = dict(os.environ)
    env["USMOE_LIBRARY"] = usmoe.library_path
    env["PYTHONPATH"] = PKG_ROOT + os.pathsep + env.get("PYTHONPATH", "")
    return env


def test_route_example_runs():
    script = os.path.join(PKG_ROOT, "examples", "route_example.py")
    r = subprocess.run([sys.executable, script], env=_env(), cwd="/",
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert "loads" in r.stdout
    for policy in ("token_choice", "expert_choice", "unified"):
        assert policy in r.stdout


def _first_python_block(path, heading="Python example"):
    with open(path, encoding="utf-8") as f:
        lines = f.read().split("\n")
    start = next((i for i, line in enumerate(lines) if heading in line), None)
    if start is None:
        return None
    text = "\n".join(lines[start + 1:])
    m = re.search(r"^```python[ \t]*\n(.*?)^```", text, re.S | re.M)
    return m.group(1) if m else None


def _run_block(code):
    r = subprocess.run([sys.executable, "-c", code], env=_env(), cwd="/",
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, f"stdout:\n{r.stdout}\nstderr:\n{r.stderr}"


def test_repo_readme_python_example_runs():
    readme = os.path.join(REPO_ROOT, "README.md")
    if not os.path.exists(readme):
        pytest.skip("no repository README.md")
    code = _first_python_block(readme)
    if code is None:
        pytest.skip("README.md has no ```python block after a 'Python example' line")
    _run_block(code)


def test_bindings_readme_example_runs():
    code = _first_python_block(os.path.join(PKG_ROOT, "README.md"), heading="# usmoe")
    assert code is not None
    _run_block(code)


def test_package_docstring_example_runs():
    doc = usmoe.__doc__
    block = doc.split("Quick start::", 1)[1].split("\n\n")[1]
    code = "\n".join(line[4:] for line in block.split("\n"))
    _run_block(code)
