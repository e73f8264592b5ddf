"""Names kept where 3DB's users import them from."""

from threedb.result_logging.buffer import BigChungusCyclicBuffer

__all__ = ["BigChungusCyclicBuffer"]
