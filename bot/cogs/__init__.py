"""One feature per module; each module ends in ``async def setup(bot)``."""
