"""tinyops.pipeline"""
