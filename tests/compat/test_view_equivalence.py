"""The views of schema v14 derive the same rows as those of v13 from what the peers' real
instrumentations send (peer_app.py's calls, every peer installed, through a real collector): their
spans are copied into a v13 store and a current one, and every table the views write is compared.
tests/collector/test_view_equivalence.py does the same with crafted spans."""

from __future__ import annotations

import importlib.util

from compat.test_peers import PEERS, run_peer
from tests.collector.view_pair import assert_same, copy_spans, old_and_new


def test_peer_spans_derive_the_same_rows_through_old_and_new_views(collector, store_client, chdb_path):
    peers = [peer for peer, module in PEERS.items() if module is None or importlib.util.find_spec(module)]
    for peer in peers:
        run_peer(peer, collector)
    collector.wait_until_stored()
    with old_and_new(chdb_path, old_version=13) as (client, old, new):
        spans = copy_spans(client, store_client.database, old, new)
        derived = assert_same(client, old, new)
    assert spans > 0 and len(derived["llm_calls"]) >= 7 * len(peers)  # peer_app.CASES, each peer
