"""genenv.recording"""
