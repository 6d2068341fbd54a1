"""genenv.curricula"""
