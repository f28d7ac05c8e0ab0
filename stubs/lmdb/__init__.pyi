# py-lmdb's own annotations type every read as `bytes | memoryview`; memoryviews only
# appear with buffers=True, which AiKv never uses. This stub shadows them (mypy_path comes
# before site-packages) and makes the module untyped instead of casting at every read.
from typing import Any

def __getattr__(name: str) -> Any: ...
