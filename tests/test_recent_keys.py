"""RecentKeys: remembers at least the most recent ``capacity`` keys, and the collector never
walks them (a worker must not slow down as a long run piles up keys)."""

from __future__ import annotations

import gc

import pytest

from lgsp.recent_keys import RecentKeys, joined


def key(n: int) -> str:
    return joined(f"000.00.00.H56-{n:09d}", "000.00.00.G01")  # built at run time, like headers'


def test_the_most_recent_capacity_keys_are_always_remembered():
    keys = RecentKeys(100)
    for n in range(1, 1000):
        keys.add(key(n))
        assert all(key(m) in keys for m in range(max(1, n - 99), n + 1)), n


def test_older_keys_are_forgotten_and_counted():
    keys = RecentKeys(100)
    for n in range(1000):
        keys.add(key(n))
    assert key(0) not in keys
    assert len(keys) <= 200
    assert keys.forgotten == 1000 - len(keys)


def test_adding_a_remembered_key_again_changes_nothing():
    keys = RecentKeys(10)
    keys.add(key(1))
    keys.add(key(1))
    assert len(keys) == 1


def test_parts_of_a_joined_key_cannot_run_into_each_other():
    assert joined("A B", "C") != joined("A", "B C")


def test_keys_are_not_walked_by_the_garbage_collector():
    keys = RecentKeys(1000)
    for n in range(1500):
        keys.add(key(n))
    # an OrderedDict of a million tuples took 0.3 s per full collection here; untracked: ~1 ms
    assert not gc.is_tracked(keys._current)
    assert not gc.is_tracked(keys._previous)


def test_capacity_must_be_positive():
    with pytest.raises(ValueError, match="at least 1"):
        RecentKeys(0)
