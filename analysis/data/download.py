"""The one error of a failed download (prices from Yahoo, factors from Kenneth French's library):
caught inside the data layer and turned into a per-symbol reason or a one-line user error."""
from __future__ import annotations


class DownloadFailed(Exception):
    """A download that did not give usable data: ``reason`` in words; ``network`` True when the
    network (offline, DNS, timeout) failed rather than the answer."""

    def __init__(self, reason: str, network: bool):
        super().__init__(reason)
        self.reason = reason
        self.network = network
