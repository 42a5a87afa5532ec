"""Shared fixtures: every test leaves the process-wide settings as it found them."""

import os

import numpy as np
import pytest

import usmoe

HERE = os.path.dirname(os.path.abspath(__file__))
PKG_ROOT = os.path.dirname(HERE)                        # bindings/python
REPO_ROOT = os.path.dirname(os.path.dirname(PKG_ROOT))  # the source checkout


@pytest.fixture(autouse=True)
def _restore_runtime_settings():
    yield
    usmoe.set_num_threads(0)
    usmoe.set_simd_targets(0)


@pytest.fixture
def rng():
    return np.random.default_rng(20250322)
