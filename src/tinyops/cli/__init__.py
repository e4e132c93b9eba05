"""tinyops.cli"""
