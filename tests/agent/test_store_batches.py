"""The store's side of agents' batches, on SQLite and on PostgreSQL: several in one
transaction, all or none, replays left out, and nothing of a failed transaction
remembered; on PostgreSQL, the same push through two servers at once written once."""

from __future__ import annotations

import math
import threading
import time

import pytest

from stackwatch.config import StoreConfig
from stackwatch.errors import StoreError
from stackwatch.model import CheckResult, Collection, Sample, Status, make_labels
from stackwatch.store.base import AgentBatch, Store
from stackwatch.store.opening import open_store
from stores import Stores

T = time.time()


def batch(seq: int, checks: tuple[str, ...], value: float = 1.0, host: str = "cmp1",
          agent: str = "a") -> AgentBatch:
    collection = Collection(
        (Sample("x", value, make_labels(host=host, n=str(seq % 2)), T + seq),),
        tuple(CheckResult(name, Status.OK, "ok", make_labels(host=host), timestamp=T + seq)
              for name in checks))
    return AgentBatch(agent, seq, host, "node.host", T + seq, collection)


def test_batches_of_one_source_in_one_push_replace_each_other_in_order(
        store_config: StoreConfig) -> None:
    store = open_store(store_config)
    assert store.write_batches([batch(1, ("c1", "c2")), batch(2, ("c1",))], T) == [True, True]
    assert [c.name for c in store.latest_checks()] == ["c1"]  # the second run's only
    assert [s.label("n") for s in store.latest_samples("x")] == ["0"]  # seq 2: n=0
    # a replay of both with a third: only the third is new
    assert store.write_batches([batch(1, ("c1",)), batch(2, ("c1",)), batch(3, ("c3",))],
                               T) == [False, False, True]
    assert [c.name for c in store.latest_checks()] == ["c3"]
    assert [(a.agent, a.batches, a.first_seq, a.last_seq) for a in store.agent_batches()] == [
        ("a", 3, 1, 3)]
    assert store.agent_sources() == ["cmp1/node.host"]
    store.close()
    again = open_store(store_config)  # what is latest survives a restart
    assert [c.name for c in again.latest_checks()] == ["c3"]
    again.close()


def test_a_failed_push_leaves_nothing_and_nothing_remembered(store_config: StoreConfig
                                                             ) -> None:
    store = open_store(store_config)
    good = batch(1, ("c1",), host="cmp9")
    bad = batch(2, ("c2",), value=math.nan, host="cmp9")  # NaN: the store refuses it
    with pytest.raises(StoreError):
        store.write_batches([good, bad], T)
    assert store.agent_batches() == [] and store.latest_checks() == []
    assert store.latest_samples() == []
    # the series the failed transaction made is not taken for known: written anew
    assert store.write_batches([good], T) == [True]
    assert [s.labels for s in store.latest_samples("x")] == [make_labels(host="cmp9", n="1")]
    store.close()


def test_batch_ids_go_with_the_retention(store_config: StoreConfig) -> None:
    store = open_store(store_config)
    store.write_batches([batch(1, ("c",))], T - 86400)
    store.write_batches([batch(2, ("c",))], T)
    store.prune(T - 3600)
    assert [(a.first_seq, a.last_seq) for a in store.agent_batches()] == [(2, 2)]
    store.close()


@pytest.mark.integration
def test_one_push_through_two_servers_at_once_is_written_once(postgres_stores: Stores
                                                              ) -> None:
    """An agent's retry reaching another server while the first still writes: each batch
    is claimed by one transaction; the other waits for it and leaves it out."""
    config = postgres_stores.config()
    assert config.url is not None
    first, second = (open_store(config.model_copy(update={"writer": name}))
                     for name in ("ctl-1", "ctl-2"))
    push = [batch(seq, (f"c{seq}",), host=f"cmp{seq % 7}") for seq in range(1, 60)]
    barrier = threading.Barrier(2)
    results: list[list[bool]] = []

    def send(store: Store) -> None:
        barrier.wait()
        results.append(store.write_batches(push, T))

    threads = [threading.Thread(target=send, args=(s,)) for s in (first, second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert len(results) == 2
    assert [a or b for a, b in zip(*results, strict=True)] == [True] * len(push)
    assert not any(a and b for a, b in zip(*results, strict=True))
    assert sum(s.batches for s in first.agent_batches()) == len(push)
    assert len(first.latest_checks()) == 7  # each host's last batch, once
    first.close()
    second.close()
