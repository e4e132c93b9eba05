"""tinyops.monitor"""
