"""Paginator invariants: counting, finishing, loop detection, page cap."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from streamer.errors import PageLoopError, SkippableError
from streamer.http.paging import PageNumberPaginator, Paginator


def page(n: int, of: int, items: list[int] | None = None) -> dict[str, Any]:
    return {"meta": {"page": n, "pageCount": of}, "items": items if items is not None else [n]}


def test_walks_pages_until_last() -> None:
    pager = PageNumberPaginator()
    seen = []
    while not pager.finished:
        seen.append(pager.current_value)
        pager.advance(page(pager.current_value, 3))
    assert seen == [1, 2, 3] and pager.count == 3


def test_single_page_finishes() -> None:
    one = PageNumberPaginator()
    one.advance(page(1, 1))
    assert one.finished and one.count == 1


@pytest.mark.parametrize("body", [{"items": [1]}, {"meta": None, "items": [1]}, {"meta": {"page": 1}, "items": [1]}])
def test_a_page_without_paging_information_is_an_error_not_the_last_page(body: dict[str, Any]) -> None:
    pager = PageNumberPaginator()
    with pytest.raises(SkippableError, match="pageCount"):
        pager.advance(body)
    assert not pager.finished


def test_empty_result_pagecount_zero_finishes() -> None:
    pager = PageNumberPaginator()
    pager.advance({"meta": {"page": 1, "pageCount": 0, "count": 0}, "items": []})
    assert pager.finished


def test_reads_struct_meta_attributes() -> None:
    class Meta(msgspec.Struct):
        page: int
        page_count: int

    class Body(msgspec.Struct):
        meta: Meta

    pager = PageNumberPaginator()
    pager.advance(Body(Meta(1, 2)))
    assert pager.current_value == 2 and not pager.finished


def test_server_ignoring_page_param_is_a_loop() -> None:
    pager = PageNumberPaginator()
    pager.advance(page(1, 3, items=[1]))
    with pytest.raises(PageLoopError, match="returned twice"):
        pager.advance(page(1, 3, items=[9]))  # different body, same page number again


def test_same_body_twice_is_a_loop() -> None:
    class Counting(Paginator[int]):
        def get_next(self, response_body: Any, current: int) -> int | None:
            return current + 1

    pager = Counting(0)
    pager.advance({"items": [1]}, raw=b'{"items":[1]}')
    with pytest.raises(PageLoopError, match="repeats"):
        pager.advance({"items": [1]}, raw=b'{"items":[1]}')


def test_max_pages_cap() -> None:
    pager = PageNumberPaginator(max_pages=2)
    pager.advance(page(1, 5))
    with pytest.raises(PageLoopError, match="more than 2 pages"):
        pager.advance(page(2, 5))


def test_page_loop_error_is_retriable() -> None:
    from streamer.errors import RetriableError

    assert issubclass(PageLoopError, RetriableError)


def test_advance_after_finish_is_an_error() -> None:
    pager = PageNumberPaginator()
    pager.advance(page(1, 1))
    with pytest.raises(RuntimeError):
        pager.advance(page(1, 1))


@given(st.integers(min_value=1, max_value=60))
def test_any_page_count_reads_each_page_once(count: int) -> None:
    pager = PageNumberPaginator()
    pages = []
    while not pager.finished:
        pages.append(pager.current_value)
        pager.advance(page(pager.current_value, count))
    assert pages == list(range(1, count + 1))


class _Pages(Paginator[int]):
    """Pages 0 .. last; the body does not say which (a server serving a page again)."""

    def __init__(self, last: int) -> None:
        super().__init__(0)
        self.last = last

    def get_next(self, response_body: Any, current: int) -> int | None:
        return None if current == self.last else current + 1


@given(st.lists(st.sampled_from([b"a", b"b", b"c", b"d", b"e"]), min_size=1, max_size=6))
def test_a_page_body_served_again_is_caught_at_its_second_coming(bodies: list[bytes]) -> None:
    """Whichever pages repeat, the last one as well: the first page's digest is taken late
    (only once a second page follows), and must still be there to compare with."""
    pager = _Pages(last=len(bodies) - 1)
    first_repeat = next((j for j in range(len(bodies)) if bodies[j] in bodies[:j]), None)
    for j, body in enumerate(bodies):
        if j == first_repeat:
            with pytest.raises(PageLoopError, match=f"page {j + 1} repeats"):
                pager.advance(None, raw=body)
            return
        pager.advance(None, raw=body)
    assert pager.finished and first_repeat is None


def test_a_read_of_one_page_hashes_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    """Most reads are one page; hashing it (up to max_body_bytes) would compare it with nothing."""
    from streamer.http import paging

    hashed: list[bytes | None] = []
    real = paging._page_digest
    monkeypatch.setattr(paging, "_page_digest", lambda body, raw: hashed.append(raw) or real(body, raw))
    one = _Pages(last=0)
    one.advance(None, raw=b"only")
    assert one.finished and hashed == []
    two = _Pages(last=1)
    two.advance(None, raw=b"first")
    two.advance(None, raw=b"second")
    assert two.finished and hashed == [b"first", b"second"]
