"""How fast drift is caught, and how often it is cried wrongly.

Data: scikit-learn's digits (64 pixel features; the baseline is the dataset's
own quantile bins, as a build manifest carries them). A device sends windows
of WINDOW inferences; checks use the default thresholds (PSI 0.2 alert with
chi-square significance, alpha 0.01 over the features).

- Windows until the alert: after a sensor change of known size (gain or offset
  on six centre pixels), the check runs after every window over the windows
  since the change; reported as the median over REPEATS device streams.
- False-alarm rate: 1,000 windows from the undrifted data, each checked on its
  own. Goal <= 1 %.
"""

from __future__ import annotations

import statistics

import numpy as np
from _common import write_result
from _telemetry import digits, make_window, manifest

from tinyops.monitor.drift import Baseline, Thresholds, compare_scope

WINDOW = 50  # inferences per window
CHANNELS = [19, 20, 27, 28, 35, 36]
REPEATS = 20
MAX_WINDOWS = 40
FALSE_ALARM_WINDOWS = 1000
SHIFTS = {"gain 1.1": (1.1, 0.0), "gain 1.2": (1.2, 0.0), "gain 1.4": (1.4, 0.0), "gain 1.6": (1.6, 0.0),
          "offset +1": (1.0, 1.0), "offset +2": (1.0, 2.0)}


def as_matrix(base: Baseline, w: dict) -> np.ndarray:
    out = np.zeros_like(base.counts)
    for i, n in enumerate(base.names):
        h = w["histograms"][n]
        out[i, :len(h)] = h
    return out


def main() -> None:
    X, y = digits()
    m = manifest(X)
    base = Baseline.from_manifest(m)
    th = Thresholds()
    rng = np.random.default_rng(42)

    def drifted(cur: np.ndarray) -> bool:
        return any(f["verdict"] == "drift" for f in compare_scope(base, cur, th))

    alarms = 0
    for _ in range(FALSE_ALARM_WINDOWS):
        alarms += drifted(as_matrix(base, make_window(m, "d", X, y, rng, WINDOW, 0.0)))
    rows = {}
    for name, (gain, off) in SHIFTS.items():
        def t(x, gain=gain, off=off):
            x = x.copy()
            x[CHANNELS] = np.clip(x[CHANNELS] * gain + off, 0, 16)
            return x

        needed = []
        for _ in range(REPEATS):
            cur = np.zeros_like(base.counts)
            for k in range(1, MAX_WINDOWS + 1):
                cur += as_matrix(base, make_window(m, "d", X, y, rng, WINDOW, 0.0, transform=t))
                if drifted(cur):
                    needed.append(k)
                    break
            else:
                needed.append(None)
        found = [k for k in needed if k is not None]
        rows[name] = {"windows_until_alert_median": statistics.median(found) if found else None,
                      "windows_until_alert_max": max(found) if found else None,
                      "detected_share": len(found) / REPEATS,
                      "inferences_until_alert_median": statistics.median(found) * WINDOW if found else None}
    write_result("drift_detection", {
        "window_inferences": WINDOW, "thresholds": {"psi_warn": th.warn, "psi_alert": th.alert, "alpha": th.alpha,
                                                    "min_count": th.min_count},
        "false_alarms": alarms, "false_alarm_windows": FALSE_ALARM_WINDOWS,
        "false_alarm_rate": alarms / FALSE_ALARM_WINDOWS, "goal_false_alarm_rate": 0.01,
        "shifts": rows, "max_windows": MAX_WINDOWS, "repeats": REPEATS,
    })


if __name__ == "__main__":
    main()
