"""A plugin class that lacks the attributes every method must have."""


class NotAMethod:
    description = "has a description and nothing else"
