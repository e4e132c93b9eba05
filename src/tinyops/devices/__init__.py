"""tinyops.devices"""
