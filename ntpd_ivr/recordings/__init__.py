"""Call recordings: MixMonitor files named by uniqueid, retention, audited playback."""
