"""A control that raises for jobs with ``value >= threshold``."""

from threedb.controls.base_control import PreProcessControl


class RaisingControl(PreProcessControl):
    def __init__(self, root_folder, threshold=1.0):
        super().__init__(root_folder, continuous_dims={"value": (0.0, 1.0)})
        self.threshold = threshold

    def apply(self, context, control_args):
        if control_args["value"] >= self.threshold:
            raise ValueError(f"control refused value {control_args['value']}")

    def unapply(self, context):
        pass


Control = RaisingControl
