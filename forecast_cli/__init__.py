"""forecast-cli: cross-validated LSTM forecasts for CSV time series."""
__version__ = "0.1.0"
