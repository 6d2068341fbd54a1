"""genenv.models"""
