"""tinyops.fleet"""
