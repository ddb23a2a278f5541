"""Where samples, check results and events are kept."""
