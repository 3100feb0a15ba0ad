"""Operations: Prometheus /metrics and the systemd notify protocol."""
