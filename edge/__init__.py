"""affectd edge daemon: sources -> analyzers -> fusion -> MQTT publisher."""

__version__ = "0.1.0"
