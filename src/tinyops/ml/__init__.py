"""tinyops.ml"""
