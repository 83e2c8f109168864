"""The compact admitted set (checkin/admitted.py): what goes in comes out, in a few bytes."""

from __future__ import annotations

import base64
import random

import pytest

from checkin.admitted import Admitted, decode_admitted, encode_admitted


def test_empty() -> None:
    encoded = encode_admitted([])
    assert encoded["count"] == 0 and encoded["places"] == [] and encoded["ids"] == ""
    assert decode_admitted(encoded) == []


def test_round_trip_of_random_sets() -> None:
    rng = random.Random(19)
    zones = [None, 7, 8, 9, 300]
    for size in (1, 2, 7, 8, 9, 100, 1000):
        ids = sorted(
            rng.sample(range(1, 2**40), size // 2) + list(range(500, 500 + size - size // 2))
        )
        tickets = [
            Admitted(t, rng.choice(zones), rng.random() < 0.9, rng.choice([1, 1, 1, 2, 5]))
            for t in ids
        ]
        rng.shuffle(tickets)  # any order in
        assert decode_admitted(encode_admitted(tickets)) == sorted(tickets, key=lambda a: a.ticket)


def test_one_place_costs_no_bits_and_consecutive_ids_one_run() -> None:
    tickets = [Admitted(t, 4, True) for t in range(10_000, 110_000)]
    encoded = encode_admitted(tickets)
    assert encoded["bits"] == 0 and encoded["where"] == ""
    assert len(base64.b64decode(encoded["ids"])) <= 6  # one run: two varints
    assert encoded["generations"] == []
    assert decode_admitted(encoded) == tickets


def test_100000_admitted_in_four_places_anyhow_fit_in_64_kb() -> None:
    """A random 84% of a block admitted: runs are short, the bitmap is sent."""
    rng = random.Random(1)
    places = [(z, True) for z in range(1, 4)] + [(None, True)]
    tickets = [Admitted(t, *rng.choice(places)) for t in range(1, 120_001) if rng.random() < 0.84]
    assert len(tickets) > 100_000
    encoded = encode_admitted(tickets[:100_000])
    size = len(encoded["ids"]) + len(encoded["where"])
    assert encoded["bits"] == 2 and encoded["bitmap_from"] == tickets[0].ticket
    assert size <= 64 * 1024, size
    assert decode_admitted(encoded) == tickets[:100_000]


def test_100000_admitted_in_eight_places_in_runs_fit_in_64_kb() -> None:
    rng = random.Random(2)
    places = [(z, True) for z in range(1, 8)] + [(None, True)]
    tickets = [Admitted(t, *rng.choice(places)) for t in range(1, 100_001)]
    encoded = encode_admitted(tickets)
    size = len(encoded["ids"]) + len(encoded["where"])
    assert encoded["bits"] == 3 and encoded["bitmap_from"] is None and size <= 64 * 1024, size


def test_unknown_format_and_a_short_set_are_refused() -> None:
    encoded = encode_admitted([Admitted(1, None, True)])
    with pytest.raises(ValueError):
        decode_admitted({**encoded, "format": "runs-0"})
    with pytest.raises(ValueError):
        decode_admitted({**encoded, "count": 2})
