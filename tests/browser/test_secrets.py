"""No secret of the demo in anything the browser saw during the browser tests.

Runs last (conftest orders it so): ``responses`` holds every response of every page the
other tests opened, headers and body. The secrets are read from the demo's own files:
the passwords of its ``clouds.yaml``, the passwords of the database URLs in its
``stackwatch.yaml`` (none when the service databases are SQLite files), the simulator's
control key, and every token a test made.
"""

from __future__ import annotations

import pytest

from .conftest import Responses, Tab
from .demo import Demo

pytestmark = pytest.mark.browser


def test_no_secret_in_any_response_the_browser_saw(tab: Tab, demo: Demo,
                                                   responses: Responses) -> None:
    # this test's own look: the pages most likely to show configuration
    for path in ("/sources", "/sources.json", "/api/v1/sources", "/overview"):
        tab.open(path)
    secrets = demo.secrets()
    assert any(len(s) >= 8 for s in secrets), secrets  # at least clouds.yaml's password
    pages = {seen.url for seen in responses.seen}
    assert f"{demo.url}/overview" in pages and f"{demo.url}/sources.json" in pages
    leaks = [(seen.url, where) for seen in responses.seen
             for where, text in (("headers", seen.headers.encode()), ("body", seen.body))
             for secret in secrets if secret.encode() in text]
    assert not leaks, leaks
    assert not [s for s in secrets if s in demo.output()]  # nor in what the demo printed
    print(f"{len(secrets)} secrets, none in {len(responses.seen)} responses "
          f"({sum(len(s.body) for s in responses.seen) / 1e6:.1f} MB) from {len(pages)} URLs")
