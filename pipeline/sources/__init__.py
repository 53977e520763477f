"""Sources: one module per venue (exchanges/) and per chain (chain/) that turn outside data into contract events."""
