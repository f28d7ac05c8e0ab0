"""Replication, master side: what the commands run here send to replicas (propagate) and
the replicas themselves (source). The replica side is aikv/replica.py."""
