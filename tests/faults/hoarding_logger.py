from faults.loggers import HoardingLogger as Logger  # noqa: F401
