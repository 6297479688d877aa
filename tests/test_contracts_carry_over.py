"""One-off: the contracts parsed from the schema annotations are exactly the lists contracts.py held before."""
from tests._legacy_contracts import legacy_contract_queries
from warehouse.contracts import contract_queries


def test_annotations_carry_over_every_contract():
    new, old = contract_queries(), legacy_contract_queries()
    assert len(new) == len(old)
    assert {sql for _, sql in new} == {sql for _, sql in old}
    assert set(new) == set(old)  # descriptions too
