"""DeepDream for Discord: the bot package (settings, the bot, its cogs and its job queue)."""
