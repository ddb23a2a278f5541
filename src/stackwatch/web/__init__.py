"""The HTTP side of stackwatch: REST API, /metrics, and (later) the dashboard."""
