"""The daemon's HTTP side, served inside its event loop: the JSON API (`app`), Prometheus metrics
(`..metrics`), the live dashboard (`dashboard`), and the listening rules (`listen`: who may read,
who may write, when it refuses to start). Every write goes through the daemon's BanService."""
