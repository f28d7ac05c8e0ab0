"""`oom-score-adj`: how willing the kernel's OOM killer should be to pick this process.

As Redis does it (setOOMScoreAdj): while the setting is not "no", /proc/self/oom_score_adj
is written with the value for this process's class (`oom-score-adj-values` gives the
master's, then the replica's; AiKv has no background child, the third class), added to
the score the process started with when the mode is "relative" (or "yes"), clamped to
-1000..1000. Turning it back to "no" restores the score read before the first change.
The class follows the role: applied again when the node becomes a replica or a master.
"""

from __future__ import annotations

import logging

log = logging.getLogger("aikv.oom")

PROC_FILE = "/proc/self/oom_score_adj"


class OomScore:
    def __init__(self, path: str = PROC_FILE) -> None:
        self.path = path
        self.base: int | None = None  # the score before AiKv changed it, once it has

    def apply(self, mode: str, values: tuple[int, ...], replica: bool = False) -> bool:
        """Bring the process's score in line with the settings, for a replica's class or
        a master's; False (and a warning in the log) when the file cannot be read or
        written."""
        if mode != "no":
            if self.base is None:
                try:
                    with open(self.path) as f:
                        self.base = int(f.read().strip() or 0)
                except (OSError, ValueError) as exc:
                    log.warning("Unable to read oom_score_adj: %s", exc)
                    return False
            value = values[1 if replica else 0] + (self.base if mode in ("yes", "relative") else 0)
            value = max(-1000, min(1000, value))
        elif self.base is not None:
            value, self.base = self.base, None
        else:
            return True
        try:
            with open(self.path, "w") as f:
                f.write(f"{value}\n")
        except OSError as exc:
            log.warning("Unable to write oom_score_adj: %s", exc)
            return False
        return True
