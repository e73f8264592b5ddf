from faults.loggers import DyingLogger as Logger  # noqa: F401
