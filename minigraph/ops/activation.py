"""(family module; ops registered on import)"""
