"""What every test and docstring example of the repository shares (tests/conftest.py has the fixtures)."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _examples_leave_the_registry_as_they_found_it(request):
    """A docstring example that registers a DA of its own does not leave it to later tests."""
    if not request.node.nodeid.startswith("dastat/"):
        yield
        return
    from dastat.augment import registry

    saved = dict(registry._REGISTRY)
    yield
    registry._REGISTRY.clear()
    registry._REGISTRY.update(saved)
