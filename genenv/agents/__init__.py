"""genenv.agents"""
