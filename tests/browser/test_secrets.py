"""No secret of the demo in anything the browser saw during the browser tests.

Runs last (conftest orders it so): ``responses`` holds every response of every page the
other tests opened, headers and body. The secrets are read from the demo's own files:
the passwords of its ``clouds.yaml``, the passwords of the database URLs in its
``stackwatch.yaml`` (none when the service databases are SQLite files), the simulator's
control key, and every token a test made (test_login) with its digest.
"""

from __future__ import annotations

import pytest

from web.leaks import found_in  # tests/web: a secret as is, URL-quoted, JSON-escaped

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
    texts = [(f"{seen.url} {part}", text) for seen in responses.seen
             for part, text in (("headers", seen.headers),
                                ("body", seen.body.decode("utf-8", "replace")))]
    texts.append(("the demo's output", demo.output()))
    assert found_in(secrets[:1], [("probe", f"<td>{secrets[0]}</td>")])  # the grep sees one
    assert not found_in(secrets, texts)
    print(f"{len(secrets)} secrets, none in {len(responses.seen)} responses "
          f"({sum(len(s.body) for s in responses.seen) / 1e6:.1f} MB) from {len(pages)} URLs")
