"""`KnownIds`: the ids a process remembers are bounded, the oldest forgotten first."""

from muster_runtime.adapters.mongodb.bulk_documents import KnownIds


def test_remembers_ids_up_to_the_limit_and_forgets_the_oldest_first() -> None:
    known = KnownIds(limit=3)
    for document_id in ("a", "b", "c"):
        known.add(document_id)
    assert all(d in known for d in ("a", "b", "c"))

    known.add("d")

    assert "a" not in known
    assert all(d in known for d in ("b", "c", "d"))


def test_adding_a_known_id_again_forgets_nothing() -> None:
    known = KnownIds(limit=2)
    known.add("a")
    known.add("b")
    known.add("b")
    assert "a" in known
    assert "b" in known
