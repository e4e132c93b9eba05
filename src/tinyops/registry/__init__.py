"""tinyops.registry"""
