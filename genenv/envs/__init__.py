"""genenv.envs"""
