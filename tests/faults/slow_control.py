"""A control that sleeps ``seconds`` before each render, so that a test can act while a run is going."""

import time

from threedb.controls.base_control import PreProcessControl


class SlowControl(PreProcessControl):
    def __init__(self, root_folder, seconds=0.5):
        super().__init__(root_folder, continuous_dims={"value": (0.0, 1.0)})
        self.seconds = seconds

    def apply(self, context, control_args):
        time.sleep(self.seconds)

    def unapply(self, context):
        pass


Control = SlowControl
