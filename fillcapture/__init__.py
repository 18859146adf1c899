"""fillcapture: capture T4 fills for a vendor's end users and keep them."""
__version__ = "0.1.0"
