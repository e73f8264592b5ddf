"""A control that kills its own worker process with SIGKILL, to test recovery from worker death.

``value`` is searched; jobs with ``value >= threshold`` kill the worker. With ``mode: once``
only the first attempt of each such job kills (a marker file records it), so a retry
succeeds; with ``mode: always`` every attempt kills.
"""

import os
import signal

from threedb.controls.base_control import PreProcessControl


class KillControl(PreProcessControl):
    def __init__(self, root_folder, marker_dir, mode="once", threshold=1.0):
        super().__init__(root_folder, continuous_dims={"value": (0.0, 1.0)})
        self.marker_dir, self.mode, self.threshold = marker_dir, mode, threshold

    def apply(self, context, control_args):
        value = control_args["value"]
        if value < self.threshold:
            return
        if self.mode == "once":
            marker = os.path.join(self.marker_dir, f"killed-{value:.3f}")
            try:
                os.close(os.open(marker, os.O_CREAT | os.O_EXCL))
            except FileExistsError:
                return
        os.kill(os.getpid(), signal.SIGKILL)

    def unapply(self, context):
        pass


Control = KillControl
