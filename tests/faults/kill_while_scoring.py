"""A post-processing control that kills its worker with SIGKILL while the job is scored.

Post-processing runs on the worker's scoring thread while the next job already renders, so
the worker dies with two jobs under way. ``value`` is searched. The job whose value equals
``kill_value`` kills the worker on every attempt. It waits ``delay`` seconds first, so that
the next job has started rendering.
"""

import os
import signal
import time

from threedb.controls.base_control import PostProcessControl


class KillWhileScoring(PostProcessControl):
    def __init__(self, root_folder, kill_value=0.5, delay=0.3):
        super().__init__(root_folder, continuous_dims={"value": (0.0, 1.0)})
        self.kill_value, self.delay = kill_value, delay

    def apply(self, image, control_args):
        if abs(control_args["value"] - self.kill_value) < 1e-9:
            time.sleep(self.delay)
            os.kill(os.getpid(), signal.SIGKILL)
        return image


Control = KillWhileScoring
