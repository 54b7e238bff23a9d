"""placeholder"""
class HandoverService:
    def __init__(self, system):  # type: ignore[no-untyped-def]
        self.system = system
