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


STOP_GRACE_S = 2.5  # SIGTERM/SIGINT to exit: under 3 s in every state
log = logging.getLogger("tinyops.agent")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="tinyops-agent", description="Follow this device's desired build over MQTT "
                                "(signed, A/B slots, self-tested) and serve it on a local HTTP endpoint.",
                                epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", required=True, help="agent.toml written by `tinyops device register`")
    p.add_argument("--log-level", default="INFO", help="DEBUG, INFO, WARNING (default INFO)")
    args = p.parse_args(argv)
    # First thing: the handlers only set this event. Everything slow (connecting,
    # downloading, installing) runs on other threads; this thread only waits on it,
    # so a signal is acted on at once whatever the agent is doing.
    stopping = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopping.set())
    signal.signal(signal.SIGINT, lambda *_: stopping.set())
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(name)s %(levelname)s %(message)s")
    from tinyops import agent_config as config
    from tinyops.agent.core import Agent

    try:
        cfg = config.load(args.config)
        agent = Agent(cfg)
        agent.start_local()  # model + HTTP port: no network, fails fast on a taken port
    except TinyOpsError as e:
        print(f"tinyops-agent: {e}", file=sys.stderr)
        return e.exit_code
    log.info("device %s up; HTTP on %s:%s", cfg.device, cfg.http_host, agent.http_port)
    failed: list[TinyOpsError] = []

    def follow() -> None:
        try:
            agent.connect_and_follow()
            if cfg.gateway and not stopping.is_set():
                agent.attach_gateway(cfg.gateway)
        except TinyOpsError as e:  # final (wrong credentials, a refused subscription): stop with exit 1
            failed.append(e)
            stopping.set()

    threading.Thread(target=follow, name="agent-connect", daemon=True).start()
    # A long timeout instead of a short poll: the signal handler sets the event,
    # which wakes this wait at once; idle agents should not spin.
    while not stopping.wait(3600):
        pass
    if failed:
        print(f"tinyops-agent: {failed[0]}", file=sys.stderr)
    closer = threading.Thread(target=agent.stop, daemon=True)
    closer.start()
    closer.join(STOP_GRACE_S)
    if closer.is_alive():  # past the grace period, exit anyway: the broker's last will says offline
        log.warning("stop took over %.1f s; exiting", STOP_GRACE_S)
    logging.shutdown()
    sys.stderr.flush()
    # os._exit: daemon threads may sit in a blocking call (a TCP connect, a DNS
    # lookup, a self-test); interpreter shutdown must not wait for them.
    os._exit(failed[0].exit_code if failed else 0)


if __name__ == "__main__":
    sys.exit(main())
