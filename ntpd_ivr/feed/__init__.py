"""The monitoring feed: the period's figures pushed to the ministry's central monitoring."""
