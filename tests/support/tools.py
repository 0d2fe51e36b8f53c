"""Programs from Debian's packages that some tests drive (chromium, promtool): a test skips when
one is missing, except in CI (CI=true), where that is a failure, as `.ci/run` installs them."""

import os
import shutil

import pytest


def require(program: str, package: str) -> str:
    """The path of `program`, which Debian's `package` provides."""
    found = shutil.which(program)
    if found:
        return found
    if os.environ.get("CI") == "true":
        pytest.fail(f"{program} is missing: .ci/run installs Debian's {package} before the suite")
    pytest.skip(f"{program} is missing (apt-get install -y {package}); CI=true makes this fail")
