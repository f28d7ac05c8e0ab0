"""AiKv's benchmark suite: every figure is measured against a real redis-server 7.0
started by the suite on the same machine in the same run (interleaved, medians)."""
