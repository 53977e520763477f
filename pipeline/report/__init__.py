"""The episode report: one alert's episode, read from ClickHouse, as a self-contained HTML page and a PNG."""
