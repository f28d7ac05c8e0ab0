"""Chaos runs against a local AiKv cluster: kill -9, restarts and reshards under load."""
