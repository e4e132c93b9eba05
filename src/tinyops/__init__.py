"""tinyops: machine learning on small devices, from data to fleet and back."""

__version__ = "0.1.0"
