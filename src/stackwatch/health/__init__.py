"""Node → service → cloud health, HA-mode aware (:mod:`stackwatch.health.evaluate`)."""
