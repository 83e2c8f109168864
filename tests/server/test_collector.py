"""``server.collector``: the process-wide collector tuning ``muster serve`` does."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from server.collector import YOUNG_GENERATION, keep_full_collections_rare


@pytest.fixture
def threshold() -> Iterator[None]:
    before = gc.get_threshold()
    try:
        yield
    finally:
        gc.set_threshold(*before)


@pytest.mark.usefixtures("threshold")
def test_raises_the_young_generation_and_keeps_the_others() -> None:
    gc.set_threshold(700, 10, 10)
    keep_full_collections_rare()
    assert gc.get_threshold() == (YOUNG_GENERATION, 10, 10)


@pytest.mark.usefixtures("threshold")
def test_never_lowers_a_higher_threshold_nor_turns_collection_on() -> None:
    gc.set_threshold(YOUNG_GENERATION * 2, 10, 10)
    keep_full_collections_rare()
    assert gc.get_threshold() == (YOUNG_GENERATION * 2, 10, 10)
    gc.set_threshold(0, 10, 10)  # collection switched off by the operator
    keep_full_collections_rare()
    assert gc.get_threshold() == (0, 10, 10)
