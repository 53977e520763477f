"""On-chain whale transfer watchers (Bitcoin, Ethereum) classified with pipeline.labels."""
