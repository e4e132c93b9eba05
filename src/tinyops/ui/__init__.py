"""The web dashboard served by `tinyops ui`: fleet, rollouts, models, drift, telemetry."""
