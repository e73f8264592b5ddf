"""The CSV logger example of 3DB's "Creating a Custom Logger" page, with its slips fixed:
the header is joined into a string, values are converted with ``str``, and ``log`` returns
after closing the file. Everything else is as the page shows it."""

from os import path
from typing import Any, Dict

from threedb.result_logging.base_logger import BaseLogger
from threedb.utils import BigChungusCyclicBuffer


class CSVLogger(BaseLogger):

    def __init__(self, root_dir: str, result_buffer: BigChungusCyclicBuffer, config: Dict[str, Dict[str, Any]]) -> None:
        super().__init__(root_dir, result_buffer, config)
        fname = path.join(root_dir, 'details.csv')
        self.handle = open(fname, 'w')
        self.regid = self.buffer.register()
        self.first = True

    def log(self, item):
        if item is None:
            self.handle.close()
            return

        rix = item['result_ix']
        buffer_data = self.buffer[rix]

        if self.first:
            param_keys = list(item['render_args'].keys())
            self.handle.write(','.join(['Id', 'correct'] + param_keys))
            self.handle.write('\n')
            self.first = False

        self.handle.write(','.join([item['id'], str(buffer_data['is_correct'])]
                                   + [str(v) for v in item['render_args'].values()]))
        self.handle.write('\n')
        self.buffer.free(rix, self.regid)


Logger = CSVLogger
