"""genenv.prompts"""
