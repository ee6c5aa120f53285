"""Session-wide test settings."""
import pytest

from occupancy.compiled import CACHE_ENV


@pytest.fixture(autouse=True, scope="session")
def _graph_cache(tmp_path_factory):
    """Compiled occupancy graphs go to a directory of this session, not the user's cache (occupancy.compiled)."""
    patch = pytest.MonkeyPatch()
    patch.setenv(CACHE_ENV, str(tmp_path_factory.mktemp("graph-cache")))
    yield
    patch.undo()
