"""A reference router: one platform of an lgsp-sim run, written from docs/contract.md §10."""
