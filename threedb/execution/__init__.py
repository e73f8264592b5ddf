"""Running jobs: worker processes and the scheduler that feeds them."""
