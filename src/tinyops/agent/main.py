"""``tinyops-agent --config agent.toml``: the Raspberry Pi side of the fleet.

Imports no TensorFlow: LiteRT (``ai_edge_litert``) runs the model.
"""

from __future__ import annotations

import argparse
import os
import logging
import signal
import threading
import sys

from tinyops.errors import TinyOpsError

EPILOG = """\
Example:
  tinyops device register pi-001 --profile raspberry-pi-4 --group lab   # on the host
  scp .tinyops/agents/pi-001/agent.toml pi@pi-001:                       # to the Pi
  tinyops-agent --config agent.toml
  curl -s 127.0.0.1:8765/v1/health
"""


STOP_GRACE_S = 3.0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="tinyops-agent", description="Follow this device's desired build over MQTT "
                                "(signed, A/B slots, self-tested) and serve it on a local HTTP endpoint.",
                                epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", required=True, help="agent.toml written by `tinyops device register`")
    p.add_argument("--log-level", default="INFO", help="DEBUG, INFO, WARNING (default INFO)")
    args = p.parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(name)s %(levelname)s %(message)s")
    from tinyops import agent_config as config
    from tinyops.agent.core import Agent

    try:
        cfg = config.load(args.config)
        agent = Agent(cfg)
        stopping = threading.Event()
        # The handler only flags: stopping publishes "offline" and joins threads,
        # which must not run inside a signal handler (it could block forever
        # while the broker is down).
        signal.signal(signal.SIGTERM, lambda *_: stopping.set())
        signal.signal(signal.SIGINT, lambda *_: stopping.set())
        agent.start()
        if cfg.gateway:
            from tinyops.agent.gateway import start_gateway

            start_gateway(agent, cfg.gateway)
        logging.getLogger("tinyops.agent").info("device %s up; HTTP on %s:%s", cfg.device, cfg.http_host,
                                                agent.http.server_address[1])
        # A long timeout instead of a 0.5 s poll: the signal handler sets the event,
        # which wakes this wait at once; idle agents should not spin.
        while not stopping.wait(3600):
            pass
        closer = threading.Thread(target=agent.stop, daemon=True)
        closer.start()
        closer.join(STOP_GRACE_S)
        if closer.is_alive():  # past the grace period, exit anyway: the broker's last will says offline
            logging.getLogger("tinyops.agent").warning("stop took over %.0f s; exiting", STOP_GRACE_S)
            os._exit(0)
    except TinyOpsError as e:
        print(f"tinyops-agent: {e}", file=sys.stderr)
        return e.exit_code
    return 0


if __name__ == "__main__":
    sys.exit(main())
