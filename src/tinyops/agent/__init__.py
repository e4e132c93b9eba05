"""tinyops.agent"""
