"""HttpClient builds its GETs itself (one URL parse instead of httpx's four): the requests
must be the ones ``AsyncClient.build_request`` would have built, URL and headers."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from streamer.http.auth import BearerAuth
from streamer.http.client import HttpClient, quote_segment
from streamer.secrets import Secret

BASES = ["https://api.example.com", "https://api.example.com/", "http://127.0.0.1:8080/stats",
         "https://org.via.aspect-cloud.net/via/v2/", "https://h:8443/RI/rmi"]
texts = st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=12)
segments = st.lists(texts.filter(bool).map(quote_segment), min_size=1, max_size=3)
params = st.none() | st.dictionaries(texts.filter(bool), texts | st.integers(-10**6, 10**6), max_size=4)


@given(base=st.sampled_from(BASES), path=segments, query=params,
       headers=st.dictionaries(st.sampled_from(["accept", "x-tenant", "user-agent"]), st.from_regex(r"[ -~]{0,8}", fullmatch=True)))
def test_a_get_is_the_one_httpx_would_build(base: str, path: list[str], query: dict[str, str | int] | None,
                                            headers: dict[str, str]) -> None:
    client = HttpClient(base, BearerAuth(Secret("t")), headers=headers)
    auth = {"authorization": "Bearer t0k3n"}
    reference = client._client.build_request("GET", "/" + "/".join(path), params=query, headers=auth)
    ours = client._request("/" + "/".join(path), query, auth)
    assert str(ours.url) == str(reference.url)
    assert ours.url.raw_path == reference.url.raw_path
    assert ours.headers.multi_items() == reference.headers.multi_items()
    assert ours.method == "GET"


@pytest.mark.parametrize(("url", "word"), [("https://x/api?a=1", "query"), ("https://x/api#top", "fragment"),
                                           ("https://u:p@x/", "credentials")])
def test_a_base_url_with_a_query_or_credentials_is_refused(url: str, word: str) -> None:
    with pytest.raises(ValueError, match=word):
        HttpClient(url, BearerAuth(Secret("t")))


def test_params_join_a_query_the_path_already_has() -> None:
    """Where httpx would drop the path's query for the params (no caller writes one)."""
    client = HttpClient("https://h/api", BearerAuth(Secret("t")))
    assert str(client._request("/x?fixed=1", {"page": 2}, {}).url) == "https://h/api/x?fixed=1&page=2"
    assert str(client._request("/x?fixed=1", None, {}).url) == "https://h/api/x?fixed=1"
