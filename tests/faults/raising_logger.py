from faults.loggers import RaisingLogger as Logger  # noqa: F401
