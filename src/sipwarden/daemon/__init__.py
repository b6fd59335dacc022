"""`sipwarden run`, the daemon. The modules in the order data flows:

    logs.py        followed log files (and their backlog, merged in event-time order) -> lines -> events
    (sources/)     HEP, live capture, AMI -> events (sources/network.py)
    detection.py   Detection.feed(events): the one entry for events from any source -> engine -> verdicts,
                   decided once per loop turn
    bans.py        BanService: the one ban path (policy, whitelist, escalation from in-memory offences,
                   active bans in memory) for automatic, control-socket, offline, API and fleet bans;
                   its `listeners` are the outputs (ban log, notifications, metrics, dashboard, fleet)
    kernel.py      the firewall, on a worker thread: one transaction per batch, order kept
    journal.py     the store's writes, on a worker thread: one transaction per batch, order kept
    banlog.py      BAN/UNBAN log lines that hold under a flood (one line each, or a summary per second)
    housekeeping.py  expiry, reconcile, read positions, history, once a second
    outputs.py     plugs metrics (metrics.py), notifications (notify/) and the HTTP side (api/) in
    fleet.py       the fleet link's host (fleet/): another node's bans and events in, ours out
    control.py     the control socket's server;  client.py: its client (request/send)
    status.py      `status`, assembled from the sections each part contributes
    errors.py      errors counted per stage; none escapes a stage
    service.py     wires the parts together and runs them (sdnotify.py: READY and the watchdog)

Only the names below are imported here, so the CLI's client commands stay quick to start.
"""

DB_NAME = "sipwarden.db"
SOCKET_NAME = "control.sock"
