"""Fan-out of captured fills to other services (MQTT)."""
