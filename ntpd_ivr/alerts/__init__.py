"""CAP alerts in (BMKG InaTEWS and nowcasts), surge mode, CAP out (docs/alerts.md)."""
