"""Pure detectors driven by event time: sliding windows per source, account and network."""
