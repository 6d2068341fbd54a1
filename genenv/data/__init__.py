"""genenv.data"""
