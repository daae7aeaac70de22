"""A reference recipient service for lgsp-sim, written from docs/contract.md only (see README.md).

It imports nothing of lgsp-sim: only confluent-kafka, fastavro and cryptography.
"""
