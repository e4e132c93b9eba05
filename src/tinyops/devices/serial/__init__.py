"""Serial link to tinyops firmware: framing, the update protocol, transfers,
flashing with self-test, and the MLPerf Tiny benchmark client."""
