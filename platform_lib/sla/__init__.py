"""The five SLAs every product promises, measured from data, history and git."""
