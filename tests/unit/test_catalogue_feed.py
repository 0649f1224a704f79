"""The catalogue URL, fetched over the real HTTP stack from a loopback server."""

from __future__ import annotations

import json

import pytest

from arc_sweeper.catalogue import CatalogueError
from arc_sweeper.catalogue_feed import fetch_catalogue
from arc_sweeper.settings import Settings, SettingsError
from tests.loopback import loopback_server

GOOD = {"releases": [{"version": "1.68", "released": "2026-09"}, {"version": "1.67", "released": "2026-08"}]}
SECRET = "sig=FAKE-test-signature-not-a-secret"  # what a SAS signature looks like in the URL; not a real one


def serving(status, body):
    return loopback_server(lambda method, path, headers: (status, {}, body))


def test_a_valid_catalogue_is_fetched():
    with serving(200, GOOD) as url:
        catalogue = fetch_catalogue(f"{url}/releases.json?{SECRET}")
    assert catalogue.newest() == (1, 68) and SECRET not in catalogue.origin


@pytest.mark.parametrize(
    "status, body, problem",
    [
        (404, {"error": "nope"}, "answered HTTP 404"),
        (200, b"<html>not json</html>", "not valid JSON"),
        (200, {"releases": [{"version": "one", "released": "2026-09"}]}, '"version" must be "MAJOR.MINOR"'),
        (200, {"releases": []}, "no releases"),
    ],
)
def test_a_broken_catalogue_is_a_catalogue_error_that_never_shows_the_token(status, body, problem):
    with serving(status, body) as url, pytest.raises(CatalogueError) as raised:
        fetch_catalogue(f"{url}/releases.json?{SECRET}")
    assert problem in str(raised.value) and SECRET not in str(raised.value)


def test_no_answer_is_a_catalogue_error():
    with pytest.raises(CatalogueError, match="no answer"):
        fetch_catalogue("http://127.0.0.1:9/releases.json")


def test_the_setting_takes_a_path_or_an_https_url_and_never_shows_the_url():
    settings = Settings.from_env({"AGENT_RELEASES_FILE": f"https://store.blob.core.windows.net/c/r.json?{SECRET}"})
    assert settings.releases.url.endswith(SECRET) and SECRET not in repr(settings)
    with pytest.raises(SettingsError) as raised:
        Settings.from_env({"AGENT_RELEASES_FILE": f"http://store.example/r.json?{SECRET}"})
    assert "use https" in str(raised.value) and SECRET not in str(raised.value)
    assert json.dumps(GOOD)  # the format the bundled file has (see docs/deployment.md)
