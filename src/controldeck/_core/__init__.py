"""The shared engine: transport, conversion, pagination. Knows no platform."""
