"""Offline pipelines: what `scan`, `explain` and `report` run over files (the running daemon feeds
the same parsers and engine from daemon/).

    scan.py      open_inputs + run: logs and captures -> events in event time -> engine -> verdicts
    serial.py    one log file through one LogStream, chunk by chunk
    parallel.py  a big plain log cut in two: a forked worker parses the second range into a spool
    capture.py   pcap/pcapng files -> the packet intake -> events (raw SIP preferred over its HEP copy)
    order.py     event-time order: the reorder buffer and the merge of several streams
"""
